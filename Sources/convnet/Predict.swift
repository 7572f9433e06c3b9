import ArgumentParser
import ConvNet
import Foundation

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Classify images (a PNG/JPEG file or a folder of them, or a test-set index) and print the top classes.")

    @Argument(help: "Model name (omit with --onnx).") var model: String?
    @Option(help: "Weights file (.safetensors).") var weights: String?
    @Option(help: "Run this ONNX model (e.g. exported by PyTorch) instead of a zoo model; its input must be [N, C, H, W] with C 1 or 3.")
    var onnx: String?
    @Option(help: "With --onnx: a text file of class names, one per line (default: the dataset's names when the counts match, else numbers).")
    var labels: String?
    @Option(help: "With --onnx: per-channel means subtracted after scaling pixels to [0, 1] (e.g. 0.485,0.456,0.406).") var mean: String?
    @Option(help: "With --onnx: per-channel standard deviations divided by (e.g. 0.229,0.224,0.225).") var std: String?
    @Option(help: "A PNG or JPEG image, or a folder of them (searched recursively).") var image: String?
    @Option(help: "Index into the test set.") var index: Int?
    @Option(help: "How many classes to show.") var top: Int = 3
    @Option(help: "Also write the predictions as CSV (file, then class and probability for each of the top classes).") var csv: String?
    @Flag(help: "Invert the image's gray levels (Fashion-MNIST items are light on black; photos are usually dark on light).")
    var invert = false
    @Flag(help: "In a folder, skip images that cannot be decoded (and count them) instead of stopping.") var skipBad = false
    @OptionGroup var dataOptions: DataOptions

    func validate() throws {
        if (image == nil) == (index == nil) { throw ValidationError("give exactly one of --image and --index") }
        if onnx != nil {
            if model != nil || weights != nil { throw ValidationError("--onnx replaces the model name and --weights; give one or the other") }
            if index != nil { throw ValidationError("--index needs a zoo model; with --onnx give --image") }
            if !onnx!.lowercased().hasSuffix(".onnx") { throw ValidationError("--onnx must name a .onnx file, got '\(onnx!)'") }
        } else {
            if model == nil { throw ValidationError("give a model name (or --onnx FILE)") }
            if weights == nil { throw ValidationError("missing --weights (the trained model's .safetensors file)") }
            if labels != nil || mean != nil || std != nil { throw ValidationError("--labels, --mean and --std go with --onnx") }
        }
        if (mean == nil) != (std == nil) { throw ValidationError("give --mean and --std together") }
        if top < 1 { throw ValidationError("--top must be positive") }
        try checkRange(index, 0...Int.max, "--index")
    }

    func run() throws {
        try dataOptions.apply()
        if let onnx { return try runONNX(onnx) }
        let (model, weights) = (self.model!, self.weights!)
        let spec = try loadSpec(model)
        // weights trained on an image folder carry their classes and preprocessing; others are the IDX datasets'
        let info = try ImageModelInfo.read(from: weights)
        let net = info.map { spec.make(inputChannels: $0.channels, numClasses: $0.classNames.count) } ?? spec.make()
        try loadWeights(net, from: weights)
        net.eval()
        let names = try info?.classNames ?? dataOptions.kind().classNames
        try classify(net, names: names, spec: spec, info: info)
    }

    /// `--onnx`: the file's input size and channels, the given normalisation, class names from `--labels`.
    func runONNX(_ path: String) throws {
        let net = try ONNXModel(contentsOf: existingFile(path, what: "ONNX model"))
        let s = net.inputShape
        guard s.count == 4, let c = s[1], let h = s[2], let w = s[3], c == 1 || c == 3, h == w, h <= maxImageSide else {
            throw CLIError(message: "\(path): predict needs an image input [N, C, H, W] with C 1 or 3 and H = W; the model's input is "
                           + "\(s.map { $0.map(String.init) ?? "N" })")
        }
        let outputs = try net.outputShape(forInputShape: [1, c, h, w])
        guard outputs.count == 2 else { throw CLIError(message: "\(path): predict needs a [N, classes] output; the model's is \(outputs)") }
        let names: [String]
        if let labels {
            let text = try String(contentsOf: existingFile(labels, what: "labels file"), encoding: .utf8)
            names = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
                .reversed().drop(while: { $0.isEmpty }).reversed()
            guard names.count == outputs[1] else { throw CLIError(message: "\(labels): \(names.count) names for \(outputs[1]) classes") }
        } else {
            let dataset = try dataOptions.kind().classNames
            names = dataset.count == outputs[1] ? dataset : (0..<outputs[1]).map { "class \($0)" }
        }
        let info = ImageModelInfo(classNames: names, channels: c, imageSize: h,
                                  mean: try mean.map { try parseFloats($0, count: c, what: "--mean") },
                                  std: try std.map { try parseFloats($0, count: c, what: "--std") })
        if let s = info.std, s.contains(where: { !($0 > 0) }) { throw CLIError(message: "--std values must be positive, got \(std!)") }
        try classify(net, names: names, spec: nil, info: info)
    }

    func classify(_ net: any Module, names: [String], spec: ModelSpec?, info: ImageModelInfo?) throws {
        let side = spec?.defaults.resize ?? info?.imageSize ?? 28

        if let index {
            let test = try dataOptions.load(.test)
            guard index >= 0, index < test.count else { throw CLIError(message: "--index must be in 0..<\(test.count)") }
            let x = test.image(index, resizedTo: side)
            print("true class: \(names[test.labels[index]])")
            printTop(probabilities(net, x), names)
            return
        }
        let path = image!
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw CLIError(message: "image '\(path)' does not exist") }
        let files = isDir.boolValue ? try imageFiles(in: URL(fileURLWithPath: path)) : [URL(fileURLWithPath: path)]
        var rows: [(String, [(Int, Float)])] = [], skipped = 0
        for url in files {
            let img: Image8
            do { img = try ImageDecoder.read(url) } catch let e as ImageDecodingError where skipBad && isDir.boolValue {
                FileHandle.standardError.write(Data("convnet: skipped \(e)\n".utf8))
                skipped += 1
                continue
            }
            let ranked = probabilities(net, input(img, info: info, side: side))
                .enumerated().sorted { $0.element > $1.element }.prefix(min(top, names.count)).map { ($0.offset, $0.element) }
            rows.append((url.path, ranked))
        }
        if isDir.boolValue {
            for (file, ranked) in rows {
                print(file + ": " + ranked.map { names[$0.0] + String(format: " %.2f%%", Double($0.1) * 100) }.joined(separator: ", "))
            }
            print("\(rows.count) images" + (skipped > 0 ? ", \(skipped) skipped" : ""))
        } else if let (_, ranked) = rows.first {
            for (c, p) in ranked { print(names[c].padding(toLength: max(12, names[c].count), withPad: " ", startingAt: 0) + String(format: " %6.2f%%", Double(p) * 100)) }
        }
        if let csv {
            let k = rows.first?.1.count ?? top
            var text = "file," + (1...max(k, 1)).map { "top\($0),p\($0)" }.joined(separator: ",") + "\n"
            for (file, ranked) in rows {
                text += csvField(file) + "," + ranked.map { csvField(names[$0.0]) + String(format: ",%.6f", Double($0.1)) }.joined(separator: ",") + "\n"
            }
            try AtomicFile.write(Data(text.utf8), to: URL(fileURLWithPath: csv))
        }
    }

    /// The model's input for one image: the training pipeline's evaluation half when the weights
    /// say how they were trained, else greyscale resized to the model's size (the IDX models).
    func input(_ img: Image8, info: ImageModelInfo?, side: Int) -> Tensor {
        if let info {
            let p = info.evaluationPipeline
            let x = Tensor.empty([1, p.channels, p.height, p.width])
            p.process(img, Generator(seed: 0), into: x.elementPointer)
            return x
        }
        var pixels = (img.channels == 2 ? img.converted(toChannels: 1) : img).grayscale
        if invert { pixels = pixels.map { 1 - $0 } }
        let x = Tensor.empty([1, 1, side, side])
        pixels.withUnsafeBufferPointer { resizeBilinear($0.baseAddress!, planes: 1, height: img.height, width: img.width, toHeight: side, toWidth: side, into: x.elementPointer) }
        return x
    }

    func probabilities(_ net: any Module, _ x: Tensor) -> [Float] { withNoGrad { compile(net)(x).softmax(dim: 1) }.scalars }

    func printTop(_ probs: [Float], _ names: [String]) {
        for (c, p) in probs.enumerated().sorted(by: { $0.element > $1.element }).prefix(max(1, top)) {
            print(names[c].padding(toLength: max(12, names[c].count), withPad: " ", startingAt: 0) + String(format: " %6.2f%%", Double(p) * 100))
        }
    }

    /// Image files under `dir` at any depth, sorted.
    func imageFiles(in dir: URL) throws -> [URL] {
        guard let e = FileManager.default.enumerator(atPath: dir.path) else { throw CLIError(message: "cannot list '\(dir.path)'") }
        let files = (e.allObjects as? [String] ?? []).filter { ImageFolder.isImageName(($0 as NSString).lastPathComponent) }.sorted()
        guard !files.isEmpty else { throw CLIError(message: "\(dir.path): no images (.png, .jpg, .jpeg) in the folder") }
        return files.map { dir.appendingPathComponent($0) }
    }

    func csvField(_ s: String) -> String { s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s }
}
