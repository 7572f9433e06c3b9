import Foundation

/// Decodes PNG files of every kind the specification allows: greyscale, RGB, palette, grey+alpha and
/// RGBA; bit depths 1, 2, 4, 8 and 16; `tRNS` transparency; Adam7 interlacing. The result has 8 bits
/// per sample as Pillow gives them: 16-bit samples keep their high byte, 1/2/4-bit grey is scaled to
/// 0…255, palette entries are looked up. Transparency becomes an alpha channel (grey → 2 channels,
/// RGB or palette → 4); without one the image has 1 (grey) or 3 (RGB, palette) channels.
public enum PNGDecoder {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// The header fields that decoding depends on.
    struct Header {
        let width: Int, height: Int, bitDepth: Int, colorType: Int, interlaced: Bool
        /// Samples per pixel in the file (palette: 1 index).
        var samples: Int { [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][colorType]! }
        var bitsPerPixel: Int { samples * bitDepth }
        /// Bytes between a byte and the one its filter predicts from (at least 1).
        var filterStep: Int { Swift.max(1, bitsPerPixel / 8) }
        func rowBytes(_ w: Int) -> Int { (w * bitsPerPixel + 7) / 8 }
    }

    /// Adam7's seven passes: first column and row, column and row steps.
    static let adam7: [(x0: Int, y0: Int, dx: Int, dy: Int)] = [
        (0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2),
    ]

    /// The (width, height) of each sub-image the file stores: one for a plain file, seven (some
    /// possibly empty) for Adam7.
    static func passSizes(_ h: Header) -> [(Int, Int)] {
        guard h.interlaced else { return [(h.width, h.height)] }
        return adam7.map { p in ((h.width - p.x0 + p.dx - 1) / p.dx, (h.height - p.y0 + p.dy - 1) / p.dy) }
    }

    /// Decodes PNG bytes; `path` names the file in errors.
    public static func decode(_ data: Data, path: String = "<png>", maxPixels: Int = ImageLimits.maxPixels) throws -> Image8 {
        try data.withUnsafeBytes { try decode(bytes: $0, path: path, maxPixels: maxPixels) }
    }

