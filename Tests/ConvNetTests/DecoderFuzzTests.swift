import ConvNet
import Foundation
import Testing

/// The process's resident-memory peak in bytes since `resetPeak` (Linux), or nil.
private func peakResidentBytes() -> Int? {
    guard let h = FileHandle(forReadingAtPath: "/proc/self/status"), let d = try? h.readToEnd(),
          let s = String(data: d, encoding: .utf8) else { return nil }
    try? h.close()
    let line = s.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }
    return line.flatMap { $0.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) } }.map { $0 * 1024 }
}

private func resetPeak() {
    guard let h = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return }
    h.write(Data("5".utf8))
    try? h.close()
}

/// Rewrites every complete chunk's CRC so that a mutation gets past the CRC check into the decoder.
func fixPNGChecksums(_ b: inout [UInt8]) {
    var pos = 8
    while pos + 12 <= b.count {
        let len = Int(b[pos]) << 24 | Int(b[pos + 1]) << 16 | Int(b[pos + 2]) << 8 | Int(b[pos + 3])
        guard len <= b.count - pos - 12 else { return }
        let crc = Zlib.crc32(Data(b[(pos + 4)..<(pos + 8 + len)]))
        b.replaceSubrange((pos + 8 + len)..<(pos + 12 + len), with: [UInt8(crc >> 24), UInt8((crc >> 16) & 0xFF), UInt8((crc >> 8) & 0xFF), UInt8(crc & 0xFF)])
        pos += 12 + len
    }
}

