import ConvNet
import Foundation
import Testing

/// A fresh empty directory under the system temporary directory.
private func makeTempDir(_ tag: String) throws -> URL {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("convnet-\(tag)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

/// A safetensors file from a raw header string and raw data bytes (the header is written as given,
/// not padded, so malformed headers can be built).
private func rawFile(header: String, body: [UInt8] = [], headerLength: UInt64? = nil) -> Data {
    let json = Array(header.utf8)
    var out = Data()
    withUnsafeBytes(of: (headerLength ?? UInt64(json.count)).littleEndian) { out.append(contentsOf: $0) }
    out.append(contentsOf: json)
    out.append(contentsOf: body)
    return out
}

/// Little-endian bytes of a fixed-width integer.
private func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

/// Asserts `body` throws a `SafeTensorsError` whose reason contains every one of `needles`.
private func expectSafeTensorsError(_ what: String, _ needles: [String], path: String = "bad.safetensors",
                                    sourceLocation: SourceLocation = #_sourceLocation,
                                    _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("\(what): expected a SafeTensorsError, nothing was thrown", sourceLocation: sourceLocation)
    } catch let e as SafeTensorsError {
        for n in needles {
            #expect(e.reason.contains(n), "\(what): reason '\(e.reason)' does not mention '\(n)'", sourceLocation: sourceLocation)
        }
        #expect(e.path == path, "\(what): path \(e.path)", sourceLocation: sourceLocation)
        #expect(e.description.hasPrefix(path), "\(what): description '\(e.description)'", sourceLocation: sourceLocation)
    } catch {
        Issue.record("\(what): expected a SafeTensorsError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct SafeTensorsTests {
    // MARK: round trip

    @Test func roundTripWithMetadataAndInt64() throws {
        let dir = try makeTempDir("st-roundtrip")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("tensors.safetensors")
        let w4 = Tensor.randn([2, 3, 4, 5], generator: Generator(seed: 7))
        let tensors: [String: Tensor] = [
            "scalar": Tensor(3.5),
            "empty": Tensor.zeros([0, 3]),
            "conv.weight": w4,
            "vector": Tensor([-1.5, 0, 2.25, 1e-7, -3e8]),
            "step": Tensor(42),
            "labels": Tensor([3, -2, 0, 9]),
        ]
        let metadata = ["format": "pt", "epoch": "3", "note": "unicode ✓ \"quoted\""]
        try SafeTensors.write(tensors, to: url, metadata: metadata, int64Keys: ["step", "labels"])

        // atomic write: only the target is left in the directory, no temporary sibling
        let listing = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(listing == ["tensors.safetensors"], "directory holds \(listing)")

        let (entries, meta) = try SafeTensors.readEntries(from: url)
        #expect(meta == metadata)
        #expect(Set(entries.keys) == Set(tensors.keys))

        let scalar = try #require(entries["scalar"])
        #expect(scalar.dtype == .f32)
        #expect(scalar.shape == [])
        #expect(scalar.floats() == [3.5])
        #expect(scalar.tensor.rank == 0)
        #expect(scalar.tensor.item() == 3.5)

        let empty = try #require(entries["empty"])
        #expect(empty.dtype == .f32)
        #expect(empty.shape == [0, 3])
        #expect(empty.bytes.isEmpty)
        #expect(empty.tensor.shape == [0, 3])
        #expect(empty.floats().isEmpty)

        let w = try #require(entries["conv.weight"])
        #expect(w.dtype == .f32)
        #expect(w.shape == [2, 3, 4, 5])
        #expect(w.bytes.count == 120 * 4)
        #expect(w.floats() == w4.scalars) // bit-exact

        let v = try #require(entries["vector"])
        #expect(v.dtype == .f32)
        #expect(v.floats() == [-1.5, 0, 2.25, 1e-7, -3e8])

        let step = try #require(entries["step"])
        #expect(step.dtype == .i64)
        #expect(step.shape == [])
        #expect(step.bytes.count == 8)
        #expect(step.integers() == [42])
        #expect(step.floats() == [42])

        let labels = try #require(entries["labels"])
        #expect(labels.dtype == .i64)
        #expect(labels.shape == [4])
        #expect(labels.integers() == [3, -2, 0, 9])

        // `read` gives Float32 tensors for every entry
        let plain = try SafeTensors.read(from: url)
        #expect(plain["labels"]?.scalars == [3, -2, 0, 9])
        #expect(plain["conv.weight"]?.shape == [2, 3, 4, 5])

        // layout: 8-byte little-endian header length, a multiple of 8, then a JSON object
        let bytes = try Data(contentsOf: url)
        let headerLen = bytes.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        #expect(headerLen % 8 == 0, "header length \(headerLen) is not a multiple of 8")
        #expect(headerLen + 8 <= UInt64(bytes.count))
        #expect(bytes[8] == UInt8(ascii: "{"))
        let dataBytes = 5 * 4 + 120 * 4 + 4 * 8 + 8 + 4 + 0
        #expect(UInt64(bytes.count) == 8 + headerLen + UInt64(dataBytes))
        let header = try #require(try JSONSerialization.jsonObject(with: bytes[8..<(8 + Int(headerLen))]) as? [String: Any])
        #expect(header["__metadata__"] as? [String: String] == metadata)
        let stepInfo = try #require(header["step"] as? [String: Any])
        #expect(stepInfo["dtype"] as? String == "I64")

        // determinism: writing the same contents again gives identical bytes
        let url2 = dir.appendingPathComponent("again.safetensors")
        try SafeTensors.write(tensors, to: url2, metadata: metadata, int64Keys: ["step", "labels"])
        #expect(try Data(contentsOf: url2) == bytes)
        #expect(try SafeTensors.serialize(tensors, metadata: metadata, int64Keys: ["step", "labels"]) == bytes)

        // overwriting an existing file is atomic too, and leaves no temporary behind
        try SafeTensors.write(["x": Tensor([1, 2])], to: url)
        #expect(try SafeTensors.read(from: url)["x"]?.scalars == [1, 2])
        let listing2 = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(listing2 == ["again.safetensors", "tensors.safetensors"], "directory holds \(listing2)")
    }

    @Test func writeWithoutMetadataHasNoMetadataKey() throws {
        let data = try SafeTensors.serialize(["a": Tensor([1])])
        let (entries, meta) = try SafeTensors.parse(data)
        #expect(meta.isEmpty)
        #expect(entries["a"]?.floats() == [1])
        let headerLen = data.prefix(8).withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        #expect(headerLen % 8 == 0)
        let header = String(decoding: data[8..<(8 + headerLen)], as: UTF8.self)
        #expect(!header.contains("__metadata__"))
    }

    @Test func readingAMissingFileThrows() throws {
        let dir = try makeTempDir("st-missing")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("nope.safetensors")
        expectSafeTensorsError("missing file", ["cannot read"], path: url.path) { _ = try SafeTensors.readEntries(from: url) }
    }

    // MARK: modules

    @Test func moduleSaveLoadRoundTrip() throws {
        let dir = try makeTempDir("st-module")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("bnlenet.safetensors")

        let model = Models.bnLeNet()
        // a training-mode forward changes running statistics and num_batches_tracked
        _ = model(Tensor.randn([4, 1, 28, 28], generator: Generator(seed: 3)))
        _ = model(Tensor.randn([4, 1, 28, 28], generator: Generator(seed: 4)))
        try model.save(to: url, metadata: ["model": "bnLeNet"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["bnlenet.safetensors"])

        let (entries, meta) = try SafeTensors.readEntries(from: url)
        #expect(meta == ["model": "bnLeNet"])
        let sd = model.stateDict()
        #expect(Set(entries.keys) == Set(sd.keys))
        let counters = entries.filter { $0.key.hasSuffix("num_batches_tracked") }
        #expect(counters.count == 4, "BatchNorm counters: \(counters.keys.sorted())")
        for (key, e) in counters {
            #expect(e.dtype == .i64, "\(key) stored as \(e.dtype.rawValue)")
            #expect(e.shape == [], "\(key) shape \(e.shape)")
            #expect(e.integers() == [2], "\(key) = \(e.integers())")
        }
        for (key, e) in entries where !key.hasSuffix("num_batches_tracked") {
            #expect(e.dtype == .f32, "\(key) stored as \(e.dtype.rawValue)")
            #expect(e.shape == sd[key]?.shape)
        }

        let other = Models.bnLeNet()
        #expect(other.stateDict()["0.weight"]!.scalars != sd["0.weight"]!.scalars)
        try other.load(from: url)
        let osd = other.stateDict()
        for (key, t) in sd {
            #expect(osd[key]?.shape == t.shape, "\(key)")
            #expect(osd[key]?.scalars == t.scalars, "\(key) differs after load")
        }
        // same outputs in eval mode
        let x = Tensor.randn([2, 1, 28, 28], generator: Generator(seed: 5))
        let a = model.eval()(x), b = other.eval()(x)
        #expect(a.scalars == b.scalars)
    }

    @Test func loadingIntoADifferentArchitectureThrows() throws {
        let dir = try makeTempDir("st-mismatch")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("bnlenet.safetensors")
        try Models.bnLeNet().save(to: url)

        // different keys (no BatchNorm)
        let plain = Models.leNetD2L()
        let before = plain.stateDict().mapValues(\.scalars)
        do {
            try plain.load(from: url)
            Issue.record("loading bnLeNet weights into lenetD2L did not throw")
        } catch let e as SafeTensorsError {
            #expect(e.path == url.path)
            #expect(e.description.contains(url.path), "\(e.description)")
            #expect(e.description.contains("state_dict"), "\(e.description)")
        }
        // nothing was changed by the failed load
        #expect(plain.stateDict().mapValues(\.scalars) == before)

        // same keys, different shapes
        let fewer = Models.bnLeNet(numClasses: 5)
        do {
            try fewer.load(from: url)
            Issue.record("loading a 10-class checkpoint into a 5-class model did not throw")
        } catch let e as SafeTensorsError {
            #expect(e.description.contains(url.path), "\(e.description)")
            #expect(e.reason.contains("size mismatch"), "\(e.reason)")
        }
    }

    // MARK: other dtypes

    @Test func readsF16BF16F64I32U8I64() throws {
        var body: [UInt8] = []
        var header: [String] = []
        func add(_ name: String, _ dtype: String, _ shape: [Int], _ bytes: [UInt8]) {
            let b = body.count
            body += bytes
            header.append("\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":[\(b),\(body.count)]}")
        }
        let halves: [UInt16] = [0x3C00, 0xC000, 0x3555, 0x0001, 0x8001, 0x03FF, 0x0400, 0x7BFF, 0x7C00, 0xFC00, 0x8000, 0x0000]
        add("h", "F16", [3, 4], halves.flatMap { le($0) })
        let bfloats: [UInt16] = [0x3F80, 0xC040, 0x4049, 0x0000, 0x7F80]
        add("b", "BF16", [5], bfloats.flatMap { le($0) })
        add("d", "F64", [2, 1], [2.5, -0.1].flatMap { le(($0 as Double).bitPattern) })
        add("i", "I32", [3], [Int32(-7), 0, Int32.max].flatMap { le($0) })
        add("u", "U8", [1, 4], [0, 1, 128, 255])
        add("l", "I64", [2], [Int64(-5), 1 << 40].flatMap { le($0) })
        add("z", "F16", [0], [])
        let file = rawFile(header: "{" + header.joined(separator: ",") + ",\"__metadata__\":{\"k\":\"v\"}}", body: body)
        let (entries, meta) = try SafeTensors.parse(file, path: "hand.safetensors")
        #expect(meta == ["k": "v"])

        let h = try #require(entries["h"])
        #expect(h.dtype == .f16)
        #expect(h.shape == [3, 4])
        let hv = h.floats()
        #expect(hv[0] == 1.0)
        #expect(hv[1] == -2.0)
        #expect(hv[2] == 0.333_251_95) // 0x3555 = 1365/4096
        #expect(hv[3] == 5.960_464_5e-8) // smallest subnormal, 2⁻²⁴
        #expect(hv[4] == -5.960_464_5e-8)
        #expect(hv[5] == 6.097_555_2e-5) // largest subnormal, 1023 · 2⁻²⁴
        #expect(hv[6] == 6.103_515_6e-5) // smallest normal, 2⁻¹⁴
        #expect(hv[7] == 65504) // largest finite half
        #expect(hv[8] == .infinity)
        #expect(hv[9] == -.infinity)
        #expect(hv[10] == 0 && hv[10].sign == .minus)
        #expect(hv[11] == 0 && hv[11].sign == .plus)
        #expect(h.tensor.shape == [3, 4])

        let b = try #require(entries["b"])
        #expect(b.dtype == .bf16)
        #expect(b.floats() == [1.0, -3.0, 3.140625, 0, .infinity])

        let d = try #require(entries["d"])
        #expect(d.dtype == .f64)
        #expect(d.shape == [2, 1])
        #expect(d.floats() == [2.5, Float(-0.1)])

        let i = try #require(entries["i"])
        #expect(i.dtype == .i32)
        #expect(i.integers() == [-7, 0, Int64(Int32.max)])
        #expect(i.floats() == [-7, 0, Float(Int32.max)])

        let u = try #require(entries["u"])
        #expect(u.dtype == .u8)
        #expect(u.shape == [1, 4])
        #expect(u.floats() == [0, 1, 128, 255])
        #expect(u.integers() == [0, 1, 128, 255])

        let l = try #require(entries["l"])
        #expect(l.dtype == .i64)
        #expect(l.integers() == [-5, 1 << 40])
        #expect(l.floats() == [-5, 1_099_511_627_776])

        let z = try #require(entries["z"])
        #expect(z.shape == [0])
        #expect(z.floats().isEmpty)

        // NaN halves stay NaN
        let nan = try SafeTensors.parse(rawFile(header: #"{"n":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}"#, body: le(UInt16(0x7E00))))
        #expect(nan.entries["n"]!.floats()[0].isNaN)
    }

    /// `integers()` of a float entry holding NaN, ±inf or values beyond Int64 must not trap: such
    /// values come straight from a (possibly hostile) file. Runs in a child process so a trap fails
    /// only this test.
    @Test func floatEntriesAsIntegersDoNotTrap() async {
        await #expect(processExitsWith: .success) {
            let values: [Float] = [1.5, -2, .nan, .infinity, -.infinity, 1e30]
            let body = values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
            let header = #"{"f":{"dtype":"F32","shape":[6],"data_offsets":[0,24]}}"#
            var file = Data()
            withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { file.append(contentsOf: $0) }
            file.append(contentsOf: Array(header.utf8))
            file.append(contentsOf: body)
            let e = try SafeTensors.parse(file).entries["f"]!
            let ints = e.integers()
            guard ints.count == 6, ints[0] == 1, ints[1] == -2 else { exit(3) }
        }
    }

    @Test func dtypeByteSizes() {
        let sizes = Dictionary(uniqueKeysWithValues: SafeTensorsDType.allCases.map { ($0.rawValue, $0.byteSize) })
        #expect(sizes == ["F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "U8": 1])
    }

    // MARK: malformed files

    @Test func malformedFilesThrow() {
        let p = "bad.safetensors"
        func parse(_ d: Data) throws { _ = try SafeTensors.parse(d, path: p) }
        let eight = [UInt8](repeating: 0, count: 8)

        expectSafeTensorsError("empty file", ["8"]) { try parse(Data()) }
        expectSafeTensorsError("shorter than 8 bytes", ["shorter", "8"]) { try parse(Data([1, 2, 3])) }
        expectSafeTensorsError("header length past end", ["header length", "past the end"]) {
            try parse(rawFile(header: "{}", body: eight, headerLength: 1000))
        }
        expectSafeTensorsError("header length UInt64.max", ["header length"]) {
            try parse(rawFile(header: "{}", headerLength: .max))
        }
        expectSafeTensorsError("header not JSON", ["JSON"]) { try parse(rawFile(header: "{not json at all}")) }
        expectSafeTensorsError("header not UTF-8", ["JSON"]) {
            var d = rawFile(header: "{\"a\":1}   ")
            d[9] = 0xFF
            try parse(d)
        }
        expectSafeTensorsError("header JSON array", ["not a JSON object"]) { try parse(rawFile(header: "[1, 2, 3]")) }
        expectSafeTensorsError("header JSON string", ["JSON"]) { try parse(rawFile(header: "\"x\"")) }
        expectSafeTensorsError("entry not an object", ["'a'", "not an object"]) { try parse(rawFile(header: #"{"a":[1,2]}"#)) }
        expectSafeTensorsError("unknown dtype", ["dtype", "F8_E9"]) {
            try parse(rawFile(header: #"{"a":{"dtype":"F8_E9","shape":[2],"data_offsets":[0,2]}}"#, body: [0, 0]))
        }
        expectSafeTensorsError("missing dtype", ["'a'", "dtype"]) {
            try parse(rawFile(header: #"{"a":{"shape":[2],"data_offsets":[0,8]}}"#, body: eight))
        }
        expectSafeTensorsError("dtype not a string", ["dtype"]) {
            try parse(rawFile(header: #"{"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}"#, body: eight))
        }
        expectSafeTensorsError("missing shape", ["shape"]) {
            try parse(rawFile(header: #"{"a":{"dtype":"F32","data_offsets":[0,8]}}"#, body: eight))
        }
        expectSafeTensorsError("negative dim", ["dimension"]) {
            try parse(rawFile(header: #"{"a":{"dtype":"F32","shape":[-1,2],"data_offsets":[0,8]}}"#, body: eight))
        }
        expectSafeTensorsError("fractional dim", ["dimension"]) {
            try parse(rawFile(header: #"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}}"#, body: eight))
        }
        expectSafeTensorsError("string dim", ["dimension"]) {
            try parse(rawFile(header: #"{"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}"#, body: eight))
        }
        expectSafeTensorsError("huge dims", ["shape"]) {
            try parse(rawFile(header: #"{"a":{"dtype":"F32","shape":[100000000,100000000,100000000],"data_offsets":[0,8]}}"#, body: eight))
        }
        expectSafeTensorsError("data_offsets past the data", ["data_offsets"]) {
            try parse(rawFile(header: #"{"a":{"dtype":"U8","shape":[400],"data_offsets":[0,400]}}"#, body: eight))
        }
        expectSafeTensorsError("data_offsets negative", ["data_offsets"]) {
            try parse(rawFile(header: #"{"a":{"dtype":"U8","shape":[4],"data_offsets":[-4,0]}}"#, body: eight))
        }
        expectSafeTensorsError("data_offsets reversed", ["data_offsets"]) {
            try parse(rawFile(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, body: eight))
        }
        expectSafeTensorsError("data_offsets wrong count", ["data_offsets"]) {
            try parse(rawFile(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,16]}}"#, body: eight))
        }
        expectSafeTensorsError("data_offsets missing", ["data_offsets"]) {
            try parse(rawFile(header: #"{"a":{"dtype":"F32","shape":[2]}}"#, body: eight))
        }
        expectSafeTensorsError("data_offsets huge", ["data_offsets"]) {
            try parse(rawFile(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,1e300]}}"#, body: eight))
        }
        expectSafeTensorsError("overlapping entries", ["overlaps"]) {
            try parse(rawFile(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                              body: eight + eight))
        }
        expectSafeTensorsError("identical spans", ["overlaps"]) {
            try parse(rawFile(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}"#,
                              body: eight))
        }
        expectSafeTensorsError("shape/offset byte count disagreement", ["'a'", "bytes"]) {
            try parse(rawFile(header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, body: eight + eight))
        }
        expectSafeTensorsError("byte count off by dtype size", ["bytes"]) {
            try parse(rawFile(header: #"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}}"#, body: eight))
        }
        expectSafeTensorsError("metadata value not a string", ["__metadata__", "'epoch'"]) {
            try parse(rawFile(header: #"{"__metadata__":{"epoch":3}}"#))
        }
        expectSafeTensorsError("metadata not an object", ["__metadata__"]) {
            try parse(rawFile(header: #"{"__metadata__":"pt"}"#))
        }
    }

    /// Offsets are byte positions: like fractional dims (rejected above), fractional offsets must not
    /// be silently truncated to integers.
    @Test func fractionalDataOffsetsAreRejected() {
        expectSafeTensorsError("fractional data_offsets", ["data_offsets"]) {
            _ = try SafeTensors.parse(rawFile(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0.5,8.9]}}"#,
                                              body: [UInt8](repeating: 0, count: 16)), path: "bad.safetensors")
        }
    }

    @Test func validEdgeCasesParse() throws {
        // an empty header object: no tensors
        let (e0, m0) = try SafeTensors.parse(rawFile(header: "{}"))
        #expect(e0.isEmpty && m0.isEmpty)
        // header padded with trailing spaces, as serializers do for alignment
        let (e1, _) = try SafeTensors.parse(rawFile(header: #"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}     "#, body: [7, 9]))
        #expect(e1["a"]?.floats() == [7, 9])
        // a parse of a slice of a larger buffer (non-zero startIndex)
        let whole = Data([0xAA, 0xBB]) + rawFile(header: #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, body: [5])
        let (e2, _) = try SafeTensors.parse(whole[2...])
        #expect(e2["a"]?.floats() == [5])
    }

    // MARK: fuzzing

    @Test func fuzzedFilesNeverTrap() throws {
        var tensors: [String: Tensor] = [:]
        tensors["a.weight"] = Tensor.randn([3, 2, 2], generator: Generator(seed: 1))
        tensors["a.bias"] = Tensor([0.5, -1, 2])
        tensors["scalar"] = Tensor(7)
        tensors["empty"] = Tensor.zeros([2, 0])
        tensors["bn.num_batches_tracked"] = Tensor(12)
        tensors["ids"] = Tensor([1, 2, 3, 40])
        let base = try SafeTensors.serialize(tensors, metadata: ["format": "pt", "n": "12"],
                                             int64Keys: ["bn.num_batches_tracked", "ids"])
        let parsedBase = try SafeTensors.parse(base)
        #expect(parsedBase.entries.count == tensors.count)
        let headerLen = base.prefix(8).withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        let headerRange = 8..<(8 + headerLen)
        let digitPositions = headerRange.filter { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(base[$0]) }
        #expect(!digitPositions.isEmpty)

        let g = Generator(seed: 2024)
        var accepted = 0, rejected = 0
        let iterations = 10_000
        for iter in 0..<iterations {
            var d = [UInt8](base)
            let rounds = 1 + g.nextInt(below: 3)
            for _ in 0..<rounds {
                switch g.nextInt(below: 7) {
                case 0: // flip random bytes anywhere
                    for _ in 0..<(1 + g.nextInt(below: 4)) where !d.isEmpty {
                        d[g.nextInt(below: d.count)] ^= UInt8(1 + g.nextInt(below: 255))
                    }
                case 1: // truncate
                    d = Array(d.prefix(g.nextInt(below: d.count + 1)))
                case 2: // overwrite the header length
                    guard d.count >= 8 else { break }
                    let choices: [UInt64] = [0, 1, 7, UInt64(headerLen) - 1, UInt64(headerLen) + 1, UInt64(d.count - 8),
                                             UInt64(d.count - 7), UInt64(g.nextInt(below: d.count + 16)),
                                             UInt64(Int64.max), .max, g.next(), UInt64(1) << 63, 100_000_001]
                    let v = choices[g.nextInt(below: choices.count)]
                    d.replaceSubrange(0..<8, with: le(v))
                case 3: // insert random bytes inside the header
                    let at = 8 + g.nextInt(below: headerLen)
                    guard at <= d.count else { break }
                    let pool: [UInt8] = Array("{}[],:\"-.e0123456789 ".utf8) + [0, 0xFF, 0x80]
                    d.insert(pool[g.nextInt(below: pool.count)], at: at)
                    if g.nextInt(below: 2) == 0 && d.count >= 8 { // keep the length consistent half of the time
                        d.replaceSubrange(0..<8, with: le(UInt64(headerLen + 1)))
                    }
                case 4: // delete bytes inside the header
                    let at = 8 + g.nextInt(below: headerLen)
                    let n = 1 + g.nextInt(below: 3)
                    guard at + n <= d.count else { break }
                    d.removeSubrange(at..<(at + n))
                    if g.nextInt(below: 2) == 0 && d.count >= 8 {
                        d.replaceSubrange(0..<8, with: le(UInt64(headerLen - n)))
                    }
                case 5: // replace digits in the header with other digits (offsets, shapes)
                    for _ in 0..<(1 + g.nextInt(below: 3)) {
                        let pos = digitPositions[g.nextInt(below: digitPositions.count)]
                        if pos < d.count { d[pos] = UInt8(ascii: "0") + UInt8(g.nextInt(below: 10)) }
                    }
                default: // append or drop data bytes
                    if g.nextInt(below: 2) == 0 { d += (0..<(1 + g.nextInt(below: 16))).map { _ in UInt8(g.nextInt(below: 256)) } }
                    else if d.count > 8 + headerLen { d.removeLast(1 + g.nextInt(below: Swift.min(16, d.count - 8 - headerLen))) }
                }
            }
            do {
                let (entries, _) = try SafeTensors.parse(Data(d), path: "fuzz-\(iter)")
                accepted += 1
                for (name, e) in entries {
                    let numel = e.shape.reduce(1, *)
                    #expect(e.shape.allSatisfy { $0 >= 0 }, "iteration \(iter): '\(name)' shape \(e.shape)")
                    #expect(e.bytes.count == numel * e.dtype.byteSize,
                            "iteration \(iter): '\(name)' has \(e.bytes.count) bytes for shape \(e.shape) of \(e.dtype.rawValue)")
                    guard e.bytes.count == numel * e.dtype.byteSize, numel <= 1 << 20 else { continue }
                    #expect(e.floats().count == numel)
                    // (integers() of float entries is covered by floatEntriesAsIntegersDoNotTrap)
                    if [.i64, .i32, .u8].contains(e.dtype) { #expect(e.integers().count == numel) }
                }
            } catch let e as SafeTensorsError {
                rejected += 1
                #expect(e.path == "fuzz-\(iter)")
                #expect(!e.reason.isEmpty)
            } catch {
                Issue.record("iteration \(iter): threw \(type(of: error)) instead of SafeTensorsError: \(error)")
            }
        }
        #expect(accepted + rejected == iterations)
        // the mutations exercise both outcomes
        #expect(accepted > 50, "only \(accepted) mutated files parsed")
        #expect(rejected > iterations / 2, "only \(rejected) mutated files were rejected")
    }
}
