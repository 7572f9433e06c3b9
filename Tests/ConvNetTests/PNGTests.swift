import ConvNet
import Foundation
import Testing

private func pngTempDir() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("convnet-png-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Deterministic bytes that exercise the full 0…255 range (so filters wrap around).
private func testPixels(_ n: Int, seed: UInt32) -> [UInt8] {
    var s = seed
    return (0..<n).map { _ in s = s &* 1_664_525 &+ 1_013_904_223; return UInt8(truncatingIfNeeded: s >> 24) }
}

private func u32be(_ v: Int) -> [UInt8] {
    [UInt8(truncatingIfNeeded: v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)]
}

private func readBE32(_ b: [UInt8], _ o: Int) -> Int { Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3]) }

/// One PNG chunk: length, type, body, CRC-32 over type and body.
private func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
    let typed = Array(type.utf8) + body
    return u32be(body.count) + typed + u32be(Int(Zlib.crc32(Data(typed))))
}

private let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

private func ihdr(width: Int, height: Int, colorType: UInt8, bitDepth: UInt8 = 8, interlace: UInt8 = 0) -> [UInt8] {
    chunk("IHDR", u32be(width) + u32be(height) + [bitDepth, colorType, 0, 0, interlace])
}

/// The chunks of a PNG file: (type, body), checking structure as it goes.
private func chunks(_ png: Data) -> [(String, [UInt8])] {
    let b = [UInt8](png)
    var out: [(String, [UInt8])] = []
    var pos = 8
    while pos + 12 <= b.count {
        let len = readBE32(b, pos)
        guard pos + 12 + len <= b.count else { break }
        out.append((String(decoding: b[(pos + 4)..<(pos + 8)], as: UTF8.self), Array(b[(pos + 8)..<(pos + 8 + len)])))
        pos += 12 + len
    }
    #expect(pos == b.count, "chunks end exactly at the end of the file")
    return out
}

/// The PNG predictor for filter `f` (spec §9), from left `a`, up `b`, upper-left `c`.
private func predictor(_ f: UInt8, _ a: Int, _ b: Int, _ c: Int) -> Int {
    switch f {
    case 0: return 0
    case 1: return a
    case 2: return b
    case 3: return (a + b) >> 1
    default:
        let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
        if pa <= pb && pa <= pc { return a }
        return pb <= pc ? b : c
    }
}

/// Filters `pixels` row by row with the given filter types (one per row), as a PNG encoder would.
private func filtered(_ pixels: [UInt8], width: Int, height: Int, bpp: Int, filters: [UInt8]) -> [UInt8] {
    let stride = width * bpp
    var out: [UInt8] = []
    for y in 0..<height {
        out.append(filters[y])
        for x in 0..<stride {
            let a = x >= bpp ? Int(pixels[y * stride + x - bpp]) : 0
            let b = y > 0 ? Int(pixels[(y - 1) * stride + x]) : 0
            let c = (x >= bpp && y > 0) ? Int(pixels[(y - 1) * stride + x - bpp]) : 0
            out.append(UInt8(truncatingIfNeeded: Int(pixels[y * stride + x]) - predictor(filters[y], a, b, c)))
        }
    }
    return out
}

/// A PNG assembled by hand from filtered rows (IDAT optionally split in pieces, an ancillary chunk added).
private func handmadePNG(width: Int, height: Int, colorType: UInt8, raw: [UInt8], idatPieces: Int = 1) throws -> Data {
    let z = [UInt8](try Zlib.deflate(Data(raw)))
    var file = pngSignature + ihdr(width: width, height: height, colorType: colorType)
    file += chunk("tEXt", Array("Comment\0made by hand".utf8))
    let step = (z.count + idatPieces - 1) / idatPieces
    for start in Swift.stride(from: 0, to: z.count, by: step) { file += chunk("IDAT", Array(z[start..<min(start + step, z.count)])) }
    file += chunk("IEND", [])
    return Data(file)
}

/// python3 on PATH, if any.
private let python3Path: String? = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":").map { "\($0)/python3" }.first { FileManager.default.isExecutableFile(atPath: $0) }
}()

