import ArgumentParser
import ConvNet
import Foundation

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Evaluate saved weights on the test set (or an image folder), with a confusion matrix.")

    @Argument(help: "Model name.") var model: String
    @Option(help: "Weights file (.safetensors) written by `convnet train` or by PyTorch.") var weights: String
    @Option(help: "Resize images (default: the model's input size).") var resize: Int?
    @Option(help: "Batch size.") var batchSize: Int = 256
    @Option(help: "Before evaluating, recompute batch norm's running statistics over this many shuffled training batches (PyTorch's update_bn).")
    var updateBn: Int?
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var imageOptions: ImageFolderOptions

    func validate() throws {
        try checkRange(batchSize, 1...maxBatchSize, "--batch-size")
        try checkRange(resize, 8...1024, "--resize")
        try checkRange(updateBn, 1...100_000, "--update-bn")
    }

    func run() throws {
        try dataOptions.apply()
        let spec = try loadSpec(model)
        if isImageFolder(dataOptions.data) { return try evaluateFolder(spec) }
        let net = spec.make()
        try loadWeights(net, from: weights)
        let test = try dataOptions.load(.test)
        let side = resize ?? spec.defaults.resize
        try checkModelInput(spec.name, height: side, width: side, option: "--resize")
        if let updateBn {
            let train = try dataOptions.load(.train)
            let batches = DataLoader(train, batchSize: batchSize, shuffle: true, resize: side == train.height ? nil : side,
                                     generator: Generator(seed: 0)).lazy.prefix(updateBn).map(\.images)
            let used = updateBatchNorm(net, batches: batches)
            print(used == 0 ? "\(spec.name) has no batch norm: --update-bn changes nothing"
                            : "batch norm's running statistics recomputed over \(used) training batches of \(batchSize)")
        }
        let loader = DataLoader(test, batchSize: batchSize, resize: side == test.height ? nil : side)
        let r = evaluate(net, on: loader, numClasses: test.classNames.count)
        print(String(format: "%@ on %@: accuracy %.4f, loss %.4f (%d images)", spec.name, test.name, r.accuracy, r.loss, r.confusion.total))
        print(r.confusion.table(classNames: test.classNames))
    }

    /// An image folder: its val/ (or test/) part when it has train/, else every image in it, prepared
    /// as training prepared its validation images (from the weights' metadata).
    func evaluateFolder(_ spec: ModelSpec) throws {
        try imageOptions.validateValues()
        if updateBn != nil { throw CLIError(message: "--update-bn: supported for the IDX datasets (Fashion-MNIST, MNIST), not yet for image folders") }
        guard let info = try ImageModelInfo.read(from: weights) else {
            throw CLIError(message: "\(weights): no class names in the metadata; train on an image folder with `convnet train` first")
        }
        let net = spec.make(inputChannels: info.channels, numClasses: info.classNames.count)
        try loadWeights(net, from: weights)
        let root = URL(fileURLWithPath: dataOptions.data!)
        let hasTrain = FileManager.default.fileExists(atPath: root.appendingPathComponent("train").path)
        let folder = hasTrain ? try ImageFolderSplits(root: root).val : try ImageFolder(root: root)
        guard folder.classNames == info.classNames else {
            throw CLIError(message: "\(folder.root.path): classes \(folder.classNames.prefix(5)) differ from the model's \(info.classNames.prefix(5))")
        }
        let loader = try imageOptions.loader(folder, pipeline: info.evaluationPipeline, batchSize: batchSize, shuffle: false)
        let r = evaluate(net, on: loader, numClasses: info.classNames.count)
        print(String(format: "%@ on %@: accuracy %.4f, loss %.4f (%d images%@)", spec.name, folder.root.path, r.accuracy, r.loss,
                     r.confusion.total, loader.skipped.isEmpty ? "" : ", \(loader.skipped.count) bad images skipped"))
        print(r.confusion.table(classNames: info.classNames))
    }
}
