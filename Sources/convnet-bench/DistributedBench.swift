import CMPI
import ConvNet
import Foundation

/// `convnet-bench distributed …`: the data-parallel measurements of benchmarks/distributed.sh.
///
/// - `allreduce`: seconds and GB/s (algorithm bandwidth: bytes / time) of summing 1 KB … 64 MB over
///   the ranks through `ProcessGroup` (non-blocking, progressed by its communication thread), next
///   to Open MPI's own blocking `MPI_Allreduce` called directly on the same buffer; then ResNet-18's
///   whole gradient set (44.7 MB) through `DistributedDataParallel` (25 MB buckets, packed,
///   reduced, averaged back into the gradients) next to one `MPI_Allreduce` of the same bytes.
/// - `train MODEL SIDE`: images/s of forward, backward, gradient averaging and SGD step at global
///   batch 64 on random images, with the time spent in all-reduce and the part of it hidden
///   behind the backward pass. Run it alone (1 rank × T threads) and under mpirun (N ranks).
enum DistributedBench {
    static func run(_ args: [String]) throws {
        let group = try ProcessGroup.fromEnvironment()
        func say(_ s: String) { if group.isPrimary { print(s); fflush(nil) } }
        let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
        say("# \(group.size) rank(s) × \(Threads.count) thread(s); load average \(load)")
        switch args.first {
        case "allreduce": allReduce(group, say: say)
        case "train": try train(group, model: args.count > 1 ? args[1] : "lenet", side: args.count > 2 ? Int(args[2]) ?? 28 : 28,
                                steps: args.count > 3 ? Int(args[3]) ?? 20 : 20, say: say)
        default: throw CLIUsage()
        }
        group.finish()
    }

    struct CLIUsage: Error, CustomStringConvertible {
        var description: String { "usage: convnet-bench distributed allreduce | train MODEL SIDE [STEPS]" }
    }

    /// The median of `repeats` timings of `body` (seconds), all ranks starting together.
    static func time(_ group: ProcessGroup, repeats: Int, _ body: () -> Void) -> Double {
        body()   // warm-up: connections, buffers
        var times: [Double] = []
        for _ in 0..<repeats {
            group.barrier()
            let t = Date()
            body()
            times.append(Date().timeIntervalSince(t))
        }
        // every rank reports its slowest: the collective ends when the last rank has its result
        let slowest = group.allReduceSum(times.map { $0 / Double(group.size) })
        return slowest.sorted()[slowest.count / 2]
    }

    static func allReduce(_ group: ProcessGroup, say: (String) -> Void) {
        say("bytes        ProcessGroup s   GB/s    MPI_Allreduce s   GB/s    ratio")
        for shift in stride(from: 10, through: 26, by: 2) {
            let bytes = 1 << shift, count = bytes / 4
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
            buffer.initialize(repeating: 1, count: count)
            defer { buffer.deallocate() }
            let repeats = bytes >= 1 << 24 ? 5 : 20
            let ours = time(group, repeats: repeats) { group.startAllReduce(buffer, count: count).wait() }
            let theirs = time(group, repeats: repeats) { var m = [CChar](repeating: 0, count: 256); _ = cmpi_allreduce_float(buffer, count, &m, 256) }
            say(String(format: "%-12d %-16.6f %-7.3f %-17.6f %-7.3f %.2f", bytes, ours, Double(bytes) / ours / 1e9, theirs,
                       Double(bytes) / theirs / 1e9, ours / theirs))
        }
        // ResNet-18's gradients through DistributedDataParallel's buckets against one MPI call
        let model = try! ModelZoo.spec(named: "resnet18").make()
        let ddp = DistributedDataParallel(model, group: group)
        let params = model.parameters()
        for p in params { p.grad = Tensor.ones(p.shape) }
        let total = params.reduce(0) { $0 + $1.count }
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: total)
        buffer.initialize(repeating: 1, count: total)
        defer { buffer.deallocate() }
        let ours = time(group, repeats: 5) { ddp.synchronizeGradients() }
        let theirs = time(group, repeats: 5) { var m = [CChar](repeating: 0, count: 256); _ = cmpi_allreduce_float(buffer, total, &m, 256) }
        say(String(format: "ResNet-18 gradients, %.1f MB in %d buckets (%@ MB): DistributedDataParallel %.4f s, MPI_Allreduce %.4f s, ratio %.2f",
                   Double(total * 4) / 1e6, ddp.bucketSizes.count, ddp.bucketSizes.map { String(format: "%.1f", Double($0) / 1e6) }.joined(separator: " + "),
                   ours, theirs, ours / theirs))
    }

    static func train(_ group: ProcessGroup, model name: String, side: Int, steps: Int, say: (String) -> Void) throws {
        let globalBatch = 64
        guard globalBatch % group.size == 0 else { throw DistributedError.indivisibleBatch(globalBatch: globalBatch, ranks: group.size) }
        let local = globalBatch / group.size
        Tensor.manualSeed(0)
        let model = try ModelZoo.spec(named: name).make()
        let cap = ProcessInfo.processInfo.environment["BUCKET_CAP_MB"].flatMap(Double.init) ?? 25
        let ddp = group.isDistributed ? DistributedDataParallel(model, group: group, bucketCapMB: cap) : nil
        let net = compile(ddp ?? model)
        let optimizer = SGD(model.parameters(), lr: 0.01, momentum: 0.9)
        let images = Tensor.rand([local, 1, side, side])
        let labels = (0..<local).map { ($0 + group.rank) % 10 }
        var backwardSeconds = 0.0
        func step() {
            let loss = crossEntropy(net(images), labels)
            optimizer.zeroGrad()
            let t = Date()
            loss.backward()
            backwardSeconds += Date().timeIntervalSince(t)
            ddp?.synchronizeGradients()
            withNoGrad { optimizer.step() }
        }
        for _ in 0..<3 { step() }
        ddp?.resetTimings()
        backwardSeconds = 0
        group.barrier()
        let start = Date()
        for _ in 0..<steps { step() }
        group.barrier()
        let seconds = Date().timeIntervalSince(start)
        let t = ddp?.timings ?? CommunicationTimings()
        let stats = group.allReduceSum([t.communicationSeconds, t.exposedSeconds, backwardSeconds]).map { $0 / Double(group.size) / Double(steps) }
        let hidden: Double = stats[0] > 0 ? 100 * (1 - stats[1] / stats[0]) : 0
        let rate = Double(steps * globalBatch) / seconds, perStep = seconds / Double(steps)
        let buckets = ddp.map { " in \($0.bucketSizes.count) buckets" } ?? ""
        say("train \(name) \(side)×\(side) batch \(globalBatch) (\(local) per rank): " + String(format: "%.1f images/s, %.4f s/step", rate, perStep)
            + (ddp == nil ? String(format: "; backward %.4f s/step", stats[2])
                          : String(format: "; all-reduce %.4f s/step%@, exposed %.4f s/step (%.0f%% hidden), backward %.4f s/step",
                                   stats[0], buckets, stats[1], hidden, stats[2])))
    }
}
