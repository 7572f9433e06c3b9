import Foundation

/// A file that could not be written (the target is left as it was).
public struct AtomicFileError: Error, CustomStringConvertible, Equatable {
    /// The file that was being written.
    public let path: String
    /// What went wrong.
    public let reason: String
    /// One line naming the file and the problem.
    public var description: String { "\(path): \(reason)" }
}

/// Writes files by writing a temporary sibling and renaming it over the target, so a crash never
/// leaves a half-written file under the real name.
public enum AtomicFile {
    /// Writes `data` to `url` atomically (temporary file, then rename), creating the directory when needed.
    public static func write(_ data: Data, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try data.write(to: tmp)
            if rename(tmp.path, url.path) != 0 {
                throw CocoaError(.fileWriteUnknown)
            }
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw AtomicFileError(path: url.path, reason: "cannot write the file (\(error.localizedDescription))")
        }
    }
}
