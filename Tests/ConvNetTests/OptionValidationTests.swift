import ConvNet
import Foundation
import Testing

/// Issue 14, part 1: every bad number the user can type is refused before any work, with one line
/// on stderr naming the option and a non-zero exit (never a signal); library checks that user input
/// reaches throw instead of trapping.
@Suite struct OptionValidationTests {
    @Test(arguments: [
        (["train", "lenet", "--momentum=-1"], "--momentum must be a number in [0.0, 1.0), got -1.0"),
        (["train", "lenet", "--momentum=nan"], "--momentum must be a number in [0.0, 1.0), got nan"),
        (["train", "lenet", "--weight-decay=-1"], "--weight-decay must be a number in [0.0, 1000.0], got -1.0"),
        (["train", "lenet", "--test-subset=-1"], "--test-subset must be at least 1, got -1"),
        (["train", "lenet", "--test-subset", "0"], "--test-subset must be at least 1, got 0"),
        (["train", "lenet", "--subset", "0"], "--subset must be at least 1, got 0"),
        (["train", "lenet", "--batch-size", "9223372036854775807"], "--batch-size must be between 1 and 65536, got 9223372036854775807"),
        (["train", "lenet", "--batch-size", "99999999999999999999"], "The value '99999999999999999999' is invalid for '--batch-size"),
        (["train", "lenet", "--epochs", "0"], "--epochs must be between 1 and 100000, got 0"),
        (["train", "lenet", "--lr", "nan"], "--lr must be a number in (0.0, 1000.0], got nan"),
        (["train", "lenet", "--lr", "inf"], "--lr must be a number in (0.0, 1000.0], got inf"),
        (["train", "lenet", "--threads", "0"], "--threads must be between 1 and 1024, got 0"),
        (["train", "lenet", "--image-size", "4"], "--image-size must be between 8 and 1024, got 4"),
        (["train", "lenet", "--resize", "100000"], "--resize must be between 8 and 1024, got 100000"),
        (["train", "lenet", "--val-split", "nan"], "--val-split must be a number in (0.0, 1.0), got nan"),
        (["train", "lenet", "--workers", "0"], "--workers must be between 1 and 256, got 0"),
        (["train", "lenet", "--resume", "--init-from", "x.safetensors"], "give --resume or --init-from, not both"),
        (["summary", "lenet", "--input", "1,5,5"], "lenet takes 28×28 images (its classifier is sized for them), got 5×5 from --input"),
        (["summary", "nin", "--input", "3,66,66"], "--input 66×66 is too small for nin; its downsampling needs at least 67×67"),
        (["summary", "resnet18", "--input", "3,100000,100000"], "--input 3,100000,100000 is too large (at most 4096 channels and 4096×4096 pixels)"),
        (["summary", "resnet18", "--input", "3,2048,2048"], "--input 3,2048,2048 at batch 1 is too large for a summary (at most 4194304 input values)"),
        (["summary", "resnet18", "--batch", "0"], "--batch must be between 1 and 65536, got 0"),
        (["train", "lenet", "--out", "/proc/self"], "/proc/self: the output folder is not writable"),
        (["evaluate", "lenet", "--weights", "w.safetensors", "--batch-size", "0"], "--batch-size must be between 1 and 65536, got 0"),
        (["evaluate", "lenet", "--weights", "w.safetensors", "--resize=-3"], "--resize must be between 8 and 1024, got -3"),
        (["evaluate", "lenet", "--weights", "w.safetensors", "--update-bn", "0"], "--update-bn must be between 1 and 100000, got 0"),
        (["predict", "lenet", "--weights", "w.safetensors", "--index=-1"], "--index must be at least 0, got -1"),
        (["visualize", "lenet", "--index=-2"], "--index must be at least 0, got -2"),
        (["export-images", "--out", "x", "--quality", "0"], "--quality must be between 1 and 100, got 0"),
        (["export-images", "--out", "x", "--limit", "0"], "--limit must be at least 1, got 0"),
        (["bench", "--repeats", "0"], "--repeats must be between 1 and 1000, got 0"),
    ])
    func refusedUpFrontInOneLine(_ args: [String], _ message: String) throws {
        let r = try runConvnet(args)
        // a trap is a signal (status 132/134 from a shell, a non-exit termination here)
        #expect(r.status == 1 || r.status == 64, "status \(r.status), stderr: \(r.err)")
        #expect(r.err.split(separator: "\n").count == 1, "stderr: \(r.err)")
        #expect(r.err.hasPrefix("convnet: error: "), "stderr: \(r.err)")
        #expect(r.err.contains(message), "stderr: \(r.err)")
        #expect(r.out.isEmpty, "work started before the check: \(r.out)")
    }

