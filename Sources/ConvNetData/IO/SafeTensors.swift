import ConvNetCore
import Foundation

/// Element types of the safetensors format that ConvNet reads (and, for F32/I64, writes).
public enum SafeTensorsDType: String, Sendable, CaseIterable {
    /// The format's type codes: `F32`, `F16`, `BF16`, `F64`, `I64`, `I32`, `U8`.
    case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64", i64 = "I64", i32 = "I32", u8 = "U8"
    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .f64, .i64: return 8
        case .u8: return 1
        }
    }
}

/// A safetensors file that cannot be read, with the file and what is wrong.
public struct SafeTensorsError: Error, CustomStringConvertible, Equatable {
    /// The file that failed.
    public let path: String
    /// What is wrong with it.
    public let reason: String
    /// `path: reason`.
    public var description: String { "\(path): \(reason)" }

    /// An error for `path` saying `reason`.
    public init(path: String, reason: String) { self.path = path; self.reason = reason }
}

/// One entry of a safetensors file: its type, shape and raw little-endian bytes.
public struct SafeTensorEntry: Sendable {
    /// The element type.
    public let dtype: SafeTensorsDType
    /// The tensor's shape.
    public let shape: [Int]
    /// The raw little-endian values.
    public let bytes: Data

    /// The values converted to Float32.
    public func floats() -> [Float] {
        let n = shape.reduce(1, *)
        var out = [Float](repeating: 0, count: n)
        bytes.withUnsafeBytes { raw in
            func le<T: FixedWidthInteger>(_ i: Int, _: T.Type) -> T { T(littleEndian: raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self)) }
            switch dtype {
            case .f32: for i in 0..<n { out[i] = Float(bitPattern: le(i, UInt32.self)) }
            case .f64: for i in 0..<n { out[i] = Float(Double(bitPattern: le(i, UInt64.self))) }
            case .f16: for i in 0..<n { out[i] = halfToFloat(le(i, UInt16.self)) }
            case .bf16: for i in 0..<n { out[i] = Float(bitPattern: UInt32(le(i, UInt16.self)) << 16) }
            case .i64: for i in 0..<n { out[i] = Float(Int64(bitPattern: le(i, UInt64.self))) }
            case .i32: for i in 0..<n { out[i] = Float(Int32(bitPattern: le(i, UInt32.self))) }
            case .u8: for i in 0..<n { out[i] = Float(raw[i]) }
            }
        }
        return out
    }

    /// Integer values (for I64/I32/U8 entries such as labels and counters).
    public func integers() -> [Int64] {
        let n = shape.reduce(1, *)
        if dtype == .f32 || dtype == .f64 || dtype == .f16 || dtype == .bf16 {
            // rounded toward zero; NaN and values beyond Int64 saturate instead of trapping
            return floats().map { v in
                v.isNaN ? 0 : (v >= 9.2e18 ? Int64.max : (v <= -9.2e18 ? Int64.min : Int64(v)))
            }
        }
        return bytes.withUnsafeBytes { raw in
            (0..<n).map { i -> Int64 in
                switch dtype {
                case .i64: return Int64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: Int64.self))
                case .i32: return Int64(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)))
                case .u8: return Int64(raw[i])
                default: return 0 // float types are handled above
                }
            }
        }
    }

    /// The values as a float32 `Tensor` of shape ``shape``.
    public var tensor: Tensor { Tensor(shape: shape, scalars: floats()) }
}

/// Reads `0x7C00`-style IEEE half floats.
func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h >> 15) << 31
    let exp = Int((h >> 10) & 0x1F), mant = UInt32(h & 0x3FF)
    if exp == 0 {
        let v = Float(mant) * Float(sign != 0 ? -1 : 1) / 16_777_216 // mant · 2⁻²⁴
        return v
    }
    if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }
    return Float(bitPattern: sign | UInt32(exp - 15 + 127) << 23 | (mant << 13))
}

/// The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
/// mapping names to dtype, shape and data offsets (plus optional `__metadata__`), then the bytes.
public enum SafeTensors {
    /// Reads every tensor as Float32 (integers are converted).
    public static func read(from url: URL) throws -> [String: Tensor] {
        try readEntries(from: url).entries.mapValues(\.tensor)
    }

