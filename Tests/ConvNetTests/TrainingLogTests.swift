import ConvNet
import Foundation
import Testing

/// `convnet train` with its output redirected to a file, as `convnet train resnet18 > log 2>&1`.
@Suite(.serialized) struct TrainingLogTests {
    /// Runs the built `convnet` with stdout and stderr both appended to `log`; returns the status.
    func runLogged(_ args: [String], to log: URL) throws -> Int32 {
        let exe = try #require(builtExecutable("convnet"))
        if !FileManager.default.fileExists(atPath: log.path) { _ = FileManager.default.createFile(atPath: log.path, contents: nil) }
        let file = try FileHandle(forWritingTo: log)
        defer { try? file.close() }
        file.seekToEndOfFile()
        let p = Process()
        p.executableURL = exe
        p.arguments = args
        p.standardOutput = file
        p.standardError = file
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// Each line reaches the file as it is printed (stdout's lines are not held back until exit:
    /// they come before the trainer's later stderr notes), and a redirected run prints progress
    /// lines within an epoch (`--progress-every`, here every millisecond so the test is short).
    @Test(.enabled(if: FileManager.default.fileExists(atPath: mnistFolder.appendingPathComponent("t10k-images-idx3-ubyte.gz").path)))
    func progressReachesALogFileAsItHappens() throws {
        let out = tempDir(), log = out.appendingPathComponent("train.log")
        let common = ["train", "lenet", "--dataset", "mnist", "--data", mnistFolder.path, "--subset", "2048", "--test-subset", "256",
                      "--batch-size", "32", "--out", out.path, "--progress-every", "0.001",
                      "--tensorboard", out.appendingPathComponent("tb").path]
        #expect(try runLogged(common + ["--epochs", "1"], to: log) == 0)
        #expect(try runLogged(common + ["--epochs", "2", "--resume"], to: log) == 0)
        let lines = try String(contentsOf: log, encoding: .utf8).split(separator: "\n").map(String.init)

        // the order things happened in: stdout's header, stderr's note, then the epoch
        let header = try #require(lines.lastIndex { $0.hasPrefix("lenet: ") })
        let resuming = try #require(lines.firstIndex { $0.hasPrefix("resuming from ") && $0.contains("at epoch 2") })
        let secondEpoch = try #require(lines.firstIndex { $0.hasPrefix("epoch  2  train loss") })
        #expect(header < resuming && resuming < secondEpoch, "\(lines)")

        // progress lines: epoch e/n  batch i/64  loss …  acc …  … img/s  ETA m:ss, batches rising, before the epoch's line
        let pattern = #/^epoch (\d)/(\d)  batch (\d+)/64  loss \d+\.\d{4}  acc [01]\.\d{4}  \d+ img/s  ETA \d+:\d\d$/#
        let progress = lines.enumerated().compactMap { (i, l) in l.wholeMatch(of: pattern).map { (i, Int($0.1)!, Int($0.2)!, Int($0.3)!) } }
        for epoch in [1, 2] {
            let mine = progress.filter { $0.1 == epoch }
            #expect(mine.count >= 3, "epoch \(epoch): \(lines)")
            #expect(mine.allSatisfy { $0.2 == epoch && $0.3 < 64 })
            #expect(zip(mine, mine.dropFirst()).allSatisfy { $0.3 < $1.3 })
            let epochLine = try #require(lines.firstIndex { $0.hasPrefix("epoch  \(epoch)  train loss") })
            #expect(mine.allSatisfy { $0.0 < epochLine })
        }
        #expect(lines.last?.hasPrefix("TensorBoard log in \(out.appendingPathComponent("tb").path)") == true)
        // two runs, two event files in the one folder
        #expect(try eventFiles(out.appendingPathComponent("tb")).count == 2)
    }

    /// A failed write of the TensorBoard log (here the file-size limit, `ulimit -f`, with SIGXFSZ
    /// ignored so the write fails with EFBIG) is one warning; training finishes all its epochs, and
    /// the log holds every record written before, none cut short (TensorBoard's reader checks).
    @Test(.enabled(if: FileManager.default.fileExists(atPath: mnistFolder.appendingPathComponent("t10k-images-idx3-ubyte.gz").path)))
    func tensorBoardWriteFailureWarnsAndTrainingGoesOn() throws {
        let exe = try #require(builtExecutable("convnet"))
        let out = tempDir()
        // 700 KiB: the checkpoint (about 530 KB) fits, five epochs of histograms (over 1 MB) do not
        let command = "trap '' XFSZ; ulimit -f 700; exec \"$0\" \"$@\""
        let run = try Subprocess.run("/bin/bash", ["-c", command, exe.path, "train", "lenet", "--dataset", "mnist", "--data", mnistFolder.path,
                                                   "--subset", "1024", "--test-subset", "128", "--epochs", "5", "--out", out.path,
                                                   "--tensorboard", out.appendingPathComponent("tb").path])
        let o = run.stdout, e = run.stderr
        #expect(run.status == 0, "\(e)")
        #expect(o.contains("epoch  5  train loss"))
        let warnings = e.split(separator: "\n").filter { $0.hasPrefix("tensorboard: ") }
        #expect(warnings.count == 1, "\(e)")
        #expect(warnings.first?.hasSuffix("cannot write the TensorBoard log (File too large); TensorBoard logging stops here, training goes on") == true, "\(e)")
        let history = try JSONDecoder().decode([EpochRecord].self, from: Data(contentsOf: out.appendingPathComponent("metrics.json")))
        #expect(history.count == 5)
        let files = try eventFiles(out.appendingPathComponent("tb"))
        #expect(files.count == 1)
        let records = try tfRecords(Data(contentsOf: files[0])).count
        #expect(records > 10)
        if PythonTools.available("tensorboard") {
            #expect(try PythonTools.run(script: recordReaderScript, files.map(\.path)).out == "\(records)\n")
        }
    }

    /// Bad values of the new options are one line and exit code 64.
    @Test(arguments: [
        (["--tensorboard-every", "0"], "--tensorboard-every"),
        (["--progress-every", "-1"], "--progress-every"),
        (["--tensorboard", ""], "--tensorboard needs a folder"),
    ])
    func badOptions(_ extra: [String], _ message: String) throws {
        let r = try runConvnet(["train", "lenet"] + extra)
        #expect(r.status == 64)
        #expect(r.err.split(separator: "\n").count == 1 && r.err.contains(message), "\(r.err)")
    }
}
