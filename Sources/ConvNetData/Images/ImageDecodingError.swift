import Foundation

/// An image file that cannot be decoded: which file, and what is wrong with it.
public struct ImageDecodingError: Error, CustomStringConvertible, Equatable {
    /// What is wrong with the file.
    public enum Problem: Equatable, Sendable {
        /// The file could not be read (missing, a folder, no permission).
        case unreadable(String)
        /// The bytes are neither PNG nor JPEG (e.g. a text file named .jpg).
        case notAnImage
        /// The file ends before the image does.
        case truncated(String)
        /// The structure or the compressed data is damaged.
        case corrupt(String)
        /// A valid file in a variant ConvNet does not decode (e.g. CMYK JPEG).
        case unsupported(String)
        /// Width × height is above the decoder's pixel limit; refused before anything is allocated.
        case tooLarge(width: Int, height: Int, limit: Int)
        /// JPEG decoding needs libjpeg-turbo, which could not be loaded.
        case libraryMissing(String)
    }

    /// The file.
    public let path: String
    /// What is wrong with it.
    public let problem: Problem

    /// An error about the file at `path`.
    public init(path: String, _ problem: Problem) { self.path = path; self.problem = problem }

    /// The problem in words (without the path).
    public var reason: String {
        switch problem {
        case .unreadable(let why): return "cannot read the file (\(why))"
        case .notAnImage: return "not a PNG or JPEG file (unrecognised contents)"
        case .truncated(let what): return "truncated file: \(what)"
        case .corrupt(let what): return "damaged image: \(what)"
        case .unsupported(let what): return "unsupported image: \(what)"
        case let .tooLarge(w, h, limit):
            return "image is \(w)×\(h) = \(w * h) pixels, above the limit of \(limit) (raise it with --max-pixels)"
        case .libraryMissing(let why):
            return "JPEG support needs libjpeg-turbo (\(why)); run scripts/setup or install libturbojpeg0"
        }
    }

    /// "path: reason", the CLI's one line.
    public var description: String { "\(path): \(reason)" }
}

/// Limits every decoder applies; the default matches Pillow's `Image.MAX_IMAGE_PIXELS`.
public enum ImageLimits {
    /// Pillow's `Image.MAX_IMAGE_PIXELS`.
    public static let defaultMaxPixels = 89_478_485
    /// The largest width × height decoded; a header declaring more is refused before any allocation.
    nonisolated(unsafe) public static var maxPixels = defaultMaxPixels

    /// Throws `.tooLarge` (or `.corrupt` for a zero side) for a header's dimensions.
    static func check(width: Int, height: Int, limit: Int, path: String) throws {
        guard width > 0, height > 0 else { throw ImageDecodingError(path: path, .corrupt("image size \(width)×\(height)")) }
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, pixels <= limit else {
            throw ImageDecodingError(path: path, .tooLarge(width: width, height: height, limit: limit))
        }
    }
}
