import ArgumentParser
import ConvNet
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Benchmark kernels and model training steps (build with -c release).")
    @Option(help: "Comma-separated workload groups: kernels, models, all.") var only: String = "all"
    @Option(help: "Repetitions per measurement (median reported).") var repeats: Int = 5

    func run() throws {
        try BenchmarkSuite(groups: Set(only.split(separator: ",").map(String.init)), repeats: repeats).run()
    }
}
