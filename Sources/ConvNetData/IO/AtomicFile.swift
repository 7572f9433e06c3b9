import Foundation

/// A file that could not be written (the target is left as it was).
public struct AtomicFileError: Error, CustomStringConvertible, Equatable {
    /// The file that was being written.
    public let path: String
    /// What went wrong.
    public let reason: String
    /// One line naming the file and the problem.
    public var description: String { "\(path): \(reason)" }

    /// An error about `path` (also used for an output folder that cannot be written).
    public init(path: String, reason: String) { self.path = path; self.reason = reason }
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
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw AtomicFileError(path: url.path, reason: "cannot write the file (\(error.localizedDescription))")
        }
        if rename(tmp.path, url.path) != 0 {
            let reason = String(cString: strerror(errno)) // read before removeItem can change errno
            try? FileManager.default.removeItem(at: tmp)
            throw AtomicFileError(path: url.path, reason: "cannot move the new file into place (\(reason))")
        }
    }
}
