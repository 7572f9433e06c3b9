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

        let run = try Subprocess.run(exe)
        #expect(run.reason == .exit)
        #expect(run.status == 0, "homework exited with \(run.status): \(run.stderr)")
        let actual = run.stdout
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