    static func decode(bytes b: UnsafeRawBufferPointer, path: String, maxPixels: Int) throws -> Image8 {
        func corrupt(_ r: String) -> ImageDecodingError { ImageDecodingError(path: path, .corrupt(r)) }
        func truncated(_ r: String) -> ImageDecodingError { ImageDecodingError(path: path, .truncated(r)) }
        guard b.count >= 8, zip(b.prefix(8), signature).allSatisfy({ $0 == $1 }) else { throw ImageDecodingError(path: path, .notAnImage) }
        func be32(_ o: Int) -> Int { Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3]) }
        var pos = 8
        var header: Header?
        var palette: [UInt8] = [], transparency: [UInt8]?
        var idat: [UInt8] = []
        var sawEnd = false
        while !sawEnd {
            guard pos + 8 <= b.count else {
                throw truncated(header == nil ? "the file ends before the IHDR chunk" : "the file ends before the IEND chunk")
            }
            let len = be32(pos)
            guard len <= b.count - pos - 12 else { throw truncated("chunk at byte \(pos) runs past the end of the file") }
            let typeBytes = Array(b[(pos + 4)..<(pos + 8)])
            let type = String(decoding: typeBytes, as: UTF8.self)
            let body = UnsafeRawBufferPointer(rebasing: b[(pos + 8)..<(pos + 8 + len)])
            let crc = UInt32(be32(pos + 8 + len))
            guard Zlib.crc32(Data(b[(pos + 4)..<(pos + 8 + len)])) == crc else { throw corrupt("CRC mismatch in \(type) chunk") }
            if header == nil && type != "IHDR" { throw corrupt("the first chunk is \(type), not IHDR") }
            switch type {
            case "IHDR":
                guard header == nil else { throw corrupt("a second IHDR chunk") }
                guard len == 13 else { throw corrupt("IHDR has length \(len)") }
                let w = be32(pos + 8), h = be32(pos + 12)
                let depth = Int(body[8]), ct = Int(body[9])
                let allowed: [Int: [Int]] = [0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16]]
                guard let depths = allowed[ct] else { throw corrupt("colour type \(ct) does not exist") }
                guard depths.contains(depth) else { throw corrupt("bit depth \(depth) is not allowed for colour type \(ct)") }
                guard body[10] == 0, body[11] == 0 else { throw corrupt("unknown compression or filter method") }
                guard body[12] <= 1 else { throw corrupt("unknown interlace method \(body[12])") }
                guard w < 1 << 31, h < 1 << 31 else { throw corrupt("invalid size \(w)×\(h)") }
                // the pixel limit, before any buffer is sized from the header
                try ImageLimits.check(width: w, height: h, limit: maxPixels, path: path)
                header = Header(width: w, height: h, bitDepth: depth, colorType: ct, interlaced: body[12] == 1)
            case "PLTE":
                guard len % 3 == 0, len > 0, len <= 768 else { throw corrupt("PLTE has length \(len)") }
                palette = Array(body)
            case "tRNS":
                transparency = Array(body)
            case "IDAT":
                idat.append(contentsOf: body)
            case "IEND":
                sawEnd = true
            default:
                // an unknown critical chunk (upper-case first letter) cannot be skipped safely
                if typeBytes[0] & 0x20 == 0 { throw corrupt("unknown critical chunk \(type)") }
            }
            pos += 12 + len
        }
        guard let h = header else { throw corrupt("missing IHDR chunk") }
        if h.colorType == 3 && palette.isEmpty { throw corrupt("palette image without a PLTE chunk") }
        guard !idat.isEmpty else { throw corrupt("no image data (IDAT)") }

        let passes = passSizes(h)
        let expected = passes.reduce(0) { $0 + ($1.0 > 0 && $1.1 > 0 ? (h.rowBytes($1.0) + 1) * $1.1 : 0) }
        var raw: [UInt8]
        do { raw = try idat.withUnsafeBytes { try Zlib.inflate($0, limit: expected) } } catch {
            throw corrupt("image data is damaged: \(error)")
        }
        guard raw.count == expected else { throw truncated("image data is shorter than \(h.width)×\(h.height)") }

        let outChannels = outputChannels(h, hasTransparency: transparency != nil)
        var pixels = [UInt8](repeating: 0, count: h.width * h.height * outChannels)
        let expander = SampleExpander(header: h, palette: palette, transparency: transparency, outChannels: outChannels)
        try raw.withUnsafeMutableBufferPointer { rawBuf in
            try pixels.withUnsafeMutableBufferPointer { out in
                var offset = 0
                for (k, (pw, ph)) in passes.enumerated() where pw > 0 && ph > 0 {
                    let stride = h.rowBytes(pw)
                    let rows = rawBuf.baseAddress! + offset
                    try unfilter(rows, stride: stride, height: ph, step: h.filterStep, path: path)
                    let (x0, y0, dx, dy) = h.interlaced ? adam7[k] : (0, 0, 1, 1)
                    for y in 0..<ph {
                        expander.expand(row: rows + y * (stride + 1) + 1, width: pw,
                                        into: out.baseAddress! + ((y0 + y * dy) * h.width + x0) * outChannels, pixelStep: dx * outChannels)
                    }
                    offset += (stride + 1) * ph
                }
            }
        }
        return Image8(width: h.width, height: h.height, channels: outChannels, pixels: pixels)
    }

    static func outputChannels(_ h: Header, hasTransparency: Bool) -> Int {
        switch h.colorType {
        case 0: return hasTransparency ? 2 : 1
        case 2, 3: return hasTransparency ? 4 : 3
        case 4: return 2
        default: return 4
        }
    }

    /// Undoes the five PNG filters in place; each row is a filter byte then `stride` bytes.
    static func unfilter(_ rows: UnsafeMutablePointer<UInt8>, stride: Int, height: Int, step: Int, path: String) throws {
        for y in 0..<height {
            let row = rows + y * (stride + 1)
            let cur = row + 1
            let prev: UnsafeMutablePointer<UInt8>? = y > 0 ? rows + (y - 1) * (stride + 1) + 1 : nil
            switch row[0] {
            case 0: break
            case 1: if stride > step { for x in step..<stride { cur[x] &+= cur[x - step] } }
            case 2: if let prev { for x in 0..<stride { cur[x] &+= prev[x] } }
            case 3:
                for x in 0..<stride {
                    let a = x >= step ? Int(cur[x - step]) : 0, up = prev.map { Int($0[x]) } ?? 0
                    cur[x] &+= UInt8((a + up) >> 1)
                }
            case 4:
                for x in 0..<stride {
                    let a = x >= step ? Int(cur[x - step]) : 0
                    let up = prev.map { Int($0[x]) } ?? 0
                    let c = (x >= step ? prev.map { Int($0[x - step]) } : nil) ?? 0
                    let p = a + up - c, pa = abs(p - a), pb = abs(p - up), pc = abs(p - c)
                    cur[x] &+= UInt8(pa <= pb && pa <= pc ? a : (pb <= pc ? up : c))
                }
            default:
                throw ImageDecodingError(path: path, .corrupt("unknown filter type \(row[0]) in row \(y)"))
            }
        }
    }
}

