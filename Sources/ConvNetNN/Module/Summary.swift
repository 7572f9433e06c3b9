import ConvNetCore
import Foundation

/// Records which modules run on which shapes while a forward pass is traced.
final class ForwardTracer {
    struct Call { let module: any Module; let depth: Int; let input: [Int]; let output: [Int] }
    var calls: [Call] = []
    var depth = 0
    /// The calling thread's tracer (per thread, so concurrent forward passes stay out of a trace).
    static var current: ForwardTracer? {
        get { ThreadTracer.current as? ForwardTracer }
        set { ThreadTracer.current = newValue }
    }
}

extension Module {
    /// Runs `forward`, recording the call when a summary is being traced.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        if Profiler.isEnabled && children().isEmpty { return Profiler.measure("forward \(typeName)") { forward(x) } }
        guard let tracer = ForwardTracer.current else { return forward(x) }
        tracer.depth += 1
        let y = forward(x)
        tracer.depth -= 1
        tracer.calls.append(.init(module: self, depth: tracer.depth, input: x.shape, output: y.shape))
        return y
    }
}

/// One row of a model summary: a leaf layer as it ran.
public struct LayerSummary: Sendable {
    /// The layer's key in the model (`net.b1.0`).
    public let name: String
    /// The layer's type name (`Conv2d`).
    public let type: String
    /// The layer's output shape for the traced input.
    public let outputShape: [Int]
    /// Trainable parameters of the layer.
    public let parameters: Int
    /// Multiply–accumulates for the whole batch.
    public let macs: Int
}

/// D2L's layer-by-layer shape walk as a table: output shape, parameters and multiply–accumulates
/// of every leaf layer for one input, with totals and the activation memory of the batch.
public struct ModelSummary: Sendable, CustomStringConvertible {
    /// The shape traced (batch included).
    public let inputShape: [Int]
    /// One row per leaf layer, in the order they ran.
    public let layers: [LayerSummary]
    /// Trainable parameters of the whole model.
    public let totalParameters: Int
    /// Multiply–accumulates of every leaf layer for the whole batch.
    public var totalMACs: Int { layers.reduce(0) { $0 + $1.macs } }
    /// Bytes of every leaf layer's output (float32) for the traced batch.
    public var activationBytes: Int { layers.reduce(0) { $0 + 4 * $1.outputShape.reduce(1, *) } }

    /// Traces one forward of zeros with shape `inputShape` (in eval mode, without autograd) and records every leaf layer.
    public init(_ model: any Module, inputShape: [Int]) {
        self.inputShape = inputShape
        let names = Dictionary(model.namedModules().map { (ObjectIdentifier($0.1), $0.0) }, uniquingKeysWith: { a, _ in a })
        let tracer = ForwardTracer()
        ForwardTracer.current = tracer
        let wasTraining = model.training
        model.eval()
        _ = withNoGrad { model(Tensor.zeros(inputShape)) }
        model.train(wasTraining)
        ForwardTracer.current = nil
        var rows: [LayerSummary] = []
        for call in tracer.calls where call.module.children().isEmpty {
            let m = call.module
            let params = m.namedOwnTensors().filter { $0.1.requiresGrad }.reduce(0) { $0 + $1.1.count }
            var macs = 0
            if let c = m as? Conv2d, !c.isLazy {
                let w = c.weight
                macs = call.output.reduce(1, *) * w.shape[1] * w.shape[2] * w.shape[3]
            } else if let l = m as? Linear {
                macs = call.output.reduce(1, *) * l.inFeatures
            }
            rows.append(LayerSummary(name: names[ObjectIdentifier(m)] ?? "?", type: m.typeName, outputShape: call.output,
                                     parameters: params, macs: macs))
        }
        layers = rows
        totalParameters = model.numParameters
    }

    /// The table, as `convnet summary` prints it.
    public var description: String {
        func fmt(_ n: Int) -> String {
            let s = String(n)
            var out = ""
            for (i, ch) in s.reversed().enumerated() { if i > 0 && i % 3 == 0 { out.append(",") }; out.append(ch) }
            return String(out.reversed())
        }
        let header = ["Layer", "Type", "Output shape", "Params", "MACs"]
        var rows = layers.map { [$0.name, $0.type, "\($0.outputShape)", fmt($0.parameters), fmt($0.macs)] }
        rows.insert(["input", "", "\(inputShape)", "", ""], at: 0)
        let widths = (0..<5).map { c in ([header[c]] + rows.map { $0[c] }).map(\.count).max()! }
        func line(_ r: [String]) -> String {
            (0..<5).map { c in c >= 3 ? String(repeating: " ", count: widths[c] - r[c].count) + r[c]
                                       : r[c] + String(repeating: " ", count: widths[c] - r[c].count) }.joined(separator: "  ")
        }
        let rule = String(repeating: "─", count: widths.reduce(0, +) + 8)
        var out = [line(header), rule] + rows.map(line) + [rule]
        out.append("Total parameters: \(fmt(totalParameters))")
        out.append("Total MACs: \(fmt(totalMACs)) (\(String(format: "%.2f", Double(totalMACs) / 1e6)) M for batch \(inputShape.first ?? 1))")
        out.append("Activation memory: \(String(format: "%.2f", Double(activationBytes) / 1_048_576)) MiB (forward outputs, float32)")
        return out.joined(separator: "\n")
    }
}
