import ConvNetCore

/// Optimisers a model's defaults can name.
public enum OptimizerKind: String, CaseIterable, Sendable {
    /// ``SGD`` (PyTorch's `torch.optim.SGD`).
    case sgd
    /// ``Adam`` (PyTorch's `torch.optim.Adam`).
    case adam
    /// ``AdamW`` (PyTorch's `torch.optim.AdamW`).
    case adamw
}

/// How D2L trains a model on Fashion-MNIST, and what the CLI uses unless told otherwise.
public struct TrainingDefaults: Sendable {
    /// Epochs to train.
    public var epochs: Int
    /// Examples per minibatch.
    public var batchSize: Int
    /// The base learning rate.
    public var lr: Float
    /// Which optimiser.
    public var optimizer: OptimizerKind
    /// SGD's momentum.
    public var momentum: Float
    /// L2 weight decay (AdamW: decoupled).
    public var weightDecay: Float
    /// Input side length the images are resized to (28 = none).
    public var resize: Int
    /// Re-initialise Linear/Conv weights with Xavier-uniform (D2L's `init_cnn`).
    public var xavierInit: Bool
    /// Learning-rate schedule over the epochs.
    public var schedule: ScheduleKind = .constant
}

/// Schedules a model's defaults can name (sized to the run's epochs by the trainer).
public enum ScheduleKind: String, CaseIterable, Sendable {
    /// The base rate every epoch (``LRSchedule/constant``).
    case constant
    /// Step decay (``LRSchedule/step(stepSize:gamma:)``).
    case step
    /// Cosine annealing over the run (``LRSchedule/cosine(totalEpochs:minLR:)``).
    case cosine
}

/// One entry of the model zoo.
public struct ModelSpec: Sendable {
    /// The name the CLI and ``ModelZoo/spec(named:)`` take (`lenet`, `resnet18`, …).
    public let name: String
    /// A one-line description.
    public let summary: String
    /// How D2L trains it on Fashion-MNIST.
    public let defaults: TrainingDefaults
    let build: @Sendable (_ inputChannels: Int, _ numClasses: Int) -> any Module

    /// A new model with the zoo's initialisation (Xavier where D2L uses it).
    public func make(inputChannels: Int = 1, numClasses: Int = 10) -> any Module {
        let m = build(inputChannels, numClasses)
        if defaults.xavierInit { m.initWeights { Init.xavierUniform($0) } }
        return m
    }
}

/// A model name the zoo does not know.
public struct UnknownModelError: Error, CustomStringConvertible {
    /// The name asked for.
    public let name: String
    /// The message with the known names.
    public var description: String { "unknown model '\(name)'; known models: \(ModelZoo.names.joined(separator: ", "))" }
}

/// D2L's chapter 7–8 networks by name, with their Fashion-MNIST training defaults.
public enum ModelZoo {
    private static func d(_ epochs: Int, _ batch: Int, _ lr: Float, resize: Int = 28, optimizer: OptimizerKind = .sgd,
                          momentum: Float = 0, xavier: Bool = true, schedule: ScheduleKind = .constant) -> TrainingDefaults {
        TrainingDefaults(epochs: epochs, batchSize: batch, lr: lr, optimizer: optimizer, momentum: momentum, weightDecay: 0,
                         resize: resize, xavierInit: xavier, schedule: schedule)
    }

    /// Every model, in the book's order.
    public static let all: [ModelSpec] = [
        ModelSpec(name: "lenet", summary: "the homework's LeNet (ReLU, max pooling)",
                  defaults: d(10, 128, 0.002, optimizer: .adam, xavier: false, schedule: .cosine)) { Models.leNet(inputChannels: $0, numClasses: $1) },
        ModelSpec(name: "lenet-d2l", summary: "D2L 7.6 LeNet-5 (sigmoid, average pooling)",
                  defaults: d(10, 256, 0.9)) { Models.leNetD2L(inputChannels: $0, numClasses: $1) },
        ModelSpec(name: "bn-lenet", summary: "D2L 8.5 LeNet with batch normalisation",
                  defaults: d(10, 128, 0.1, schedule: .cosine)) { Models.bnLeNet(inputChannels: $0, numClasses: $1) },
        ModelSpec(name: "alexnet", summary: "D2L 8.1 AlexNet (224×224)",
                  defaults: d(10, 128, 0.01, resize: 224)) { Models.alexNet(inputChannels: $0, numClasses: $1) },
        ModelSpec(name: "vgg11", summary: "D2L 8.2 VGG-11, channels ÷ 4 (224×224)",
                  defaults: d(10, 128, 0.01, resize: 224)) { Models.vgg(channelRatio: 4, inputChannels: $0, numClasses: $1) },
        ModelSpec(name: "nin", summary: "D2L 8.3 Network in Network (224×224)",
                  defaults: d(10, 128, 0.05, resize: 224)) { Models.nin(inputChannels: $0, numClasses: $1) },
        ModelSpec(name: "googlenet", summary: "D2L 8.4 GoogLeNet with Inception blocks (96×96)",
                  defaults: d(10, 128, 0.01, resize: 96)) { Models.googLeNet(inputChannels: $0, numClasses: $1) },
        ModelSpec(name: "resnet18", summary: "D2L 8.6 ResNet-18 (96×96)",
                  defaults: d(10, 128, 0.01, resize: 96)) { Models.resNet18(inputChannels: $0, numClasses: $1) },
        ModelSpec(name: "resnet34", summary: "ResNet-34 (96×96)",
                  defaults: d(10, 128, 0.01, resize: 96)) { Models.resNet34(inputChannels: $0, numClasses: $1) },
        ModelSpec(name: "densenet", summary: "D2L 8.7 DenseNet (96×96)",
                  defaults: d(10, 128, 0.01, resize: 96)) { Models.denseNet(inputChannels: $0, numClasses: $1) },
        ModelSpec(name: "regnetx32", summary: "D2L 8.8 RegNetX-32 (96×96)",
                  defaults: d(10, 128, 0.05, resize: 96)) { Models.regNetX32(inputChannels: $0, numClasses: $1) },
    ]

    /// The names of every model, in the book's order.
    public static var names: [String] { all.map(\.name) }

    /// The model called `name` (case-insensitive), or ``UnknownModelError``.
    public static func spec(named name: String) throws -> ModelSpec {
        guard let s = all.first(where: { $0.name == name.lowercased() }) else { throw UnknownModelError(name: name) }
        return s
    }
}
