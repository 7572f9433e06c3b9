// The kernel and model benchmark (build with `swift build -c release`):
//   .build/release/convnet-bench [kernels|models|all] [repeats]
import ConvNet

let args = CommandLine.arguments.dropFirst()
let groups = Set((args.first ?? "all").split(separator: ",").map(String.init))
let repeats = args.dropFirst().first.flatMap(Int.init) ?? 5
try BenchmarkSuite(groups: groups, repeats: repeats, userModels: userWrittenModels).run()
