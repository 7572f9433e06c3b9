import ConvNet
import Foundation
import Testing

/// `mpirun`, when Open MPI is installed here (the distributed tests are skipped, visibly, without it).
let mpirunPath: String? = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first { FileManager.default.isExecutableFile(atPath: $0) }
let mpiUsable = mpirunPath != nil && MPILaunch.libraryAvailable

/// Runs `executable` (a built product) as `ranks` processes under mpirun over TCP (`--mca btl
/// tcp,self`: the network path, not shared memory), one kernel thread each.
func runMPI(_ ranks: Int, _ args: [String], executable: String = "convnet", env: [String: String] = [:],
            whileRunning: ((Process) throws -> Void)? = nil) throws -> (status: Int32, out: String, err: String, seconds: Double) {
    let exe = try #require(builtExecutable(executable))
    let p = Process()
    p.executableURL = URL(fileURLWithPath: try #require(mpirunPath))
    p.arguments = ["--allow-run-as-root", "--oversubscribe", "--mca", "btl", "tcp,self", "-np", "\(ranks)", exe.path] + args
    var environment = ProcessInfo.processInfo.environment
    environment["CONVNET_NUM_THREADS"] = "1"
    for (k, v) in env { environment[k] = v }
    p.environment = environment
    let outFile = tempDir().appendingPathComponent("out"), errFile = tempDir().appendingPathComponent("err")
    _ = FileManager.default.createFile(atPath: outFile.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
    p.standardOutput = try FileHandle(forWritingTo: outFile)
    p.standardError = try FileHandle(forWritingTo: errFile)
    let start = Date()
    try p.run()
    try whileRunning?(p)
    p.waitUntilExit()
    return (p.terminationStatus, try String(contentsOf: outFile, encoding: .utf8), try String(contentsOf: errFile, encoding: .utf8),
            Date().timeIntervalSince(start))
}

/// The largest difference between two weight files relative to each tensor's largest value, over
/// every tensor but those in `noise`, which are compared absolutely (a bias followed by batch norm
/// has no gradient at all in exact arithmetic, so its values are rounding noise of about 1e-8 whose
/// relative error means nothing).
func relativeDifference(_ a: URL, _ b: URL, noise: Set<String> = [], absolute: Float = 1e-6) throws -> (worst: Float, key: String) {
    let x = try SafeTensors.read(from: a), y = try SafeTensors.read(from: b)
    #expect(Set(x.keys) == Set(y.keys))
    var worst: (Float, String) = (0, "")
    for (k, t) in x {
        let u = try #require(y[k]).scalars, v = t.scalars
        let d = zip(u, v).map { abs($0 - $1) }.max() ?? 0
        if noise.contains(k) {
            #expect(d <= absolute, "\(k) differs by \(d)")
            continue
        }
        let scale = Swift.max(v.map(abs).max() ?? 0, 1e-30)
        if d / scale > worst.0 { worst = (d / scale, k) }
    }
    return (worst.0, worst.1)
}

func epochLosses(_ dir: URL) throws -> [EpochRecord] {
    try JSONDecoder().decode([EpochRecord].self, from: Data(contentsOf: dir.appendingPathComponent("metrics.json")))
}

/// Issue 10: `mpirun -np N convnet train …` is data-parallel training with the semantics of PyTorch's
/// DistributedDataParallel and DistributedSampler; N ranks at a global batch equal one process at it.
@Suite(.serialized) struct DistributedTrainingTests {
    static let fashion = "/usr/share/datasets/fashion-mnist"
    static let enabled = mpiUsable && FileManager.default.fileExists(atPath: fashion + "/train-images-idx3-ubyte.gz")

    /// 2560 images at global batch 128: 20 steps an epoch. SGD with momentum: Adam divides each
    /// gradient element by its own running magnitude, which turns the last-bit differences of any
    /// change of summation order (even 1 against 2 threads in one process) into steps of lr size
    /// for near-zero elements, so it cannot show equality to 1e-5.
    func args(_ model: String, out: URL, subset: Int = 2560, epochs: Int = 1, batch: Int = 128, lr: String = "0.1") -> [String] {
        ["train", model, "--data", Self.fashion, "--epochs", "\(epochs)", "--subset", "\(subset)", "--test-subset", "300",
         "--batch-size", "\(batch)", "--optimizer", "sgd", "--lr", lr, "--momentum", "0.9", "--schedule", "constant", "--out", out.path]
    }

    func single(_ a: [String]) throws {
        let r = try runConvnet(a + ["--threads", "1"])
        #expect(r.status == 0, "\(r.err)")
    }

    func compare(_ one: URL, _ two: URL, noise: Set<String> = [], tolerance: Float = 1e-5) throws {
        let (worst, key) = try relativeDifference(one.appendingPathComponent("model.safetensors"), two.appendingPathComponent("model.safetensors"), noise: noise)
        #expect(worst < tolerance, "parameters differ by \(worst) relative (\(key))")
        let a = try epochLosses(one), b = try epochLosses(two)
        #expect(a.map(\.epoch) == b.map(\.epoch))
        for (x, y) in zip(a, b) {
            #expect(abs(x.trainLoss - y.trainLoss) <= 1e-5 * x.trainLoss, "epoch \(x.epoch): loss \(x.trainLoss) vs \(y.trainLoss)")
            #expect(x.trainAccuracy == y.trainAccuracy && x.testAccuracy == y.testAccuracy, "epoch \(x.epoch)")
        }
    }

    @Test(.enabled(if: enabled)) func lenetOnTwoRanksEqualsOneRankAtTheSameGlobalBatch() throws {
        let one = tempDir(), two = tempDir()
        try single(args("lenet", out: one))
        let r = try runMPI(2, args("lenet", out: two))
        #expect(r.status == 0, "\(r.err)")
        // rank 0 alone prints: one header, one epoch line
        #expect(r.out.components(separatedBy: "epoch  1 ").count == 2, "\(r.out)")
        #expect(r.out.contains("2 ranks × batch 64"), "\(r.out)")
        try compare(one, two)
    }

    @Test(.enabled(if: enabled)) func batchNormLeNetWithSyncBatchNormOnTwoRanksEqualsOneRank() throws {
        let one = tempDir(), two = tempDir(), perRank = tempDir()
        try single(args("bn-lenet", out: one))
        let r = try runMPI(2, args("bn-lenet", out: two) + ["--sync-bn"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("synchronised batch norm"))
        // BN-LeNet's convolution and linear layers each feed a batch norm: their biases get no gradient
        let biasesBeforeBN: Set<String> = ["0.bias", "4.bias", "9.bias", "12.bias"]
        try compare(one, two, noise: biasesBeforeBN)
        // without --sync-bn each rank normalises its own 64 examples (DDP's default): a different model
        let p = try runMPI(2, args("bn-lenet", out: perRank))
        #expect(p.status == 0, "\(p.err)")
        let (worst, _) = try relativeDifference(one.appendingPathComponent("model.safetensors"), perRank.appendingPathComponent("model.safetensors"),
                                                noise: biasesBeforeBN, absolute: .infinity)
        #expect(worst > 1e-4, "per-rank statistics gave the synchronised result (\(worst))")
    }

    @Test(.enabled(if: enabled)) func aGlobalBatchThreeRanksCannotSplitIsRefusedOnce() throws {
        let r = try runMPI(3, args("lenet", out: tempDir(), batch: 128))
        #expect(r.status != 0)
        let line = "convnet: error: --batch-size 128 (the global batch) does not divide among 3 ranks; give a multiple of 3, e.g. 126"
        #expect(r.err.components(separatedBy: line).count == 2, "\(r.err)")
        // the model's default batch (lenet: 256) is checked too, after the model is known
        let d = try runMPI(3, ["train", "lenet", "--data", Self.fashion, "--epochs", "1", "--subset", "300", "--out", tempDir().path])
        #expect(d.status != 0 && d.err.contains("does not divide among 3 ranks"), "\(d.err)")
    }

    /// 301 examples at global batch 128: the last batch of 45 splits 23 + 22, weighted by share, so
    /// two epochs on 2 ranks equal them on 1.
    @Test(.enabled(if: enabled)) func anUnevenDatasetSplitsTheLastBatchByShareAndStillEqualsOneRank() throws {
        let one = tempDir(), two = tempDir()
        try single(args("lenet", out: one, subset: 301, epochs: 2))
        let r = try runMPI(2, args("lenet", out: two, subset: 301, epochs: 2))
        #expect(r.status == 0, "\(r.err)")
        try compare(one, two)
    }

    @Test(.enabled(if: enabled)) func aCheckpointWrittenByTwoRanksResumesOnOneAndContinuesIdentically() throws {
        // lr 0.05: at 0.1 a ReLU unit of this run sits within rounding of its kink in the second
        // epoch with some kernel ISAs (CONVNET_ISA=portable), and flips between summation orders
        let lr = "0.05"
        let straight = tempDir(), resumed = tempDir()
        try single(args("lenet", out: straight, subset: 1280, epochs: 2, lr: lr))
        let r = try runMPI(2, args("lenet", out: resumed, subset: 1280, epochs: 1, lr: lr))
        #expect(r.status == 0, "\(r.err)")
        let c = try runConvnet(args("lenet", out: resumed, subset: 1280, epochs: 2, lr: lr) + ["--resume", "--threads", "1"])
        #expect(c.status == 0 && c.err.contains("resuming from"), "\(c.err)")
        try compare(straight, resumed)
        // and the other way: one rank's checkpoint continues on two
        let back = tempDir()
        try single(args("lenet", out: back, subset: 1280, epochs: 1, lr: lr))
        let t = try runMPI(2, args("lenet", out: back, subset: 1280, epochs: 2, lr: lr) + ["--resume"])
        #expect(t.status == 0 && t.err.components(separatedBy: "resuming from").count == 2, "\(t.err)")
        try compare(straight, back)
    }

    /// The rank that survives a killed peer exits non-zero with one line within 30 s.
    @Test(.enabled(if: enabled)) func killingOneOfTwoRanksMidEpochStopsTheOtherWithAMessage() throws {
        let out = tempDir()
        let tag = UUID().uuidString
        var killedAt = Date()
        let r = try runMPI(2, args("lenet", out: out, subset: 60000, epochs: 3, batch: 64), env: ["CONVNET_TEST_TAG": tag]) { _ in
            // rank 1 is found by its environment once it is training (the first epoch line is rank 0's)
            var victim: pid_t?
            let deadline = Date().addingTimeInterval(60)
            while victim == nil && Date() < deadline {
                Thread.sleep(forTimeInterval: 0.5)
                victim = Self.process(withEnvironment: ["CONVNET_TEST_TAG=\(tag)", "OMPI_COMM_WORLD_RANK=1"])
            }
            Thread.sleep(forTimeInterval: 1.5)
            killedAt = Date()
            if let victim { kill(victim, SIGKILL) }
        }
        let after = Date().timeIntervalSince(killedAt)
        #expect(r.status != 0)
        #expect(after < 30, "the job took \(after) s to stop")
        #expect(r.err.contains("convnet: rank 0 of 2: stopped by mpirun (another rank failed or the job was cancelled)"), "\(r.err)")
        // no torn files: whatever rank 0 committed reads back
        if FileManager.default.fileExists(atPath: out.appendingPathComponent("checkpoint.safetensors").path) {
            #expect(throws: Never.self) { try SafeTensors.read(from: out.appendingPathComponent("checkpoint.safetensors")) }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).filter { $0.contains(".tmp-") }.isEmpty)
    }

    /// A rank that stops answering (here: SIGSTOP) is caught by the other's deadline, which aborts the job.
    @Test(.enabled(if: enabled)) func aStuckRankIsCaughtByTheDeadlineAndTheJobAborts() throws {
        let tag = UUID().uuidString
        let r = try runMPI(2, args("lenet", out: tempDir(), subset: 60000, epochs: 3, batch: 64),
                           env: ["CONVNET_TEST_TAG": tag, "CONVNET_DIST_TIMEOUT": "3"]) { _ in
            var victim: pid_t?
            let deadline = Date().addingTimeInterval(60)
            while victim == nil && Date() < deadline {
                Thread.sleep(forTimeInterval: 0.5)
                victim = Self.process(withEnvironment: ["CONVNET_TEST_TAG=\(tag)", "OMPI_COMM_WORLD_RANK=1"])
            }
            Thread.sleep(forTimeInterval: 1)
            if let victim { kill(victim, SIGSTOP) }
        }
        #expect(r.status != 0)
        #expect(r.seconds < 60)
        #expect(r.err.contains("convnet: rank 0 of 2: ") && r.err.contains("did not finish within 3 s") || r.err.contains("no answer from the other ranks within the timeout"), "\(r.err)")
    }

    /// The example's own module, trained with `DistributedDataParallel` and `SyncBatchNorm` from
    /// Swift: 2 ranks print the losses and checksum of 1 process (its last batch is uneven: 520 = 8·64 + 8).
    @Test(.enabled(if: enabled)) func theDataParallelExampleOnTwoRanksMatchesOneProcess() throws {
        let exe = try #require(builtExecutable("data-parallel"))
        let alone = try Subprocess.run(exe, ["--sync-bn"], environment: ["CONVNET_NUM_THREADS": "1"]).stdout
        let two = try runMPI(2, ["--sync-bn"], executable: "data-parallel")
        #expect(two.status == 0, "\(two.err)")
        func numbers(_ s: String) -> [Double] {
            s.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Double($0) }.filter { $0 != Double(Int($0)) }
        }
        let a = numbers(alone), b = numbers(two.out)
        #expect(a.count == 6 && b.count == 6, "\(alone) / \(two.out)")   // five epoch losses and the checksum
        for (x, y) in zip(a, b) { #expect(abs(x - y) <= 1e-5 * abs(x), "\(alone) / \(two.out)") }
    }

    /// A process (not this one) whose environment holds every entry of `entries`.
    static func process(withEnvironment entries: [String]) -> pid_t? {
        guard let pids = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for name in pids {
            guard let pid = pid_t(name), pid != getpid(),
                  let env = FileManager.default.contents(atPath: "/proc/\(name)/environ") else { continue }
            let vars = Set(env.split(separator: 0).map { String(decoding: $0, as: UTF8.self) })
            if entries.allSatisfy(vars.contains) { return pid }
        }
        return nil
    }
}

/// Without Open MPI's library a run under mpirun says so in one line (the build itself needs no MPI).
@Test func startedByMPIWithoutTheLibraryIsOneClearError() throws {
    let exe = try #require(builtExecutable("convnet"))
    let run = try Subprocess.run(exe, ["train", "lenet", "--epochs", "1", "--subset", "64", "--out", tempDir().path],
                                 environment: ["OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "0",
                                               "CONVNET_MPI_LIBRARY": "/nonexistent/libmpi.so.40"])
    let text = run.stderr
    #expect(run.status == 1)
    #expect(text == "convnet: error: started by mpirun, but MPI cannot be used: the library named by CONVNET_MPI_LIBRARY cannot be opened\n")
}

/// The sampler's arithmetic, checked by hand (no MPI needed).
@Suite struct DistributedSamplerTests {
    @Test func fullBatchesSplitIntoEqualConsecutiveShards() throws {
        let order = Array((0..<20).reversed())
        let s0 = try DistributedSampler(rank: 0, size: 2, globalBatchSize: 8), s1 = try DistributedSampler(rank: 1, size: 2, globalBatchSize: 8)
        // batches [19…12], [11…4], [3…0]: rank 0 takes the first half of each
        #expect(s0.localOrder(order) == [19, 18, 17, 16, 11, 10, 9, 8, 3, 2])
        #expect(s1.localOrder(order) == [15, 14, 13, 12, 7, 6, 5, 4, 1, 0])
        #expect(s0.batchCount(examples: 20) == 3)
        #expect(s0.lossWeight(batch: 0, examples: 20) == 1 && s1.lossWeight(batch: 2, examples: 20) == 1)
    }

    @Test func anUnevenLastBatchIsSplitByOneAndWeightedByShare() throws {
        // 21 examples, batch 9, 3 ranks: batches of 9, 9, 3 → last shards 1, 1, 1; with 22: 4 → 2, 1, 1
        let samplers = try (0..<3).map { try DistributedSampler(rank: $0, size: 3, globalBatchSize: 9) }
        let order = Array(0..<22)
        let shards = samplers.map { $0.localOrder(order) }
        #expect(shards == [[0, 1, 2, 9, 10, 11, 18, 19], [3, 4, 5, 12, 13, 14, 20], [6, 7, 8, 15, 16, 17, 21]])
        #expect(Set(shards.joined()) == Set(order) && shards.joined().count == 22)
        // weights N·m_r/m: 3·2/4 and 3·1/4; they average to 1
        #expect(samplers.map { $0.lossWeight(batch: 2, examples: 22) } == [1.5, 0.75, 0.75])
    }

    @Test func fewerLeftoverExamplesThanRanksAreDroppedAndOneRankDropsNothing() throws {
        let s = try DistributedSampler(rank: 0, size: 4, globalBatchSize: 8)
        #expect(s.batchCount(examples: 19) == 2)   // 3 left over for 4 ranks
        #expect(s.batchCount(examples: 20) == 3)
        let one = try DistributedSampler(rank: 0, size: 1, globalBatchSize: 8)
        #expect(one.batchCount(examples: 17) == 3 && one.localOrder(Array(0..<17)) == Array(0..<17))
    }

    @Test func aGlobalBatchThatDoesNotDivideIsRefused() {
        #expect(throws: DistributedError.indivisibleBatch(globalBatch: 128, ranks: 3)) {
            try DistributedSampler(rank: 0, size: 3, globalBatchSize: 128)
        }
        #expect(DistributedSampler.evaluationShard(count: 10, rank: 0, size: 3) == 0..<4)
        #expect(DistributedSampler.evaluationShard(count: 10, rank: 2, size: 3) == 7..<10)
    }
}

/// The autograd hook the data-parallel wrapper starts its all-reduces from.
@Suite struct PostAccumulateGradHookTests {
    @Test func runsOnceWithTheFullyAccumulatedGradient() {
        // y = x·x + 3x at x = 2: the two uses of x reach it separately; the hook sees 2x + 3 = 7 once
        let x = Tensor(shape: [1], scalars: [2]); x.requiresGrad = true
        var seen: [[Float]] = []
        let handle = x.registerPostAccumulateGradHook { seen.append($0.grad!.scalars) }
        ((x * x) + x * 3).sum().backward()
        #expect(seen == [[7]])
        // gradients accumulate across backward calls: the hook sees the running total
        ((x * x) + x * 3).sum().backward()
        #expect(seen == [[7], [14]])
        handle.remove()
        ((x * x) + x * 3).sum().backward()
        #expect(seen.count == 2)
    }

    @Test func aDataParallelWrapperOfOneProcessLeavesGradientsAlone() {
        Tensor.manualSeed(3)
        let model = Linear(4, 2)
        let ddp = DistributedDataParallel(model, group: .single, bucketCapMB: 0.000016)
        #expect(ddp.bucketSizes == [8, 32])   // bias then weight (reverse order), 16-byte cap
        let x = Tensor.rand([3, 4])
        ddp(x).sum().backward()
        let before = model.parameters().map { $0.grad!.scalars }
        ddp.synchronizeGradients()
        #expect(model.parameters().map { $0.grad!.scalars } == before)
        #expect(ddp.stateDict().keys.sorted() == ["module.bias", "module.weight"])
    }
}
