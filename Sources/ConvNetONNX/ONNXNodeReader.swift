import ConvNetCore

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
