import ConvNet
import Foundation
import Testing

// MARK: - helpers (file-private so they cannot clash with other test files)

/// A fresh, empty folder under the system temporary directory.
private func makeTempDir(_ tag: String = "data") throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("convnet-\(tag)-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

private func be32(_ v: Int) -> [UInt8] {
    [UInt8(truncatingIfNeeded: v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)]
}

private func le32(_ v: UInt32) -> [UInt8] {
    [UInt8(truncatingIfNeeded: v), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 24)]
}

/// IDX bytes: magic 0x0000 08 nd, big-endian dimensions, then the values.
private func idxBytes(dims: [Int], values: [UInt8], magic: [UInt8]? = nil) -> Data {
    var b = magic ?? [0, 0, 0x08, UInt8(dims.count)]
    for d in dims { b += be32(d) }
    b += values
    return Data(b)
}

/// A gzip member built from zlib's raw deflate stream: header, deflate data, CRC-32 and length.
private func gzipBytes(_ data: Data) throws -> Data {
    let z = [UInt8](try Zlib.deflate(data, level: 9))
    // zlib format = 2-byte header + raw deflate + 4-byte Adler-32; gzip needs the raw deflate part
    let raw = z[2..<(z.count - 4)]
    var out: [UInt8] = [0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xFF]
    out += raw
    out += le32(Zlib.crc32(data))
    out += le32(UInt32(truncatingIfNeeded: data.count))
    return Data(out)
}

