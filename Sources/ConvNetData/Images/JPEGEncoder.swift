import CTurboJPEG
import Foundation

/// Baseline JPEG encoding through libjpeg-turbo (for exporting datasets as JPEG folders).
public enum JPEGEncoder {
    /// The image as JPEG bytes (grey stays grey; alpha is dropped).
    public static func encode(_ image: Image8, quality: Int = 95, path: String = "<jpeg>") throws -> Data {
        guard JPEGDecoder.isAvailable else { throw ImageDecodingError(path: path, .libraryMissing(JPEGDecoder.unavailableReason)) }
        let img = image.channels == 1 || image.channels == 3 ? image : image.converted(toChannels: image.channels == 2 ? 1 : 3)
        var message = [CChar](repeating: 0, count: 200)
        var buffer: UnsafeMutablePointer<UInt8>? = nil
        let size = img.pixels.withUnsafeBufferPointer { px in
            ctj_compress(px.baseAddress, Int32(img.width), Int32(img.height), img.channels == 1 ? Int32(CTJ_GRAY) : Int32(CTJ_RGB),
                         Int32(quality), &buffer, &message, Int32(message.count))
        }
        guard size > 0, let buffer else {
            throw ImageDecodingError(path: path, .unsupported("JPEG encoding failed: \(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))"))
        }
        defer { ctj_free(buffer) }
        return Data(bytes: buffer, count: Int(size))
    }
}
