import ConvNet
import Foundation
import Testing

/// An executable product (`homework`, `convnet`), built into the same products directory as the test bundle.
func builtExecutable(_ name: String) -> URL? {
    var candidates: [URL] = []
    candidates.append(Bundle.module.bundleURL.deletingLastPathComponent())
    if let arg0 = ProcessInfo.processInfo.arguments.first {
        let exe = URL(fileURLWithPath: arg0).resolvingSymlinksInPath()
        // …/debug/ConvNetPackageTests.xctest (Linux) or …/debug/ConvNetPackageTests.xctest/Contents/MacOS/… (macOS)
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(dir)
            dir = dir.deletingLastPathComponent()
        }
    }
    candidates.append(Bundle.main.bundleURL)
    for dir in candidates {
        let url = dir.appendingPathComponent(name)
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), !isDir.boolValue,
           FileManager.default.isExecutableFile(atPath: url.path) {
            return url
        }
    }
    return nil
}

@Suite struct HomeworkTests {
    /// The homework program prints exactly the expected contract (shapes, D2L values, model reprs).
    @Test func homeworkOutputMatchesExpected() throws {
        let exe = try #require(builtExecutable("homework"), "the homework executable was not found next to the test bundle")
        let expected = try String(contentsOf: resourceURL("Homework.expected.txt"), encoding: .utf8)

        let process = Process()
        process.executableURL = exe
        process.arguments = []
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // read before waiting, so a full pipe cannot block the child
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()

        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 0, "homework exited with \(process.terminationStatus): \(String(decoding: stderr, as: UTF8.self))")
        let actual = String(decoding: stdout, as: UTF8.self)
        if actual != expected {
            let a = actual.components(separatedBy: "\n"), e = expected.components(separatedBy: "\n")
            let first = zip(a, e).enumerated().first { $0.element.0 != $0.element.1 }
            let where_ = first.map { "line \($0.offset + 1): got \"\($0.element.0)\", expected \"\($0.element.1)\"" }
                ?? "line counts differ: got \(a.count), expected \(e.count)"
            Issue.record("homework output differs from Homework.expected.txt at \(where_)")
        }
        #expect(actual == expected)
    }
}
