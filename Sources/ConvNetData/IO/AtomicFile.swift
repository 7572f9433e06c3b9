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

/// Writes files by writing a temporary sibling, flushing it to disk and renaming it over the target,
/// so neither a crash nor a power cut leaves a half-written file under the real name.
public enum AtomicFile {
    /// Writes `data` to `url` atomically (temporary file, fsync, rename, fsync of the folder),
    /// creating the directory when needed.
    public static func write(_ data: Data, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        func fail(_ what: String) -> AtomicFileError {
            let reason = String(cString: strerror(errno)) // read before removeItem can change errno
            try? FileManager.default.removeItem(at: tmp)
            return AtomicFileError(path: url.path, reason: "\(what) (\(reason))")
        }
        do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            throw AtomicFileError(path: url.path, reason: "cannot create its folder (\(error.localizedDescription))")
        }
        let fd = open(tmp.path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw fail("cannot write the file") }
        // without fsync before the rename, a power cut can leave the new name pointing at no data
        let written = data.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let n = posixWrite(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 { if errno == EINTR { continue }; return false }
                offset += n
            }
            return true
        }
        guard written, fsync(fd) == 0 else { close(fd); throw fail("cannot write the file") }
        guard close(fd) == 0 else { throw fail("cannot write the file") }
        guard rename(tmp.path, url.path) == 0 else { throw fail("cannot move the new file into place") }
        // the rename itself is durable once the folder is flushed (some file systems refuse: ignored)
        let dfd = open(dir.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }
}

/// write(2), named apart from ``AtomicFile/write(_:to:)``, which shadows it inside the enum.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buffer, count) }
