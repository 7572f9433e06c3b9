import ArgumentParser
import ConvNet
import Foundation

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Evaluate saved weights on the test set, with a confusion matrix.")

    @Argument(help: "Model name.") var model: String
    @Option(help: "Weights file (.safetensors) written by `convnet train` or by PyTorch.") var weights: String
    @Option(help: "Resize images (default: the model's input size).") var resize: Int?
    @Option(help: "Batch size.") var batchSize: Int = 256
    @OptionGroup var dataOptions: DataOptions

    func run() throws {
        try dataOptions.apply()
        let spec = try loadSpec(model)
        let net = spec.make()
        try loadWeights(net, from: weights)
        let test = try dataOptions.load(.test)
        let side = resize ?? spec.defaults.resize
        let loader = DataLoader(test, batchSize: batchSize, resize: side == test.height ? nil : side)
        let r = evaluate(net, on: loader, numClasses: test.classNames.count)
        print(String(format: "%@ on %@: accuracy %.4f, loss %.4f (%d images)", spec.name, test.name, r.accuracy, r.loss, r.confusion.total))
        print(r.confusion.table(classNames: test.classNames))
    }
}

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Classify one image (a PNG, or a test-set index) and print the top classes.")

    @Argument(help: "Model name.") var model: String
    @Option(help: "Weights file (.safetensors).") var weights: String
    @Option(help: "A PNG image (grayscale or RGB, any size; converted and resized).") var image: String?
    @Option(help: "Index into the test set.") var index: Int?
    @Option(help: "How many classes to show.") var top: Int = 3
    @Flag(help: "Invert the image's gray levels (Fashion-MNIST items are light on black; photos are usually dark on light).")
    var invert = false
    @OptionGroup var dataOptions: DataOptions

    func validate() throws {
        if (image == nil) == (index == nil) { throw ValidationError("give exactly one of --image and --index") }
    }

    func run() throws {
        try dataOptions.apply()
        let spec = try loadSpec(model)
        let net = spec.make()
        try loadWeights(net, from: weights)
        let kind = try dataOptions.kind()
        let side = spec.defaults.resize
        var pixels: [Float], w: Int, h: Int, truth: Int? = nil
        if let image {
            let img: Image8
            do { img = try PNG.read(from: try existingFile(image, what: "image")) } catch let e as DataError { throw CLIError(message: e.description) }
            pixels = img.grayscale; w = img.width; h = img.height
            if invert { pixels = pixels.map { 1 - $0 } }
        } else {
            let test = try dataOptions.load(.test)
            guard let i = index, i >= 0, i < test.count else { throw CLIError(message: "--index must be in 0..<\(test.count)") }
            pixels = test.image(i).scalars; w = test.width; h = test.height; truth = test.labels[i]
        }
        let x = Tensor.empty([1, 1, side, side])
        pixels.withUnsafeBufferPointer { resizeBilinear($0.baseAddress!, planes: 1, height: h, width: w, toHeight: side, toWidth: side, into: x.data) }
        net.eval()
        let probs = withNoGrad { compile(net)(x).softmax(dim: 1) }.scalars
        let names = kind.classNames
        if let truth { print("true class: \(names[truth])") }
        for (c, p) in probs.enumerated().sorted(by: { $0.element > $1.element }).prefix(max(1, top)) {
            print(names[c].padding(toLength: max(12, names[c].count), withPad: " ", startingAt: 0) + String(format: " %6.2f%%", Double(p) * 100))
        }
    }
}
