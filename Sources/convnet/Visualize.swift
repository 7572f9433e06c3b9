import ArgumentParser
import ConvNet
import Foundation

struct Visualize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write PNGs of the first convolution's kernels and of one test image's feature maps, and an SVG of training curves.")

    @Argument(help: "Model name.") var model: String
    @Option(help: "Weights file (.safetensors); random initial weights when omitted.") var weights: String?
    @Option(help: "Test image index for the feature maps.") var index: Int = 0
    @Option(help: "metrics.json from `convnet train`, to plot its curves.") var metrics: String?
    @Option(help: "Output folder.") var out: String = "visualize"
    @OptionGroup var dataOptions: DataOptions

    func validate() throws {
        try checkRange(index, 0...Int.max, "--index")
    }

    func run() throws {
        try dataOptions.apply()
        let spec = try loadSpec(model)
        let net = spec.make()
        if let weights { try loadWeights(net, from: weights) }
        let dir = URL(fileURLWithPath: out)
        guard let conv = FirstLayerImages.firstConvolution(of: net) else {
            throw CLIError(message: "\(spec.name) has no convolution to show")
        }
        let w = conv.weight
        let kernelsURL = dir.appendingPathComponent("kernels.png")
        try PNG.write(FirstLayerImages.kernels(of: conv), to: kernelsURL)
        print("wrote \(kernelsURL.path) (\(w.shape[0])×\(min(w.shape[1], 3)) kernels of \(w.shape[2])×\(w.shape[3]))")

        let test = try dataOptions.load(.test)
        guard index >= 0, index < test.count else { throw CLIError(message: "--index must be in 0..<\(test.count)") }
        let x = test.image(index, resizedTo: spec.defaults.resize)
        let mapsURL = dir.appendingPathComponent("feature_maps.png")
        try PNG.write(FirstLayerImages.featureMaps(of: conv, input: x), to: mapsURL)
        print("wrote \(mapsURL.path) (test image \(index), a \(test.classNames[test.labels[index]]), then \(conv.weight.shape[0]) feature maps)")

        if let metrics {
            let url = try existingFile(metrics, what: "metrics file")
            let history: [EpochRecord]
            do { history = try JSONDecoder().decode([EpochRecord].self, from: Data(contentsOf: url)) } catch {
                throw CLIError(message: "\(metrics): not a metrics.json written by `convnet train`")
            }
            var plot = LinePlot(title: "\(spec.name) on Fashion-MNIST")
            plot.add("train loss", history.map(\.trainLoss), color: "#1f77b4")
            plot.add("train acc", history.map(\.trainAccuracy), color: "#ff7f0e", dashed: true)
            plot.add("test acc", history.map(\.testAccuracy), color: "#2ca02c", dashed: true)
            let svgURL = dir.appendingPathComponent("curves.svg")
            try AtomicFile.write(Data(plot.svg().utf8), to: svgURL)
            print("wrote \(svgURL.path)")
        }
    }
}