    /// Reads entries with their original types, and the metadata.
    public static func readEntries(from url: URL) throws -> (entries: [String: SafeTensorEntry], metadata: [String: String]) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SafeTensorsError(path: url.path, reason: "cannot read the file (\(error.localizedDescription))")
        }
        return try parse(data, path: url.path)
    }

    /// Parses a whole safetensors file held in memory, validating every offset before reading.
    public static func parse(_ data: Data, path: String = "<memory>") throws -> (entries: [String: SafeTensorEntry], metadata: [String: String]) {
        func fail(_ r: String) -> SafeTensorsError { SafeTensorsError(path: path, reason: r) }
        guard data.count >= 8 else { throw fail("file is \(data.count) bytes, shorter than the 8-byte header length") }
        let headerLen = data.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLen <= UInt64(data.count - 8) else {
            throw fail("header length \(headerLen) runs past the end of the file (\(data.count) bytes)")
        }
        guard headerLen <= 100_000_000 else { throw fail("header length \(headerLen) is implausibly large") }
        let headerStart = data.startIndex + 8
        let headerData = data[headerStart..<(headerStart + Int(headerLen))]
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: headerData) } catch {
            throw fail("header is not valid JSON")
        }
        guard let header = json as? [String: Any] else { throw fail("header is not a JSON object") }
        let body = data[(headerStart + Int(headerLen))...]
        var metadata: [String: String] = [:]
        var spans: [(Int, Int, String)] = []
        var entries: [String: SafeTensorEntry] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw fail("__metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw fail("__metadata__ value for '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let info = value as? [String: Any] else { throw fail("entry '\(name)' is not an object") }
            guard let ds = info["dtype"] as? String else { throw fail("entry '\(name)' has no dtype") }
            guard let dtype = SafeTensorsDType(rawValue: ds) else { throw fail("entry '\(name)' has unsupported dtype '\(ds)'") }
            guard let shapeAny = info["shape"] as? [Any] else { throw fail("entry '\(name)' has no shape list") }
            var shape: [Int] = []
            var numel = 1
            for d in shapeAny {
                guard let n = d as? NSNumber, n.doubleValue == n.doubleValue.rounded(),
                      n.doubleValue >= 0, n.doubleValue < 1e15 else {
                    throw fail("entry '\(name)' has an invalid dimension \(d)")
                }
                let v = n.intValue
                let (p, o) = numel.multipliedReportingOverflow(by: v)
                guard !o, p < 1 << 40 else { throw fail("entry '\(name)' has an impossibly large shape") }
                numel = p
                shape.append(v)
            }
            guard let offs = info["data_offsets"] as? [Any], offs.count == 2,
                  let b0 = offs[0] as? NSNumber, let b1 = offs[1] as? NSNumber,
                  b0.doubleValue >= 0, b1.doubleValue >= 0, b0.doubleValue < 1e15, b1.doubleValue < 1e15,
                  b0.doubleValue == b0.doubleValue.rounded(), b1.doubleValue == b1.doubleValue.rounded() else {
                throw fail("entry '\(name)' has invalid data_offsets")
            }
            let begin = b0.intValue, end = b1.intValue
            guard begin <= end, end <= body.count else {
                throw fail("entry '\(name)' data_offsets [\(begin), \(end)] are outside the \(body.count)-byte data section")
            }
            guard end - begin == numel * dtype.byteSize else {
                throw fail("entry '\(name)' has shape \(shape) of \(dtype.rawValue) (\(numel * dtype.byteSize) bytes) but data_offsets span \(end - begin) bytes")
            }
            spans.append((begin, end, name))
            let start = body.startIndex + begin
            entries[name] = SafeTensorEntry(dtype: dtype, shape: shape, bytes: Data(body[start..<(start + end - begin)]))
        }
        spans.sort { ($0.0, $0.1) < ($1.0, $1.1) }
        var cursor = 0
        for (b, e, name) in spans {
            guard b >= cursor else { throw fail("entry '\(name)' overlaps the previous entry (offset \(b) < \(cursor))") }
            cursor = e
        }
        return (entries, metadata)
    }

    /// Serialises tensors: Float32, or Int64 for keys in `int64Keys`. Keys are sorted, so the bytes
    /// depend only on the contents.
    public static func serialize(_ tensors: [String: Tensor], metadata: [String: String]? = nil,
                                 int64Keys: Set<String> = []) throws -> Data {
        var header: [String: Any] = [:]
        if let metadata { header["__metadata__"] = metadata }
        var body = Data()
        for name in tensors.keys.sorted() {
            let t = tensors[name]!
            let asInt = int64Keys.contains(name)
            let begin = body.count
            if asInt {
                for v in t.scalars { withUnsafeBytes(of: Int64(v).littleEndian) { body.append(contentsOf: $0) } }
            } else {
                t.scalars.withUnsafeBufferPointer { buf in
                    if UInt32(1).littleEndian == 1 { body.append(UnsafeBufferPointer(start: UnsafeRawPointer(buf.baseAddress!).assumingMemoryBound(to: UInt8.self), count: buf.count * 4)) }
                    else { for v in buf { withUnsafeBytes(of: v.bitPattern.littleEndian) { body.append(contentsOf: $0) } } }
                }
            }
            header[name] = ["dtype": asInt ? "I64" : "F32", "shape": t.shape, "data_offsets": [begin, body.count]] as [String: Any]
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        out.append(body)
        return out
    }

    /// Writes tensors atomically (a temporary file renamed into place).
    public static func write(_ tensors: [String: Tensor], to url: URL, metadata: [String: String]? = nil,
                             int64Keys: Set<String> = []) throws {
        let data = try serialize(tensors, metadata: metadata, int64Keys: int64Keys)
        try AtomicFile.write(data, to: url)
    }
}