/// Turns one unfiltered row of file samples into 8-bit output pixels (palette lookup, bit
/// unpacking, 16 → 8 bits, transparency → alpha).
struct SampleExpander {
    let header: PNGDecoder.Header
    let palette: [UInt8]
    /// Alpha per palette index (missing entries are opaque).
    let paletteAlpha: [UInt8]
    /// The transparent grey level or RGB colour at the file's bit depth.
    let transparentKey: [Int]?
    let outChannels: Int

    init(header: PNGDecoder.Header, palette: [UInt8], transparency: [UInt8]?, outChannels: Int) {
        self.header = header; self.outChannels = outChannels
        var pal = palette
        pal += [UInt8](repeating: 0, count: 768 - pal.count) // indices past the palette read black
        self.palette = pal
        var alpha = [UInt8](repeating: 255, count: 256)
        var key: [Int]? = nil
        if let t = transparency {
            switch header.colorType {
            case 3: for (i, a) in t.prefix(256).enumerated() { alpha[i] = a }
            case 0 where t.count >= 2: key = [Int(t[0]) << 8 | Int(t[1])]
            case 2 where t.count >= 6: key = [0, 2, 4].map { Int(t[$0]) << 8 | Int(t[$0 + 1]) }
            default: break
            }
        }
        paletteAlpha = alpha; transparentKey = key
    }

    func expand(row: UnsafePointer<UInt8>, width: Int, into out: UnsafeMutablePointer<UInt8>, pixelStep: Int) {
        let depth = header.bitDepth
        switch (header.colorType, depth) {
        case (3, _):
            for x in 0..<width {
                let i = Int(sample(row, x, depth))
                let o = out + x * pixelStep
                o[0] = palette[3 * i]; o[1] = palette[3 * i + 1]; o[2] = palette[3 * i + 2]
                if outChannels == 4 { o[3] = paletteAlpha[i] }
            }
        case (0, _):
            let scale = depth < 8 ? 255 / ((1 << depth) - 1) : 1
            for x in 0..<width {
                let v = Int(sample(row, x, depth))
                let o = out + x * pixelStep
                o[0] = depth == 16 ? UInt8(v >> 8) : UInt8(v * scale)
                if outChannels == 2 { o[1] = transparentKey?[0] == v ? 0 : 255 }
            }
        default:
            // 8- or 16-bit RGB, grey+alpha, RGBA: byte-aligned samples
            let n = header.samples, bytes = depth / 8
            for x in 0..<width {
                let s = row + x * n * bytes, o = out + x * pixelStep
                for c in 0..<n { o[c] = s[c * bytes] } // 16-bit: the high (first) byte
                if header.colorType == 2 && outChannels == 4 {
                    var opaque = true
                    if let key = transparentKey {
                        let v = (0..<3).map { c in bytes == 2 ? Int(s[2 * c]) << 8 | Int(s[2 * c + 1]) : Int(s[c]) }
                        opaque = v != key
                    }
                    o[3] = opaque ? 255 : 0
                }
            }
        }
    }

    /// The x-th sample of a row of 1-, 2-, 4-, 8- or 16-bit samples (16-bit as a full value).
    @inline(__always)
    func sample(_ row: UnsafePointer<UInt8>, _ x: Int, _ depth: Int) -> UInt16 {
        switch depth {
        case 8: return UInt16(row[x])
        case 16: return UInt16(row[2 * x]) << 8 | UInt16(row[2 * x + 1])
        default:
            let bit = x * depth
            let shift = 8 - depth - bit % 8
            return UInt16((row[bit / 8] >> UInt8(shift)) & UInt8((1 << depth) - 1))
        }
    }
}
