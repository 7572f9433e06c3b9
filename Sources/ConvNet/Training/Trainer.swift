import ConvNetCore
import ConvNetData
import ConvNetNN
import Foundation

/// Everything a training run is configured by.
public struct TrainingConfig: Sendable {
    /// Epochs to train.
    public var epochs: Int
    /// Examples per training batch.
    public var batchSize: Int
    /// The base learning rate.
    public var lr: Float
    /// Which optimiser (SGD, Adam or AdamW).
    public var optimizer: OptimizerKind
    /// SGD's momentum.
    public var momentum: Float
    /// Weight decay (L2; AdamW's is decoupled).
    public var weightDecay: Float
    /// A learning-rate schedule used when ``scheduleKind`` is `.constant`.
    public var schedule: LRSchedule = .constant
    /// Label smoothing of the cross-entropy (PyTorch's `label_smoothing`; 0 = none).
    public var labelSmoothing: Float = 0
    /// Image side length fed to the model (the dataset's own size means no resizing).
    public var resize: Int?
    /// Folder for checkpoint, weights, metrics and curves; nil writes nothing.
    public var outDir: URL?
    /// Continue from the checkpoint in `outDir`.
    public var resume = false
    /// Show a live progress bar (a terminal); otherwise one line per epoch.
    public var progressBar = false
    /// Seconds between calls of `Trainer.onProgress` within an epoch (the CLI prints a line when
    /// its output is not a terminal); nil calls it never.
    public var progressInterval: Double?
    /// Folder for TensorBoard event files (see `Trainer`); nil writes none.
    public var tensorBoardDir: URL?
    /// Batches between the TensorBoard points of the `batch/…` scalars.
    public var tensorBoardEvery = 20
    /// The command that started the run, logged to TensorBoard with the options.
    public var commandLine: String?
    /// Stored in the weights file's safetensors metadata (class names, input size, normalisation),
    /// so `evaluate` and `predict` can name classes and prepare images as training did.
    public var weightsMetadata: [String: String] = [:]
    /// With several processes: compute batch-norm statistics over the whole global batch, forward
    /// and backward (`SyncBatchNorm`), instead of each rank's own share (DDP's default).
    public var syncBatchNorm = false
    /// With several processes: the target size of a gradient all-reduce bucket, in MB (DDP's `bucket_cap_mb`).
    public var bucketCapMB: Double = 25

    /// A configuration with the given hyperparameters; the rest keep their defaults.
    public init(epochs: Int, batchSize: Int, lr: Float, optimizer: OptimizerKind = .sgd, momentum: Float = 0,
                weightDecay: Float = 0, resize: Int? = nil) {
        self.epochs = epochs; self.batchSize = batchSize; self.lr = lr; self.optimizer = optimizer
        self.momentum = momentum; self.weightDecay = weightDecay; self.resize = resize
    }

    /// A zoo model's training defaults (epochs, batch size, rate, optimiser, resize, schedule).
    public init(defaults d: TrainingDefaults) {
        self.init(epochs: d.epochs, batchSize: d.batchSize, lr: d.lr, optimizer: d.optimizer, momentum: d.momentum,
                  weightDecay: d.weightDecay, resize: d.resize)
        scheduleKind = d.schedule
    }

    /// The schedule by name, sized to `epochs` when the run starts (so `--epochs` rescales it).
    public var scheduleKind: ScheduleKind = .constant

    /// The learning-rate schedule in effect for this run's length.
    public var effectiveSchedule: LRSchedule {
        switch scheduleKind {
        case .constant: return schedule
        case .step: return .step(stepSize: Swift.max(1, epochs / 3), gamma: 0.1)
        case .cosine: return .cosine(totalEpochs: epochs, minLR: 0)
        }
    }
}

