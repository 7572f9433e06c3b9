import CKernels
import Dispatch
import Foundation

/// Parallel regions of the kernels, over the calling thread's `ExecutionContext.threads`.
public enum Threads {
    /// The number of threads kernels split work over on this thread (its context's `threads`; set
    /// it for a scope with `withContext { $0.threads = n }`, or for the rest of this thread here).
    public static var count: Int {
        get { ContextSlot.box.value.threads }
        set { ContextSlot.box.value.threads = newValue }
    }

    /// Runs `body` on `n` chunks of `0..<total`, in parallel when worthwhile. Chunks are contiguous
    /// and the split depends only on `total` and `count`, so results are reproducible.
    public static func parallelFor(_ total: Int, minPerThread: Int = 1, _ body: (Range<Int>) -> Void) {
        parallelChunks(total, minPerThread: minPerThread) { _, r in body(r) }
    }

    /// Splits columns `0..<total` over threads on `width`-column panel boundaries (the GEMM's
    /// panel width), calling `body(first, end)` once per thread.
    public static func parallelPanels(_ total: Int, width: Int = 64, _ body: (Int, Int) -> Void) {
        parallelFor((total + width - 1) / width) { r in body(r.lowerBound * width, Swift.min(total, r.upperBound * width)) }
    }

    /// Runs `body(thread, range)` with the thread index, for per-thread scratch buffers.
    /// Returns how many chunks ran.
    @discardableResult
    public static func parallelChunks(_ total: Int, minPerThread: Int = 1, _ body: (Int, Range<Int>) -> Void) -> Int {
        guard total > 0 else { return 0 }
        let n = Swift.min(count, Swift.max(1, total / Swift.max(1, minPerThread)))
        if n <= 1 { body(0, 0..<total); return 1 }
        let context = ExecutionContext.current   // workers run with the caller's context
        let chunk = { (t: Int) in
            ExecutionContext.current = context
            let lo = total * t / n, hi = total * (t + 1) / n
            if hi > lo { body(t, lo..<hi) }
        }
        if ck_pool_available() != 0 {
            // the kernels' own pool (CKernels/thread_pool.c): libdispatch's sleeping workers take
            // ~45 µs to wake here, longer than many regions' work
            withoutActuallyEscaping(chunk) { run in
                let task = PoolTask(run)
                withExtendedLifetime(task) {
                    // (the task borrowed, not retained: both threads touching one reference count
                    // at each region's start and end bounced its cache line between the cores)
                    _ = ck_pool_run(n, { ctx, t in
                        Unmanaged<PoolTask>.fromOpaque(ctx!)._withUnsafeGuaranteedRef { $0.run(t) }
                    }, Unmanaged.passUnretained(task).toOpaque())
                }
            }
        } else {
            withoutActuallyEscaping(chunk) { run in
                let region = RegionBody(run)
                DispatchQueue.concurrentPerform(iterations: n) { region.run($0) }
            }
        }
        return n
    }
}

/// A region's per-chunk body for libdispatch. Unchecked: the body runs on several threads by design,
/// each chunk writing only its own part of the caller's buffers, and the region returns only after
/// every chunk has ended.
private struct RegionBody: @unchecked Sendable {
    let run: (Int) -> Void
    init(_ run: @escaping (Int) -> Void) { self.run = run }
}

/// A region's per-chunk body, handed to the C pool as an opaque context.
private final class PoolTask {
    let run: (Int) -> Void
    init(_ run: @escaping (Int) -> Void) { self.run = run }
}