/// The gzip program, where one is installed.
private let gzipTool: String? = ["/bin/gzip", "/usr/bin/gzip"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// Compresses `file` with the system gzip into `file.gz` (the original is kept).
private func gzipWithTool(_ tool: String, _ file: URL) throws -> URL {
    let r = try Subprocess.run(tool, ["-c", "-n", file.path])
    #expect(r.status == 0, "\(r.stderr)")
    let gz = file.appendingPathExtension("gz")
    try r.out.write(to: gz)
    return gz
}

/// A small deterministic byte pattern (LCG), incompressible enough that deflate uses Huffman codes.
private func pseudoRandomBytes(_ n: Int, seed: UInt32 = 12345) -> [UInt8] {
    var s = seed
    return (0..<n).map { _ in s = s &* 1_664_525 &+ 1_013_904_223; return UInt8(truncatingIfNeeded: s >> 24) }
}


private let tenClasses = (0..<10).map(String.init)

/// The package root: Tests/ConvNetTests/DataTests.swift → up three levels.
private let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let mnistDir = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/datasets/mnist")
private let mnistPresent = FileManager.default.fileExists(atPath: mnistDir.appendingPathComponent("t10k-images-idx3-ubyte.gz").path)
    && FileManager.default.fileExists(atPath: mnistDir.appendingPathComponent("t10k-labels-idx1-ubyte.gz").path)

// MARK: - tests

@Suite struct DataTests {
    // 3 images of 2×3 and their labels
    static let imageValues: [UInt8] = [0, 1, 2, 3, 4, 255,
                                       10, 20, 30, 40, 50, 60,
                                       128, 127, 126, 0, 0, 7]
    static let labelValues: [UInt8] = [3, 0, 9]

    private func writePair(_ dir: URL, images: Data, labels: Data, gz: Bool = false) throws -> (URL, URL) {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let i = dir.appendingPathComponent(gz ? "images-idx3-ubyte.gz" : "images-idx3-ubyte")
        let l = dir.appendingPathComponent(gz ? "labels-idx1-ubyte.gz" : "labels-idx1-ubyte")
        try (gz ? gzipBytes(images) : images).write(to: i)
        try (gz ? gzipBytes(labels) : labels).write(to: l)
        return (i, l)
    }

    private func checkSmall(_ ds: ImageDataset, _ what: String) {
        #expect(ds.count == 3, "\(what)")
        #expect(ds.height == 2 && ds.width == 3, "\(what)")
        #expect(ds.images == Self.imageValues, "\(what)")
        #expect(ds.labels == Self.labelValues.map(Int.init), "\(what)")
        #expect(ds.classNames == tenClasses)
        let img = ds.image(1)
        #expect(img.shape == [1, 2, 3])
        expectClose(img.scalars, Self.imageValues[6..<12].map { Float($0) / 255 }, tol: 1e-7)
        let first = ds.prefix(2)
        #expect(first.count == 2 && first.images == Array(Self.imageValues[0..<12]) && first.labels == [3, 0])
    }

    @Test func idxPlainAndGzip() throws {
        let dir = try makeTempDir("idx")
        defer { try? FileManager.default.removeItem(at: dir) }
        let images = idxBytes(dims: [3, 2, 3], values: Self.imageValues)
        let labels = idxBytes(dims: [3], values: Self.labelValues)
        #expect([UInt8](images.prefix(4)) == [0, 0, 0x08, 0x03])
        #expect([UInt8](labels.prefix(4)) == [0, 0, 0x08, 0x01])

        let (pi, pl) = try writePair(dir.appendingPathComponent("plain"), images: images, labels: labels)
        checkSmall(try ImageDataset(name: "plain", images: pi, labels: pl, classNames: tenClasses), "plain")

        let (gi, gl) = try writePair(dir.appendingPathComponent("gz"), images: images, labels: labels, gz: true)
        #expect(try Data(contentsOf: gi).prefix(2) == Data([0x1F, 0x8B]))
        checkSmall(try ImageDataset(name: "gz", images: gi, labels: gl, classNames: tenClasses), "hand-made gzip")

        // mixed: gzip images, plain labels
        checkSmall(try ImageDataset(name: "mixed", images: gi, labels: pl, classNames: tenClasses), "mixed")

        // a zlib stream (not gzip) is not recognised as compressed by the IDX reader: it must be rejected, not crash
        let z = dir.appendingPathComponent("zlib-idx")
        try Zlib.deflate(images).write(to: z)
        let e = expectDataError("zlib-wrapped IDX") { _ = try IDXArray(contentsOf: z) }
        #expect(e?.description.contains(z.path) == true)

        if let tool = gzipTool {
            let sys = dir.appendingPathComponent("sys")
            try FileManager.default.createDirectory(at: sys, withIntermediateDirectories: true)
            let ri = sys.appendingPathComponent("i"), rl = sys.appendingPathComponent("l")
            try images.write(to: ri); try labels.write(to: rl)
            let ti = try gzipWithTool(tool, ri), tl = try gzipWithTool(tool, rl)
            checkSmall(try ImageDataset(name: "gzip tool", images: ti, labels: tl, classNames: tenClasses), "gzip tool")
        }
    }

    @Test func zlibInflateDetectsBothHeaders() throws {
        let payload = Data(pseudoRandomBytes(5000) + [UInt8](repeating: 7, count: 100_000))
        #expect(try Zlib.inflate(Zlib.deflate(payload)) == payload)
        #expect(try Zlib.inflate(gzipBytes(payload)) == payload)
        // a small size hint must still grow the buffer as needed
        #expect(try Zlib.inflate(gzipBytes(payload), sizeHint: 1) == payload)
        #expect(try Zlib.inflate(Zlib.deflate(Data())) == Data())
    }

    @Test func idxInMemoryHeaderErrors() throws {
        let cases: [(Data, String)] = [
            (Data([0, 0]), "too short"),
            (Data([0, 0, 8, 3, 0, 0, 0, 1]), "header"),
            (Data([0, 0, 8, 0]), "dimensions"),
            (Data([0, 0, 8, 5] + [UInt8](repeating: 0, count: 20)), "dimensions"),
            (idxBytes(dims: [2, 2], values: [1, 2, 3, 4, 5]), "trailing"),
            (idxBytes(dims: [2], values: [1, 2], magic: [0, 0, 0x0D, 1]), "unsigned byte"),
        ]
        for (data, word) in cases {
            let e = expectDataError(word) { _ = try IDXArray(data: data, path: "/some/file.idx") }
            #expect(e?.path == "/some/file.idx")
            #expect(e?.reason.contains(word) == true, "\(e?.reason ?? "nil") should mention \(word)")
        }
        let ok = try IDXArray(data: idxBytes(dims: [2, 1, 2], values: [9, 8, 7, 6]))
        #expect(ok.dims == [2, 1, 2] && ok.bytes == [9, 8, 7, 6])
    }

    @Test func idxFileErrors() throws {
        let dir = try makeTempDir("idxerr")
        defer { try? FileManager.default.removeItem(at: dir) }
        let goodImages = idxBytes(dims: [3, 2, 3], values: Self.imageValues)
        let goodLabels = idxBytes(dims: [3], values: Self.labelValues)
        var n = 0
        func pair(_ images: Data, _ labels: Data, gz: Bool = false) throws -> (URL, URL) {
            n += 1
            return try writePair(dir.appendingPathComponent("case\(n)"), images: images, labels: labels, gz: gz)
        }
        func load(_ p: (URL, URL)) throws { _ = try ImageDataset(name: "t", images: p.0, labels: p.1, classNames: tenClasses) }

        // truncated image file (plain and gzip)
        for gz in [false, true] {
            let p = try pair(goodImages.prefix(goodImages.count - 5), goodLabels, gz: gz)
            let e = expectDataError("truncated images gz=\(gz)") { try load(p) }
            #expect(e?.description.contains(p.0.path) == true, "\(e?.description ?? "nil")")
            #expect(e?.reason.contains("truncated") == true, "\(e?.reason ?? "nil")")
        }

        // wrong magic number
        do {
            let p = try pair(idxBytes(dims: [3, 2, 3], values: Self.imageValues, magic: [0x1F, 0x00, 0x08, 0x03]), goodLabels)
            let e = expectDataError("wrong magic") { try load(p) }
            #expect(e?.description.contains(p.0.path) == true, "\(e?.description ?? "nil")")
            #expect(e?.reason.contains("magic") == true, "\(e?.reason ?? "nil")")
        }
        // a text file is not an IDX file either
        do {
            let p = try pair(Data("hello, world\n".utf8), goodLabels)
            let e = expectDataError("text file") { try load(p) }
            #expect(e?.reason.contains("magic") == true, "\(e?.reason ?? "nil")")
        }
        // images and labels swapped: the images file has the wrong rank
        do {
            let p = try pair(goodLabels, goodImages)
            let e = expectDataError("swapped") { try load(p) }
            #expect(e?.description.contains(p.0.path) == true, "\(e?.description ?? "nil")")
            #expect(e?.reason.contains("3 dimensions") == true, "\(e?.reason ?? "nil")")
        }

        // label count ≠ image count: 3 images, 5 labels
        do {
            let p = try pair(goodImages, idxBytes(dims: [5], values: [1, 2, 3, 4, 5]))
            let e = expectDataError("count mismatch") { try load(p) }
            let names = e.map { $0.description.contains(p.0.path) || $0.description.contains(p.1.path) } ?? false
            #expect(names, "\(e?.description ?? "nil") should name a file")
            #expect(e?.reason.contains("5") == true && e?.reason.contains("3") == true, "\(e?.reason ?? "nil") should give both counts")
            #expect(e?.reason.contains("label") == true && e?.reason.contains("image") == true, "\(e?.reason ?? "nil")")
        }

        // label out of range (10 with 10 classes)
        do {
            let p = try pair(goodImages, idxBytes(dims: [3], values: [1, 10, 2]))
            let e = expectDataError("label range") { try load(p) }
            #expect(e?.description.contains(p.1.path) == true, "\(e?.description ?? "nil")")
            #expect(e?.reason.contains("10") == true && e?.reason.contains("range") == true, "\(e?.reason ?? "nil")")
            // the same labels are fine with 11 classes
            _ = try ImageDataset(name: "t", images: p.0, labels: p.1, classNames: (0...10).map(String.init))
        }

        // damaged gzip: bytes in the middle of the compressed stream overwritten
        do {
            let big = idxBytes(dims: [20, 10, 10], values: pseudoRandomBytes(2000))
            let gz = [UInt8](try gzipBytes(big))
            #expect(gz.count > 1000)
            var bad = gz
            for i in (gz.count / 2)..<(gz.count / 2 + 32) { bad[i] ^= 0xA5 }
            let img = dir.appendingPathComponent("damaged-idx3-ubyte.gz")
            try Data(bad).write(to: img)
            let lab = dir.appendingPathComponent("damaged-labels.gz")
            try gzipBytes(idxBytes(dims: [20], values: [UInt8](repeating: 1, count: 20))).write(to: lab)
            let e = expectDataError("damaged gzip") { _ = try ImageDataset(name: "t", images: img, labels: lab, classNames: tenClasses) }
            #expect(e?.description.contains(img.path) == true, "\(e?.description ?? "nil")")
            #expect(e?.reason.contains("damaged") == true, "\(e?.reason ?? "nil")")

            // a gzip file cut short
            let cut = dir.appendingPathComponent("cut-idx3-ubyte.gz")
            try Data(gz.prefix(gz.count / 2)).write(to: cut)
            let e2 = expectDataError("cut gzip") { _ = try IDXArray(contentsOf: cut) }
            #expect(e2?.description.contains(cut.path) == true, "\(e2?.description ?? "nil")")
            #expect(e2?.reason.contains("damaged") == true, "\(e2?.reason ?? "nil")")

            // a wrong CRC-32 in the gzip trailer
            var crcBad = gz
            crcBad[gz.count - 6] ^= 0xFF
            let crcURL = dir.appendingPathComponent("crc-idx3-ubyte.gz")
            try Data(crcBad).write(to: crcURL)
            let e3 = expectDataError("gzip crc") { _ = try IDXArray(contentsOf: crcURL) }
            #expect(e3?.reason.contains("damaged") == true, "\(e3?.reason ?? "nil")")
        }

        // missing file
        do {
            let missing = dir.appendingPathComponent("no-such-file-idx3-ubyte")
            let e = expectDataError("missing") { _ = try ImageDataset(name: "t", images: missing, labels: missing, classNames: tenClasses) }
            #expect(e?.description.contains(missing.path) == true, "\(e?.description ?? "nil")")
            #expect(e?.reason.contains("cannot read") == true, "\(e?.reason ?? "nil")")
        }
    }

    /// A damaged header declaring enormous dimensions must be reported as a DataError, not crash the
    /// process: the element count (product of up to four 32-bit dimensions) must not overflow `Int`.
    /// Run in a child process (an exit test) because the failure mode is a trap.
    @Test func idxHugeDimensionsDoNotCrash() async {
        await #expect(processExitsWith: .success, "IDXArray traps on a header with dimensions 0xFFFFFFFF×3") {
            let header: [UInt8] = [0, 0, 0x08, 0x03] + [UInt8](repeating: 0xFF, count: 12) + [1, 2, 3]
            do {
                _ = try IDXArray(data: Data(header), path: "huge.idx")
                exit(2) // accepted a 2^96-byte array from 19 bytes
            } catch is DataError {
                exit(0)
            } catch {
                exit(3)
            }
        }
    }

    /// A gzip bomb: a 4 KB file whose header declares 4 GiB of zeros. It is refused from the inflated
    /// header, before anything else is inflated; a smaller limit refuses an honest file the same way,
    /// and a limit that fits reads it.
    @Test func gzipIDXIsBoundedByItsHeader() throws {
        let header: [UInt8] = [0, 0, 0x08, 0x03, 0, 0, 0x40, 0, 0, 0, 0x40, 0, 0, 0, 0x40, 0] // 16384³ bytes
        let bomb = try gzipBytes(Data(header + [UInt8](repeating: 0, count: 1 << 20)))
        #expect(bomb.count < 8192)
        let e = expectDataError("bomb") { _ = try IDXArray(fileBytes: bomb, path: "bomb-idx3-ubyte.gz") }
        #expect(e?.description.hasPrefix("bomb-idx3-ubyte.gz: ") == true, "\(e?.description ?? "nil")")
        #expect(e?.reason.contains("limit") == true, "\(e?.reason ?? "nil")")

        let honest = try gzipBytes(idxBytes(dims: [4, 5, 5], values: (0..<100).map { UInt8($0) }))
        let refused = expectDataError("limit") { _ = try IDXArray(fileBytes: honest, path: "h.gz", maxBytes: 99) }
        #expect(refused?.reason.contains("99-byte limit") == true, "\(refused?.reason ?? "nil")")
        let read = try IDXArray(fileBytes: honest, path: "h.gz", maxBytes: 100)
        #expect(read.dims == [4, 5, 5] && read.bytes == (0..<100).map { UInt8($0) })
        // one byte more than the header declares, behind the same gzip: trailing bytes
        let long = try gzipBytes(idxBytes(dims: [4, 5, 5], values: (0..<101).map { UInt8($0) }))
        let trailing = expectDataError("trailing") { _ = try IDXArray(fileBytes: long, path: "t.gz") }
        #expect(trailing?.reason.contains("trailing") == true, "\(trailing?.reason ?? "nil")")
    }

    @Test func datasetKindLoadsFromFolderWithPlainOrGzipFiles() throws {
        let dir = try makeTempDir("kind")
        defer { try? FileManager.default.removeItem(at: dir) }
        let kind = DatasetKind.fashionMNIST
        // test split plain, train split gzip
        try idxBytes(dims: [3, 2, 3], values: Self.imageValues).write(to: dir.appendingPathComponent("t10k-images-idx3-ubyte"))
        try idxBytes(dims: [3], values: Self.labelValues).write(to: dir.appendingPathComponent("t10k-labels-idx1-ubyte"))
        #expect(kind.locate(explicit: dir) == nil || kind.locate(explicit: dir) != dir)
        try gzipBytes(idxBytes(dims: [3, 2, 3], values: Self.imageValues)).write(to: dir.appendingPathComponent("train-images-idx3-ubyte.gz"))
        try gzipBytes(idxBytes(dims: [3], values: Self.labelValues)).write(to: dir.appendingPathComponent("train-labels-idx1-ubyte.gz"))
        #expect(kind.locate(explicit: dir) == dir)
        let test = try kind.load(split: .test, from: dir)
        checkSmall(ImageDataset(name: test.name, images: test.images, labels: test.labels, height: test.height, width: test.width,
                                classNames: tenClasses), "kind test")
        #expect(test.classNames == kind.classNames)
        let train = try kind.load(split: .train, from: dir)
        #expect(train.images == Self.imageValues && train.labels == [3, 0, 9])
        #expect(train.name.contains("train") && test.name.contains("test"))
    }

    @Test(.enabled(if: mnistPresent, "needs ../shared/datasets/mnist")) func realMNISTTestSplit() throws {
        let ds = try DatasetKind.mnist.load(split: .test, from: mnistDir)
        #expect(ds.count == 10_000)
        #expect(ds.height == 28 && ds.width == 28)
        #expect(ds.images.count == 10_000 * 28 * 28)
        #expect(ds.labels.allSatisfy { (0..<10).contains($0) })
        var counts = [Int](repeating: 0, count: 10)
        for l in ds.labels { counts[l] += 1 }
        #expect(counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
        #expect(Array(ds.labels.prefix(10)) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
        // the first image (a 7): byte sum computed independently with python3's gzip module
        #expect(ds.images[0..<784].reduce(0) { $0 + Int($1) } == 18454)
        #expect(ds.images[0..<784].max() == 255 && ds.images[0..<784].min() == 0)
        let t = ds.image(0)
        #expect(t.shape == [1, 28, 28])
        #expect(t.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    // MARK: MD5

    @Test func md5KnownVectors() {
        #expect(MD5.hex(Data()) == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(MD5.hex(Data("abc".utf8)) == "900150983cd24fb0d6963f7d28e17f72")
        #expect(MD5.hex(Data("The quick brown fox jumps over the lazy dog".utf8)) == "9e107d9d372bb6826bd81d3542a419d6")
        #expect(MD5.hex(Data("12345678901234567890123456789012345678901234567890123456789012345678901234567890".utf8))
            == "57edf4a22be3c955ac49da2e2107b67a")
        #expect(MD5.hex(Data(repeating: UInt8(ascii: "a"), count: 1_000_000)) == "7707d6ae4e027c70eea2a935c2296f21")
        // lengths around the padding boundaries (expected values from python3 hashlib)
        let expected: [Int: String] = [
            55: "52c0e574e1198de5fe3f8f11440dcb1b", 56: "46c9907fc908ee68b1e7b8e71286a518",
            63: "a62f6d59e837867693f042f5b8f5a236", 64: "7160b8fb5e9e4023d549c3971fbaeead",
            65: "70bd662e7aefbda85a0f7244167b7897", 119: "e84905d4214f4d1ca56c2cdcc152b143",
            120: "e3eb5a6c8669ea01a8c185b8abc8a5dc",
        ]
        for (n, hex) in expected {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
            #expect(MD5.hex(Data(bytes)) == hex, "length \(n)")
        }
    }

    @Test func md5IncrementalEqualsOneShot() {
        let bytes = Data((0..<200).map { UInt8($0) })
        let oneShot = MD5.hex(bytes)
        #expect(oneShot == "fb7001d34b8e82c9b579be5005d5b0a5") // python3 hashlib
        for cuts in [[0, 1, 64, 100, 200], [0, 0, 63, 127, 128, 199, 200], [0, 5, 70, 135, 200], Array(stride(from: 0, through: 200, by: 8))] {
            var h = MD5()
            for (a, b) in zip(cuts, cuts.dropFirst()) { h.update(bytes.subdata(in: a..<b)) }
            #expect(h.hexDigest() == oneShot, "cuts \(cuts)")
        }
        // byte at a time
        var h = MD5()
        for i in 0..<200 { h.update(bytes.subdata(in: i..<(i + 1))) }
        #expect(h.hexDigest() == oneShot)
        // slices of a larger Data (non-zero startIndex)
        let big = Data([0xEE, 0xEE]) + bytes
        var s = MD5()
        s.update(big[2..<102]); s.update(big[102..<202])
        #expect(s.hexDigest() == oneShot)
    }

    // MARK: DataLoader

    /// `n` images of `side`×`side`; image i has every pixel = 20·i, label i % 3.
    private func indexedDataset(_ n: Int = 10, side: Int = 4) -> ImageDataset {
        var px: [UInt8] = []
        for i in 0..<n { px += [UInt8](repeating: UInt8(20 * i), count: side * side) }
        return ImageDataset(name: "indexed", images: px, labels: (0..<n).map { $0 % 3 }, height: side, width: side, classNames: ["a", "b", "c"])
    }

    /// Index of each image in a batch (from its first pixel), checking the whole image is that constant.
    private func indices(_ b: Batch, side: Int = 4) -> [Int] {
        let plane = side * side
        let s = b.images.scalars
        return (0..<b.labels.count).map { k in
            let i = Int((s[k * plane] * 255 / 20).rounded())
            #expect(s[(k * plane)..<((k + 1) * plane)].allSatisfy { abs($0 - s[k * plane]) < 1e-6 })
            #expect(b.labels[k] == i % 3)
            return i
        }
    }

    @Test func loaderBatchCounts() {
        let ds = indexedDataset(10)
        let keep = DataLoader(ds, batchSize: 4)
        #expect(keep.count == 3)
        let sizes = keep.map { $0.labels.count }
        #expect(sizes == [4, 4, 2])
        #expect(keep.map { $0.images.shape } == [[4, 1, 4, 4], [4, 1, 4, 4], [2, 1, 4, 4]])
        #expect(keep.flatMap { indices($0) } == Array(0..<10))

        let drop = DataLoader(ds, batchSize: 4, dropLast: true)
        #expect(drop.count == 2)
        #expect(drop.map { $0.labels.count } == [4, 4])

        #expect(DataLoader(ds, batchSize: 5, dropLast: true).count == 2)
        #expect(DataLoader(ds, batchSize: 5).count == 2)
        #expect(DataLoader(ds, batchSize: 11).count == 1)
        #expect(DataLoader(ds, batchSize: 11, dropLast: true).count == 0)
        #expect(Array(DataLoader(ds, batchSize: 11, dropLast: true)).isEmpty)
        #expect(DataLoader(ds, batchSize: 1).map { $0.labels.count } == [Int](repeating: 1, count: 10))
    }

    @Test func loaderSeededShuffle() {
        let ds = indexedDataset(10)
        func epochs(_ seed: UInt64, _ k: Int, dropLast: Bool = false) -> [[Int]] {
            let loader = DataLoader(ds, batchSize: 3, shuffle: true, dropLast: dropLast, generator: Generator(seed: seed))
            return (0..<k).map { _ in loader.flatMap { indices($0) } }
        }
        let a = epochs(7, 3), b = epochs(7, 3)
        #expect(a == b, "same seed, same order")
        #expect(a[0] != a[1] && a[1] != a[2], "each epoch reshuffles: \(a)")
        #expect(a[0] != Array(0..<10))
        #expect(epochs(8, 1)[0] != a[0], "a different seed, a different order")
        for e in a { #expect(e.sorted() == Array(0..<10), "every index exactly once: \(e)") }
        // the order is the generator's permutation
        #expect(a[0] == Generator(seed: 7).permutation(10))
        // drop-last: 3 batches of 3, no index repeated
        for e in epochs(9, 3, dropLast: true) {
            #expect(e.count == 9 && Set(e).count == 9)
        }
        // without shuffle the order is fixed
        let plain = DataLoader(ds, batchSize: 3, generator: Generator(seed: 1))
        #expect(plain.flatMap { indices($0) } == Array(0..<10))
        #expect(plain.flatMap { indices($0) } == Array(0..<10))
    }

    @Test func loaderScalingAndNormalisation() {
        let px: [UInt8] = [0, 1, 127, 128, 254, 255, 30, 60, 90]
        let ds = ImageDataset(name: "s", images: px, labels: [0], height: 3, width: 3, classNames: ["x"])
        let b = DataLoader(ds, batchSize: 1).map { $0 }[0]
        #expect(b.images.shape == [1, 1, 3, 3])
        expectClose(b.images.scalars, px.map { Float($0) / 255 }, tol: 1e-6)
        #expect(b.images.scalars.min() == 0 && b.images.scalars.max() == 1)

        let (mean, std): (Float, Float) = (0.1307, 0.3081)
        let n = DataLoader(ds, batchSize: 1, normalization: (mean: mean, std: std)).map { $0 }[0]
        expectClose(n.images.scalars, px.map { (Float($0) / 255 - mean) / std }, tol: 1e-5)

        // makeBatch directly, arbitrary order with a repeat
        let two = ImageDataset(name: "2", images: px + px.map { 255 - $0 }, labels: [0, 1], height: 3, width: 3, classNames: ["x", "y"])
        let mb = DataLoader(two, batchSize: 2).makeBatch([1, 0, 1])
        #expect(mb.labels == [1, 0, 1])
        expectClose(mb.images.scalars, (px.map { 255 - $0 } + px + px.map { 255 - $0 }).map { Float($0) / 255 }, tol: 1e-6)
    }

    @Test func loaderResize() {
        // constant image stays constant
        let c = ImageDataset(name: "c", images: [UInt8](repeating: 100, count: 28 * 28), labels: [0], height: 28, width: 28, classNames: ["x"])
        let loader = DataLoader(c, batchSize: 1, resize: 56)
        #expect(loader.imageSize == (56, 56))
        let b = loader.map { $0 }[0]
        #expect(b.images.shape == [1, 1, 56, 56])
        #expect(b.images.scalars.allSatisfy { abs($0 - 100 / 255) < 1e-5 })

        // horizontal ramp: rows equal, strictly increasing left to right, ends preserved
        let ramp = ImageDataset(name: "r", images: (0..<(28 * 28)).map { UInt8(($0 % 28) * 9) }, labels: [0], height: 28, width: 28,
                                classNames: ["x"])
        let r = DataLoader(ramp, batchSize: 1, resize: 56).map { $0 }[0].images.scalars
        #expect(r.count == 56 * 56)
        let row0 = Array(r[0..<56])
        for y in 1..<56 { expectClose(Array(r[(y * 56)..<((y + 1) * 56)]), row0, tol: 1e-6) }
        for x in 1..<56 { #expect(row0[x] > row0[x - 1], "column \(x): \(row0[x - 1]) → \(row0[x])") }
        #expect(abs(row0[0]) < 1e-6 && abs(row0[55] - 243 / 255) < 1e-5)
        // half-pixel rule: output column 1 sits at source x = 0.25
        #expect(abs(row0[1] - 0.25 * 9 / 255) < 1e-5)

        // with normalisation after resizing
        let rn = DataLoader(c, batchSize: 1, resize: 56, normalization: (mean: 0.5, std: 0.25)).map { $0 }[0].images.scalars
        #expect(rn.allSatisfy { abs($0 - (100 / 255 - 0.5) / 0.25) < 1e-4 })
    }

    private func resize(_ src: [Float], planes: Int = 1, _ h: Int, _ w: Int, to oh: Int, _ ow: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: planes * oh * ow)
        src.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { d in
                resizeBilinear(s.baseAddress!, planes: planes, height: h, width: w, toHeight: oh, toWidth: ow, into: d.baseAddress!)
            }
        }
        return out
    }

    @Test func resizeBilinearHalfPixel() {
        // torch.nn.functional.interpolate([[0,1],[2,3]], size=4, mode="bilinear", align_corners=False)
        let up = resize([0, 1, 2, 3], 2, 2, to: 4, 4)
        expectClose(up, [0, 0.25, 0.75, 1,
                         0.5, 0.75, 1.25, 1.5,
                         1.5, 1.75, 2.25, 2.5,
                         2, 2.25, 2.75, 3], tol: 1e-6)
        // two planes are resized independently
        let two = resize([0, 1, 2, 3, 10, 10, 10, 10], planes: 2, 2, 2, to: 4, 4)
        expectClose(Array(two[0..<16]), up, tol: 1e-6)
        #expect(two[16...].allSatisfy { abs($0 - 10) < 1e-5 })
        // same size is the identity
        let src: [Float] = (0..<12).map { Float($0 * $0) }
        expectClose(resize(src, 3, 4, to: 3, 4), src, tol: 1e-6)
        // non-square: 1×2 → 2×4
        expectClose(resize([0, 1], 1, 2, to: 2, 4), [0, 0.25, 0.75, 1, 0, 0.25, 0.75, 1], tol: 1e-6)
        // downscaling (antialiased, torchvision antialias=True): a constant stays constant,
        // and [0,1,2,3] → 2 samples gives (0·.75+1·.75+2·.25)/1.75 and its mirror
        #expect(resize([Float](repeating: 0.3, count: 64), 8, 8, to: 3, 3).allSatisfy { abs($0 - 0.3) < 1e-6 })
        expectClose(resize([0, 1, 2, 3], 1, 4, to: 1, 2), [1.25 / 1.75, 4 / 1.75], tol: 1e-5)
    }
}
