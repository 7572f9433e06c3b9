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
    @OptionGroup var dataOptions: DataOptions

    func validate() throws {
        if let epochs, epochs <= 0 { throw ValidationError("--epochs must be positive, got \(epochs)") }
        if let batchSize, batchSize <= 0 { throw ValidationError("--batch-size must be positive, got \(batchSize)") }
        if let lr, !(lr > 0) { throw ValidationError("--lr must be positive, got \(lr)") }
        if let resize, resize < 8 || resize > 1024 { throw ValidationError("--resize must be between 8 and 1024, got \(resize)") }
        if let subset, subset <= 0 { throw ValidationError("--subset must be positive") }
    }

    func run() throws {
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
        config.seed = seed
        config.resume = resume
        config.progressBar = isatty(STDERR_FILENO) != 0
        let outPath = out.replacingOccurrences(of: "<model>", with: spec.name)
        config.outDir = URL(fileURLWithPath: outPath)

        var train = try dataOptions.load(.train)
        var test = try dataOptions.load(.test)
        if let subset { train = train.prefix(subset) }
        if let testSubset { test = test.prefix(testSubset) }

        Tensor.manualSeed(seed)
        let net = spec.make(inputChannels: 1, numClasses: train.classNames.count)
        let side = config.resize ?? train.height
        print("\(spec.name): \(spec.summary); \(net.numParameters) parameters; \(train.count) training / \(test.count) test images at \(side)×\(side)")
        print("epochs \(config.epochs), batch \(config.batchSize), \(config.optimizer.rawValue) lr \(config.lr)"
              + (config.momentum > 0 ? " momentum \(config.momentum)" : "") + (config.weightDecay > 0 ? " weight decay \(config.weightDecay)" : "")
              + (config.scheduleKind == .constant ? "" : ", \(config.scheduleKind.rawValue) schedule") + ", \(Threads.count) threads, seed \(seed)")
        let trainer = Trainer(model: net, train: train, test: test, config: config)
        trainer.onEpoch = { r in
            print(String(format: "epoch %2d  train loss %.4f  train acc %.4f  test acc %.4f  %6.2f s  %7.0f img/s",
                         r.epoch, r.trainLoss, r.trainAccuracy, r.testAccuracy, r.seconds, r.imagesPerSecond))
            fflush(stdout)
        }
        InterruptFlag.install()
        let history = try trainer.run()
        if let last = history.last {
            print(String(format: "final test accuracy %.4f; weights, metrics.json and curves.svg in %@", last.testAccuracy, outPath))
        }
    }
}
