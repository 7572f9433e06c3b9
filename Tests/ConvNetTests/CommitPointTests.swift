import ConvNet
import Foundation
import Testing

/// Whether strace can trace here (installed, and ptrace allowed).
let straceWorks: Bool = {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/strace") else { return false }
    return (try? Subprocess.run("/usr/bin/strace", ["-o", "/dev/null", "/bin/true"]))?.status == 0
}()

/// Whether this test bundle (and so the `convnet` built beside it) runs under ThreadSanitizer
/// (scripts/test's second build): its runtime makes write(2) calls of its own at start.
let underThreadSanitizer: Bool = dlsym(dlopen(nil, RTLD_NOW), "__tsan_init") != nil

/// Issue 14, part 3: the checkpoint is each epoch's commit point, written after the model, metrics
/// and curves; `--resume` rewrites those from it. A 3-epoch run makes 12 renames and 24 fsyncs (per
/// file: the data before its rename, the folder after); the run is killed at each in turn, or its
/// rename fails as on a full disk, and then continued.
@Suite(.serialized) struct CommitPointTests {
    static let enabled = straceWorks
        && FileManager.default.fileExists(atPath: mnistFolder.appendingPathComponent("t10k-images-idx3-ubyte.gz").path)

    let args = ["train", "lenet", "--dataset", "mnist", "--data", mnistFolder.path, "--epochs", "3", "--subset", "512",
                "--test-subset", "256", "--threads", "1"]

    /// `convnet` under strace with a fault injected at the `k`-th call of `syscall`.
    func runInjected(_ fault: String, at k: Int, of syscall: String = "rename", out: URL) throws -> (status: Int32, err: String) {
        let exe = try #require(builtExecutable("convnet"))
        let run = try Subprocess.run("/usr/bin/strace", ["-f", "-o", "/dev/null", "-e", "trace=\(syscall)",
                                                         "-e", "inject=\(syscall):\(fault):when=\(k)", exe.path] + args + ["--out", out.path])
        return (run.status, run.stderr)
    }

    /// How many times an uninterrupted run calls `syscall` (counted by strace).
    func countCalls(of syscall: String) throws -> Int {
        let exe = try #require(builtExecutable("convnet"))
        let log = tempDir().appendingPathComponent("strace.log")
        _ = try Subprocess.run("/usr/bin/strace", ["-f", "-o", log.path, "-e", "trace=\(syscall)", exe.path] + args + ["--out", tempDir().path])
        return try String(contentsOf: log, encoding: .utf8).split(separator: "\n").filter { $0.contains(" \(syscall)(") }.count
    }

    func epochs(_ dir: URL) throws -> [Int] {
        try JSONDecoder().decode([EpochRecord].self, from: Data(contentsOf: dir.appendingPathComponent("metrics.json"))).map(\.epoch)
    }

    func leftovers(_ dir: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp-") }
    }

    /// Continues a stopped run: `--resume` when a checkpoint was committed, otherwise a fresh start
    /// (a run stopped before its first commit has nothing to resume, and says so).
    func finish(_ dir: URL) throws {
        let hasCheckpoint = FileManager.default.fileExists(atPath: dir.appendingPathComponent("checkpoint.safetensors").path)
        if !hasCheckpoint {
            let r = try runConvnet(args + ["--out", dir.path, "--resume"])
            #expect(r.status == 1 && r.err.contains("no checkpoint to resume from"), "\(r.err)")
        }
        let r = try runConvnet(args + ["--out", dir.path] + (hasCheckpoint ? ["--resume"] : []))
        #expect(r.status == 0, "\(r.err)")
    }

    @Test(.enabled(if: enabled)) func killAtEachRenameAndFsyncThenResumeMatchesAnUninterruptedRun() throws {
        let reference = tempDir()
        let full = try runConvnet(args + ["--out", reference.path])
        #expect(full.status == 0, "\(full.err)")
        let model = try Data(contentsOf: reference.appendingPathComponent("model.safetensors"))
        for (syscall, calls) in [("rename", 12), ("fsync", 24)] {
            for k in 1...calls {
                let dir = tempDir()
                let killed = try runInjected("signal=KILL", at: k, of: syscall, out: dir)
                #expect(killed.status != 0, "\(syscall) \(k): the run was not killed")
                // before a rename (and a file's own fsync) the temporary file is there; after the folder's fsync it is gone
                let beforeRename = syscall == "rename" || k % 2 == 1
                let left = try leftovers(dir)
                #expect(left.isEmpty != beforeRename, "\(syscall) \(k): temporary files \(left)")
                try finish(dir)
                #expect(try Data(contentsOf: dir.appendingPathComponent("model.safetensors")) == model, "\(syscall) \(k): model differs")
                #expect(try epochs(dir) == [1, 2, 3], "\(syscall) \(k)")
                #expect(try leftovers(dir).isEmpty, "\(syscall) \(k): stale temporary files remain")
            }
        }
    }