/// One epoch's results, as printed and saved in metrics.json.
public struct EpochRecord: Codable, Sendable, Equatable {
    /// The epoch number, from 1.
    public var epoch: Int
    /// Mean training loss over the epoch.
    public var trainLoss: Double
    /// Training accuracy over the epoch.
    public var trainAccuracy: Double
    /// Test accuracy after the epoch.
    public var testAccuracy: Double
    /// Training time of the epoch (evaluation excluded).
    public var seconds: Double
    /// Training images per second.
    public var imagesPerSecond: Double
    /// The learning rate used in the epoch.
    public var lr: Double
    /// Mean test loss after the epoch (nil in records written before it was kept).
    public var testLoss: Double? = nil
    /// Batches trained from the start of the run to the end of this epoch: the step TensorBoard
    /// shows the epoch at (PyTorch's `global_step`). It stays right when a resume changes the
    /// batches per epoch (`--batch-size`, `--subset`); nil in records written before it was kept.
    public var globalStep: Int? = nil
}

/// Where an epoch in progress stands, for `Trainer.onProgress`.
public struct TrainingProgress: Sendable, Equatable {
    /// The epoch, from 1, and the run's epoch count.
    public var epoch: Int, epochs: Int
    /// Batches trained in this epoch (counting those before a resume), and the epoch's batches.
    public var batch: Int, batches: Int
    /// Mean training loss and accuracy of the epoch so far.
    public var loss: Double, accuracy: Double
    /// Training images per second since the epoch (or the resume) started.
    public var imagesPerSecond: Double
    /// Seconds the rest of the epoch's training should take at that pace.
    public var secondsLeft: Double
}

/// Why training stopped early.
public enum TrainingError: Error, CustomStringConvertible {
    /// The loss became NaN or infinite at `batch` of `epoch`.
    case nonFiniteLoss(epoch: Int, batch: Int, value: Float)
    /// The checkpoint at `path` cannot be used.
    case badCheckpoint(path: String, reason: String)
    /// Ctrl-C stopped the run; `checkpoint` is where the state was saved, if anywhere.
    case interrupted(epoch: Int, batch: Int, checkpoint: String?)

    /// The message the CLI prints.
    public var description: String {
        switch self {
        case let .nonFiniteLoss(e, b, v):
            return "loss became \(v) at epoch \(e), batch \(b); stopped (the last good checkpoint is kept) — try a lower --lr"
        case let .badCheckpoint(p, r): return "\(p): \(r)"
        case let .interrupted(e, b, c):
            return "interrupted during epoch \(e) after batch \(b)" + (c.map { "; state saved to \($0) (continue with --resume)" } ?? "")
        }
    }
}

/// Set from a SIGINT handler: the trainer finishes the current batch, saves and stops.
public enum InterruptFlag {
    /// Nonzero once Ctrl-C was pressed.
    nonisolated(unsafe) public static var raised: Int32 = 0

    /// Routes Ctrl-C to the flag (a second Ctrl-C exits at once).
    public static func install() {
        signal(SIGINT) { _ in
            if InterruptFlag.raised != 0 { _exit(130) }
            InterruptFlag.raised = 1
        }
    }
}

