import ConvNetCore
import ConvNetData
import ConvNetNN
import Foundation

/// Median wall time of `body` over `repeats` runs after one warm-up.
public func medianSeconds(repeats: Int, _ body: () -> Void) -> Double {
    body()
    var times: [Double] = []
    for _ in 0..<max(1, repeats) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    times.sort()
    return times[times.count / 2]
}

/// The kernel and model workloads of the README's performance section, at 1 and 2 threads.
public struct BenchmarkSuite {
    /// The workload groups to run (`all` for every one).
    public let groups: Set<String>
    /// Timed runs per workload; the median is reported.
    public let repeats: Int

    /// Models written outside the library (a user's own classes), benchmarked after the zoo model
    /// they reproduce: (row name, the zoo model it mirrors, how to build it).
    public let userModels: [(name: String, twin: String, make: @Sendable () -> any Module)]

    /// A suite running `groups`, each workload timed `repeats` times, with `userModels` after their zoo twins.
    public init(groups: Set<String>, repeats: Int, userModels: [(name: String, twin: String, make: @Sendable () -> any Module)] = []) {
        self.groups = groups; self.repeats = repeats; self.userModels = userModels
    }

    func wants(_ g: String) -> Bool { groups.contains("all") || groups.contains(g) }

    func row(_ name: String, _ threads: Int, _ seconds: Double, flops: Double?, images: Int? = nil, peakBytes: Int? = nil) {
        var s = name.padding(toLength: max(44, name.count), withPad: " ", startingAt: 0) + String(format: " %2d thr  %9.3f ms", threads, seconds * 1000)
        if let flops { s += String(format: "  %7.1f GFLOP/s", flops / seconds / 1e9) }
        if let images { s += String(format: "  %9.0f img/s", Double(images) / seconds) }
        if let peakBytes { s += String(format: "  %6.0f MB peak", Double(peakBytes) / 1e6) }
        print(s)
        fflush(nil) // all streams: `stdout` is a C global Swift 6 cannot prove race-free
    }

    /// Runs the chosen workloads at 1 and 2 threads and prints one line per workload.
    public func run() throws {
        let saved = Threads.count
        defer { Threads.count = saved }
        print("ConvNet benchmark — GEMM micro-kernel: \(GEMM.isa), \(ProcessInfo.processInfo.activeProcessorCount) cores")
        if wants("kernels") || wants("gemm") { gemm() }
        if wants("kernels") || wants("conv") || Self.convWorkloads.contains(where: { w in groups.contains { w.0.contains($0) } }) { conv() }
        if wants("kernels") || wants("pool") { pool() }
        if wants("models") || !Set(ModelZoo.names).isDisjoint(with: groups) { models() }
    }

    func gemm() {
        // square sizes, then the shape of ResNet-18/96's last stage as one GEMM (M = Cout, N = images·3·3, K = Cin·9)
        let shapes = [256, 512, 1024, 2048].map { ("sgemm \($0)", $0, $0, $0) } + [("sgemm 512×576×4608", 512, 576, 4608)]
        for (name, m, n, k) in shapes {
            let a = Tensor.randn([m, k]), b = Tensor.randn([k, n]), c = Tensor.empty([m, n])
            for threads in [1, 2] {
                Threads.count = threads
                let t = medianSeconds(repeats: repeats) {
                    GEMM.sgemm(transA: false, transB: false, m: m, n: n, k: k, a: a.elementPointer, lda: k, b: b.elementPointer, ldb: n, c: c.elementPointer, ldc: n, accumulate: false)
                }
                row(name, threads, t, flops: 2 * Double(m * n * k))
            }
        }
    }

