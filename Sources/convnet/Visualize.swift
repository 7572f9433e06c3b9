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
        guard let conv = net.modules().compactMap({ $0 as? Conv2d }).first, !conv.isLazy, case let w = conv.weight else {
            throw CLIError(message: "\(spec.name) has no convolution to show")
        }
        // kernels: one tile per (output, input) channel pair, each scaled to its own range
        let (co, ci, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let ws = w.scalars
        var tiles: [[Float]] = []
        for o in 0..<co { for c in 0..<min(ci, 3) {
            let t = Array(ws[((o * ci + c) * kh * kw)..<((o * ci + c + 1) * kh * kw)])
            let lo = t.min()!, hi = t.max()!
            tiles.append(t.map { hi > lo ? ($0 - lo) / (hi - lo) : 0.5 })
        } }
        let kernelsURL = dir.appendingPathComponent("kernels.png")
        try PNG.write(Image8.grid(tiles: tiles, tileWidth: kw, tileHeight: kh, columns: min(16, tiles.count), scale: max(1, 64 / kh)), to: kernelsURL)
        print("wrote \(kernelsURL.path) (\(co)×\(min(ci, 3)) kernels of \(kh)×\(kw))")

        let test = try dataOptions.load(.test)
        guard index >= 0, index < test.count else { throw CLIError(message: "--index must be in 0..<\(test.count)") }
        let side = spec.defaults.resize
        let x = test.image(index, resizedTo: side)
        let maps = withNoGrad { relu(conv(x)) }
        let (mh, mw) = (maps.shape[2], maps.shape[3])
        let ms = maps.scalars
        let mapTiles = (0..<maps.shape[1]).map { c -> [Float] in
            let t = Array(ms[(c * mh * mw)..<((c + 1) * mh * mw)])
            let hi = max(t.max()!, 1e-6)
            return t.map { $0 / hi }
        }
        // the input goes first, resized to the maps' size so every tile has the same shape
        var input = [Float](repeating: 0, count: mh * mw)
        input.withUnsafeMutableBufferPointer { dst in
            resizeBilinear(x.data, planes: 1, height: side, width: side, toHeight: mh, toWidth: mw, into: dst.baseAddress!)
        }
        let mapsURL = dir.appendingPathComponent("feature_maps.png")
        try PNG.write(Image8.grid(tiles: [input] + mapTiles, tileWidth: mw, tileHeight: mh,
                                  columns: min(8, mapTiles.count + 1), scale: max(1, 112 / mh)), to: mapsURL)
        print("wrote \(mapsURL.path) (test image \(index), a \(test.classNames[test.labels[index]]), then \(mapTiles.count) feature maps)")

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