/// The epoch loop: trains, evaluates, reports, checkpoints atomically after every epoch, resumes
/// exactly, and guards against a diverging loss.
///
/// With a distributed `ProcessGroup` (one process per rank, started by `mpirun`) it trains
/// data-parallel: `batchSize` stays the global batch, each rank trains on its `DistributedSampler`
/// shard of every global batch (the training loader must batch `batchSize / size` examples),
/// gradients are averaged by a `DistributedDataParallel` wrapper, evaluation is split over the
/// ranks, and only rank 0 logs and writes files. Losses, accuracies and the checkpoint describe the
/// global batch, so a checkpoint resumes on any number of ranks.
public final class Trainer {
    /// The model being trained.
    public let model: any Module
    /// The processes training together (`ProcessGroup.single` for one).
    public let group: ProcessGroup
    /// The gradient-averaging wrapper around `model` when `group` has several ranks.
    public let dataParallel: DistributedDataParallel?
    /// The model as the engine runs it: traced per batch shape and mode, replayed with its fusions.
    private let compiled: CompiledModule
    /// The run's configuration.
    public let config: TrainingConfig
    /// Shuffled training batches (an IDX `DataLoader` or an `ImageFolderLoader`).
    public let trainLoader: any BatchSource
    /// Test batches, in order.
    public let testLoader: any BatchSource
    /// The optimiser built from the configuration.
    public let optimizer: any Optimizer
    /// One record per finished epoch, including those of a resumed run.
    public private(set) var history: [EpochRecord] = []
    /// Called with each finished epoch (the CLI prints it).
    public var onEpoch: ((EpochRecord) -> Void)?
    /// Called within an epoch every `progressInterval` seconds (not after its last batch).
    public var onProgress: ((TrainingProgress) -> Void)?
    /// The TensorBoard log of this run, while it runs.
    private var board: TrainingBoard?
    /// Where progress and notes go.
    public var log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }

    /// The model's training and test data; shuffling and dropout draw from the global generator,
    /// which the checkpoint saves, so a resumed run continues the same random sequence.
    /// With several ranks, the training loader batches each rank's share (`batchSize / size`).
    public convenience init(model: any Module, train: ImageDataset, test: ImageDataset, config: TrainingConfig,
                            group: ProcessGroup = .single) {
        let resize = config.resize == train.height ? nil : config.resize
        let local = Swift.max(1, config.batchSize / group.size)
        self.init(model: model,
                  trainLoader: DataLoader(train, batchSize: local, shuffle: true, resize: resize, generator: .global),
                  testLoader: DataLoader(test, batchSize: Swift.max(config.batchSize, 256), resize: resize), config: config,
                  group: group)
    }

    /// Trains from any batch source (e.g. an `ImageFolderLoader`); the training loader should shuffle
    /// with the global generator, which checkpoints save. Frozen parameters (requiresGrad == false)
    /// are left out of the optimiser.
    /// With a distributed `group`, rank 0's parameters and buffers are sent to the other ranks here.
    public init(model: any Module, trainLoader: any BatchSource, testLoader: any BatchSource, config: TrainingConfig,
                group: ProcessGroup = .single) {
        self.model = model
        self.group = group
        if group.isDistributed {
            if config.syncBatchNorm { SyncBatchNorm.convert(model, group: group) }
            let ddp = DistributedDataParallel(model, group: group, bucketCapMB: config.bucketCapMB)
            dataParallel = ddp
            compiled = compile(ddp)
        } else {
            dataParallel = nil
            compiled = compile(model)
        }
        self.config = config
        self.trainLoader = trainLoader
        self.testLoader = testLoader
        switch config.optimizer {
        case .sgd: optimizer = SGD(model.parameters(), lr: config.lr, momentum: config.momentum, weightDecay: config.weightDecay)
        case .adam: optimizer = Adam(model.parameters(), lr: config.lr, weightDecay: config.weightDecay)
        case .adamw: optimizer = AdamW(model.parameters(), lr: config.lr, weightDecay: config.weightDecay)
        }
    }

    /// `checkpoint.safetensors` in the output folder, or `nil` when nothing is written.
    public var checkpointURL: URL? { config.outDir?.appendingPathComponent("checkpoint.safetensors") }

    /// Runs the remaining epochs; returns the full history. With `tensorBoardDir` set the run is
    /// logged there for TensorBoard, at steps counting the batches trained: `batch/…` and `epoch/…`
    /// losses, accuracies, learning rate and images/s, per-parameter weight and gradient
    /// histograms and first-layer kernels and feature maps per epoch, the repr and the options.
    /// A log folder that cannot be created stops the run before it trains; a later write failure
    /// is a warning (`log`) and training goes on without the log.
    @discardableResult
    public func run() throws -> [EpochRecord] {
        sampler = try DistributedSampler(rank: group.rank, size: group.size, globalBatchSize: config.batchSize)
        if group.isPrimary, let dir = config.outDir { try OutputFolder.prepare(dir) }
        var position = try resumePosition()
        if group.isPrimary, let dir = config.tensorBoardDir, position.epoch < config.epochs {
            let step = stepsBefore(epoch: position.epoch) + position.batch
            let board = try TrainingBoard(dir: dir, every: config.tensorBoardEvery, resumeStep: step > 0 ? step : nil,
                                          sample: firstTestImage(), warn: log)
            board.start(model: model, config: config, step: step)
            self.board = board
        }
        defer { board?.close(); board = nil }
        for epoch in position.epoch..<Swift.max(position.epoch, config.epochs) {
            let record = try trainEpoch(epoch, resuming: &position)
            try finishEpoch(record)
        }
        return history
    }

    /// Batches trained before `epoch` (from 0): the last finished epoch's `globalStep`, or, for
    /// a history from before it was kept, the epochs times the batches per epoch.
    private func stepsBefore(epoch: Int) -> Int {
        guard epoch > 0, epoch <= history.count else { return epoch * batchesPerEpoch }
        return history[epoch - 1].globalStep ?? epoch * batchesPerEpoch
    }

    /// The first test image as a batch of one (the feature maps drawn for TensorBoard); the test
    /// loader is not shuffled, so no random number is drawn.
    private func firstTestImage() -> Tensor? {
        guard testLoader.exampleCount > 0, let batch = testLoader.batchIterator(order: [0], from: 0).next() else { return nil }
        return batch.images
    }

    /// Which examples this rank trains on (set by ``run()``).
    private var sampler: DistributedSampler?

    /// Global batches per epoch: the loader's own count with one process (unchanged behaviour).
    private var batchesPerEpoch: Int {
        guard group.isDistributed, let sampler else { return trainLoader.batchCount }
        return sampler.batchCount(examples: trainLoader.exampleCount)
    }

    /// `message` on rank 0 only.
    private func say(_ message: String) { if group.isPrimary { log(message) } }

    /// Where training continues: an epoch, the batches of it already trained with their sums, and
    /// the generator's state when the epoch began (its shuffle order depends on it).
    private struct RunPosition {
        var epoch = 0, batch = 0
        var partial = PartialEpoch()
        var epochStartRNG: [UInt64]
    }

    /// The start of a fresh run, or the checkpoint's position with the model, optimiser, history
    /// and generator restored from it (`--resume`).
    private func resumePosition() throws -> RunPosition {
        guard config.resume, let url = checkpointURL else { return RunPosition(epochStartRNG: Generator.global.state) }
        let state: Checkpoint.State
        if group.isDistributed {
            state = try loadSharedCheckpoint(url)
        } else {
            guard FileManager.default.fileExists(atPath: url.path) else { throw noCheckpoint(url) }
            state = try Checkpoint.load(from: url, model: model, optimizer: optimizer)
        }
        try checkAgainstOptions(state, url: url)
        history = state.history
        Generator.global.restore(state: state.rng)
        if state.batch == 0 && group.isPrimary {
            // the checkpoint is the commit point: outputs a kill left behind (older, or newer than
            // it) are rewritten from the weights and history it holds
            try writeArtifacts()
        }
        if state.epoch >= config.epochs {
            say("\(url.path) is at epoch \(state.epoch)" + (state.batch > 0 ? ", batch \(state.batch)" : "")
                + "; --epochs \(config.epochs) leaves nothing to train (raise --epochs to continue)")
            return RunPosition(epoch: state.epoch, epochStartRNG: state.epochStartRNG)
        }
        say("resuming from \(url.path) at epoch \(state.epoch + 1)" + (state.batch > 0 ? ", batch \(state.batch + 1)" : ""))
        return RunPosition(epoch: state.epoch, batch: state.batch, partial: state.partial, epochStartRNG: state.epochStartRNG)
    }

    private func noCheckpoint(_ url: URL) -> TrainingError {
        .badCheckpoint(path: url.path, reason: "no checkpoint to resume from (a run stopped before its first epoch ended leaves none; start it without --resume)")
    }

    /// Rank 0 reads the checkpoint and sends its bytes to the others, so only rank 0's machine
    /// needs the output folder; every rank then loads the same state.
    private func loadSharedCheckpoint(_ url: URL) throws -> Checkpoint.State {
        var bytes: [UInt8] = []
        if group.isPrimary, FileManager.default.fileExists(atPath: url.path) {
            do { bytes = Array(try Data(contentsOf: url)) } catch {
                throw TrainingError.badCheckpoint(path: url.path, reason: "cannot be read (\(error.localizedDescription))")
            }
        }
        bytes = group.broadcast(bytes: bytes)
        guard !bytes.isEmpty else { throw noCheckpoint(url) }
        if group.isPrimary { return try Checkpoint.load(from: url, model: model, optimizer: optimizer) }
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("convnet-checkpoint-\(getpid())-\(group.rank).safetensors")
        try Data(bytes).write(to: copy)
        defer { try? FileManager.default.removeItem(at: copy) }
        do { return try Checkpoint.load(from: copy, model: model, optimizer: optimizer) } catch let TrainingError.badCheckpoint(_, reason) {
            throw TrainingError.badCheckpoint(path: url.path, reason: reason)
        }
    }

    /// A checkpoint written mid-epoch replays that epoch's order, which depends on the batch size
    /// and the number of training examples; when either changed it is refused, naming the option.
    /// At an epoch boundary new values simply apply from the next epoch (as a restarted PyTorch loop).
    private func checkAgainstOptions(_ state: Checkpoint.State, url: URL) throws {
        guard state.batch > 0, state.epoch < config.epochs else { return }
        func refuse(_ what: String, _ then: Int, _ now: Int) -> TrainingError {
            .badCheckpoint(path: url.path, reason: "written during epoch \(state.epoch + 1) with \(what) \(then), now \(now); "
                           + "resume with \(what) \(then) to finish the epoch (a new value applies from the next one)")
        }
        if let b = state.batchSize, b != config.batchSize { throw refuse("--batch-size", b, config.batchSize) }
        if let n = state.examples, n != trainLoader.exampleCount { throw refuse("training examples (--subset)", n, trainLoader.exampleCount) }
        guard state.batch < batchesPerEpoch else {
            throw TrainingError.badCheckpoint(path: url.path, reason: "batch \(state.batch) is beyond the \(batchesPerEpoch) batches of an epoch")
        }
    }

    /// Trains one epoch (from `position`'s batch when resuming mid-epoch), evaluates, and returns its record.
    private func trainEpoch(_ epoch: Int, resuming position: inout RunPosition) throws -> EpochRecord {
        optimizer.lr = config.effectiveSchedule.lr(base: config.lr, epoch: epoch)
        model.train()
        let skipBatches = position.batch
        // the epoch's order comes from the generator state at its start, so a mid-epoch resume replays it
        let resumeRNG = Generator.global.state
        if skipBatches > 0 { Generator.global.restore(state: position.epochStartRNG) } else { position.epochStartRNG = resumeRNG }
        let globalOrder = trainLoader.epochOrder()
        let examples = globalOrder.count
        let order = group.isDistributed ? sampler!.localOrder(globalOrder) : globalOrder
        var partial = PartialEpoch()
        if skipBatches > 0 { Generator.global.restore(state: resumeRNG); partial = position.partial }
        let start = Date()
        let total = batchesPerEpoch
        let stepBase = stepsBefore(epoch: epoch)
        var lastDraw = Date.distantPast, lastProgress = start
        // the next batch is assembled (and resized) on another thread while this one trains
        for (b, batch) in zip(skipBatches..<total, AnySequence { self.trainLoader.batchIterator(order: order, from: skipBatches) }) {
            let logits = compiled(batch.images)
            let loss = crossEntropy(logits, batch.labels, labelSmoothing: config.labelSmoothing)
            let l = loss.item()
            // the step's totals over every rank (one small all-reduce), so every rank judges the
            // same loss and sees the same Ctrl-C
            var totals = [Double(l) * Double(batch.labels.count), Double(correctCount(logits, batch.labels)),
                          Double(batch.labels.count), Double(InterruptFlag.raised)]
            if group.isDistributed { totals = group.allReduceSum(totals) }
            let stepLoss = Float(totals[0] / totals[2])
            guard l.isFinite, stepLoss.isFinite else {
                throw TrainingError.nonFiniteLoss(epoch: epoch + 1, batch: b + 1, value: l.isFinite ? stepLoss : l)
            }
            optimizer.zeroGrad()
            if let ddp = dataParallel {
                // weighted by this rank's share, so the averaged gradient is the whole batch's mean
                loss.backward(Tensor(sampler!.lossWeight(batch: b, examples: examples)))
                ddp.synchronizeGradients()
            } else {
                loss.backward()
            }
            withNoGrad { optimizer.step() }
            let correct = Int(totals[1]), count = Int(totals[2])
            partial.lossSum += totals[0]
            partial.correct += correct
            partial.seen += count
            let interrupted = totals[3] > 0
            board?.batch(step: stepBase + b + 1, loss: stepLoss, correct: correct, count: count, lr: optimizer.lr)
            if let interval = config.progressInterval, let onProgress, b + 1 < total, Date().timeIntervalSince(lastProgress) >= interval {
                lastProgress = Date()
                let elapsed = lastProgress.timeIntervalSince(start), done = b + 1 - skipBatches
                let seen = Double(Swift.max(partial.seen, 1))
                onProgress(TrainingProgress(epoch: epoch + 1, epochs: config.epochs, batch: b + 1, batches: total,
                                            loss: partial.lossSum / seen, accuracy: Double(partial.correct) / seen,
                                            imagesPerSecond: Double(done * config.batchSize) / Swift.max(elapsed, 1e-9),
                                            secondsLeft: Double(total - b - 1) * elapsed / Double(done)))
            }
            if config.progressBar, group.isPrimary, Date().timeIntervalSince(lastDraw) > 0.1 || b == total - 1 {
                lastDraw = Date()
                drawProgress(epoch: epoch, batch: b + 1 - skipBatches, of: total - skipBatches, done: b + 1, total: total,
                             partial: partial, elapsed: Date().timeIntervalSince(start))
            }
            if interrupted && b + 1 < total {
                if config.progressBar && group.isPrimary { FileHandle.standardError.write(Data("\n".utf8)) }
                var saved: String? = nil
                if let url = checkpointURL, group.isPrimary {
                    var p = partial
                    p.seconds += Date().timeIntervalSince(start)
                    try Checkpoint.save(to: url, model: model, optimizer: optimizer, epoch: epoch, batch: b + 1, partial: p,
                                        epochStartRNG: position.epochStartRNG, rng: Generator.global.state, history: history,
                                        batchSize: config.batchSize, examples: trainLoader.exampleCount)
                    saved = url.path
                }
                throw TrainingError.interrupted(epoch: epoch + 1, batch: b + 1, checkpoint: saved ?? checkpointURL?.path)
            }
        }
        if config.progressBar && group.isPrimary { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        let trainSeconds = partial.seconds + Date().timeIntervalSince(start)
        position.batch = 0
        let test = evaluate(compiled, on: testLoader, numClasses: testLoader.classNames.count, group: group)
        return EpochRecord(epoch: epoch + 1, trainLoss: partial.lossSum / Double(Swift.max(partial.seen, 1)),
                           trainAccuracy: Double(partial.correct) / Double(Swift.max(partial.seen, 1)),
                           testAccuracy: test.accuracy, seconds: trainSeconds,
                           imagesPerSecond: Double(partial.seen) / Swift.max(trainSeconds, 1e-9), lr: Double(optimizer.lr),
                           testLoss: test.loss, globalStep: stepBase + total)
    }

    /// Records a finished epoch: history, the callback, then the checkpoint and the artifacts on
    /// disk; stops here after Ctrl-C.
    private func finishEpoch(_ record: EpochRecord) throws {
        var record = record
        var interrupted = InterruptFlag.raised != 0
        if group.isDistributed {
            // rank 0's clock and generator for everyone: the record and the checkpoint are the same
            // whichever rank is asked, and uneven shards (dropout draws) cannot drift the generators apart
            let rng = Generator.global.state
            let words = group.broadcast(bytes: withUnsafeBytes(of: (record.seconds, rng[0], rng[1], rng[2], rng[3])) { Array($0) })
            let (seconds, s0, s1, s2, s3) = words.withUnsafeBytes { $0.loadUnaligned(as: (Double, UInt64, UInt64, UInt64, UInt64).self) }
            Generator.global.restore(state: [s0, s1, s2, s3])
            record.imagesPerSecond *= record.seconds / Swift.max(seconds, 1e-9)
            record.seconds = seconds
            // a Ctrl-C seen by any rank stops all of them at the same epoch
            interrupted = group.allReduceSum([interrupted ? 1 : 0])[0] > 0
        }
        history.append(record)
        onEpoch?(record)
        // before the checkpoint: a kill between the two repeats the epoch, whose points TensorBoard
        // then replaces, rather than losing them
        board?.epoch(record, model: model)
        if let url = checkpointURL, group.isPrimary {
            // outputs first, the checkpoint last: it is the epoch's commit point, and a resume
            // rewrites the outputs from it, so a kill between the writes loses nothing
            try writeArtifacts()
            try Checkpoint.save(to: url, model: model, optimizer: optimizer, epoch: record.epoch, batch: 0, partial: PartialEpoch(),
                                epochStartRNG: Generator.global.state, rng: Generator.global.state, history: history,
                                batchSize: config.batchSize, examples: trainLoader.exampleCount)
        }
        if interrupted && record.epoch < config.epochs {
            throw TrainingError.interrupted(epoch: record.epoch, batch: batchesPerEpoch, checkpoint: checkpointURL?.path)
        }
    }

    private func drawProgress(epoch: Int, batch: Int, of count: Int, done: Int, total: Int, partial: PartialEpoch, elapsed: Double) {
        let width = 24
        let filled = width * done / Swift.max(total, 1)
        let bar = String(repeating: "=", count: filled) + (filled < width ? ">" : "") + String(repeating: " ", count: Swift.max(0, width - filled - 1))
        let rate = Double(partial.seen) / Swift.max(elapsed, 1e-9)
        let eta = Double(count - batch) * elapsed / Double(Swift.max(batch, 1))
        let line = String(format: "\r\u{1B}[Kepoch %d/%d [%@] %d/%d loss %.4f acc %.3f %.0f img/s ETA %.0fs",
                          epoch + 1, config.epochs, bar, done, total, partial.lossSum / Double(Swift.max(partial.seen, 1)),
                          Double(partial.correct) / Double(Swift.max(partial.seen, 1)), rate, eta)
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Writes weights (safetensors), metrics.json and curves.svg into the output folder.
    public func writeArtifacts() throws {
        guard let dir = config.outDir else { return }
        try model.save(to: dir.appendingPathComponent("model.safetensors"), metadata: config.weightsMetadata.isEmpty ? nil : config.weightsMetadata)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try enc.encode(history), to: dir.appendingPathComponent("metrics.json"))
        var plot = LinePlot(title: "Training curves")
        plot.add("train loss", history.map(\.trainLoss), color: "#1f77b4")
        plot.add("train acc", history.map(\.trainAccuracy), color: "#ff7f0e", dashed: true)
        plot.add("test acc", history.map(\.testAccuracy), color: "#2ca02c", dashed: true)
        try AtomicFile.write(Data(plot.svg().utf8), to: dir.appendingPathComponent("curves.svg"))
    }
}

