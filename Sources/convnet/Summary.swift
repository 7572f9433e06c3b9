import ArgumentParser
import ConvNet
import Foundation

struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a model's PyTorch repr and a per-layer table of shapes, parameters and MACs.")

    @Argument(help: "Model name.") var model: String
    @Option(help: "Input shape C,H,W (default: 1 channel at the model's input size).") var input: String?
    @Option(help: "Batch size for the shapes and activation memory.") var batch: Int = 1
    @Flag(help: "Omit the PyTorch-style repr.") var tableOnly = false

    func run() throws {
        let spec = try loadSpec(model)
        let shape = try input.map(parseShape) ?? [1, spec.defaults.resize, spec.defaults.resize]
        guard batch > 0 else { throw CLIError(message: "--batch must be positive") }
        let net = spec.make(inputChannels: shape[0])
        if !tableOnly { print(net) }
        print(ModelSummary(net, inputShape: [batch] + shape))
    }
}

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "models", abstract: "List the model zoo with parameter counts and training defaults.")

    func run() throws {
        print("name        params      input  epochs  batch  optimizer  lr     description")
        for s in ModelZoo.all {
            let n = s.make().numParameters
            print(String(format: "%-10@ %11d  %5d  %6d  %5d  %-9@  %-5@  %@", s.name, n, s.defaults.resize, s.defaults.epochs,
                         s.defaults.batchSize, s.defaults.optimizer.rawValue + (s.defaults.momentum > 0 ? "+m" : ""),
                         "\(s.defaults.lr)", s.summary))
        }
    }
}