/// One to six random edits: flipped bits, overwritten bytes (often header fields), a cut, a
/// repeated or deleted span, inserted noise.
func mutate(_ input: [UInt8], _ rng: Generator) -> [UInt8] {
    var b = input
    for _ in 0...rng.nextInt(below: 6) where !b.isEmpty {
        let i = rng.nextInt(below: b.count)
        switch rng.nextInt(below: 7) {
        case 0: b[i] ^= UInt8(1 << rng.nextInt(below: 8))
        case 1: b[i] = [0, 0xFF, 0x7F, 0x80, 1][rng.nextInt(below: 5)]
        case 2: let h = rng.nextInt(below: Swift.min(b.count, 40)); b[h] = UInt8(truncatingIfNeeded: rng.next()) // headers
        case 3: b.removeLast(rng.nextInt(below: b.count))
        case 4: let n = Swift.min(rng.nextInt(below: 64) + 1, b.count - i); b.insert(contentsOf: b[i..<(i + n)], at: i)
        case 5: b.removeSubrange(i..<Swift.min(b.count, i + rng.nextInt(below: 32) + 1))
        default: b.insert(contentsOf: (0..<rng.nextInt(below: 16)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: i)
        }
    }
    return b
}

/// A structure-aware PNG mutation: header fields (size, bit depth, colour type, interlacing),
/// PLTE/tRNS lengths and the *inflated* scanlines (filter bytes, samples, length) are edited and
/// the file is rebuilt with valid zlib data and CRCs, so the edits reach unfiltering and sample
/// expansion rather than stopping at a checksum.
func mutateStructure(_ png: [UInt8], _ rng: Generator) throws -> [UInt8] {
    var chunks: [(String, [UInt8])] = []
    var pos = 8
    while pos + 12 <= png.count {
        let len = Int(png[pos]) << 24 | Int(png[pos + 1]) << 16 | Int(png[pos + 2]) << 8 | Int(png[pos + 3])
        chunks.append((String(decoding: png[(pos + 4)..<(pos + 8)], as: UTF8.self), Array(png[(pos + 8)..<(pos + 8 + len)])))
        pos += 12 + len
    }
    var raw = [UInt8](try Zlib.inflate(Data(chunks.filter { $0.0 == "IDAT" }.flatMap(\.1))))
    var ihdr = chunks[0].1
    switch rng.nextInt(below: 4) {
    case 0: ihdr[8] = [1, 2, 4, 8, 16, 3][rng.nextInt(below: 6)]; ihdr[9] = [0, 2, 3, 4, 6, 5][rng.nextInt(below: 6)]
    case 1: ihdr[12] ^= 1
    case 2: ihdr[7] = UInt8(truncatingIfNeeded: Int(ihdr[7]) + rng.nextInt(below: 9) - 4); ihdr[3] = UInt8(truncatingIfNeeded: Int(ihdr[3]) + rng.nextInt(below: 9) - 4)
    default: break
    }
    for _ in 0..<rng.nextInt(below: 4) where !raw.isEmpty {
        let i = rng.nextInt(below: raw.count)
        switch rng.nextInt(below: 4) {
        case 0: raw[i] = UInt8(rng.nextInt(below: 7)) // often a filter byte out of range
        case 1: raw[i] = UInt8(truncatingIfNeeded: rng.next())
        case 2: raw.removeLast(rng.nextInt(below: Swift.min(raw.count, 64)))
        default: raw += (0..<rng.nextInt(below: 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        }
    }
    var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    func chunk(_ t: String, _ body: [UInt8]) {
        out += [UInt8(body.count >> 24 & 0xFF), UInt8(body.count >> 16 & 0xFF), UInt8(body.count >> 8 & 0xFF), UInt8(body.count & 0xFF)]
        out += Array(t.utf8) + body + [0, 0, 0, 0]
    }
    chunk("IHDR", ihdr)
    for (t, body) in chunks where t == "PLTE" || t == "tRNS" {
        if rng.nextInt(below: 5) == 0 { continue } // dropped
        chunk(t, rng.nextInt(below: 4) == 0 ? Array(body.prefix(rng.nextInt(below: body.count + 1))) : body)
    }
    if rng.nextInt(below: 8) == 0 { chunk("tRNS", (0..<rng.nextInt(below: 8)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }) }
    chunk("IDAT", [UInt8](try Zlib.deflate(Data(raw))))
    chunk("IEND", [])
    fixPNGChecksums(&out)
    return out
}

/// Thousands of mutated PNG and JPEG files through the decoders: each decodes or throws an
/// ImageDecodingError naming the file; none traps; memory stays bounded (the pixel limit caps
/// what a header can ask for, and the PNG inflater grows only with the data).
@Suite struct DecoderFuzzTests {
    func run(_ kind: String, count: Int, fixCRC: Bool) throws -> (decoded: Int, failures: [String: Int]) {
        let seeds = try FileManager.default.contentsOfDirectory(atPath: resourceURL("images").path).filter { $0.hasSuffix(kind) }.sorted()
            .map { [UInt8](try Data(contentsOf: resourceURL("images/\($0)"))) }
        #expect(seeds.count >= 5)
        let rng = Generator(seed: 2024)
        var decoded = 0, failures: [String: Int] = [:]
        for n in 0..<count {
            var b: [UInt8]
            if fixCRC && n % 2 == 0 { b = try mutateStructure(seeds[n % seeds.count], rng) } else {
                b = mutate(seeds[n % seeds.count], rng)
                if fixCRC { fixPNGChecksums(&b) }
            }
            do {
                let img = try ImageDecoder.decode(Data(b), path: "fuzz-\(n)", maxPixels: 1 << 22)
                #expect(img.pixels.count == img.width * img.height * img.channels)
                decoded += 1
            } catch let e as ImageDecodingError {
                #expect(e.path == "fuzz-\(n)")
                let key = "\(e.problem)".prefix(while: { $0 != "(" })
                failures[String(key), default: 0] += 1
            }
        }
        return (decoded, failures)
    }

    @Test func mutatedPNGs() throws {
        resetPeak()
        let before = peakResidentBytes()
        let r = try run(".png", count: 3000, fixCRC: true)
        // the mutations reach past the checksums: some files still decode, others fail inside
        #expect(r.decoded > 300 && (r.failures["corrupt"] ?? 0) > 300 && (r.failures["truncated"] ?? 0) > 100, "\(r)")
        if let before, let after = peakResidentBytes() { #expect(after - before < 300 << 20, "peak grew by \((after - before) >> 20) MB") }
    }

    @Test(.enabled(if: JPEGDecoder.isAvailable, "libjpeg-turbo is not installed"))
    func mutatedJPEGs() throws {
        resetPeak()
        let before = peakResidentBytes()
        let r = try run(".jpg", count: 3000, fixCRC: false)
        #expect(r.decoded > 100 && (r.failures["corrupt"] ?? 0) > 100, "\(r)")
        if let before, let after = peakResidentBytes() { #expect(after - before < 300 << 20, "peak grew by \((after - before) >> 20) MB") }
    }
}
