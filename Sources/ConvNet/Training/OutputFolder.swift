import ConvNetData
import Foundation

/// The run's output folder, checked before any work: it must be (or become) a writable folder.
/// Leftover temporary files of a killed run (`.NAME.tmp-PID`, see `AtomicFile`) are removed here,
/// so nothing but the committed outputs stays behind.
public enum OutputFolder {
    /// Creates `dir` when needed, proves it writable with a probe file, and removes stale
    /// temporary files; throws `AtomicFileError` naming the folder otherwise.
    public static func prepare(_ dir: URL) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: dir.path, isDirectory: &isDir), !isDir.boolValue {
            throw AtomicFileError(path: dir.path, reason: "is a file, not a folder (give --out a folder)")
        }
        do { try fm.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            throw AtomicFileError(path: dir.path, reason: "cannot create the output folder (\(error.localizedDescription))")
        }
        // access(2) misses read-only mounts for root, so creating a file is the test (open(2), not
        // FileManager.createFile, which renames a temporary into place)
        let probe = dir.appendingPathComponent(".write-probe.tmp-\(getpid())").path
        let fd = open(probe, O_CREAT | O_WRONLY | O_TRUNC, 0o600)
        guard fd >= 0 else {
            throw AtomicFileError(path: dir.path, reason: "the output folder is not writable (\(String(cString: strerror(errno))))")
        }
        close(fd)
        unlink(probe)
        removeStaleTemporaries(in: dir)
    }

    /// Removes `.NAME.tmp-PID` files whose writer is gone (a killed or crashed run).
    public static func removeStaleTemporaries(in dir: URL) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return }
        for name in names where name.hasPrefix(".") {
            guard let r = name.range(of: ".tmp-", options: .backwards), let pid = pid_t(name[r.upperBound...]) else { continue }
            // a live writer (another run in the same folder) keeps its file; this process writes
            // nothing yet, so a file with its (reused) PID is stale too
            if pid != getpid() && (kill(pid, 0) == 0 || errno == EPERM) { continue }
            try? FileManager.default.removeItem(at: dir.appendingPathComponent(name))
        }
    }
}