/// An independent PNG reader in Python's standard library: checks the signature and every CRC,
/// inflates IDAT, undoes the filters and prints "width height colortype" and the pixel bytes in hex.
private let pythonPNGReader = #"""
import struct, sys, zlib
d = open(sys.argv[1], 'rb').read()
assert d[:8] == b'\x89PNG\r\n\x1a\n', 'signature'
pos, idat, hdr, types = 8, b'', None, []
while pos < len(d):
    n, = struct.unpack('>I', d[pos:pos + 4]); t = d[pos + 4:pos + 8]; body = d[pos + 8:pos + 8 + n]
    crc, = struct.unpack('>I', d[pos + 8 + n:pos + 12 + n])
    assert zlib.crc32(t + body) & 0xffffffff == crc, 'crc of ' + t.decode()
    types.append(t.decode())
    if t == b'IHDR': hdr = struct.unpack('>IIBBBBB', body)
    if t == b'IDAT': idat += body
    pos += 12 + n
assert types[0] == 'IHDR' and types[-1] == 'IEND', types
w, h, depth, ct, comp, filt, inter = hdr
assert depth == 8 and comp == 0 and filt == 0 and inter == 0, hdr
bpp = {0: 1, 2: 3, 4: 2, 6: 4}[ct]
raw = zlib.decompress(idat); stride = w * bpp
assert len(raw) == (stride + 1) * h, (len(raw), stride, h)
px = bytearray(); prev = bytearray(stride)
for y in range(h):
    f = raw[y * (stride + 1)]; row = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for x in range(stride):
        a = row[x - bpp] if x >= bpp else 0; b = prev[x]; c = prev[x - bpp] if x >= bpp else 0
        if f == 0: p = 0
        elif f == 1: p = a
        elif f == 2: p = b
        elif f == 3: p = (a + b) // 2
        else:
            q = a + b - c; pa, pb, pc = abs(q - a), abs(q - b), abs(q - c)
            p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
        row[x] = (row[x] + p) & 255
    px += row; prev = row
