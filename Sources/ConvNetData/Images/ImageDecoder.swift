import Foundation

/// Reads PNG and JPEG files, telling them apart by their first bytes (not the file name, so a
/// text file named .jpg is reported as what it is).
public enum ImageDecoder {
    public enum Format: String, Sendable { case png, jpeg }

    /// The format of a file's contents, or nil when it is neither.
    public static func format(of bytes: UnsafeRawBufferPointer) -> Format? {
        if bytes.count >= 8, zip(bytes.prefix(8), PNGDecoder.signature).allSatisfy({ $0 == $1 }) { return .png }
        if bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF { return .jpeg }
        return nil
    }

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

    public static func read(_ url: URL, maxPixels: Int = ImageLimits.maxPixels) throws -> Image8 {
        try decode(try readFile(url), path: url.path, maxPixels: maxPixels)
    }

    /// A file's bytes, or `.unreadable` naming it.
    static func readFile(_ url: URL) throws -> Data {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw ImageDecodingError(path: url.path, .unreadable("no such file"))
        }
        if isDir.boolValue { throw ImageDecodingError(path: url.path, .unreadable("it is a folder")) }
        guard let fh = FileHandle(forReadingAtPath: url.path) else {
            throw ImageDecodingError(path: url.path, .unreadable(access(url.path, R_OK) != 0 ? "permission denied" : "cannot open it"))
        }
        defer { try? fh.close() }
        do { return try fh.readToEnd() ?? Data() } catch {
            throw ImageDecodingError(path: url.path, .unreadable(error.localizedDescription))
        }
    }
}
