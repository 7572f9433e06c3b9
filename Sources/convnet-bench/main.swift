// The kernel and model benchmark (build with `swift build -c release`):
//   .build/release/convnet-bench [kernels|models|all] [repeats]
import ConvNet
import Foundation

//   .build/release/convnet-bench distributed allreduce | train MODEL SIDE [STEPS]   (alone or under mpirun)
let args = CommandLine.arguments.dropFirst()
if args.first == "distributed" {
    do { try DistributedBench.run(Array(args.dropFirst())) } catch {
        FileHandle.standardError.write(Data("convnet-bench: \(error)\n".utf8))
        exit(1)
    }
    exit(0)
}
let groups = Set((args.first ?? "all").split(separator: ",").map(String.init))
let repeats = args.dropFirst().first.flatMap(Int.init) ?? 5
try BenchmarkSuite(groups: groups, repeats: repeats, userModels: userWrittenModels).run()
