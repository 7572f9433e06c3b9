import Foundation

/// Runs a program to its end and returns its exit status and output: the one way the tests run a
/// process to completion. Both pipes are drained at once (stderr on a second thread), so a child
/// that fills one pipe while the other is being read cannot block.
enum Subprocess {
    struct Result {
        let status: Int32
        let reason: Process.TerminationReason
        let out: Data, err: Data
        var stdout: String { String(decoding: out, as: UTF8.self) }
        var stderr: String { String(decoding: err, as: UTF8.self) }
    }

    /// Runs `executable` with `arguments`, its environment this process's with `environment` laid over it.
    static func run(_ executable: URL, _ arguments: [String] = [], environment: [String: String] = [:]) throws -> Result {
        let p = Process()
        p.executableURL = executable
        p.arguments = arguments
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        final class Box: @unchecked Sendable { var data = Data() }
        let errBox = Box(), done = DispatchSemaphore(value: 0)
        Thread.detachNewThread { errBox.data = err.fileHandleForReading.readDataToEndOfFile(); done.signal() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        done.wait()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, reason: p.terminationReason, out: outData, err: errBox.data)
    }

    /// The same for a program given by path.
    static func run(_ path: String, _ arguments: [String] = [], environment: [String: String] = [:]) throws -> Result {
        try run(URL(fileURLWithPath: path), arguments, environment: environment)
    }
}
