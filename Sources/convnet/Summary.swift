import ArgumentParser
import ConvNet
import Foundation

struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a model's PyTorch repr and a per-layer table of shapes, parameters and MACs.")

    @Argument(help: "Model name (omit with --onnx).") var model: String?
    @Option(help: "Summarise this ONNX model instead: its nodes, output shapes and parameters.") var onnx: String?
    @Option(help: "Input shape C,H,W (default: 1 channel at the model's input size; with --onnx, the file's).") var input: String?
    @Option(help: "Batch size for the shapes and activation memory.") var batch: Int = 1
    @Flag(help: "Omit the PyTorch-style repr.") var tableOnly = false

    func validate() throws {
        try checkRange(batch, 1...maxBatchSize, "--batch")
        if (model == nil) == (onnx == nil) { throw ValidationError("give a model name or --onnx FILE (one of them)") }
        if onnx != nil && tableOnly { throw ValidationError("--table-only is for zoo models (an ONNX summary is a table already)") }
    }

    func run() throws {
        if let onnx { return try summarizeONNX(onnx) }
        let spec = try loadSpec(model!)
        let shape = try input.map(parseShape) ?? [1, spec.defaults.resize, spec.defaults.resize]
        try checkSummaryShape(spec.name, shape, batch: batch)
        let net = spec.make(inputChannels: shape[0])
        if !tableOnly { print(net) }
        print(ModelSummary(net, inputShape: [batch] + shape))
    }
}

extension Summary {
    func summarizeONNX(_ path: String) throws {
        let net = try ONNXModel(contentsOf: existingFile(path, what: "ONNX model"))
        var shape: [Int]
        if let input {
            shape = [batch] + (try parseShape(input))
        } else {
            guard net.inputShape.count >= 1, net.inputShape.dropFirst().allSatisfy({ $0 != nil }) else {
                throw CLIError(message: "\(path): the input's sizes are not fixed (\(net.inputShape.map { $0.map(String.init) ?? "?" })); give --input C,H,W")
            }
            shape = [batch] + net.inputShape.dropFirst().map { $0! }
        }
        guard shape.reduce(1, *) <= maxSummaryElements else {
            throw CLIError(message: "input \(shape) is too large for a summary (at most \(maxSummaryElements) input values)")
        }
        print(net)
        print(try net.summary(inputShape: shape))
    }
}

/// The summary traces a real forward pass, so a shape the model cannot take or one too large to
/// allocate is refused here, before any tensor exists.
func checkSummaryShape(_ model: String, _ shape: [Int], batch: Int) throws {
    try checkModelInput(model, height: shape[1], width: shape[2], option: "--input")
    guard batch * shape.reduce(1, *) <= maxSummaryElements else {
        throw CLIError(message: "--input \(shape.map(String.init).joined(separator: ",")) at batch \(batch) is too large for a summary (at most \(maxSummaryElements) input values)")
    }
}

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "models", abstract: "List the model zoo with parameter counts and training defaults.")

    func run() throws {
        // Foundation on Linux ignores widths for %@, so columns are padded here
        func col(_ v: String, _ w: Int, right: Bool = false) -> String {
            let pad = String(repeating: " ", count: max(0, w - v.count))
            return right ? pad + v : v + pad
        }
        print(col("name", 11) + col("params", 11, right: true) + "  " + col("input", 5) + "  " + col("epochs", 6) + "  "
              + col("batch", 5) + "  " + col("optimizer", 10) + col("lr", 7) + col("schedule", 10) + "description")
        for s in ModelZoo.all {
            let d = s.defaults
            print(col(s.name, 11) + col("\(s.make().numParameters)", 11, right: true) + "  " + col("\(d.resize)", 5) + "  "
                  + col("\(d.epochs)", 6) + "  " + col("\(d.batchSize)", 5) + "  "
                  + col(d.optimizer.rawValue + (d.momentum > 0 ? " m\(d.momentum)" : ""), 10) + col("\(d.lr)", 7)
                  + col(d.schedule.rawValue, 10) + s.summary)
        }
    }
}