    /// A file (or a path under one) as --out is refused before the data is read or an epoch trains.
    @Test func outputFolderThatIsAFileIsRefusedBeforeTraining() throws {
        let dir = tempDir()
        let file = dir.appendingPathComponent("plain-file")
        try Data("x".utf8).write(to: file)
        for out in [file.path, file.appendingPathComponent("sub").path] {
            let r = try runConvnet(["train", "lenet", "--dataset", "mnist", "--data", mnistFolder.path, "--out", out])
            #expect(r.status == 1)
            #expect(r.err.hasPrefix("convnet: error: \(out): "), "stderr: \(r.err)")
            #expect(r.err.split(separator: "\n").count == 1)
            #expect(!r.out.contains("epoch"), "training started: \(r.out)")
        }
        #expect(try Data(contentsOf: file) == Data("x".utf8))
    }

    /// Every global-pooling zoo model runs its summary at the smallest side the check allows.
    @Test func smallestAllowedSummaryInputRuns() throws {
        for (model, side) in [("nin", 67), ("densenet", 29), ("resnet18", 1), ("googlenet", 1), ("regnetx32", 1)] {
            let r = try runConvnet(["summary", model, "--input", "1,\(side),\(side)", "--table-only"])
            #expect(r.status == 0, "\(model) at \(side): \(r.err)")
            #expect(r.out.contains("Total parameters"), "\(model) at \(side)")
        }
    }

    @Test func trainingConfigValidationNamesTheSetting() {
        func message(_ c: TrainingConfig) -> String? {
            do { try c.validate(); return nil } catch let e as TrainingConfigError { return e.description } catch { return "\(error)" }
        }
        var c = TrainingConfig(epochs: 1, batchSize: 8, lr: 0.1, optimizer: .sgd, momentum: .nan)
        #expect(message(c) == "momentum must be in [0, 1), got nan")
        c.momentum = 0.9; c.weightDecay = -1
        #expect(message(c) == "weight decay must be 0 or more, got -1.0")
        c.weightDecay = 0; c.batchSize = 0
        #expect(message(c) == "batch size must be positive, got 0")
        c.batchSize = 8; c.lr = .infinity
        #expect(message(c) == "learning rate must be a positive number, got inf")
        c.lr = 0.1
        #expect(message(c) == nil)
    }

    /// An IDX image file of 0×0 images is refused when read, naming the file (it used to crash
    /// later, in the resize on the prefetch thread).
    @Test func idxWithEmptyImagesIsRefused() throws {
        let dir = tempDir()
        func be32(_ v: Int) -> [UInt8] { [24, 16, 8, 0].map { UInt8((v >> $0) & 0xFF) } }
        let images = dir.appendingPathComponent("images-idx3-ubyte"), labels = dir.appendingPathComponent("labels-idx1-ubyte")
        try Data([0, 0, 8, 3] + be32(2) + be32(0) + be32(0)).write(to: images)
        try Data([0, 0, 8, 1] + be32(2) + [1, 2]).write(to: labels)
        let e = expectDataError("0×0 images") {
            _ = try ImageDataset(name: "empty", images: images, labels: labels, classNames: (0..<10).map(String.init))
        }
        #expect(e?.description == "\(images.path): images are 0×0 pixels; both sides must be positive")
    }

    /// A batch size near Int.max and a negative prefix no longer overflow: one batch of everything, no examples.
    @Test func hugeBatchSizeAndNegativePrefixDoNotTrap() {
        let ds = bandDataset(count: 10, seed: 3)
        let loader = DataLoader(ds, batchSize: Int.max, shuffle: true, generator: Generator(seed: 1))
        #expect(loader.count == 1)
        let batches = Array(loader)
        #expect(batches.count == 1 && batches[0].labels.count == 10)
        #expect(Array(loader.batches(order: Array(0..<10), from: -5)).isEmpty)
        #expect(ds.prefix(-1).count == 0 && ds.prefix(3).count == 3)
    }

    /// Optimiser state a user can hand-edit: negative indices and a damaged step count are errors.
    @Test func damagedOptimizerStateThrows() throws {
        let p = Tensor(shape: [2], scalars: [1, 2])
        p.requiresGrad = true
        let adam = Adam([p])
        for (state, message) in [
            (["-1.exp_avg": Tensor(shape: [2], scalars: [0, 0])], "Adam state entry '-1.exp_avg' (shape [2]) does not fit the parameters"),
            (["step": Tensor(Float.nan)], "Adam state 'step' is nan; expected a whole number of updates"),
            (["step": Tensor(Float(1e30))], "Adam state 'step' is 1e+30; expected a whole number of updates"),
            (["step": Tensor(Float(-3))], "Adam state 'step' is -3.0; expected a whole number of updates"),
        ] {
            #expect(throws: OptimizerStateError.self) { try adam.loadStateDict(state) }
            do { try adam.loadStateDict(state) } catch let e as OptimizerStateError { #expect(e.description == message) }
        }
        let sgd = SGD([p], lr: 0.1, momentum: 0.9)
        do {
            try sgd.loadStateDict(["-1.momentum_buffer": Tensor(shape: [2], scalars: [0, 0])])
            Issue.record("SGD accepted index -1")
        } catch let e as OptimizerStateError { #expect(e.description == "SGD state has an unexpected key '-1.momentum_buffer'") }
        try adam.loadStateDict(["step": Tensor(Float(7))])
        #expect(adam.stepCount == 7)
    }
}