/// Running totals of an epoch in progress.
struct PartialEpoch: Equatable {
    var lossSum = 0.0
    var correct = 0
    var seen = 0
    var seconds = 0.0
}

/// Training state in one safetensors file: `model.*` and `optim.*` tensors, and in the metadata
/// the epoch, position, totals, generator states and history.
enum Checkpoint {
    struct State {
        let epoch: Int, batch: Int
        let partial: PartialEpoch
        let epochStartRNG: [UInt64], rng: [UInt64]
        let history: [EpochRecord]
        /// The batch size and training-set size of the run that wrote it (nil in older checkpoints).
        var batchSize: Int? = nil, examples: Int? = nil
    }

    static func save(to url: URL, model: any Module, optimizer: any Optimizer, epoch: Int, batch: Int, partial: PartialEpoch,
                     epochStartRNG: [UInt64], rng: [UInt64], history: [EpochRecord], batchSize: Int, examples: Int) throws {
        var tensors: [String: Tensor] = [:]
        for (k, v) in model.stateDict() { tensors["model." + k] = v }
        for (k, v) in optimizer.stateDict() { tensors["optim." + k] = v }
        let hist = String(decoding: try JSONEncoder().encode(history), as: UTF8.self)
        let meta: [String: String] = [
            "format": "convnet-checkpoint-1", "epoch": "\(epoch)", "batch": "\(batch)",
            "loss_sum": "\(partial.lossSum)", "correct": "\(partial.correct)", "seen": "\(partial.seen)", "seconds": "\(partial.seconds)",
            "epoch_start_rng": epochStartRNG.map(String.init).joined(separator: ","), "rng": rng.map(String.init).joined(separator: ","),
            "history": hist, "batch_size": "\(batchSize)", "examples": "\(examples)",
        ]
        try SafeTensors.write(tensors, to: url, metadata: meta, int64Keys: Set(tensors.keys.filter { $0.hasSuffix("num_batches_tracked") }))
    }

