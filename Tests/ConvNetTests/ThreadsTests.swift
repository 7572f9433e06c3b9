import ConvNet
import Dispatch
import Testing

/// The kernels' parallel regions (CKernels/thread_pool.c under Threads.parallelChunks): every chunk
/// runs exactly once with the documented split, nested regions and regions started from several
/// threads at once complete, and results do not depend on which thread ran a chunk.
@Suite struct ThreadsTests {
    /// Counts per index, filled by `parallelChunks` over `0..<total` (each index owned by one chunk).
    func visits(_ total: Int, minPerThread: Int = 1) -> (counts: [Int], chunks: Int) {
        let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: total)
        defer { counts.deallocate() }
        counts.initialize(repeating: 0)
        let chunks = Threads.parallelChunks(total, minPerThread: minPerThread) { _, r in
            for i in r { counts[i] += 1 }
        }
        return (Array(counts), chunks)
    }

    @Test func everyIndexRunsOnceAndChunksSplitAsDocumented() {
        for total in [1, 2, 3, 17, 1000] {
            let (counts, chunks) = visits(total)
            #expect(counts.allSatisfy { $0 == 1 }, "total \(total)")
            #expect(chunks == Swift.min(Threads.count, total))
        }
        // chunk t covers [total·t/n, total·(t+1)/n)
        let lock = DispatchSemaphore(value: 1)
        var ranges: [Int: Range<Int>] = [:]
        let n = Threads.parallelChunks(1001) { t, r in lock.wait(); ranges[t] = r; lock.signal() }
        for t in 0..<n { #expect(ranges[t] == (1001 * t / n)..<(1001 * (t + 1) / n)) }
    }

    @Test func nestedRegionsComplete() {
        let outer = 8, inner = 500
        let sums = UnsafeMutableBufferPointer<Int>.allocate(capacity: outer)
        defer { sums.deallocate() }
        sums.initialize(repeating: 0)
        Threads.parallelFor(outer) { r in
            for o in r {
                let part = UnsafeMutableBufferPointer<Int>.allocate(capacity: inner)
                defer { part.deallocate() }
                Threads.parallelFor(inner) { q in for i in q { part[i] = i * (o + 1) } }
                sums[o] = part.reduce(0, +)
            }
        }
        for o in 0..<outer { #expect(sums[o] == (o + 1) * inner * (inner - 1) / 2) }
    }

    @Test func regionsFromSeveralThreadsAtOnceComplete() {
        let callers = 4, rounds = 300
        // nonisolated(unsafe): each caller writes only its own slot
        nonisolated(unsafe) let failures = UnsafeMutableBufferPointer<Int>.allocate(capacity: callers)
        defer { failures.deallocate() }
        failures.initialize(repeating: 0)
        DispatchQueue.concurrentPerform(iterations: callers) { c in
            for round in 0..<rounds {
                let total = 100 + round % 37
                let (counts, _) = visits(total)
                if !counts.allSatisfy({ $0 == 1 }) { failures[c] += 1 }
            }
        }
        #expect(failures.reduce(0, +) == 0)
    }

    @Test func convolutionResultsDoNotDependOnTheThreadCount() {
        let x = Tensor.randn([8, 16, 12, 12], generator: Generator(seed: 31))
        let w = Tensor.randn([32, 16, 3, 3], generator: Generator(seed: 32))
        let saved = Threads.count
        defer { Threads.count = saved }
        Threads.count = 2
        let a = withNoGrad { conv2d(x, w, padding: 1) }.scalars
        let b = withNoGrad { conv2d(x, w, padding: 1) }.scalars
        #expect(a == b)
        Threads.count = 1
        let c = withNoGrad { conv2d(x, w, padding: 1) }.scalars
        #expect(zip(a, c).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) })
    }
}
