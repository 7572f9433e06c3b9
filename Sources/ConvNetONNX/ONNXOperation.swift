import ConvNetCore

/// Padding of a window operator: explicit amounts, or ONNX's `auto_pad` computed from the input size.
enum ONNXPadding: Equatable {
    /// Rows above and below, columns left and right.
    case explicit(top: Int, left: Int, bottom: Int, right: Int)
    /// `SAME_UPPER` (the odd extra after) or `SAME_LOWER` (before): the output is ⌈input / stride⌉.
    case same(upper: Bool)

    /// The amounts for an input of `h`×`w` (`kernel` already dilated).
    func amounts(h: Int, w: Int, kernel: Size2, stride: Size2) -> (top: Int, left: Int, bottom: Int, right: Int) {
        switch self {
        case .explicit(let t, let l, let b, let r): return (t, l, b, r)
        case .same(let upper):
            func split(_ n: Int, _ k: Int, _ s: Int) -> (Int, Int) {
                let total = Swift.max(0, ((n + s - 1) / s - 1) * s + k - n)
                return upper ? (total / 2, total - total / 2) : (total - total / 2, total / 2)
            }
            let (t, b) = split(h, kernel.h, stride.h), (l, r) = split(w, kernel.w, stride.w)
            return (t, l, b, r)
        }
    }
}

/// An elementwise operator of two operands with NumPy broadcasting.
enum ONNXBinary: String {
    case add = "Add", sub = "Sub", mul = "Mul", div = "Div"
}

/// A supported ONNX operator with its options, parsed and checked once when the model loads; the
/// forward runs each as the ConvNet op of the same meaning.
enum ONNXOperation {
    case conv(weight: Tensor, bias: Tensor?, stride: Size2, dilation: Size2, padding: ONNXPadding, groups: Int)
    case batchNorm(scale: Tensor, bias: Tensor, mean: Tensor, variance: Tensor, eps: Float)
    case relu, sigmoid, tanh
    case clip(min: Float, max: Float)
    case maxPool(kernel: Size2, stride: Size2, padding: ONNXPadding, dilation: Size2, ceil: Bool)
    case averagePool(kernel: Size2, stride: Size2, padding: ONNXPadding, ceil: Bool, countIncludePad: Bool)
    case globalAveragePool
    /// Gemm with a constant B, as `linear`: weight [N, K] (B transposed as needed, scaled by alpha), bias [N] or nil.
    case linear(weight: Tensor, bias: Tensor?, addend: Tensor?)
    /// Gemm with a computed B.
    case gemm(alpha: Float, beta: Float, transA: Bool, transB: Bool)
    case matmul
    case binary(ONNXBinary)
    case concat(axis: Int)
    case flatten(axis: Int)
    case reshape(shape: [Int], allowZero: Bool)
    /// Softmax on `axis`; `legacy` (opset < 13) normalises over all dimensions from `axis` on.
    case softmax(axis: Int, legacy: Bool)
}

/// One node of an ONNX graph, read with its file and opset in hand so every complaint names both.
struct ONNXNodeReader {
    let node: Onnx_NodeProto
    let path: String
    let opset: Int
    /// How ONNX names it: `'name' (OpType)`.
    var label: String { "'\(node.name.isEmpty ? node.output.first ?? "?" : node.name)' (\(node.opType))" }

    func error(_ kind: ONNXError.Kind, _ reason: String) -> ONNXError { ONNXError(kind, path: path, node: label, reason) }

    private func attribute(_ name: String) -> Onnx_AttributeProto? { node.attribute.first { $0.name == name } }

    /// Integers in option values are bounded so that no size arithmetic can overflow.
    private static let intLimit = 1 << 24

    func int(_ name: String, _ fallback: Int) throws -> Int {
        guard let a = attribute(name) else { return fallback }
        guard a.hasI || a.type == .int else { throw error(.malformed, "attribute '\(name)' should be an integer") }
        guard abs(a.i) <= Int64(Self.intLimit) else { throw error(.unsupportedOperator, "attribute '\(name)' = \(a.i) is out of range") }
        return Int(a.i)
    }

    func ints(_ name: String) throws -> [Int]? {
        guard let a = attribute(name) else { return nil }
        guard a.type == .ints || a.type == .undefined || !a.hasType else { throw error(.malformed, "attribute '\(name)' should be a list of integers") }
        guard a.ints.allSatisfy({ abs($0) <= Int64(Self.intLimit) }) else { throw error(.unsupportedOperator, "attribute '\(name)' = \(a.ints) is out of range") }
        return a.ints.map { Int($0) }
    }

    func float(_ name: String, _ fallback: Float) throws -> Float {
        guard let a = attribute(name) else { return fallback }
        guard a.hasF || a.type == .float else { throw error(.malformed, "attribute '\(name)' should be a float") }
        return a.f
    }

    func string(_ name: String) -> String? { attribute(name).map { String(decoding: $0.s, as: UTF8.self) } }

    /// Two spatial values (`kernel_shape`, `strides`, `dilations`), each at least `minimum`.
    func pair(_ name: String, default fallback: Int?, minimum: Int) throws -> Size2 {
        guard let v = try ints(name) else {
            guard let fallback else { throw error(.invalidGraph, "attribute '\(name)' is required") }
            return Size2(fallback)
        }
        guard v.count == 2 else {
            throw error(.unsupportedOperator, "'\(name)' has \(v.count) values; ConvNet runs 2-D operators only (NCHW input)")
        }
        guard v.allSatisfy({ $0 >= minimum }) else { throw error(.unsupportedOperator, "'\(name)' = \(v) must be at least \(minimum)") }
        return Size2(v[0], v[1])
    }

    /// `pads` (begin h, begin w, end h, end w) or `auto_pad`.
    func padding() throws -> ONNXPadding {
        switch string("auto_pad") ?? "NOTSET" {
        case "NOTSET":
            let p = try ints("pads") ?? [0, 0, 0, 0]
            guard p.count == 4 else { throw error(.unsupportedOperator, "'pads' has \(p.count) values; ConvNet runs 2-D operators only") }
            guard p.allSatisfy({ $0 >= 0 }) else { throw error(.unsupportedOperator, "negative pads \(p) are not supported") }
            return .explicit(top: p[0], left: p[1], bottom: p[2], right: p[3])
        case "VALID": return .explicit(top: 0, left: 0, bottom: 0, right: 0)
        case "SAME_UPPER": return .same(upper: true)
        case "SAME_LOWER": return .same(upper: false)
        case let other: throw error(.unsupportedOperator, "auto_pad '\(other)' is not an ONNX value")
        }
    }

    /// Inputs `range` must have (nil for an omitted optional one is allowed past `required`).
    func requireInputs(_ required: Int, at most: Int) throws {
        let given = node.input.count
        guard given >= required && given <= most else {
            throw error(.invalidGraph, "takes \(required == most ? "\(required)" : "\(required)–\(most)") inputs, got \(given)")
        }
        for i in 0..<required where node.input[i].isEmpty { throw error(.invalidGraph, "input \(i) is required") }
    }
}
