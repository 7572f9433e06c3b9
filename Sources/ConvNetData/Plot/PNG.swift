import ConvNetCore
import Foundation

/// An 8-bit image: grayscale (1 channel), RGB (3) or RGBA (4), row-major.
public struct Image8: Sendable, Equatable {
    /// The size in pixels and the channels per pixel (1, 3 or 4).
    public let width: Int, height: Int, channels: Int
    /// The samples, row-major, `channels` per pixel.
    public var pixels: [UInt8]
    /// An image; `pixels` must hold `width`×`height`×`channels` bytes.
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        checkArgument(pixels.count == width * height * channels, "pixel buffer does not match \(width)×\(height)×\(channels)")
        self.width = width; self.height = height; self.channels = channels; self.pixels = pixels
    }
}

/// PNG encoding and decoding (non-interlaced, 8-bit gray/RGB/RGBA/palette-free), written here on zlib.
public enum PNG {
    private static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Encodes `image` as PNG bytes.
    public static func encode(_ image: Image8) throws -> Data {
        let colorType: UInt8
        switch image.channels { case 1: colorType = 0; case 3: colorType = 2; case 4: colorType = 6
        default: throw DataError(path: "<png>", reason: "cannot encode \(image.channels) channels") }
        var raw = Data(capacity: (image.width * image.channels + 1) * image.height)
        let stride = image.width * image.channels
        for y in 0..<image.height {
            raw.append(0) // filter: none
            raw.append(contentsOf: image.pixels[(y * stride)..<((y + 1) * stride)])
        }
        var out = Data(signature)
        func chunk(_ type: String, _ body: Data) {
            var len = UInt32(body.count).bigEndian
            out.append(Data(bytes: &len, count: 4))
            let typed = Data(type.utf8) + body
            out.append(typed)
            var crc = Zlib.crc32(typed).bigEndian
            out.append(Data(bytes: &crc, count: 4))
        }
        var ihdr = Data()
        for v in [UInt32(image.width), UInt32(image.height)] { var b = v.bigEndian; ihdr.append(Data(bytes: &b, count: 4)) }
        ihdr.append(contentsOf: [8, colorType, 0, 0, 0])
        chunk("IHDR", ihdr)
        chunk("IDAT", try Zlib.deflate(raw))
        chunk("IEND", Data())
        return out
    }

    /// Writes `image` as a PNG file (atomically).
    public static func write(_ image: Image8, to url: URL) throws {
        try AtomicFile.write(try encode(image), to: url)
    }

