/// Which examples each rank trains on, as PyTorch's `DistributedSampler` but split per global batch,
/// so that every global step sees exactly the examples a single process would see at the same
/// global batch size.
///
/// Each epoch has one global order (the shuffle drawn from the seeded generator, the same on every
/// rank). Global batch `b` is `order[b·B ..< (b+1)·B]`; rank `r` takes the `r`-th of its `N` equal,
/// disjoint, consecutive shards of `B/N` examples.
///
/// Uneven sizes: when the dataset does not divide by `B`, the last global batch (`m < B` examples)
/// is split as evenly as possible — the first `m mod N` ranks take one example more — and each
/// rank's loss is weighted by its share (``lossWeight(batch:examples:)``), so that step too equals
/// the single-process step; nothing is repeated or dropped. Only when fewer examples than ranks
/// remain (`m < N`) is that last batch dropped, since a rank would have nothing to train on
/// (at most `N − 1` examples an epoch; never with one process).
public struct DistributedSampler: Sendable, Equatable {
    /// This process's rank.
    public let rank: Int
    /// The number of ranks.
    public let size: Int
    /// The global batch size `B` (the same on every rank; `B/N` per rank).
    public let globalBatchSize: Int

    /// A sampler for `rank` of `size`; throws when `globalBatchSize` does not divide by `size`.
    public init(rank: Int, size: Int, globalBatchSize: Int) throws {
        precondition(size > 0 && rank >= 0 && rank < size && globalBatchSize > 0, "DistributedSampler: bad rank \(rank) of \(size) or batch \(globalBatchSize)")
        guard globalBatchSize % size == 0 else { throw DistributedError.indivisibleBatch(globalBatch: globalBatchSize, ranks: size) }
        self.rank = rank; self.size = size; self.globalBatchSize = globalBatchSize
    }

    /// Examples per rank in a full global batch.
    public var localBatchSize: Int { globalBatchSize / size }

    /// Global batches per epoch of `examples` (the last partial one counts unless it is dropped).
    public func batchCount(examples: Int) -> Int {
        let full = examples / globalBatchSize, rest = examples % globalBatchSize
        return full + (rest >= size ? 1 : 0)
    }

    /// The examples of global batch `b` (all ranks).
    public func globalCount(batch b: Int, examples: Int) -> Int {
        Swift.min(globalBatchSize, examples - b * globalBatchSize)
    }

    /// This rank's share of global batch `b`: its offset inside the batch and its example count.
    public func shard(batch b: Int, examples: Int) -> (offset: Int, count: Int) {
        let m = globalCount(batch: b, examples: examples)
        let base = m / size, extra = m % size
        let count = base + (rank < extra ? 1 : 0)
        let offset = rank * base + Swift.min(rank, extra)
        return (offset, count)
    }

    /// This rank's examples of an epoch, in order: its shard of every global batch, concatenated
    /// (a loader with batch size ``localBatchSize`` cuts it back into the per-step batches).
    public func localOrder(_ globalOrder: [Int]) -> [Int] {
        let n = globalOrder.count
        var out: [Int] = []
        out.reserveCapacity(n / size + globalBatchSize)
        for b in 0..<batchCount(examples: n) {
            let (offset, count) = shard(batch: b, examples: n)
            let start = b * globalBatchSize + offset
            out.append(contentsOf: globalOrder[start..<start + count])
        }
        return out
    }

    /// The factor on this rank's mean loss that makes the averaged gradient equal the gradient of
    /// the mean over the whole global batch: `N · m_r / m` (1 for every full batch).
    public func lossWeight(batch b: Int, examples: Int) -> Float {
        let m = globalCount(batch: b, examples: examples)
        return Float(Double(size * shard(batch: b, examples: examples).count) / Double(m))
    }

    /// This rank's contiguous slice of `count` evaluation examples (`0..<count` split as evenly as
    /// possible, the first ranks taking one more).
    public static func evaluationShard(count: Int, rank: Int, size: Int) -> Range<Int> {
        let base = count / size, extra = count % size
        let lo = rank * base + Swift.min(rank, extra)
        return lo..<lo + base + (rank < extra ? 1 : 0)
    }
}