    /// (name, N, C, H, W, Cout, k, pad, stride)
    static let convWorkloads: [(String, Int, Int, Int, Int, Int, Int, Int, Int)] = [
        ("LeNet conv1 256×1×28² → 6, 5×5 p2", 256, 1, 28, 28, 6, 5, 2, 1),
        ("LeNet conv2 256×6×14² → 16, 5×5", 256, 6, 14, 14, 16, 5, 0, 1),
        ("ResNet 64×64×56² → 64, 3×3 p1", 64, 64, 56, 56, 64, 3, 1, 1),
        ("stem 32×3×224² → 64, 7×7/2 p3", 32, 3, 224, 224, 64, 7, 3, 2),
        ("ResNet 64×128×28² → 128, 3×3 p1", 64, 128, 28, 28, 128, 3, 1, 1),
        ("ResNet-18/96 b2 64×64×24² → 64, 3×3 p1", 64, 64, 24, 24, 64, 3, 1, 1),
        ("ResNet-18/96 b3 64×128×12² → 128, 3×3 p1", 64, 128, 12, 12, 128, 3, 1, 1),
        ("ResNet-18/96 b4 64×256×6² → 256, 3×3 p1", 64, 256, 6, 6, 256, 3, 1, 1),
        ("ResNet-18/96 b5 64×512×3² → 512, 3×3 p1", 64, 512, 3, 3, 512, 3, 1, 1),
        ("ResNet-18/96 b3 down 64×64×24² → 128, 3×3/2 p1", 64, 64, 24, 24, 128, 3, 1, 2),
    ]

    func conv() {
        for (name, n, c, h, w, co, k, p, s) in Self.convWorkloads
        where wants("kernels") || wants("conv") || groups.contains(where: { name.contains($0) }) {
            let x = Tensor.randn([n, c, h, w]), wt = Tensor.randn([co, c, k, k]) * 0.1, b = Tensor.zeros([co])
            let ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1
            let flops = 2.0 * Double(n * co * ho * wo * c * k * k)
            for threads in [1, 2] {
                Threads.count = threads
                let t = medianSeconds(repeats: repeats) { _ = withNoGrad { conv2d(x, wt, bias: b, stride: s, padding: p) } }
                row("conv fwd " + name, threads, t, flops: flops)
            }
            x.requiresGrad = true; wt.requiresGrad = true; b.requiresGrad = true
            let g = Tensor.randn([n, co, ho, wo])
            for threads in [1, 2] {
                Threads.count = threads
                let t = medianSeconds(repeats: repeats) { conv2d(x, wt, bias: b, stride: s, padding: p).backward(g) }
                row("conv fwd+bwd " + name, threads, t, flops: 3 * flops)
            }
        }
    }

    func pool() {
        for (n, c, h) in [(256, 6, 28), (64, 64, 112)] {
            let x = Tensor.randn([n, c, h, h])
            for threads in [1, 2] {
                Threads.count = threads
                let t = medianSeconds(repeats: repeats) { _ = withNoGrad { maxPool2d(x, kernelSize: 2) } }
                let gb = Double(x.count * 4 + x.count) / 1e9
                let label = "maxpool 2×2 \(n)×\(c)×\(h)²"
                print(label.padding(toLength: 44, withPad: " ", startingAt: 0) + String(format: " %2d thr  %9.3f ms  %7.1f GB/s", threads, t * 1000, gb / t))
            }
        }
    }

