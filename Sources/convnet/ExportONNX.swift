import ArgumentParser
import ConvNet
import Foundation

struct ExportONNX: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a trained zoo model as an ONNX file (opset 17, dynamic batch) for ONNX Runtime and other ONNX tools.")

    @Argument(help: "Model name.") var model: String
    @Option(help: "Weights file (.safetensors).") var weights: String
    @Option(help: "The ONNX file to write.") var onnx: String
    @Option(help: "Input shape C,H,W (default: what the weights were trained on, else 1 channel at the model's input size).") var input: String?

    func validate() throws {
        guard onnx.lowercased().hasSuffix(".onnx") else { throw ValidationError("--onnx must name a .onnx file, got '\(onnx)'") }
        if let input { _ = try parseShape(input) }
    }

    func run() throws {
        let spec = try loadSpec(model)
        let info = try ImageModelInfo.read(from: weights)
        let shape = try input.map(parseShape)
            ?? info.map { [$0.channels, $0.imageSize, $0.imageSize] } ?? [1, spec.defaults.resize, spec.defaults.resize]
        try checkModelInput(spec.name, height: shape[1], width: shape[2], option: input == nil ? "the weights" : "--input")
        let net = info.map { spec.make(inputChannels: $0.channels, numClasses: $0.classNames.count) } ?? spec.make(inputChannels: shape[0])
        try loadWeights(net, from: weights)
        try net.exportONNX(to: URL(fileURLWithPath: onnx), inputShape: [1] + shape)
        print("wrote \(onnx): \(spec.name), input [N, \(shape.map(String.init).joined(separator: ", "))], opset 17")
    }
}
