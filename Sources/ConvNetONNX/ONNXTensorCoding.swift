import ConvNetCore
import Foundation

/// A constant of an ONNX graph (an initializer or a `Constant` node's value): float elements as
/// a ConvNet tensor, integer ones (shapes, axes) as integers.
struct ONNXConstant {
    let shape: [Int]
    /// The elements as a float tensor (integers converted), for operands of arithmetic.
    let tensor: Tensor
    /// The elements as integers when the ONNX type is an integer type.
    let ints: [Int]?
}

/// Reads and writes ONNX `TensorProto`s, bounding every allocation by the declared shape first.
enum ONNXTensorCoding {
    /// Element types by their `TensorProto.DataType` number, for messages.
    static func typeName(_ t: Int32) -> String {
        let names: [Int32: String] = [0: "UNDEFINED", 1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64",
                                      8: "STRING", 9: "BOOL", 10: "FLOAT16", 11: "DOUBLE", 12: "UINT32", 13: "UINT64", 16: "BFLOAT16"]
        return names[t] ?? "type \(t)"
    }

    /// The element count of `dims`, or nil when a dimension is negative or the product overflows.
    static func elementCount(_ dims: [Int]) -> Int? {
        var n = 1
        for d in dims {
            guard d >= 0 else { return nil }
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            n = p
        }
        return n
    }

    /// The element count `dims` would have with every zero read as one: bounding it bounds every
    /// product of some of the dimensions, so no later size arithmetic can overflow.
    static func extent(_ dims: [Int]) -> Int? { elementCount(dims.map { Swift.max($0, 1) }) }

    /// Decodes `proto`, charging its elements to `budget` (the elements still allowed) before
    /// anything is allocated; `what` names it in errors.
    static func decode(_ proto: Onnx_TensorProto, what: String, path: String, budget: inout Int) throws -> ONNXConstant {
        if proto.dataLocation == .external || !proto.externalData.isEmpty {
            let location = proto.externalData.first { $0.key == "location" }?.value
            throw ONNXError(.externalData, path: path, "\(what) keeps its data in an external file" + (location.map { " ('\($0)')" } ?? "")
                            + "; ConvNet reads only models whose weights are inside the .onnx file")
        }
        let dims = proto.dims.map { Int($0) }
        guard let count = elementCount(dims), let extent = extent(dims) else {
            throw ONNXError(.malformed, path: path, "\(what) has an invalid shape \(dims)")
        }
        guard extent <= max(budget, 1) else {
            throw ONNXError(.tooLarge, path: path, "\(what) has shape \(dims), over the limit of \(budget) elements still allowed")
        }
        guard count <= budget else {
            throw ONNXError(.tooLarge, path: path, "\(what) has \(count) elements (shape \(dims)), over the limit of \(budget) elements still allowed")
        }
        budget -= count
        let raw = proto.rawData
        func check(_ available: Int, _ field: String) throws {
            guard available == count else {
                throw ONNXError(.malformed, path: path, "\(what) has \(available) elements in \(field) but its shape \(dims) needs \(count)")
            }
        }
        switch proto.dataType {
        case 1: // FLOAT
            let t = Tensor.empty(dims)
            if !raw.isEmpty || proto.floatData.isEmpty {
                guard raw.count % 4 == 0 else { throw ONNXError(.malformed, path: path, "\(what): raw_data of \(raw.count) bytes is not a whole number of floats") }
                try check(raw.count / 4, "raw_data")
                raw.withUnsafeBytes { b in if count > 0 { memcpy(t.elementPointer, b.baseAddress!, count * 4) } }
            } else {
                try check(proto.floatData.count, "float_data")
                proto.floatData.withUnsafeBufferPointer { b in if count > 0 { t.elementPointer.update(from: b.baseAddress!, count: count) } }
            }
            return ONNXConstant(shape: dims, tensor: t, ints: nil)
        case 11: // DOUBLE
            var values: [Double]
            if !raw.isEmpty || proto.doubleData.isEmpty {
                guard raw.count % 8 == 0 else { throw ONNXError(.malformed, path: path, "\(what): raw_data of \(raw.count) bytes is not a whole number of doubles") }
                try check(raw.count / 8, "raw_data")
                values = [Double](repeating: 0, count: count)
                values.withUnsafeMutableBytes { d in raw.withUnsafeBytes { s in d.copyMemory(from: s) } }
            } else {
                try check(proto.doubleData.count, "double_data")
                values = proto.doubleData
            }
            return ONNXConstant(shape: dims, tensor: Tensor(shape: dims, scalars: values.map { Float($0) }), ints: nil)
        case 7, 6, 5, 3, 2, 9, 4, 12: // INT64, INT32, INT16, INT8, UINT8, BOOL, UINT16, UINT32
            let ints = try integers(proto, count: count, raw: raw, what: what, path: path)
            return ONNXConstant(shape: dims, tensor: Tensor(shape: dims, scalars: ints.map { Float($0) }), ints: ints)
        default:
            throw ONNXError(.unsupportedType, path: path, "\(what) has element type \(typeName(proto.dataType)), which ConvNet does not read")
        }
    }

    private static func integers(_ proto: Onnx_TensorProto, count: Int, raw: Data, what: String, path: String) throws -> [Int] {
        let width: Int
        switch proto.dataType {
        case 7: width = 8
        case 6, 12: width = 4
        case 5, 4: width = 2
        default: width = 1
        }
        if !raw.isEmpty || (proto.int64Data.isEmpty && proto.int32Data.isEmpty) {
            guard raw.count == count * width else {
                throw ONNXError(.malformed, path: path, "\(what): raw_data has \(raw.count) bytes but its shape needs \(count * width)")
            }
            let signed = proto.dataType != 2 && proto.dataType != 4 && proto.dataType != 12 && proto.dataType != 9
            return raw.withUnsafeBytes { b -> [Int] in
                (0..<count).map { i in
                    var v: UInt64 = 0
                    for k in 0..<width { v |= UInt64(b[i * width + k]) << (8 * UInt64(k)) }
                    if signed && width < 8 && v & (1 << (8 * UInt64(width) - 1)) != 0 { v |= ~((1 << (8 * UInt64(width))) - 1) }
                    return Int(Int64(bitPattern: v))
                }
            }
        }
        let values = proto.dataType == 7 ? proto.int64Data.map { Int($0) } : proto.int32Data.map { Int($0) }
        guard values.count == count else {
            throw ONNXError(.malformed, path: path, "\(what) has \(values.count) elements but its shape \(proto.dims) needs \(count)")
        }
        return values
    }

    /// A FLOAT tensor with its elements in `raw_data` (little-endian, as ONNX stores them).
    static func encode(_ t: Tensor, name: String) -> Onnx_TensorProto {
        var p = Onnx_TensorProto()
        p.name = name
        p.dims = t.shape.map { Int64($0) }
        p.dataType = 1
        p.rawData = t.scalars.withUnsafeBufferPointer { Data(buffer: $0) }
        return p
    }

    /// An INT64 tensor (a shape, axes) of `values` with shape `shape` (default: one dimension).
    static func encode(ints values: [Int], shape: [Int]? = nil, name: String) -> Onnx_TensorProto {
        var p = Onnx_TensorProto()
        p.name = name
        p.dims = (shape ?? [values.count]).map { Int64($0) }
        p.dataType = 7
        p.rawData = values.map { Int64($0).littleEndian }.withUnsafeBufferPointer { Data(buffer: $0) }
        return p
    }
}
