import ConvNet
import Foundation
import Testing

/// Issue 14, part 2: a checkpoint is checked against itself (fields, ranges, history) and against
/// the current options, so `--resume` either continues in a defined way or names what is wrong.
@Suite(.serialized) struct CheckpointValidationTests {
    let train = bandDataset(count: 320, seed: 1), test = bandDataset(count: 64, seed: 2)

    func config(_ dir: URL, epochs: Int, batchSize: Int = 32, optimizer: OptimizerKind = .adam, resume: Bool = false) -> TrainingConfig {
        var c = TrainingConfig(epochs: epochs, batchSize: batchSize, lr: 0.01, optimizer: optimizer)
        c.outDir = dir
        c.resume = resume
        return c
    }

    func run(_ c: TrainingConfig, train: ImageDataset? = nil, logs: inout [String]) throws -> [EpochRecord] {
        Tensor.manualSeed(42)
        let trainer = Trainer(model: smallNet(), train: train ?? self.train, test: test, config: c)
        var lines: [String] = []
        trainer.log = { lines.append($0) }
        defer { logs = lines }
        return try trainer.run()
    }

    func run(_ c: TrainingConfig, train: ImageDataset? = nil) throws -> [EpochRecord] {
        var logs: [String] = []
        return try run(c, train: train, logs: &logs)
    }

    /// Rewrites the checkpoint with one metadata value or tensor changed.
    func alter(_ dir: URL, meta: [String: String] = [:], tensors: [String: Tensor?] = [:]) throws {
        let url = dir.appendingPathComponent("checkpoint.safetensors")
        let (entries, metadata) = try SafeTensors.readEntries(from: url)
        var t = entries.mapValues(\.tensor)
        for (k, v) in tensors { t[k] = v }
        try SafeTensors.write(t, to: url, metadata: metadata.merging(meta) { $1 },
                              int64Keys: Set(t.keys.filter { $0.hasSuffix("num_batches_tracked") }))
    }

    func expectBadCheckpoint(_ c: TrainingConfig, _ reason: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try run(c)
            Issue.record("resumed from a bad checkpoint", sourceLocation: sourceLocation)
        } catch let e as TrainingError {
            let path = c.outDir!.appendingPathComponent("checkpoint.safetensors").path
            #expect(e.description == "\(path): \(reason)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func handAlteredFieldsAreNamed() throws {
        let dir = tempDir()
        _ = try run(config(dir, epochs: 1))
        let pristine = try Data(contentsOf: dir.appendingPathComponent("checkpoint.safetensors"))
        let cases: [([String: String], [String: Tensor?], String)] = [
            (["batch": "-5"], [:], "batch -5 is negative"),
            (["epoch": "-1"], [:], "epoch -1 is out of range"),
            (["epoch": "2"], [:], "history has 1 epochs ([1]) but the checkpoint is at epoch 2"),
            (["batch": "3", "seen": "10", "correct": "11"], [:],
             "epoch totals are inconsistent (loss sum 0.0, 11 correct of 10, 0.0 s at batch 3)"),
            (["loss_sum": "nan"], [:], "epoch totals are inconsistent (loss sum nan, 0 correct of 0, 0.0 s at batch 0)"),
            (["batch_size": "0"], [:], "batch_size '0' is not a positive number"),
            ([:], ["optim.-1.exp_avg": Tensor(shape: [4], scalars: [0, 0, 0, 0])],
             "optimizer state does not fit: Adam state entry '-1.exp_avg' (shape [4]) does not fit the parameters"),
            ([:], ["optim.step": Tensor(Float.nan)], "optimizer state does not fit: Adam state 'step' is nan; expected a whole number of updates"),
            ([:], ["optim.step": Tensor(Float(1e30))], "optimizer state does not fit: Adam state 'step' is 1e+30; expected a whole number of updates"),
        ]
        for (meta, tensors, reason) in cases {
            try pristine.write(to: dir.appendingPathComponent("checkpoint.safetensors"))
            try alter(dir, meta: meta, tensors: tensors)
            expectBadCheckpoint(config(dir, epochs: 2, resume: true), reason)
        }
    }

    /// `--epochs 2 --resume` on an epoch-3 checkpoint: nothing to train, the checkpoint's history
    /// returned, the outputs rewritten from it, and a line saying so.
    @Test func fewerEpochsThanTheCheckpointIsNothingToDo() throws {
        let dir = tempDir()
        let full = try run(config(dir, epochs: 3))
        let model = try Data(contentsOf: dir.appendingPathComponent("model.safetensors"))
        try FileManager.default.removeItem(at: dir.appendingPathComponent("model.safetensors"))
        var logs: [String] = []
        let history = try run(config(dir, epochs: 2, resume: true), logs: &logs)
        #expect(history == full)
        #expect(logs == ["\(dir.appendingPathComponent("checkpoint.safetensors").path) is at epoch 3; --epochs 2 leaves nothing to train (raise --epochs to continue)"])
        #expect(try Data(contentsOf: dir.appendingPathComponent("model.safetensors")) == model)
    }

    /// After a mid-epoch Ctrl-C, a different batch size or training set cannot replay the epoch:
    /// refused, naming the option; with the same options the epoch finishes.
    @Test func midEpochResumeWithOtherOptionsIsRefused() throws {
        let dir = tempDir()
        _ = try run(config(dir, epochs: 1))
        InterruptFlag.raised = 1
        defer { InterruptFlag.raised = 0 }
        do { _ = try run(config(dir, epochs: 2, resume: true)); Issue.record("not interrupted") } catch TrainingError.interrupted {}
        InterruptFlag.raised = 0
        let path = dir.appendingPathComponent("checkpoint.safetensors").path
        expectBadCheckpoint(config(dir, epochs: 2, batchSize: 64, resume: true),
                            "written during epoch 2 with --batch-size 32, now 64; resume with --batch-size 32 to finish the epoch (a new value applies from the next one)")
        do {
            _ = try run(config(dir, epochs: 2, resume: true), train: train.prefix(160))
            Issue.record("a smaller training set resumed mid-epoch")
        } catch let e as TrainingError {
            #expect(e.description == "\(path): written during epoch 2 with training examples (--subset) 320, now 160; resume with training examples (--subset) 320 to finish the epoch (a new value applies from the next one)")
        }
        let history = try run(config(dir, epochs: 2, resume: true))
        #expect(history.map(\.epoch) == [1, 2])
    }

    /// At an epoch boundary a new batch size or subset simply applies from the next epoch.
    @Test func newBatchSizeAtAnEpochBoundaryContinues() throws {
        let dir = tempDir()
        _ = try run(config(dir, epochs: 1))
        let history = try run(config(dir, epochs: 2, batchSize: 64, resume: true), train: train.prefix(256))
        #expect(history.map(\.epoch) == [1, 2])
        let meta = try SafeTensors.readEntries(from: dir.appendingPathComponent("checkpoint.safetensors")).metadata
        #expect(meta["batch_size"] == "64" && meta["examples"] == "256" && meta["epoch"] == "2")
    }
}
