import ConvNet
import Foundation
import Testing

/// One fixture of Resources/images (made by Tests/Fixtures/make_images.py) with Pillow's decoding.
struct ImageFixture: CustomStringConvertible {
    let file: String, width: Int, height: Int, kind: String
    var url: URL { resourceURL("images/\(file)") }
    var stem: String { String(file.split(separator: ".")[0]) }
    var isJPEG: Bool { file.hasSuffix(".jpg") }
    var description: String { "\(file) (\(kind))" }

    /// Pillow's bytes for `ext`: "rgb", "l" or "rgba" (nil when the fixture has none).
    func pillow(_ ext: String) throws -> [UInt8]? {
        let u = resourceURL("images/\(stem).\(ext)")
        guard FileManager.default.fileExists(atPath: u.path) else { return nil }
        return [UInt8](try Data(contentsOf: u))
    }

    static let all: [ImageFixture] = {
        let text = (try? String(contentsOf: resourceURL("images/manifest.txt"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map { line in
            let f = line.split(separator: " ").map(String.init)
            return ImageFixture(file: f[0], width: Int(f[1])!, height: Int(f[2])!, kind: f[3])
        }
    }()
}

/// The largest per-sample difference (Int.max when the sizes differ).
func maxByteDiff(_ a: [UInt8], _ b: [UInt8]) -> Int {
    guard a.count == b.count else { return Int.max }
    return zip(a, b).reduce(0) { max($0, abs(Int($1.0) - Int($1.1))) }
}

@Suite struct ImageDecodingTests {
    @Test func manifestCoversTheKinds() {
        let kinds = Set(ImageFixture.all.map(\.kind))
        for k in ["jpeg-baseline-420", "jpeg-baseline-444", "jpeg-progressive-420", "jpeg-gray", "png-rgba-8",
                  "png-palette-4-trns", "png-rgb-8-adam7", "png-rgb-16", "png-gray-16", "png-gray-1"] {
            #expect(kinds.contains(k), "missing fixture kind \(k)")
        }
    }

    /// PNG: exactly Pillow's pixels, as RGB, as L (luma) and with alpha where the file has transparency.
    @Test(arguments: ImageFixture.all.filter { !$0.isJPEG })
    func pngMatchesPillowExactly(_ f: ImageFixture) throws {
        let img = try ImageDecoder.read(f.url)
        #expect(img.width == f.width && img.height == f.height)
        #expect(img.converted(toChannels: 3).pixels == (try f.pillow("rgb")), "RGB")
        #expect(img.converted(toChannels: 1).pixels == (try f.pillow("l")), "L")
        if let rgba = try f.pillow("rgba") {
            // transparency became an alpha channel: grey+alpha (2) or RGBA (4)
            #expect(img.channels == 2 || img.channels == 4)
            let ours: [UInt8] = (0..<(img.width * img.height)).flatMap { i -> [UInt8] in
                let p = Array(img.pixels[(i * img.channels)..<((i + 1) * img.channels)])
                return img.channels == 2 ? [p[0], p[0], p[0], p[1]] : p
            }
            #expect(ours == rgba, "RGBA")
        }
    }

    /// JPEG through libjpeg-turbo: within ±2 per channel of Pillow (IDCT/upsampling may differ by version).
    @Test(.enabled(if: JPEGDecoder.isAvailable, "libjpeg-turbo is not installed (scripts/setup installs it)"),
          arguments: ImageFixture.all.filter(\.isJPEG))
    func jpegMatchesPillowWithinTwo(_ f: ImageFixture) throws {
        let img = try ImageDecoder.read(f.url)
        #expect(img.width == f.width && img.height == f.height)
        #expect(img.channels == (f.kind == "jpeg-gray" ? 1 : 3))
        let rgb = try #require(try f.pillow("rgb")), l = try #require(try f.pillow("l"))
        #expect(maxByteDiff(img.converted(toChannels: 3).pixels, rgb) <= 2)
        #expect(maxByteDiff(img.converted(toChannels: 1).pixels, l) <= 2)
    }

    @Test func lumaIsPillowsFixedPoint() {
        // Pillow: L = (19595 R + 38470 G + 7471 B + 32768) >> 16
        let px: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 255, 255, 255, 1, 1, 1]
        let l = Image8(width: 6, height: 1, channels: 3, pixels: px).converted(toChannels: 1).pixels
        #expect(l == [76, 150, 29, 18, 255, 1])
        // grey → RGB replicates; alpha is dropped, not composited
        let la = Image8(width: 2, height: 1, channels: 2, pixels: [9, 0, 200, 128])
        #expect(la.converted(toChannels: 3).pixels == [9, 9, 9, 200, 200, 200])
        #expect(la.converted(toChannels: 1).pixels == [9, 200])
        let rgba = Image8(width: 1, height: 1, channels: 4, pixels: [10, 20, 30, 0])
        #expect(rgba.converted(toChannels: 3).pixels == [10, 20, 30])
        #expect(rgba.converted(toChannels: 1).pixels == [18])
    }
}

/// Bad files: a typed error naming the file for each, never a trap.
@Suite struct BadImageTests {
    func problem(_ data: Data, maxPixels: Int = ImageLimits.maxPixels) -> ImageDecodingError.Problem? {
        do { _ = try ImageDecoder.decode(data, path: "/x/bad.img", maxPixels: maxPixels); return nil } catch let e as ImageDecodingError {
            #expect(e.path == "/x/bad.img")
            #expect(e.description.hasPrefix("/x/bad.img: "))
            return e.problem
        } catch { Issue.record("expected an ImageDecodingError, got \(error)"); return nil }
    }

    func fixtureBytes(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: resourceURL("images/\(name)"))) }

