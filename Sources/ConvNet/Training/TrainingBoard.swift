import ConvNetCore
import ConvNetData
import ConvNetNN
import ConvNetTensorBoard
import Foundation

/// What the trainer logs to TensorBoard (`TrainingConfig.tensorBoardDir`), through a
/// `SummaryWriter`. Every step is the number of batches trained so far (PyTorch's `global_step`;
/// an epoch's is its record's `globalStep`), so the charts of batches and of epochs share their
/// axis:
/// - `batch/…` every `tensorBoardEvery` batches: the mean training loss and accuracy of those
///   batches, the learning rate, images/s;
/// - `epoch/…` at each epoch's end: train and test loss and accuracy, learning rate, images/s,
///   seconds of training;
/// - histograms `weights/<parameter>` and `gradients/<parameter>` (of the epoch's last batch) at
///   each epoch's end, and the initial weights at step 0;
/// - images `first_layer/kernels` and `first_layer/feature_maps` (of the first test image) at
///   each epoch's end and at step 0;
/// - text `model` (the repr) and `options` at the step a run starts from.
///
/// A resumed run opens a new event file in the same folder, continues the steps, and marks the
/// restart (`purgeStep`), so TensorBoard hides what a killed run logged after its checkpoint and
/// this one logs again. Training matters more than its log: a value that cannot be stored is
/// skipped with a warning, and after a failed write the logging stops, with one warning, while
/// training goes on.
final class TrainingBoard {
    private let writer: SummaryWriter
    private let every: Int
    private let warn: (String) -> Void
    private var stopped = false
    /// The sample whose feature maps are drawn, [1, C, H, W].
    private let sample: Tensor?
    /// Totals since the last `batch/…` point.
    private var lossSum = 0.0, correct = 0, seen = 0
    /// Images trained since `since` (the last point, or the end of an epoch's evaluation).
    private var timedImages = 0
    private var since = Date()

    /// A new event file in `dir`; `resumeStep` is the step a resumed run continues from.
    init(dir: URL, every: Int, resumeStep: Int?, sample: Tensor?, warn: @escaping (String) -> Void) throws {
        writer = try SummaryWriter(logDir: dir, purgeStep: resumeStep.map { $0 + 1 })
        self.every = Swift.max(1, every)
        self.sample = sample
        self.warn = warn
    }

    /// Runs one write; a bad value is skipped with a warning, a failed write stops the logging.
    private func attempt(_ body: () throws -> Void) {
        guard !stopped else { return }
        do { try body() } catch let e as SummaryWriterError {
            if case .invalidValue = e { warn("tensorboard: \(e) — skipped"); return }
            stopped = true
            warn("tensorboard: \(e); TensorBoard logging stops here, training goes on")
        } catch {
            stopped = true
            warn("tensorboard: \(error); TensorBoard logging stops here, training goes on")
        }
    }

    /// The repr (as a Markdown code block) and the options, at the step the run starts from; at
    /// step 0 also the initial weights and first-layer pictures.
    func start(model: any Module, config: TrainingConfig, step: Int) {
        attempt { try writer.addText("model", "    " + model.description.replacingOccurrences(of: "\n", with: "\n    "), step: step) }
        attempt { try writer.addText("options", Self.optionsTable(config, model: model), step: step) }
        if step == 0 { pictures(model: model, step: 0, gradients: false) }
        since = Date()
    }

    /// One trained batch, at global batch number `step` (from 1); a point every `every` batches.
    func batch(step: Int, loss: Float, correct: Int, count: Int, lr: Float) {
        lossSum += Double(loss) * Double(count); self.correct += correct; seen += count; timedImages += count
        guard step % every == 0 else { return }
        let seconds = Date().timeIntervalSince(since)
        attempt {
            try writer.addScalar("batch/train_loss", lossSum / Double(seen), step: step)
            try writer.addScalar("batch/train_accuracy", Double(self.correct) / Double(seen), step: step)
            try writer.addScalar("batch/lr", lr, step: step)
            if seconds > 0 { try writer.addScalar("batch/images_per_second", Double(timedImages) / seconds, step: step) }
        }
        lossSum = 0; self.correct = 0; seen = 0; timedImages = 0
        since = Date()
    }

    /// A finished epoch: its scalars, then the histograms and pictures of the model at its end.
    func epoch(_ r: EpochRecord, model: any Module) {
        guard let step = r.globalStep else { return }
        attempt {
            try writer.addScalar("epoch/train_loss", r.trainLoss, step: step)
            try writer.addScalar("epoch/train_accuracy", r.trainAccuracy, step: step)
            if let testLoss = r.testLoss { try writer.addScalar("epoch/test_loss", testLoss, step: step) }
            try writer.addScalar("epoch/test_accuracy", r.testAccuracy, step: step)
            try writer.addScalar("epoch/lr", r.lr, step: step)
            try writer.addScalar("epoch/images_per_second", r.imagesPerSecond, step: step)
            try writer.addScalar("epoch/seconds", r.seconds, step: step)
        }
        pictures(model: model, step: step, gradients: true)
        // the evaluation's time is not training: the speed counts from here (the loss and
        // accuracy totals go on into the next point)
        timedImages = 0
        since = Date()
    }

    private func pictures(model: any Module, step: Int, gradients: Bool) {
        // a lazy layer's parameters have no values before the first forward
        for (name, p) in model.namedParameters() where !p.isUninitialized {
            attempt { try writer.addHistogram("weights/\(name)", p, step: step) }
            if gradients, let g = p.grad { attempt { try writer.addHistogram("gradients/\(name)", g, step: step) } }
        }
        guard let conv = FirstLayerImages.firstConvolution(of: model) else { return }
        attempt { try writer.addImage("first_layer/kernels", FirstLayerImages.kernels(of: conv), step: step) }
        if let sample, sample.shape[1] == conv.inChannels {
            attempt { try writer.addImage("first_layer/feature_maps", FirstLayerImages.featureMaps(of: conv, input: sample), step: step) }
        }
    }

    /// Closes the file (synced); a failure is a warning.
    func close() { attempt { try writer.close() } }

    /// The run's configuration as a Markdown table, the command line first when known.
    static func optionsTable(_ c: TrainingConfig, model: any Module) -> String {
        var rows: [(String, String)] = []
        if let command = c.commandLine { rows.append(("command", "`\(command)`")) }
        rows += [("epochs", "\(c.epochs)"), ("batch size", "\(c.batchSize)"), ("optimizer", c.optimizer.rawValue),
                 ("learning rate", "\(c.lr)"), ("momentum", "\(c.momentum)"), ("weight decay", "\(c.weightDecay)"),
                 ("schedule", "\(c.effectiveSchedule)"),
                 ("label smoothing", "\(c.labelSmoothing)"), ("resize", c.resize.map { "\($0)" } ?? "none"),
                 ("parameters", "\(model.numParameters)"), ("threads", "\(Threads.count)")]
        return "| option | value |\n|---|---|\n" + rows.map { "| \($0.0) | \($0.1) |" }.joined(separator: "\n")
    }
}
