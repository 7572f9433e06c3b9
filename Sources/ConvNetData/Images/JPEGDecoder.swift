import CTurboJPEG
import Foundation

/// Decodes JPEG files with libjpeg-turbo (loaded at run time; see CTurboJPEG), with the settings
/// Pillow uses (accurate integer IDCT, fancy upsampling): greyscale files give 1 channel, colour
/// files 3 (RGB). CMYK/YCCK files are refused.
public enum JPEGDecoder {
    /// Whether libjpeg-turbo could be loaded.
    public static var isAvailable: Bool { ctj_available() != 0 }
    /// Why it could not, if it could not.
    public static var unavailableReason: String { String(cString: ctj_load_error()) }

    /// Decodes JPEG bytes; `path` names the file in errors.
    public static func decode(_ data: Data, path: String = "<jpeg>", maxPixels: Int = ImageLimits.maxPixels) throws -> Image8 {
        try data.withUnsafeBytes { try decode(bytes: $0, path: path, maxPixels: maxPixels) }
    }

    static func decode(bytes: UnsafeRawBufferPointer, path: String, maxPixels: Int) throws -> Image8 {
        guard isAvailable else { throw ImageDecodingError(path: path, .libraryMissing(unavailableReason)) }
        guard bytes.count >= 4, let base = bytes.bindMemory(to: UInt8.self).baseAddress else {
            throw ImageDecodingError(path: path, .truncated("\(bytes.count) bytes"))
        }
        var message = [CChar](repeating: 0, count: 200)
        func text() -> String { String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        // one decompressor for the header and the pixels, released whatever happens
        let handle = ctj_open()
        defer { ctj_close(handle) }
        var w: Int32 = 0, h: Int32 = 0, subsamp: Int32 = 0, colorspace: Int32 = 0
        guard ctj_header(handle, base, UInt(bytes.count), &w, &h, &subsamp, &colorspace, &message, Int32(message.count)) == CTJ_OK else {
            throw classify(text(), path: path)
        }
        // libjpeg reads a file cut before its frame header as an image of 0×0
        if w == 0 || h == 0 { throw ImageDecodingError(path: path, .truncated("the file ends before the frame header")) }
        // the pixel limit, from the header, before the output is allocated
        try ImageLimits.check(width: Int(w), height: Int(h), limit: maxPixels, path: path)
        let channels: Int
        switch Int(colorspace) {
        case Int(CTJ_CS_GRAY): channels = 1
        case Int(CTJ_CS_YCBCR), Int(CTJ_CS_RGB): channels = 3
        default: throw ImageDecodingError(path: path, .unsupported("CMYK JPEG (convert it to RGB first)"))
        }
        let count = Int(w) * Int(h) * channels
        var r = Int32(CTJ_ERROR)
        // libjpeg writes every byte, so the buffer is not zero-filled first
        let pixels = [UInt8](unsafeUninitializedCapacity: count) { buf, initialized in
            r = ctj_decompress(handle, base, UInt(bytes.count), buf.baseAddress, w, h, channels == 1 ? Int32(CTJ_GRAY) : Int32(CTJ_RGB),
                               &message, Int32(message.count))
            if r == CTJ_ERROR { buf.baseAddress!.update(repeating: 0, count: count) } // defined bytes even on failure
            initialized = count
        }
        // a warning leaves a complete image (Pillow accepts those too), except a file that ends early,
        // whose missing rows libjpeg fills with grey: Pillow refuses it as truncated, and so do we
        if r == CTJ_ERROR || (r == CTJ_WARNING && text().contains("Premature end")) { throw classify(text(), path: path) }
        return Image8(width: Int(w), height: Int(h), channels: channels, pixels: pixels)
    }

    /// libjpeg's message as a typed problem.
    static func classify(_ message: String, path: String) -> ImageDecodingError {
        if message.contains("Premature end") || message.contains("ended prematurely") || message.contains("ends early") {
            return ImageDecodingError(path: path, .truncated(message))
        }
        if message.contains("Unsupported color conversion") {
            return ImageDecodingError(path: path, .unsupported(message))
        }
        return ImageDecodingError(path: path, .corrupt(message))
    }
}