    @Test func notAnImageAndEmpty() {
        #expect(problem(Data("this is a text file named photo.jpg\n".utf8)) == .notAnImage)
        #expect(problem(Data([0xFF, 0xD9, 0x00])) == .notAnImage)
        if case .truncated = problem(Data()) {} else { Issue.record("an empty file is reported as truncated") }
    }

    @Test func truncatedAndCorruptPNG() throws {
        let png = try fixtureBytes("chelsea_interlaced.png")
        for cut in [9, 20, 40, png.count / 2, png.count - 13] {
            guard case .truncated = problem(Data(png.prefix(cut))) else { Issue.record("cut at \(cut) not truncated"); continue }
        }
        var flipped = png
        flipped[png.count / 2] ^= 0x55
        guard case .corrupt(let why) = problem(Data(flipped)) else { Issue.record("flipped byte not corrupt"); return }
        #expect(why.contains("CRC"))
    }

    @Test(.enabled(if: JPEGDecoder.isAvailable, "libjpeg-turbo is not installed"))
    func truncatedAndCorruptJPEG() throws {
        let jpg = try fixtureBytes("astronaut_420.jpg")
        for cut in [4, 100, jpg.count / 2, jpg.count - 2] {
            guard case .truncated = problem(Data(jpg.prefix(cut))) else { Issue.record("cut at \(cut): \(String(describing: problem(Data(jpg.prefix(cut)))))"); continue }
        }
        // SOI and then noise
        let noise = [0xFF, 0xD8, 0xFF] + (0..<500).map { UInt8(truncatingIfNeeded: $0 &* 73 &+ 11) }
        guard case .corrupt = problem(Data(noise)) else { Issue.record("noise after SOI: \(String(describing: problem(Data(noise))))"); return }
    }

    @Test func pixelLimitRefusesBeforeAllocating() throws {
        // a 40 000 × 40 000 PNG header (1.6 G pixels: 4.8 GB if allocated) in a 57-byte file
        let png = try fixtureBytes("camera_gray1.png")
        var big = Array(png.prefix(33))
        big.replaceSubrange(16..<24, with: [0, 0, 0x9C, 0x40, 0, 0, 0x9C, 0x40])
        let crc = Zlib.crc32(Data(big[12..<29]))
        big.replaceSubrange(29..<33, with: [UInt8(crc >> 24), UInt8((crc >> 16) & 0xFF), UInt8((crc >> 8) & 0xFF), UInt8(crc & 0xFF)])
        #expect(problem(Data(big)) == .tooLarge(width: 40_000, height: 40_000, limit: ImageLimits.defaultMaxPixels))
        // a configurable limit: the 27×21 file is refused under 500 pixels, accepted at 567
        #expect(problem(Data(png), maxPixels: 500) == .tooLarge(width: 27, height: 21, limit: 500))
        #expect(problem(Data(png), maxPixels: 567) == nil)
    }

    @Test(.enabled(if: JPEGDecoder.isAvailable, "libjpeg-turbo is not installed"))
    func jpegPixelLimit() throws {
        var jpg = try fixtureBytes("coffee_444.jpg")
        #expect(problem(Data(jpg), maxPixels: 80 * 60 - 1) == .tooLarge(width: 80, height: 60, limit: 4799))
        // the SOF0 frame header says 60 000 × 60 000
        let sof = try #require((0..<(jpg.count - 1)).first { jpg[$0] == 0xFF && jpg[$0 + 1] == 0xC0 })
        jpg.replaceSubrange((sof + 5)..<(sof + 9), with: [0xEA, 0x60, 0xEA, 0x60])
        #expect(problem(Data(jpg)) == .tooLarge(width: 60_000, height: 60_000, limit: ImageLimits.defaultMaxPixels))
    }

    @Test func unreadableFiles() throws {
        let dir = tempDir()
        let folder = dir.appendingPathComponent("folder.jpg")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for url in [folder, dir.appendingPathComponent("missing.png")] {
            do { _ = try ImageDecoder.read(url); Issue.record("\(url.path) decoded") } catch let e as ImageDecodingError {
                #expect(e.path == url.path)
                guard case .unreadable = e.problem else { Issue.record("\(e)"); continue }
            }
        }
    }
}
