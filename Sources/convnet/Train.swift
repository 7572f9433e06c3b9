import ArgumentParser
import ConvNet
import Foundation

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model from the zoo (see `convnet models`) with its D2L defaults.")

    @Argument(help: "Model name, e.g. lenet, lenet-d2l, bn-lenet, resnet18.")
    var model: String

    @Option(help: "Epochs (default: the model's).") var epochs: Int?
    @Option(help: "Batch size (default: the model's).") var batchSize: Int?
    @Option(help: "Learning rate (default: the model's).") var lr: Float?
    @Option(help: "Optimizer: sgd, adam or adamw.") var optimizer: String?
    @Option(help: "SGD momentum.") var momentum: Float?
    @Option(help: "Weight decay.") var weightDecay: Float?
    @Option(help: "Resize images to this side length (default: the model's input size).") var resize: Int?
    @Option(help: "Learning-rate schedule: constant, step, cosine (default: the model's).") var schedule: String?
    @Option(help: "Random seed (initialisation, shuffling, dropout).") var seed: UInt64 = 0
    @Option(help: "Train on only the first N training images (quick runs).") var subset: Int?
    @Option(help: "Evaluate on only the first N test images.") var testSubset: Int?
    @Option(help: "Output folder for weights, metrics, curves and the checkpoint.") var out: String = "runs/<model>"
    @Flag(help: "Continue from the checkpoint in --out.") var resume = false
    @Option(help: "Write TensorBoard event files to this folder (watch with `tensorboard --logdir DIR`); a resumed run adds a file and continues the steps.")
    var tensorboard: String?
    @Option(help: "With --tensorboard: batches between the points of the batch/… scalars.") var tensorboardEvery: Int = 20
    @Option(help: "When standard output is not a terminal (a log file), print a progress line within an epoch every this many seconds; 0 never.")
    var progressEvery: Double = 30
    @Option(help: "With an image folder: the side length images are cropped/resized to (default: the model's input size).")
    var imageSize: Int?
    @Flag(help: "With an image folder: augment training images (random-resized crop + horizontal flip; evaluation resizes to size/0.875 and center-crops).")
    var augment = false
    @Option(help: "With an image folder: per-channel means for Normalize (comma-separated), or 'auto' to compute mean and std from the training images.")
    var mean: String?
    @Option(help: "With an image folder: per-channel standard deviations for Normalize (comma-separated).")
    var std: String?
    @Option(help: "Start from these weights (.safetensors): every tensor whose name and shape match is loaded, the rest keep their initialisation.")
    var initFrom: String?
    @Option(help: "Freeze parameters whose name starts with this prefix (repeatable); 'backbone' freezes all but the final classifier.")
    var freeze: [String] = []
    @Flag(help: "Under mpirun: batch-norm statistics over the whole global batch (SyncBatchNorm) instead of each rank's share.")
    var syncBn = false
    @Option(help: "Under mpirun: the size of a gradient all-reduce bucket in MB (default 25).") var bucketCapMb: Double?
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var imageOptions: ImageFolderOptions

    func validate() throws {
        try checkRange(epochs, 1...100_000, "--epochs")
        try checkRange(batchSize, 1...maxBatchSize, "--batch-size")
        try checkRange(lr, 0...1_000, "--lr", lowerOpen: true)
        try checkRange(momentum, 0...1, "--momentum", upperOpen: true)
        try checkRange(weightDecay, 0...1_000, "--weight-decay")
        try checkRange(resize, 8...1024, "--resize")
        try checkRange(subset, 1...Int.max, "--subset")
        // 0 test images would report an accuracy of 0 as if it were a result
        try checkRange(testSubset, 1...Int.max, "--test-subset")
        try checkRange(imageSize, 8...1024, "--image-size")
        if imageSize != nil && resize != nil { throw ValidationError("give --image-size or --resize, not both") }
        if (mean == nil) != (std == nil) && mean != "auto" { throw ValidationError("give --mean and --std together (or --mean auto)") }
        if resume && initFrom != nil { throw ValidationError("give --resume or --init-from, not both (a checkpoint holds the weights)") }
        try checkRange(tensorboardEvery, 1...Int.max, "--tensorboard-every")
        try checkRange(progressEvery, 0...1_000_000, "--progress-every")
        if tensorboard == "" { throw ValidationError("--tensorboard needs a folder") }
        try checkRange(bucketCapMb, 0.001...100_000, "--bucket-cap-mb", lowerOpen: false)
        // --batch-size is the global batch: under mpirun it must split into equal per-rank batches
        if let ranks = MPILaunch.worldSize, let batchSize, batchSize % ranks != 0 {
            throw ValidationError(DistributedError.indivisibleBatch(globalBatch: batchSize, ranks: ranks).description)
        }
    }

    func run() throws {
        // under mpirun: this process's rank (MPI is loaded now); only rank 0 prints and writes
        let group = try ProcessGroup.fromEnvironment()
        if !group.isPrimary {
            let null = open("/dev/null", O_WRONLY)
            if null >= 0 { dup2(null, STDOUT_FILENO); close(null) }
        }
        try dataOptions.apply()
        let spec = try loadSpec(model)
        var config = TrainingConfig(defaults: spec.defaults)
        if let epochs { config.epochs = epochs }
        if let batchSize { config.batchSize = batchSize }
        if let lr { config.lr = lr }
        if let optimizer { config.optimizer = try parseChoice(optimizer, OptimizerKind.self, what: "optimizer") }
        if let momentum { config.momentum = momentum }
        if let weightDecay { config.weightDecay = weightDecay }
        if let resize { config.resize = resize }
        if let schedule { config.scheduleKind = try parseChoice(schedule, ScheduleKind.self, what: "schedule") }
        config.resume = resume
        config.syncBatchNorm = syncBn
        if let bucketCapMb { config.bucketCapMB = bucketCapMb }
        if config.batchSize % group.size != 0 { throw DistributedError.indivisibleBatch(globalBatch: config.batchSize, ranks: group.size) }
        config.progressBar = isatty(STDERR_FILENO) != 0 && group.isPrimary
        // a log file gets a line now and then instead of the bar, which it cannot show
        config.progressInterval = group.isPrimary && isatty(STDOUT_FILENO) == 0 && progressEvery > 0 ? progressEvery : nil
        config.tensorBoardDir = tensorboard.map { URL(fileURLWithPath: $0.replacingOccurrences(of: "<model>", with: spec.name)) }
        config.tensorBoardEvery = tensorboardEvery
        config.commandLine = (["convnet"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        let outPath = out.replacingOccurrences(of: "<model>", with: spec.name)
        config.outDir = URL(fileURLWithPath: outPath)
        try config.validate()
        // a folder that cannot be written is reported now, not after the first epoch has trained
        if group.isPrimary { try OutputFolder.prepare(config.outDir!) }

        let trainer: Trainer
        let net: any Module
        if isImageFolder(dataOptions.data) {
            (trainer, net) = try imageFolderTrainer(spec: spec, config: &config, outPath: outPath, group: group)
        } else {
            guard imageSize == nil, !augment, mean == nil else {
                throw CLIError(message: "--image-size, --augment, --mean and --std apply to image folders; --data is not one")
            }
            var train = try dataOptions.load(.train)
            var test = try dataOptions.load(.test)
            if let subset { train = train.prefix(subset) }
            if let testSubset { test = test.prefix(testSubset) }
            Tensor.manualSeed(seed)
            net = spec.make(inputChannels: 1, numClasses: train.classNames.count)
            try prepareTransfer(net)
            let side = config.resize ?? train.height
            try checkModelInput(spec.name, height: side, width: side, option: "--resize")
            print("\(spec.name): \(spec.summary); \(net.numParameters) parameters; \(train.count) training / \(test.count) test images at \(side)×\(side)")
            trainer = Trainer(model: net, train: train, test: test, config: config, group: group)
        }
        print("epochs \(config.epochs), batch \(config.batchSize), \(config.optimizer.rawValue) lr \(config.lr)"
              + (config.momentum > 0 ? " momentum \(config.momentum)" : "") + (config.weightDecay > 0 ? " weight decay \(config.weightDecay)" : "")
              + (config.scheduleKind == .constant ? "" : ", \(config.scheduleKind.rawValue) schedule") + ", \(Threads.count) threads, seed \(seed)"
              + (group.isDistributed ? "; \(group.size) ranks × batch \(config.batchSize / group.size)" + (syncBn ? ", synchronised batch norm" : "") : ""))
        trainer.onEpoch = { r in
            print(String(format: "epoch %2d  train loss %.4f  train acc %.4f  test acc %.4f  %6.2f s  %7.0f img/s",
                         r.epoch, r.trainLoss, r.trainAccuracy, r.testAccuracy, r.seconds, r.imagesPerSecond))
        }
        trainer.onProgress = { p in print(progressLine(p)) }
        InterruptFlag.install()
        let history = try trainer.run()
        if let last = history.last {
            print(String(format: "final test accuracy %.4f; weights, metrics.json and curves.svg in %@", last.testAccuracy, outPath))
        }
        if let dir = config.tensorBoardDir { print("TensorBoard log in \(dir.path) (tensorboard --logdir \(dir.path))") }
        if let timings = trainer.dataParallel?.timings, timings.steps > 0 {
            print(String(format: "all-reduce: %.3f s over %d steps, %.0f%% hidden behind the backward pass", timings.communicationSeconds,
                         timings.steps, 100 * timings.hiddenFraction))
        }
        fflush(nil)
        group.finish()
    }

    /// --init-from and --freeze, after the model is built and before the optimiser sees its parameters.
    func prepareTransfer(_ net: any Module) throws {
        let before = net.numParameters
        if let initFrom {
            let url = try existingFile(initFrom, what: "weights file")
            let state: [String: Tensor]
            do { state = try SafeTensors.read(from: url) } catch let e as SafeTensorsError { throw CLIError(message: e.description) }
            let report = net.loadMatching(state)
            print("init from \(initFrom): \(report)")
            guard !report.loaded.isEmpty else { throw CLIError(message: "\(initFrom): no tensor matches the model by name and shape") }
        }
        for prefix in freeze {
            if prefix == "backbone" {
                let head = net.freezeBackbone()
                print("frozen: everything except the classifier '\(head)'")
            } else {
                let keys = net.freeze(prefix: prefix)
                guard !keys.isEmpty else {
                    throw CLIError(message: "--freeze \(prefix): no parameter name starts with it (e.g. \(net.namedParameters().prefix(3).map(\.0).joined(separator: ", ")))")
                }
                print("frozen: \(keys.count) tensors under '\(prefix)'")
            }
        }
        if !freeze.isEmpty { print("trainable parameters: \(net.numParameters) of \(before)") }
    }

    /// The trainer for an image folder: splits, channel count, pipelines, the model sized to the data.
    func imageFolderTrainer(spec: ModelSpec, config: inout TrainingConfig, outPath: String, group: ProcessGroup) throws -> (Trainer, any Module) {
        try imageOptions.validateValues()
        let root = URL(fileURLWithPath: dataOptions.data!)
        let splits = try ImageFolderSplits(root: root, valFraction: imageOptions.valSplit, seed: seed)
        var train = splits.train, val = splits.val
        // the samples are sorted by class, so a subset is a seeded random pick (kept in order), not a prefix
        func pick(_ f: ImageFolder, _ n: Int) -> ImageFolder {
            let keep = Set(Generator(seed: seed ^ 0x5AB5E7).permutation(f.count).prefix(n))
            return ImageFolder(root: f.root, classNames: f.classNames, samples: f.samples.enumerated().filter { keep.contains($0.offset) }.map(\.element))
        }
        if let subset { train = pick(train, subset) }
        if let testSubset { val = pick(val, testSubset) }
        let channels = imageOptions.resolveChannels(train)
        let size = imageSize ?? resize ?? spec.defaults.resize
        try checkModelInput(spec.name, height: size, width: size, option: "--image-size")
        config.resize = size
        var meanValues: [Float]? = nil, stdValues: [Float]? = nil
        if let mean, mean != "auto", let std {
            meanValues = try parseFloats(mean, count: channels, what: "--mean")
            stdValues = try parseFloats(std, count: channels, what: "--std")
            guard stdValues!.allSatisfy({ $0 > 0 }) else { throw CLIError(message: "--std values must be positive") }
        }
        Tensor.manualSeed(seed)
        let start = Date()
        var trainLoader = try imageOptions.loader(train, pipeline: .training(size: size, channels: channels, augmented: augment),
                                                  batchSize: config.batchSize / group.size, shuffle: true)
        if mean == "auto" {
            let stats = trainLoader.channelStatistics()
            meanValues = stats.mean; stdValues = stats.std
        }
        if meanValues != nil {
            // the same decoded images (and cache) with normalisation added
            trainLoader = trainLoader.with(pipeline: .training(size: size, channels: channels, augmented: augment, mean: meanValues, std: stdValues))
        }
        let valLoader = try imageOptions.loader(val, pipeline: .evaluation(size: size, channels: channels, augmented: augment,
                                                                          mean: meanValues, std: stdValues),
                                                batchSize: Swift.max(config.batchSize, 256), shuffle: false)
        let net = spec.make(inputChannels: channels, numClasses: train.classNames.count)
        try prepareTransfer(net)
        let info = ImageModelInfo(classNames: train.classNames, channels: channels, imageSize: size, mean: meanValues, std: stdValues,
                                  augmented: augment)
        config.weightsMetadata = info.metadata
        let ignored = train.ignoredFiles.count + val.ignoredFiles.count
        let skipped = trainLoader.skipped + valLoader.skipped
        print("\(spec.name): \(spec.summary); \(net.numParameters) parameters; \(train.classNames.count) classes; "
              + "\(trainLoader.exampleCount) training / \(valLoader.exampleCount) validation images (\(splits.layout)) at \(channels)×\(size)×\(size)")
        print(String(format: "data: %@; checked in %.1f s%@%@%@", root.path, Date().timeIntervalSince(start),
                     trainLoader.isCached && valLoader.isCached ? ", cached in memory" : "",
                     ignored > 0 ? ", \(ignored) non-image files ignored" : "",
                     skipped.isEmpty ? "" : ", \(skipped.count) bad images skipped (first: \(skipped[0]))"))
        print("train transform: \(trainLoader.pipeline)")
        return (Trainer(model: net, trainLoader: trainLoader, testLoader: valLoader, config: config, group: group), net)
    }
}

/// A progress line within an epoch, for a log file: `epoch 1/10  batch 120/469  loss 0.6123  acc 0.7810  1234 img/s  ETA 3:12`.
func progressLine(_ p: TrainingProgress) -> String {
    let left = Int(p.secondsLeft.rounded())
    let eta = left >= 3600 ? String(format: "%d:%02d:%02d", left / 3600, left / 60 % 60, left % 60) : String(format: "%d:%02d", left / 60, left % 60)
    return String(format: "epoch %d/%d  batch %d/%d  loss %.4f  acc %.4f  %.0f img/s  ETA %@",
                  p.epoch, p.epochs, p.batch, p.batches, p.loss, p.accuracy, p.imagesPerSecond, eta)
}