    /// Where a training step's time goes, per leaf layer forward and per backward operation.
    public static func profile(model name: String, inference: Bool = false, batch: Int? = nil, steps: Int = 5) throws {
        let spec = try ModelZoo.spec(named: name)
        let batch = batch ?? (spec.defaults.resize >= 224 ? 32 : (spec.defaults.resize >= 96 ? 64 : 256))
        let side = spec.defaults.resize
        Tensor.manualSeed(0)
        let model = spec.make()
        let x = Tensor.rand([batch, 1, side, side])
        let labels = (0..<batch).map { $0 % 10 }
        let opt = SGD(model.parameters(), lr: 0.01, momentum: 0.9)
        if inference { model.eval() }
        let steps = inference && batch < 8 ? steps * 20 : steps
        func step() {
            if inference {
                _ = Profiler.measure("forward (whole model)") { withNoGrad { model(x) } }
                return
            }
            let loss = Profiler.measure("loss (cross-entropy)") { crossEntropy(model(x), labels) }
            opt.zeroGrad()
            loss.backward()
            Profiler.measure("optimizer step") { withNoGrad { opt.step() } }
        }
        step()
        Profiler.reset()
        Profiler.isEnabled = true
        let t0 = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<steps { step() }
        let perStep = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 / Double(steps)
        Profiler.isEnabled = false
        let what = inference ? "an inference forward pass" : "a training step"
        print("profile of \(what): \(name) \(side)² batch \(batch), \(Threads.count) threads, \(String(format: "%.1f", perStep * 1000)) ms per step")
        print(inference ? "  (eval mode, no gradients: convolutions with their batch norm and ReLU fused where the model allows)"
                        : "  (leaf-layer forwards and autograd backward steps; the loss line includes the whole forward)")
        for e in Profiler.entries {
            let ms = e.seconds / Double(steps) * 1000
            let label = e.name.padding(toLength: max(36, e.name.count), withPad: " ", startingAt: 0)
            print(label + String(format: " %9.2f ms  %5.1f%%  %4d calls", ms, 100 * ms / (perStep * 1000), e.calls / steps))
        }
    }

    /// Training step (forward, backward, SGD update) and inference for the zoo at D2L's sizes.
    func models() {
        let saved = Threads.count
        let cases: [(String, Int, Int)] = [("lenet", 256, 28), ("bn-lenet", 256, 28), ("alexnet", 32, 224), ("vgg11", 32, 224),
                                           ("nin", 32, 224), ("googlenet", 64, 96), ("resnet18", 64, 96), ("densenet", 64, 96),
                                           ("regnetx32", 64, 96)]
        var runs: [(name: String, batch: Int, side: Int, make: () -> any Module)] = []
        for (name, batch, side) in cases where wants("models") || groups.contains(name) {
            guard let spec = try? ModelZoo.spec(named: name) else { continue }
            runs.append((name, batch, side, { spec.make() }))
            // a user's own version of the same network, side by side with the zoo's
            for user in userModels where user.twin == name { runs.append((user.name, batch, side, user.make)) }
        }
        for (name, batch, side, make) in runs {
            // each model starts from an empty buffer cache, as it would in its own process
            TensorMemory.releaseCached()
            Tensor.manualSeed(0)
            // as the trainer and inference run it: traced once per shape and mode, replayed with the engine's fusions
            let model = compile(make())
            let x = Tensor.rand([batch, 1, side, side])
            let labels = (0..<batch).map { $0 % 10 }
            let opt = SGD(model.parameters(), lr: 0.01, momentum: 0.9)
            for threads in [1, 2] {
                Threads.count = threads
                let reps = side >= 96 ? max(1, repeats / 2) : repeats
                TensorMemory.releaseCached()
                ProcessMemory.resetPeak()
                let t = medianSeconds(repeats: reps) {
                    let loss = crossEntropy(model(x), labels)
                    opt.zeroGrad()
                    loss.backward()
                    withNoGrad { opt.step() }
                }
                row("train step \(name) \(side)² batch \(batch)", threads, t, flops: nil, images: batch, peakBytes: ProcessMemory.peakBytes())
            }
            model.eval()
            Threads.count = saved
            var inferenceBatches = [64]
            if name == "lenet" { inferenceBatches = [1, 64, 256] } else if name == "resnet18" { inferenceBatches = [1, 64] }
            for b in inferenceBatches {
                let xb = Tensor.rand([b, 1, side, side])
                TensorMemory.releaseCached()
                ProcessMemory.resetPeak()
                let t = medianSeconds(repeats: b == 1 ? repeats * 20 : repeats) { _ = withNoGrad { model(xb) } }
                row("inference \(name) \(side)² batch \(b)", saved, t, flops: nil, images: b, peakBytes: ProcessMemory.peakBytes())
            }
        }
    }
}
