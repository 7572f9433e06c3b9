// The kernel and model benchmark (build with `swift build -c release`):
//   .build/release/convnet-bench [kernels|models|all] [repeats]
// and ConvNet's side of the ONNX Runtime comparison (benchmarks/onnx_compare.py):
//   .build/release/convnet-bench onnx-export FOLDER
//   .build/release/convnet-bench onnx FILE.onnx BATCH [repeats] [threads]
//   .build/release/convnet-bench onnx-profile FILE.onnx BATCH [threads] [--compiled]   (time per operator or kernel)
// and the data-parallel measurements (benchmarks/distributed.sh):
//   .build/release/convnet-bench distributed allreduce | train MODEL SIDE [STEPS]   (alone or under mpirun)
import ConvNet
import Foundation

let args = Array(CommandLine.arguments.dropFirst())
switch args.first {
case "distributed":
    do { try DistributedBench.run(Array(args.dropFirst())) } catch {
        FileHandle.standardError.write(Data("convnet-bench: \(error)\n".utf8))
        exit(1)
    }
case "onnx-export" where args.count == 2:
    try ONNXBenchmark.exportZoo(to: URL(fileURLWithPath: args[1]))
case "onnx-profile" where args.count >= 3:
    try ONNXBenchmark.profile(file: URL(fileURLWithPath: args[1]), batch: Int(args[2]) ?? 1, threads: args.count > 3 ? Int(args[3]) ?? 2 : 2,
                              compiled: args.contains("--compiled"))
case "onnx" where args.count >= 3:
    try ONNXBenchmark.run(file: URL(fileURLWithPath: args[1]), batch: Int(args[2]) ?? 1,
                          threads: args.count > 4 ? Int(args[4]) ?? 2 : 2, repeats: args.count > 3 ? Int(args[3]) ?? 5 : 5)
default:
    let groups = Set((args.first ?? "all").split(separator: ",").map(String.init))
    let repeats = args.dropFirst().first.flatMap(Int.init) ?? 5
    try BenchmarkSuite(groups: groups, repeats: repeats, userModels: userWrittenModels).run()
}