    /// Decodes an 8-bit, non-interlaced PNG (any filter), checking chunk CRCs.
    public static func decode(_ data: Data, path: String = "<png>") throws -> Image8 {
        func fail(_ r: String) -> DataError { DataError(path: path, reason: r) }
        let b = [UInt8](data)
        guard b.count >= 8, Array(b[0..<8]) == signature else { throw fail("not a PNG file (bad signature)") }
        var pos = 8
        var width = 0, height = 0, channels = 0, idat = Data(), sawIHDR = false
        func be32(_ o: Int) -> Int { Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3]) }
        while pos + 8 <= b.count {
            let len = be32(pos)
            guard len >= 0, pos + 12 + len <= b.count else { throw fail("chunk at byte \(pos) runs past the end of the file") }
            let type = String(decoding: b[(pos + 4)..<(pos + 8)], as: UTF8.self)
            let body = Data(b[(pos + 8)..<(pos + 8 + len)])
            let crc = UInt32(be32(pos + 8 + len))
            guard Zlib.crc32(Data(b[(pos + 4)..<(pos + 8 + len)])) == crc else { throw fail("CRC mismatch in \(type) chunk") }
            switch type {
            case "IHDR":
                guard len == 13 else { throw fail("IHDR has length \(len)") }
                let h = [UInt8](body)
                width = Int(h[0]) << 24 | Int(h[1]) << 16 | Int(h[2]) << 8 | Int(h[3])
                height = Int(h[4]) << 24 | Int(h[5]) << 16 | Int(h[6]) << 8 | Int(h[7])
                guard h[8] == 8 else { throw fail("bit depth \(h[8]) is not supported (only 8)") }
                guard h[12] == 0 else { throw fail("interlaced PNGs are not supported") }
                switch h[9] { case 0: channels = 1; case 2: channels = 3; case 4: channels = 2; case 6: channels = 4
                default: throw fail("colour type \(h[9]) is not supported") }
                guard width > 0, height > 0, width <= 1 << 28, height <= (1 << 28) / width else {
                    throw fail("invalid size \(width)×\(height)")
                }
                sawIHDR = true
            case "IDAT": idat.append(body)
            case "IEND": pos = b.count; continue
            default: break
            }
            pos += 12 + len
        }
        guard sawIHDR else { throw fail("missing IHDR chunk") }
        let raw: [UInt8]
        do { raw = [UInt8](try Zlib.inflate(idat)) } catch { throw fail("image data is damaged: \(error)") }
        let stride = width * channels
        guard raw.count >= (stride + 1) * height else { throw fail("image data is shorter than \(width)×\(height)") }
        var px = [UInt8](repeating: 0, count: stride * height)
        for y in 0..<height {
            let f = raw[y * (stride + 1)]
            let src = y * (stride + 1) + 1
            for x in 0..<stride {
                let a = x >= channels ? Int(px[y * stride + x - channels]) : 0
                let up = y > 0 ? Int(px[(y - 1) * stride + x]) : 0
                let c = (x >= channels && y > 0) ? Int(px[(y - 1) * stride + x - channels]) : 0
                let v = Int(raw[src + x])
                let pred: Int
                switch f {
                case 0: pred = 0
                case 1: pred = a
                case 2: pred = up
                case 3: pred = (a + up) / 2
                case 4:
                    let p = a + up - c, pa = abs(p - a), pb = abs(p - up), pc = abs(p - c)
                    pred = (pa <= pb && pa <= pc) ? a : (pb <= pc ? up : c)
                default: throw fail("unknown filter type \(f) in row \(y)")
                }
                px[y * stride + x] = UInt8((v + pred) & 0xFF)
            }
        }
        if channels == 2 { // gray + alpha → gray
            return Image8(width: width, height: height, channels: 1, pixels: stride_(px, 2))
        }
        return Image8(width: width, height: height, channels: channels, pixels: px)
    }

    private static func stride_(_ px: [UInt8], _ step: Int) -> [UInt8] { Swift.stride(from: 0, to: px.count, by: step).map { px[$0] } }

    /// Reads a PNG file (8-bit, non-interlaced).
    public static func read(from url: URL) throws -> Image8 {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw DataError(path: url.path, reason: "cannot read the file (\(error.localizedDescription))") }
        return try decode(data, path: url.path)
    }
}

extension Image8 {
    /// Luminance (ITU-R 601) in [0, 1], row-major.
    public var grayscale: [Float] {
        switch channels {
        case 1: return pixels.map { Float($0) / 255 }
        default:
            return (0..<(width * height)).map { i in
                let r = Float(pixels[i * channels]), g = Float(pixels[i * channels + 1]), b = Float(pixels[i * channels + 2])
                return (0.299 * r + 0.587 * g + 0.114 * b) / 255
            }
        }
    }

    /// A grid of equally sized gray tiles (values in [0, 1]) with a 1-pixel gap.
    public static func grid(tiles: [[Float]], tileWidth: Int, tileHeight: Int, columns: Int, scale: Int = 1) -> Image8 {
        let columns = Swift.max(columns, 1), scale = Swift.max(scale, 1)
        let rows = (tiles.count + columns - 1) / Swift.max(columns, 1)
        let tw = tileWidth * scale, th = tileHeight * scale
        let w = columns * (tw + 1) + 1, h = rows * (th + 1) + 1
        var px = [UInt8](repeating: 64, count: w * h)
        for (k, t) in tiles.enumerated() {
            let ox = 1 + (k % columns) * (tw + 1), oy = 1 + (k / columns) * (th + 1)
            for y in 0..<th { for x in 0..<tw {
                let v = t[(y / scale) * tileWidth + x / scale]
                px[(oy + y) * w + ox + x] = UInt8(Swift.max(0, Swift.min(255, (v * 255).rounded())))
            } }
        }
        return Image8(width: w, height: h, channels: 1, pixels: px)
    }
}
