import ArgumentParser
import ConvNet
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Benchmark kernels and model training steps (build with -c release).")
    @Option(help: "Comma-separated workload groups: kernels, models, all.") var only: String = "all"
    @Option(help: "Repetitions per measurement (median reported).") var repeats: Int = 5
    @Option(help: "Instead of the suite, show where a model's training step spends its time (e.g. resnet18).") var profile: String?
    @Flag(help: "With --profile: profile an inference forward pass (eval mode, no gradients) instead of a training step.")
    var inference = false
    @Option(help: "With --profile: the batch size (default: the benchmark's, 32–256 by model).") var batch: Int?
    @Option(help: "Threads for the kernels (default: all cores).") var threads: Int?
    @Option(help: "Instead of the suite, measure the image loader on a folder of JPEG/PNG class folders: decode-only speed, loader speed, and training fed by it.")
    var loader: String?
    @Option(help: "With --loader: the crop size of the decode + augment measurement.") var imageSize: Int = 224
    @Option(help: "With --loader: the model whose training the loader feeds (at 96×96), or 'none'.") var feedModel: String = "resnet18"
    @Option(help: "With --loader: training steps for the feeding comparison.") var steps: Int = 12

    func validate() throws {
        try checkRange(repeats, 1...1000, "--repeats")
        try checkRange(steps, 1...100_000, "--steps")
        try checkRange(imageSize, 8...1024, "--image-size")
        try checkRange(threads, 1...1024, "--threads")
    }

    func run() throws {
        if let threads { guard threads > 0 else { throw CLIError(message: "--threads must be positive") }; Threads.count = threads }
        if inference && profile == nil { throw CLIError(message: "--inference needs --profile MODEL") }
        if batch != nil && profile == nil && loader == nil { throw CLIError(message: "--batch needs --profile MODEL") }
        if let batch, batch < 1 { throw CLIError(message: "--batch must be positive") }
        if let loader {
            let t = threads ?? 2
            let bench = try LoaderBenchmark(folder: URL(fileURLWithPath: loader), threads: t, size: imageSize)
            print("image loader on \(loader): \(bench.folder.count) images, \(bench.folder.classNames.count) classes")
            try bench.decodeOnly()
            try bench.loader()
            if feedModel != "none" {
                _ = try loadSpec(feedModel)
                if let fixed = fixedInputSize[feedModel], fixed != 96 { throw CLIError(message: "--feed-model \(feedModel) takes \(fixed)×\(fixed) images; the feeding test uses 96×96") }
                try LoaderBenchmark(folder: URL(fileURLWithPath: loader), threads: t, size: 96).feeding(model: feedModel, batch: batch ?? 32, steps: steps)
            }
            return
        }
        if let profile {
            _ = try loadSpec(profile)
            try BenchmarkSuite.profile(model: profile, inference: inference, batch: batch)
            return
        }
        try BenchmarkSuite(groups: Set(only.split(separator: ",").map(String.init)), repeats: repeats).run()
    }
}