print(w, h, ct)
print(px.hex())
"""#

/// Runs the Python reader on `png`; nil when python3 is not available.
private func pythonDecode(_ png: Data) throws -> (header: String, hex: String)? {
    guard let python = python3Path else { return nil }
    let dir = try pngTempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    let file = dir.appendingPathComponent("image.png")
    try png.write(to: file)
    let r = try Subprocess.run(python, ["-c", pythonPNGReader, file.path])
    let text = r.stdout, errText = r.stderr
    #expect(r.status == 0, "python PNG reader failed: \(errText)")
    let lines = text.split(separator: "\n").map(String.init)
    guard lines.count == 2 else { Issue.record("python printed: \(text) \(errText)"); return nil }
    return (lines[0], lines[1])
}

private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

private func decodeError(_ what: String, _ data: Data, sourceLocation: SourceLocation = #_sourceLocation) -> DataError? {
    do {
        _ = try PNG.decode(data, path: "/tmp/x.png")
        Issue.record("\(what): decoding succeeded, expected a DataError", sourceLocation: sourceLocation)
    } catch let e as DataError {
        #expect(e.path == "/tmp/x.png", sourceLocation: sourceLocation)
        return e
    } catch {
        Issue.record("\(what): expected a DataError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

@Suite struct PNGTests {
    static let images: [Image8] = [
        Image8(width: 7, height: 5, channels: 1, pixels: testPixels(35, seed: 1)),
        Image8(width: 4, height: 3, channels: 3, pixels: testPixels(36, seed: 2)),
        Image8(width: 3, height: 6, channels: 4, pixels: testPixels(72, seed: 3)),
        Image8(width: 1, height: 1, channels: 1, pixels: [200]),
        Image8(width: 300, height: 2, channels: 3, pixels: testPixels(1800, seed: 4)),
    ]

    @Test func roundTripAndHeader() throws {
        for img in Self.images {
            let png = try PNG.encode(img)
            let b = [UInt8](png)
            #expect(Array(b[0..<8]) == pngSignature)
            // IHDR comes first: length 13, then width, height, depth 8, colour type, compression, filter, interlace 0
            #expect(readBE32(b, 8) == 13)
            #expect(String(decoding: b[12..<16], as: UTF8.self) == "IHDR")
            #expect(readBE32(b, 16) == img.width && readBE32(b, 20) == img.height)
            let colorType: UInt8 = [1: 0, 3: 2, 4: 6][img.channels]!
            #expect(Array(b[24..<29]) == [8, colorType, 0, 0, 0])
            #expect(UInt32(readBE32(b, 29)) == Zlib.crc32(Data(b[12..<29])))
            let types = chunks(png).map(\.0)
            #expect(types.first == "IHDR" && types.last == "IEND" && types.contains("IDAT"), "\(types)")
            #expect(Array(b.suffix(12)) == [0, 0, 0, 0, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82])

            let back = try PNG.decode(png)
            #expect(back == img, "\(img.width)×\(img.height)×\(img.channels)")
        }
    }

    @Test func independentPythonDecoder() throws {
        guard python3Path != nil else { return } // python3 not on PATH: nothing independent to compare with
        for img in Self.images.prefix(3) {
            let png = try PNG.encode(img)
            guard let (header, pixels) = try pythonDecode(png) else { continue }
            let ct = [1: 0, 3: 2, 4: 6][img.channels]!
            #expect(header == "\(img.width) \(img.height) \(ct)")
            #expect(pixels == hex(img.pixels), "\(img.channels) channels")
        }
        // and the hand-filtered file below, to validate the test's own filter code
        let (png, expected) = try filteredRGB(shift: 1)
        if let (header, pixels) = try pythonDecode(png) {
            #expect(header == "5 6 2")
            #expect(pixels == hex(expected.pixels))
        }
    }

    @Test func writeAndReadFile() throws {
        let dir = try pngTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("a.png")
        try PNG.write(Self.images[1], to: url)
        #expect(try PNG.read(from: url) == Self.images[1])
        #expect(try Data(contentsOf: url) == PNG.encode(Self.images[1]))
        let missing = dir.appendingPathComponent("missing.png")
        do {
            _ = try PNG.read(from: missing)
            Issue.record("reading a missing file succeeded")
        } catch let e as DataError {
            #expect(e.path == missing.path)
        }
        #expect(throws: DataError.self) { try PNG.encode(Image8(width: 2, height: 1, channels: 2, pixels: [1, 2, 3, 4])) }
    }

    @Test func corruptFilesThrow() throws {
        let png = [UInt8](try PNG.encode(Self.images[2]))
        let n = png.count

        // CRC of IHDR damaged
        var badCRC = png
        badCRC[29] ^= 0x01
        #expect(decodeError("IHDR crc", Data(badCRC))?.reason.contains("CRC") == true)
        // a byte of IDAT data damaged (CRC no longer matches)
        var badData = png
        badData[41 + 3] ^= 0x40
        #expect(decodeError("IDAT byte", Data(badData))?.reason.contains("CRC") == true)
        // IEND's CRC damaged
        var badEnd = png
        badEnd[n - 1] ^= 0xFF
        #expect(decodeError("IEND crc", Data(badEnd))?.reason.contains("CRC") == true)

        // truncated inside the IDAT chunk
        let cut = decodeError("truncated", Data(png.prefix(n - 20)))
        #expect(cut?.reason.contains("past the end") == true, "\(cut?.reason ?? "nil")")
        // truncated inside IHDR
        #expect(decodeError("truncated IHDR", Data(png.prefix(20))) != nil)
        // only the signature / not a PNG
        #expect(decodeError("signature only", Data(pngSignature)) != nil)
        #expect(decodeError("empty", Data()) != nil)
        var sig = png
        sig[1] = UInt8(ascii: "Q")
        #expect(decodeError("bad signature", Data(sig))?.reason.contains("signature") == true)
        // a chunk length pointing far beyond the file
        var longLen = png
        longLen[33] = 0x7F
        #expect(decodeError("huge length", Data(longLen)) != nil)

        // valid CRCs but damaged zlib data inside IDAT
        let raw = filtered(testPixels(12, seed: 9), width: 4, height: 3, bpp: 1, filters: [0, 0, 0])
        var z = [UInt8](try Zlib.deflate(Data(raw)))
        z[z.count - 2] ^= 0xFF // Adler-32 trailer
        let badZ = Data(pngSignature + ihdr(width: 4, height: 3, colorType: 0) + chunk("IDAT", z) + chunk("IEND", []))
        #expect(decodeError("adler", badZ)?.reason.contains("damaged") == true)
        // too little image data for the declared size
        let short = Data(pngSignature + ihdr(width: 4, height: 4, colorType: 0) + chunk("IDAT", [UInt8](try Zlib.deflate(Data(raw))))
            + chunk("IEND", []))
        #expect(decodeError("short", short) != nil)
        // unknown filter type
        var badFilter = raw
        badFilter[5] = 5
        let bf = Data(pngSignature + ihdr(width: 4, height: 3, colorType: 0) + chunk("IDAT", [UInt8](try Zlib.deflate(Data(badFilter))))
            + chunk("IEND", []))
        #expect(decodeError("filter 5", bf)?.reason.contains("filter") == true)
        // no IHDR at all
        #expect(decodeError("no IHDR", Data(pngSignature + chunk("IEND", []))) != nil)
        // formats that are valid but wrong here: 16-bit data too short for its rows, palette without PLTE,
        // an interlace method that does not exist
        for (h, what) in [(ihdr(width: 4, height: 3, colorType: 0, bitDepth: 16), "16-bit"),
                          (ihdr(width: 4, height: 3, colorType: 3), "palette"),
                          (ihdr(width: 4, height: 3, colorType: 0, interlace: 2), "interlace method 2")] {
            let d = Data(pngSignature + h + chunk("IDAT", [UInt8](try Zlib.deflate(Data(raw)))) + chunk("IEND", []))
            #expect(decodeError(what, d) != nil)
        }
        // zero width
        #expect(decodeError("zero width", Data(pngSignature + ihdr(width: 0, height: 3, colorType: 0) + chunk("IEND", []))) != nil)
    }

    /// An IHDR declaring 0xFFFFFFFF × 0xFFFFFFFF must be rejected with a DataError (the PNG spec caps both at
    /// 2^31 − 1), not trap on `width * height` overflowing. Run in a child process because the failure is a trap.
    @Test func hugeDimensionsDoNotCrash() async {
        await #expect(processExitsWith: .success, "PNG.decode traps on an IHDR of 0xFFFFFFFF×0xFFFFFFFF") {
            let body: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 8, 0, 0, 0, 0]
            let typed = Array("IHDR".utf8) + body
            let crc = Zlib.crc32(Data(typed))
            var file: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + typed
            file += [UInt8(crc >> 24), UInt8((crc >> 16) & 0xFF), UInt8((crc >> 8) & 0xFF), UInt8(crc & 0xFF)]
            file += [0, 0, 0, 0] + Array("IEND".utf8) + [0xAE, 0x42, 0x60, 0x82]
            do {
                _ = try PNG.decode(Data(file))
                exit(2)
            } catch is DataError {
                exit(0)
            } catch {
                exit(3)
            }
        }
    }

    /// A 5×6 RGB image whose rows use filters (shift + y) % 5.
    private func filteredRGB(shift: Int) throws -> (Data, Image8) {
        let (w, h) = (5, 6)
        let px = testPixels(w * h * 3, seed: UInt32(100 + shift))
        let filters = (0..<h).map { UInt8((shift + $0) % 5) }
        let raw = filtered(px, width: w, height: h, bpp: 3, filters: filters)
        return (try handmadePNG(width: w, height: h, colorType: 2, raw: raw, idatPieces: 3), Image8(width: w, height: h, channels: 3, pixels: px))
    }

    @Test func decodesAllFilterTypes() throws {
        // every filter appears on the first row (no row above) and on later rows
        for shift in 0..<5 {
            let (png, expected) = try filteredRGB(shift: shift)
            #expect(try PNG.decode(png) == expected, "shift \(shift)")
        }
        // grayscale (bpp 1) and RGBA (bpp 4), all filters, including the wrap-around extremes
        for (channels, ct) in [(1, UInt8(0)), (4, UInt8(6))] {
            let (w, h) = (6, 10)
            var px = testPixels(w * h * channels, seed: UInt32(channels))
            for i in Swift.stride(from: 0, to: px.count, by: 7) { px[i] = i % 2 == 0 ? 255 : 0 }
            let filters: [UInt8] = [4, 3, 1, 2, 4, 4, 3, 3, 0, 1]
            let png = try handmadePNG(width: w, height: h, colorType: ct, raw: filtered(px, width: w, height: h, bpp: channels, filters: filters))
            #expect(try PNG.decode(png) == Image8(width: w, height: h, channels: channels, pixels: px), "\(channels) channels")
        }
        // gray + alpha (colour type 4) decodes to gray, dropping alpha
        let ga = testPixels(4 * 3 * 2, seed: 77)
        let gaPNG = try handmadePNG(width: 4, height: 3, colorType: 4, raw: filtered(ga, width: 4, height: 3, bpp: 2, filters: [1, 4, 3]))
        let gray = Swift.stride(from: 0, to: ga.count, by: 2).map { ga[$0] }
        #expect(try PNG.decode(gaPNG) == Image8(width: 4, height: 3, channels: 1, pixels: gray))
    }

    @Test func grayscaleWeights() {
        let rgb = Image8(width: 5, height: 1, channels: 3, pixels: [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 255, 255, 255])
        expectClose(rgb.grayscale, [0.299, 0.587, 0.114, (0.299 * 10 + 0.587 * 20 + 0.114 * 30) / 255, 1], tol: 1e-5)
        let rgba = Image8(width: 2, height: 1, channels: 4, pixels: [255, 0, 0, 7, 0, 0, 255, 200])
        expectClose(rgba.grayscale, [0.299, 0.114], tol: 1e-5)
        let gray = Image8(width: 3, height: 1, channels: 1, pixels: [0, 51, 255])
        expectClose(gray.grayscale, [0, 0.2, 1], tol: 1e-6)
        #expect(Image8(width: 2, height: 3, channels: 3, pixels: testPixels(18, seed: 5)).grayscale.count == 6)
    }

    @Test func gridLayout() throws {
        // 5 tiles of 3×2 in 3 columns, scaled ×2: 2 rows; each tile 6×4 with a 1-pixel border
        let tiles: [[Float]] = (0..<5).map { k in (0..<6).map { Float(k * 6 + $0) / 29 } }
        let g = Image8.grid(tiles: tiles, tileWidth: 3, tileHeight: 2, columns: 3, scale: 2)
        #expect(g.channels == 1)
        #expect(g.width == 3 * (6 + 1) + 1 && g.height == 2 * (4 + 1) + 1)
        func at(_ x: Int, _ y: Int) -> UInt8 { g.pixels[y * g.width + x] }
        // borders and the empty sixth slot are the background (64)
        #expect((0..<g.width).allSatisfy { at($0, 0) == 64 && at($0, 5) == 64 && at($0, g.height - 1) == 64 })
        #expect((0..<g.height).allSatisfy { at(0, $0) == 64 && at(7, $0) == 64 && at(g.width - 1, $0) == 64 })
        #expect((15..<21).allSatisfy { x in (6..<10).allSatisfy { at(x, $0) == 64 } })
        // tile k, source pixel (sx, sy) appears as a 2×2 block
        for k in 0..<5 {
            let ox = 1 + (k % 3) * 7, oy = 1 + (k / 3) * 5
            for sy in 0..<2 { for sx in 0..<3 {
                let v = UInt8((tiles[k][sy * 3 + sx] * 255).rounded())
                for dy in 0..<2 { for dx in 0..<2 {
                    #expect(at(ox + 2 * sx + dx, oy + 2 * sy + dy) == v, "tile \(k) (\(sx), \(sy))")
                } }
            } }
        }
        // values are clamped to 0…255, and scale 1 gives a tight layout
        let c = Image8.grid(tiles: [[-1, 2], [0.5, 0]], tileWidth: 2, tileHeight: 1, columns: 1)
        #expect(c.width == 4 && c.height == 5)
        #expect(c.pixels[1 * 4 + 1] == 0 && c.pixels[1 * 4 + 2] == 255 && c.pixels[3 * 4 + 1] == 128)
        // and the grid encodes as a PNG
        #expect(try PNG.decode(PNG.encode(g)) == g)
    }
}
