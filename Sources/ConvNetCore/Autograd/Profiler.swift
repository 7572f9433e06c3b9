import Dispatch
import Foundation

/// Accumulates time per operation while enabled: leaf-module forwards ("forward Conv2d") and
/// autograd backward steps ("backward conv2d"). `convnet bench --profile` prints it.
public enum Profiler {
    /// Whether this thread records (its context's `profiling`; `withContext { $0.profiling = true }`).
    public static var isEnabled: Bool {
        get { ContextSlot.box.value.profiling }
        set { ContextSlot.box.value.profiling = newValue }
    }
    nonisolated(unsafe) private static var totals: [String: (seconds: Double, calls: Int)] = [:]
    private static let lock = NSLock()

    /// Adds one call of `seconds` to the total kept under `name`.
    public static func record(_ name: String, seconds: Double) {
        lock.lock(); defer { lock.unlock() }
        let t = totals[name] ?? (0, 0)
        totals[name] = (t.seconds + seconds, t.calls + 1)
    }

    /// Times `body` under `name` when profiling, otherwise just runs it.
    @inline(__always)
    public static func measure<T>(_ name: @autoclosure () -> String, _ body: () -> T) -> T {
        guard isEnabled else { return body() }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let r = body()
        record(name(), seconds: Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        return r
    }

    /// Forgets every recorded total.
    public static func reset() { lock.lock(); totals = [:]; lock.unlock() }

    /// Entries by total time, largest first.
    public static var entries: [(name: String, seconds: Double, calls: Int)] {
        lock.lock(); defer { lock.unlock() }
        return totals.map { ($0.key, $0.value.seconds, $0.value.calls) }.sorted { $0.seconds > $1.seconds }
    }
}
