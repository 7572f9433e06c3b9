import ConvNet
import Foundation
import Testing

/// Runs the built `convnet` with arguments; returns exit status, stdout and stderr.
func runConvnet(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
    let exe = try #require(builtExecutable("convnet"), "the convnet executable was not found next to the test bundle")
    let r = try Subprocess.run(exe, args)
    return (r.status, r.stdout, r.stderr)
}

@Suite struct CLITests {
    /// The benchmark executable starts and runs a group (its suite is built from the user-written
    /// models' `@Sendable` factories: a mismatch there once aborted every group at start-up).
    @Test func benchmarkExecutableRunsAGroup() throws {
        let exe = try #require(builtExecutable("convnet-bench"), "convnet-bench was not found next to the test bundle")
        let r = try Subprocess.run(exe, ["pool", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("maxpool 2×2 256×6×28²"), "\(r.stdout)")
    }

    /// Bad input: one line on stderr, a non-zero exit, no trace.
    @Test(arguments: [
        (["train", "lenet7"], "unknown model 'lenet7'"),
        (["evaluate", "lenet", "--weights", "/no/such/file.safetensors"], "does not exist"),
        (["train", "lenet", "--data", "/no/such/folder"], "no such folder"),
        (["train", "lenet", "--optimizer", "rmsprop"], "unknown optimizer 'rmsprop'"),
        (["summary", "lenet", "--input", "1,28"], "--input must be C,H,W"),
        (["train", "lenet", "--dataset", "cifar"], "unknown dataset 'cifar'"),
        (["bench", "--batch", "4"], "--batch needs --profile MODEL"),
        (["bench", "--profile", "lenet", "--batch", "0"], "--batch must be positive"),
        (["bench", "--inference"], "--inference needs --profile MODEL"),
    ])
    func badInputIsOneClearLine(_ args: [String], _ message: String) throws {
        let r = try runConvnet(args)
        #expect(r.status != 0)
        let lines = r.err.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(r.err)")
        #expect(r.err.contains(message), "stderr: \(r.err)")
    }

    @Test func damagedWeightsFileNamesTheFile() throws {
        let dir = tempDir()
        let bad = dir.appendingPathComponent("bad.safetensors")
        try Data("not a safetensors file at all".utf8).write(to: bad)
        let r = try runConvnet(["evaluate", "lenet", "--weights", bad.path])
        #expect(r.status == 1)
        #expect(r.err.hasPrefix("convnet: error: \(bad.path): header length"))
        #expect(r.err.split(separator: "\n").count == 1)
    }

    @Test func summaryPrintsReprAndTable() throws {
        let r = try runConvnet(["summary", "lenet-d2l"])
        #expect(r.status == 0)
        #expect(r.out.hasPrefix("Sequential(\n  (0): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))"))
        #expect(r.out.contains("Total parameters: 61,706"))
        #expect(r.out.contains("[1, 16, 5, 5]"))
    }

    @Test func inferenceProfileListsLayers() throws {
        let r = try runConvnet(["bench", "--profile", "lenet", "--inference", "--batch", "2"])
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out.hasPrefix("profile of an inference forward pass: lenet 28² batch 2"))
        #expect(r.out.contains("conv fwd 1→6 5×5/1 g1 @28×28"))
    }

    @Test func modelsListsTheZoo() throws {
        let r = try runConvnet(["models"])
        #expect(r.status == 0)
        for name in ModelZoo.names { #expect(r.out.contains(name)) }
        #expect(r.out.contains("44426"))
    }

    @Test func versionAndHelp() throws {
        #expect(try runConvnet(["--version"]).out.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
        let help = try runConvnet(["--help"])
        for sub in ["train", "evaluate", "predict", "summary", "models", "visualize", "bench"] { #expect(help.out.contains(sub)) }
    }

    /// Train on MNIST (the repository's test data) for a few batches, then evaluate, predict and visualise the result.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: mnistFolder.appendingPathComponent("t10k-images-idx3-ubyte.gz").path)))
    func trainEvaluatePredictVisualize() throws {
        let out = tempDir()
        let train = try runConvnet(["train", "lenet", "--dataset", "mnist", "--data", mnistFolder.path, "--epochs", "1",
                                    "--subset", "2048", "--test-subset", "512", "--out", out.path])
        #expect(train.status == 0, "\(train.err)")
        #expect(train.out.contains("epoch  1"))
        let weights = out.appendingPathComponent("model.safetensors").path
        let eval = try runConvnet(["evaluate", "lenet", "--dataset", "mnist", "--data", mnistFolder.path, "--weights", weights])
        #expect(eval.status == 0 && eval.out.contains("accuracy") && eval.out.contains("recall"))
        let updated = try runConvnet(["evaluate", "lenet", "--dataset", "mnist", "--data", mnistFolder.path, "--weights", weights,
                                      "--update-bn", "2"])
        #expect(updated.status == 0 && updated.out.hasPrefix("lenet has no batch norm: --update-bn changes nothing\n"))
        #expect(updated.out.split(separator: "\n")[1] == eval.out.split(separator: "\n")[0])
        let pred = try runConvnet(["predict", "lenet", "--dataset", "mnist", "--data", mnistFolder.path, "--weights", weights, "--index", "0"])
        #expect(pred.status == 0 && pred.out.hasPrefix("true class: 7"))
        let vis = try runConvnet(["visualize", "lenet", "--dataset", "mnist", "--data", mnistFolder.path, "--weights", weights,
                                  "--metrics", out.appendingPathComponent("metrics.json").path, "--out", out.path])
        #expect(vis.status == 0, "\(vis.err)")
        for f in ["kernels.png", "feature_maps.png", "curves.svg"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(f).path))
        }
        let kernels = try PNG.read(from: out.appendingPathComponent("kernels.png"))
        #expect(kernels.width > 0 && kernels.channels == 1)
        // a PNG written by the project feeds back into predict
        let png = try runConvnet(["predict", "lenet", "--dataset", "mnist", "--weights", weights,
                                  "--image", out.appendingPathComponent("feature_maps.png").path])
        #expect(png.status == 0 && png.out.split(separator: "\n").count == 3)
        let inverted = try runConvnet(["predict", "lenet", "--dataset", "mnist", "--weights", weights, "--invert", "--top", "2",
                                       "--image", out.appendingPathComponent("feature_maps.png").path])
        #expect(inverted.status == 0 && inverted.out.split(separator: "\n").count == 2)
    }
}

/// The MNIST copy beside the repository (tests only; the product never needs it).
let mnistFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/datasets/mnist")