    /// A failed write (ENOSPC at the rename) stops the run with one line; the files of the last
    /// committed epoch stay intact, and continuing ends as an uninterrupted run.
    @Test(.enabled(if: enabled)) func failedWriteAtEachRenameKeepsTheLastEpochAndResumes() throws {
        let reference = tempDir()
        #expect(try runConvnet(args + ["--out", reference.path]).status == 0)
        let model = try Data(contentsOf: reference.appendingPathComponent("model.safetensors"))
        for k in [1, 4, 5, 8, 10, 12] {
            let dir = tempDir()
            let failed = try runInjected("error=ENOSPC", at: k, out: dir)
            #expect(failed.status == 1, "rename \(k): status \(failed.status)")
            #expect(failed.err.hasPrefix("convnet: error: \(dir.path)/"), "rename \(k): \(failed.err)")
            #expect(failed.err.contains("No space left on device"), "rename \(k): \(failed.err)")
            let committed = (k - 1) / 4 // epochs whose checkpoint was renamed into place before the failure
            if committed > 0 {
                let meta = try SafeTensors.readEntries(from: dir.appendingPathComponent("checkpoint.safetensors")).metadata
                #expect(meta["epoch"] == "\(committed)", "rename \(k)")
                #expect(try epochs(dir).count >= committed, "rename \(k)")
            }
            #expect(try leftovers(dir).isEmpty, "rename \(k): the failed write left its temporary file")
            try finish(dir)
            #expect(try Data(contentsOf: dir.appendingPathComponent("model.safetensors")) == model, "rename \(k): model differs")
            #expect(try epochs(dir) == [1, 2, 3], "rename \(k)")
        }
    }

    /// A full disk at each data write (ENOSPC from write(2): a 3-epoch run writes each of its four
    /// files once an epoch, twelve writes, and its lines to stdout). A failed file write stops the run with one line naming the file,
    /// leaves the last committed epoch's files and no temporary file, and continuing ends as an
    /// uninterrupted run; a failed stdout write loses only that line.
    @Test(.enabled(if: enabled && !underThreadSanitizer, "the sanitizer runtime's own writes at start would be counted"))
    func fullDiskAtEachDataWriteKeepsTheLastEpochAndResumes() throws {
        let reference = tempDir()
        #expect(try runConvnet(args + ["--out", reference.path]).status == 0)
        let model = try Data(contentsOf: reference.appendingPathComponent("model.safetensors"))
        var failedFileWrites = 0
        let writes = try countCalls(of: "write")
        #expect(writes >= 12)
        for k in 1...writes {
            let dir = tempDir()
            let run = try runInjected("error=ENOSPC", at: k, of: "write", out: dir)
            if run.status == 0 {
                #expect(try Data(contentsOf: dir.appendingPathComponent("model.safetensors")) == model, "write \(k): model differs")
                continue
            }
            failedFileWrites += 1
            #expect(run.status == 1, "write \(k): status \(run.status) \(run.err)")
            #expect(run.err.hasPrefix("convnet: error: \(dir.path)/") && run.err.contains("No space left on device"), "write \(k): \(run.err)")
            #expect(run.err.split(separator: "\n").count == 1, "write \(k): more than one line: \(run.err)")
            let checkpoint = dir.appendingPathComponent("checkpoint.safetensors")
            let committed = FileManager.default.fileExists(atPath: checkpoint.path)
                ? Int(try SafeTensors.readEntries(from: checkpoint).metadata["epoch"] ?? "") ?? -1 : 0
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("metrics.json").path) {
                // outputs are written before the checkpoint: at most one epoch ahead of it
                let e = try epochs(dir)
                #expect(e == Array(1...max(1, e.count)) && (e.count == committed || e.count == committed + 1), "write \(k): \(e), checkpoint \(committed)")
            }
            #expect(try leftovers(dir).isEmpty, "write \(k): the failed write left its temporary file")
            try finish(dir)
            #expect(try Data(contentsOf: dir.appendingPathComponent("model.safetensors")) == model, "write \(k): model differs")
            #expect(try epochs(dir) == [1, 2, 3], "write \(k)")
        }
        #expect(failedFileWrites == 12)
    }

    /// Stale `.NAME.tmp-PID` files of dead writers are removed when a run starts; a live writer's
    /// (PID 1 here) and other files are kept.
    @Test func staleTemporariesAreRemovedAtStart() throws {
        let dir = tempDir()
        let stale = ".model.safetensors.tmp-\(Int32.max - 7)", live = ".metrics.json.tmp-1", other = ".notes.txt"
        for name in [stale, live, other] { try Data("x".utf8).write(to: dir.appendingPathComponent(name)) }
        OutputFolder.removeStaleTemporaries(in: dir)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)) == [live, other])
    }
}