    static func load(from url: URL, model: any Module, optimizer: any Optimizer) throws -> State {
        let (entries, meta) = try SafeTensors.readEntries(from: url)
        func bad(_ r: String) -> TrainingError { .badCheckpoint(path: url.path, reason: r) }
        guard meta["format"] == "convnet-checkpoint-1" else { throw bad("not a ConvNet checkpoint (no format marker)") }
        var modelState: [String: Tensor] = [:], optimState: [String: Tensor] = [:]
        for (k, e) in entries {
            if k.hasPrefix("model.") { modelState[String(k.dropFirst(6))] = e.tensor }
            else if k.hasPrefix("optim.") { optimState[String(k.dropFirst(6))] = e.tensor }
        }
        do { try model.loadStateDict(modelState) } catch { throw bad("model weights do not fit: \(error)") }
        do { try optimizer.loadStateDict(optimState) } catch { throw bad("optimizer state does not fit: \(error)") }
        func rng(_ key: String) throws -> [UInt64] {
            let words = (meta[key] ?? "").split(separator: ",").compactMap { UInt64($0) }
            guard words.count == 4 else { throw bad("generator state '\(key)' is missing or damaged") }
            return words
        }
        guard let epoch = meta["epoch"].flatMap(Int.init), let batch = meta["batch"].flatMap(Int.init),
              let lossSum = meta["loss_sum"].flatMap(Double.init), let correct = meta["correct"].flatMap(Int.init),
              let seen = meta["seen"].flatMap(Int.init), let seconds = meta["seconds"].flatMap(Double.init) else {
            throw bad("epoch counters are missing or damaged")
        }
        let history: [EpochRecord]
        do { history = try JSONDecoder().decode([EpochRecord].self, from: Data((meta["history"] ?? "[]").utf8)) } catch {
            throw bad("history is damaged")
        }
        // the fields against each other: a hand-edited or damaged value is named here instead of
        // trapping later in the loader or optimiser
        guard epoch >= 0, epoch <= 1_000_000 else { throw bad("epoch \(epoch) is out of range") }
        guard batch >= 0 else { throw bad("batch \(batch) is negative") }
        guard history.count == epoch, history.map(\.epoch) == Array(0..<epoch).map({ $0 + 1 }) else {
            throw bad("history has \(history.count) epochs (\(history.map(\.epoch))) but the checkpoint is at epoch \(epoch)")
        }
        guard lossSum.isFinite, lossSum >= 0, seen >= 0, correct >= 0, correct <= seen, seconds.isFinite, seconds >= 0,
              batch > 0 || seen == 0 else {
            throw bad("epoch totals are inconsistent (loss sum \(lossSum), \(correct) correct of \(seen), \(seconds) s at batch \(batch))")
        }
        func positive(_ key: String) throws -> Int? {
            guard let text = meta[key] else { return nil }
            guard let v = Int(text), v > 0 else { throw bad("\(key) '\(text)' is not a positive number") }
            return v
        }
        return State(epoch: epoch, batch: batch, partial: PartialEpoch(lossSum: lossSum, correct: correct, seen: seen, seconds: seconds),
                     epochStartRNG: try rng("epoch_start_rng"), rng: try rng("rng"), history: history,
                     batchSize: try positive("batch_size"), examples: try positive("examples"))
    }
}
