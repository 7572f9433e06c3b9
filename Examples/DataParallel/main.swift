// Data-parallel training of your own model: the same program runs alone or as N processes under
// mpirun, and trains the same way — every global step averages the gradients of the N shards of
// one global batch, so the result equals a single process training on the whole batch.
//
//   swift build -c release
//   .build/release/data-parallel                       # one process
//   mpirun -np 2 .build/release/data-parallel          # two ranks (add --sync-bn for SyncBatchNorm)
//   mpirun --hostfile hosts -np 8 .build/release/data-parallel
import ConvNet
import Foundation

/// A small CNN of our own (any `Module` works).
final class TinyNet: Module {
    let conv = Conv2d(1, 8, kernelSize: 3, padding: 1)
    let bn = BatchNorm2d(8)
    let fc = Linear(8 * 8 * 8, 2)

    func forward(_ x: Tensor) -> Tensor {
        let h = maxPool2d(relu(bn(conv(x))), kernelSize: 2)
        return fc(h.view(-1, 8 * 8 * 8))
    }
}

do {
    // under mpirun: this process's rank (Open MPI is loaded now); alone: rank 0 of 1
    let group = try ProcessGroup.fromEnvironment()
    Tensor.manualSeed(0)
    // a made-up task: is the upper half of a noise image brighter than the lower half?
    let examples = 520, side = 16, globalBatch = 64
    let pixels = Tensor.rand([examples, 1, side, side]).scalars
    let labels = (0..<examples).map { i -> Int in
        let img = pixels[(i * side * side)..<((i + 1) * side * side)]
        return img.prefix(side * side / 2).reduce(0, +) > img.suffix(side * side / 2).reduce(0, +) ? 1 : 0
    }

    let model = TinyNet()
    if CommandLine.arguments.contains("--sync-bn") { SyncBatchNorm.convert(model, group: group) }
    // sends rank 0's weights to every rank and hooks gradient all-reduce into backward()
    let ddp = DistributedDataParallel(model, group: group)
    let optimizer = SGD(model.parameters(), lr: 0.003, momentum: 0.9)
    // --batch-size semantics: 64 is the global batch, 64 / N examples per rank and step
    let sampler = try DistributedSampler(rank: group.rank, size: group.size, globalBatchSize: globalBatch)

    for epoch in 1...5 {
        // one order for everyone (same seed), then this rank's shard of every global batch
        let local = sampler.localOrder(Generator.global.permutation(examples))
        var lossSum = 0.0, seen = 0.0
        var at = 0
        for b in 0..<sampler.batchCount(examples: examples) {
            let count = sampler.shard(batch: b, examples: examples).count
            let indices = local[at..<at + count]
            at += count
            let x = Tensor(shape: [count, 1, side, side], scalars: indices.flatMap { pixels[($0 * side * side)..<(($0 + 1) * side * side)] })
            let loss = crossEntropy(ddp(x), indices.map { labels[$0] })
            let totals = group.allReduceSum([Double(loss.item()) * Double(count), Double(count)])
            lossSum += totals[0]; seen += totals[1]
            optimizer.zeroGrad()
            // weighted by this rank's share, so an uneven last batch averages correctly too
            loss.backward(Tensor(sampler.lossWeight(batch: b, examples: examples)))
            ddp.synchronizeGradients()
            withNoGrad { optimizer.step() }
        }
        if group.isPrimary { print(String(format: "epoch %d  loss %.6f  (%d ranks)", epoch, lossSum / seen, group.size)) }
    }
    let checksum = model.parameters().reduce(0.0) { $0 + $1.scalars.reduce(0.0) { $0 + Double(abs($1)) } }
    if group.isPrimary { print(String(format: "parameter checksum %.6f", checksum)) }
    group.finish()
} catch {
    FileHandle.standardError.write(Data("data-parallel: \(error)\n".utf8))
    exit(1)
}
