import Foundation
import Testing

/// The Python with the outside checkers (onnx, onnxruntime, tensorboard, Pillow) that
/// `scripts/setup-python` installs; `scripts/test` passes it as `$CONVNET_PYTHON`. Tests that need
/// it are disabled, visibly, when it is absent (`.enabled(if: PythonTools.available(...))`).
enum PythonTools {
    static let python: String? = {
        let env = ProcessInfo.processInfo.environment
        let candidates = [env["CONVNET_PYTHON"], NSHomeDirectory() + "/.cache/convnet/venv/bin/python"]
        return candidates.compactMap { $0 }.first { !$0.isEmpty && FileManager.default.isExecutableFile(atPath: $0) }
    }()

    private static let lock = NSLock()
    nonisolated(unsafe) private static var importable: [String: Bool] = [:]

    /// Whether `python` exists and imports every module in `modules` (checked once per set).
    static func available(_ modules: String...) -> Bool {
        guard let python else { return false }
        let key = modules.joined(separator: ",")
        lock.lock(); defer { lock.unlock() }
        if let known = importable[key] { return known }
        let ok = (try? run(python, ["-c", "import " + key])).map { $0.status == 0 } ?? false
        importable[key] = ok
        return ok
    }

    /// Runs `script` with `arguments`; returns the exit status, stdout and stderr.
    static func run(script: String, _ arguments: [String] = []) throws -> (status: Int32, out: String, err: String) {
        guard let python else { throw CocoaError(.fileNoSuchFile) }
        return try run(python, ["-c", script] + arguments)
    }

    private static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let r = try Subprocess.run(executable, arguments)
        return (r.status, r.stdout, r.stderr)
    }
}
