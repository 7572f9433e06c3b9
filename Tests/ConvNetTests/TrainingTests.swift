import ConvNet
import Foundation
import Testing

/// A small learnable dataset: the class sets which horizontal band of the image is bright.
func bandDataset(count: Int, seed: UInt64) -> ImageDataset {
    let gen = Generator(seed: seed)
    var images = [UInt8](repeating: 0, count: count * 28 * 28), labels: [Int] = []
    for i in 0..<count {
        let c = gen.nextInt(below: 4)
        labels.append(c)
        for y in 0..<28 { for x in 0..<28 {
            let inBand = y / 7 == c
            images[i * 784 + y * 28 + x] = UInt8(inBand ? 150 + gen.nextInt(below: 100) : gen.nextInt(below: 90))
        } }
    }
    return ImageDataset(name: "bands", images: images, labels: labels, height: 28, width: 28, classNames: ["0", "1", "2", "3"])
}

func smallNet() -> Sequential {
    Sequential(Conv2d(1, 4, kernelSize: 3), BatchNorm2d(4), ReLU(), MaxPool2d(kernelSize: 2), Flatten(), Dropout(p: 0.2),
               Linear(4 * 13 * 13, 4))
}

func tempDir() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("convnet-test-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Suite(.serialized) struct TrainingTests {
    let train = bandDataset(count: 320, seed: 1), test = bandDataset(count: 64, seed: 2)

    func config(_ dir: URL, epochs: Int, resume: Bool = false) -> TrainingConfig {
        var c = TrainingConfig(epochs: epochs, batchSize: 32, lr: 0.05, optimizer: .sgd, momentum: 0.9)
        c.outDir = dir
        c.resume = resume
        return c
    }

    func run(_ c: TrainingConfig) throws -> (Sequential, [EpochRecord]) {
        Tensor.manualSeed(42)
        let net = smallNet()
        let trainer = Trainer(model: net, train: train, test: test, config: c)
        trainer.log = { _ in }
        return (net, try trainer.run())
    }

    @Test func learnsAndWritesArtifacts() throws {
        let dir = tempDir()
        let (_, history) = try run(config(dir, epochs: 2))
        #expect(history.count == 2)
        #expect(history[1].testAccuracy > 0.9)
        #expect(history[1].trainLoss < history[0].trainLoss)
        for f in ["model.safetensors", "metrics.json", "curves.svg", "checkpoint.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), "\(f) missing")
        }
        let metrics = try JSONDecoder().decode([EpochRecord].self, from: Data(contentsOf: dir.appendingPathComponent("metrics.json")))
        #expect(metrics == history)
        let svg = try String(contentsOf: dir.appendingPathComponent("curves.svg"), encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("test acc") && svg.contains("<polyline"))
        let weights = try SafeTensors.read(from: dir.appendingPathComponent("model.safetensors"))
        #expect(weights.keys.sorted() == smallNet().stateDict().keys.sorted())
        // no temporary files are left behind
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).allSatisfy { !$0.hasPrefix(".") })
    }

    @Test func sameSeedSameResult() throws {
        let (a, ha) = try run(config(tempDir(), epochs: 1))
        let (b, hb) = try run(config(tempDir(), epochs: 1))
        #expect(ha.map(\.trainLoss) == hb.map(\.trainLoss))
        for (k, t) in a.stateDict() { #expect(t.scalars == b.stateDict()[k]!.scalars, "\(k)") }
    }

    @Test func resumeAtEpochBoundaryMatchesUninterruptedRun() throws {
        let (full, fullHistory) = try run(config(tempDir(), epochs: 3))
        let dir = tempDir()
        _ = try run(config(dir, epochs: 1))
        let (resumed, history) = try run(config(dir, epochs: 3, resume: true))
        #expect(history.map(\.trainLoss) == fullHistory.map(\.trainLoss))
        for (k, t) in full.stateDict() { #expect(t.scalars == resumed.stateDict()[k]!.scalars, "\(k) differs after resume") }
    }

    @Test func interruptMidEpochSavesAndResumesExactly() throws {
        let (full, fullHistory) = try run(config(tempDir(), epochs: 2))
        let dir = tempDir()
        InterruptFlag.raised = 1
        defer { InterruptFlag.raised = 0 }
        #expect(throws: TrainingError.self) { _ = try run(config(dir, epochs: 2)) }
        InterruptFlag.raised = 0
        let meta = try SafeTensors.readEntries(from: dir.appendingPathComponent("checkpoint.safetensors")).metadata
        #expect(meta["epoch"] == "0" && meta["batch"] == "1")
        let (resumed, history) = try run(config(dir, epochs: 2, resume: true))
        #expect(history.map(\.trainLoss) == fullHistory.map(\.trainLoss))
        #expect(history.map(\.testAccuracy) == fullHistory.map(\.testAccuracy))
        for (k, t) in full.stateDict() { #expect(t.scalars == resumed.stateDict()[k]!.scalars, "\(k) differs after resume") }
    }

    @Test func divergingLossStopsAndKeepsLastGoodCheckpoint() throws {
        let dir = tempDir()
        _ = try run(config(dir, epochs: 1))
        let before = try Data(contentsOf: dir.appendingPathComponent("checkpoint.safetensors"))
        var c = config(dir, epochs: 3, resume: true)
        c.lr = 1e35
        do {
            _ = try run(c)
            Issue.record("training with lr 1e9 did not stop")
        } catch let e as TrainingError {
            guard case .nonFiniteLoss = e else { Issue.record("unexpected \(e)"); return }
            #expect(e.description.contains("loss became"))
        }
        #expect(try Data(contentsOf: dir.appendingPathComponent("checkpoint.safetensors")) == before)
    }

    @Test func resumeWithoutCheckpointIsAClearError() throws {
        do {
            _ = try run(config(tempDir(), epochs: 1, resume: true))
            Issue.record("resume without a checkpoint succeeded")
        } catch let e as TrainingError {
            #expect(e.description.contains("no checkpoint to resume from"))
        }
    }

    @Test func checkpointOfAnotherModelIsRejected() throws {
        let dir = tempDir()
        _ = try run(config(dir, epochs: 1))
        Tensor.manualSeed(1)
        let other = Models.leNet()
        var c = config(dir, epochs: 2, resume: true)
        c.resize = nil
        let trainer = Trainer(model: other, train: train, test: test, config: c)
        trainer.log = { _ in }
        #expect(throws: TrainingError.self) { try trainer.run() }
    }

    static let fashionMNIST = URL(fileURLWithPath: "/usr/share/datasets/fashion-mnist")

    /// CI installs Debian's dataset-fashion-mnist; this is the real-data check of the main job.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: fashionMNIST.appendingPathComponent("train-images-idx3-ubyte.gz").path)))
    func lenetLearnsFashionMNIST() throws {
        let train = try DatasetKind.fashionMNIST.load(split: .train, from: Self.fashionMNIST).prefix(30_000)
        let test = try DatasetKind.fashionMNIST.load(split: .test, from: Self.fashionMNIST).prefix(2_000)
        #expect(train.count == 30_000 && train.height == 28 && test.classNames[9] == "ankle boot")
        Tensor.manualSeed(0)
        let model = Models.leNet()
        let spec = try ModelZoo.spec(named: "lenet")
        var c = TrainingConfig(defaults: spec.defaults)
        c.epochs = 1
        let trainer = Trainer(model: model, train: train, test: test, config: c)
        trainer.log = { _ in }
        let history = try trainer.run()
        #expect(history[0].testAccuracy > 0.70, "LeNet reached only \(history[0].testAccuracy) after one epoch on 30,000 images")
    }
}
