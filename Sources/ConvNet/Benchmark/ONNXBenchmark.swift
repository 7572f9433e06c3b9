import ConvNetCore
import ConvNetNN
import ConvNetONNX
import Foundation

/// ConvNet's side of the ONNX Runtime comparison (benchmarks/onnx_compare.py): the zoo models it
/// exports, and the time to run an `.onnx` file that ONNX Runtime runs too.
public enum ONNXBenchmark {
    /// The zoo models of the comparison, exported to `folder` with the zoo's initialisation:
    /// LeNet (28×28), ResNet-18 at 224×224 and GoogLeNet at 96×96, one input channel.
    public static func exportZoo(to folder: URL) throws {
        for (name, side) in [("lenet", 28), ("resnet18", 224), ("googlenet", 96)] {
            Tensor.manualSeed(0)
            let model = try ModelZoo.spec(named: name).make()
            try model.exportONNX(to: folder.appendingPathComponent("\(name).onnx"), inputShape: [1, 1, side, side])
        }
    }

    /// Prints where a run of `file` on a batch of `batch` spends its time: per ONNX operator (eager,
    /// as imported) or, `compiled`, per kernel of what `compile` replays (fused convolutions), and
    /// per convolution shape.
    public static func profile(file: URL, batch: Int, threads: Int, compiled: Bool = false) throws {
        let model = try ONNXModel(contentsOf: file)
        let x = Tensor.randn([batch] + model.inputShape.dropFirst().map { $0 ?? 1 })
        let replayed = compiled ? compile(model) : nil
        let net = { (x: Tensor) in replayed.map { $0(x) } ?? model(x) }
        // small batches run often enough that the averages settle
        let runs = batch < 8 ? 30 : 3
        withContext({ $0.threads = threads }) {
            withNoGrad {
                _ = net(x)
                Profiler.reset()
                withContext({ $0.profiling = true }) { for _ in 0..<runs { _ = net(x) } }
            }
        }
        for e in Profiler.entries {
            print(String(format: "%9.3f ms  %5d calls  ", e.seconds * 1000 / Double(runs), e.calls / runs) + e.name)
        }
    }

    /// Prints one row, `onnx <file> b<batch>  <threads> thr  <ms> ms  <img/s>`: the median time of
    /// `compile(ONNXModel(file))` on a batch of `batch` (the file's other input sizes) without
    /// gradient recording, over `repeats` runs after three warm-up calls.
    public static func run(file: URL, batch: Int, threads: Int, repeats: Int) throws {
        let model = try ONNXModel(contentsOf: file)
        let s = model.inputShape
        guard !s.isEmpty, s.dropFirst().allSatisfy({ $0 != nil }) else {
            throw ONNXError(.invalidGraph, path: file.path, "the benchmark needs fixed input sizes besides the batch")
        }
        let x = Tensor.randn([batch] + s.dropFirst().map { $0! })
        let compiled = compile(model)
        // three calls first, as the ORT side does: the first traces, the next ones settle buffers and caches
        let t = withContext({ $0.threads = threads }) {
            withNoGrad { () -> Double in
                for _ in 0..<2 { _ = compiled(x) }
                return medianSeconds(repeats: repeats) { _ = compiled(x) }
            }
        }
        let name = "onnx \(file.deletingPathExtension().lastPathComponent) b\(batch)"
        print(name.padding(toLength: max(44, name.count), withPad: " ", startingAt: 0)
              + String(format: " %2d thr  %9.3f ms  %9.0f img/s", threads, t * 1000, Double(batch) / t))
        fflush(nil)
    }
}
