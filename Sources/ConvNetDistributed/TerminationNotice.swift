import Foundation

/// The one line a rank prints when `mpirun` ends it: after another rank died or failed, Open MPI
/// terminates the rest of the job with SIGTERM, and a rank that vanished silently would leave the
/// user guessing which side failed.
enum TerminationNotice {
    /// The message, made before the handler is installed (a signal handler may not allocate).
    /// Written once in `install`, before the handler can run, and only read afterwards (by
    /// `write(2)` in the handler), so the unprotected global is safe.
    nonisolated(unsafe) private static var line: UnsafeMutablePointer<CChar>?
    nonisolated(unsafe) private static var length = 0

    static func install(rank: Int, size: Int) {
        guard size > 1, line == nil else { return }
        let text = "convnet: rank \(rank) of \(size): stopped by mpirun (another rank failed or the job was cancelled)\n"
        let utf8 = Array(text.utf8CString)
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count)
        buffer.initialize(from: utf8, count: utf8.count)
        line = buffer
        length = utf8.count - 1
        signal(SIGTERM) { _ in
            if let line = TerminationNotice.line { _ = write(STDERR_FILENO, line, TerminationNotice.length) }
            _exit(143)
        }
    }

    /// Restores the default action (a rank that aborts on its own says why itself).
    static func silence() { signal(SIGTERM, SIG_DFL) }
}
