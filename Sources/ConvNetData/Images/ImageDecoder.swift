import Foundation

/// Reads PNG and JPEG files, telling them apart by their first bytes (not the file name, so a
/// text file named .jpg is reported as what it is).
public enum ImageDecoder {
    /// The formats ConvNet decodes.
    public enum Format: String, Sendable {
        /// Portable Network Graphics (ConvNet's own decoder).
        case png
        /// JPEG/JFIF (libjpeg-turbo).
        case jpeg
    }

    /// The format of a file's contents, or nil when it is neither.
    public static func format(of bytes: UnsafeRawBufferPointer) -> Format? {
        if bytes.count >= 8, zip(bytes.prefix(8), PNGDecoder.signature).allSatisfy({ $0 == $1 }) { return .png }
        if bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF { return .jpeg }
        return nil
    }

    /// Decodes PNG or JPEG bytes; `path` names the file in errors.
    public static func decode(_ data: Data, path: String, maxPixels: Int = ImageLimits.maxPixels) throws -> Image8 {
        try data.withUnsafeBytes { bytes in
            switch format(of: bytes) {
            case .png: return try PNGDecoder.decode(bytes: bytes, path: path, maxPixels: maxPixels)
            case .jpeg: return try JPEGDecoder.decode(bytes: bytes, path: path, maxPixels: maxPixels)
            case nil:
                if bytes.isEmpty { throw ImageDecodingError(path: path, .truncated("the file is empty")) }
                throw ImageDecodingError(path: path, .notAnImage)
            }
        }
    }

    /// Reads and decodes a PNG or JPEG file.
    public static func read(_ url: URL, maxPixels: Int = ImageLimits.maxPixels) throws -> Image8 {
        try decode(try readFile(url), path: url.path, maxPixels: maxPixels)
    }

    /// A file's bytes, or `.unreadable` naming it. POSIX calls rather than FileHandle: loaders read
    /// from several threads at once, and each descriptor here is closed exactly once.
    static func readFile(_ url: URL) throws -> Data {
        func fail(_ why: String) -> ImageDecodingError { ImageDecodingError(path: url.path, .unreadable(why)) }
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw fail(errno == ENOENT ? "no such file" : String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw fail(String(cString: strerror(errno))) }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw fail("it is a folder") }
        var bytes = [UInt8](repeating: 0, count: Swift.max(Int(st.st_size), 0) + 1)
        var filled = 0
        while true {
            if filled == bytes.count { bytes += [UInt8](repeating: 0, count: Swift.max(bytes.count, 4096)) } // the file grew
            let n = bytes.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n < 0 {
                if errno == EINTR { continue }
                throw fail(String(cString: strerror(errno)))
            }
            if n == 0 { break }
            filled += n
        }
        return Data(bytes[0..<filled])
    }
}
