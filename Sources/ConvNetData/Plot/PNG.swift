import ConvNetCore
import Foundation

/// PNG encoding (8-bit grey/RGB/RGBA, written here on zlib) and decoding (through `PNGDecoder`).
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

    /// Decodes any PNG (see `PNGDecoder`) to grey, RGB or RGBA: a grey image's alpha is dropped.
    public static func decode(_ data: Data, path: String = "<png>") throws -> Image8 {
        let img: Image8
        do { img = try PNGDecoder.decode(data, path: path) } catch let e as ImageDecodingError {
            throw DataError(path: path, reason: e.problem == .notAnImage ? "not a PNG file (bad signature)" : e.reason)
        }
        return img.channels == 2 ? img.converted(toChannels: 1) : img
    }

    /// Reads a PNG file of any kind (see `decode`).
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
