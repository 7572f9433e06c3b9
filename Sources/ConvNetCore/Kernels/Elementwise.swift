import CKernels
import Foundation

/// Contiguous elementwise loops; each is written out so the optimiser vectorises it.
public enum Elementwise {
    /// Elements per thread below which splitting costs more than it saves.
    static let grain = 1 << 17

    /// Writes `f(a[i])` into `out[i]` for `i` in `0..<n`, on several threads for large `n`.
    @inline(__always)
    public static func map(_ a: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int,
                           _ f: (Float) -> Float) {
        if n < 2 * grain { for i in 0..<n { out[i] = f(a[i]) }; return }
        Threads.parallelFor(n, minPerThread: grain) { r in for i in r { out[i] = f(a[i]) } }
    }

    /// Writes `f(a[i], b[i])` into `out[i]` for `i` in `0..<n`, on several threads for large `n`.
    @inline(__always)
    public static func zip(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                           _ n: Int, _ f: (Float, Float) -> Float) {
        if n < 2 * grain { for i in 0..<n { out[i] = f(a[i], b[i]) }; return }
        Threads.parallelFor(n, minPerThread: grain) { r in for i in r { out[i] = f(a[i], b[i]) } }
    }

    /// Writes `a[i] + b[i]` into `out[i]` for `i` in `0..<n`.
    public static func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { out[i] = a[i] + b[i] }
    }

    /// y += alpha · x
    public static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { y[i] += alpha * x[i] }
    }

    /// The sum of the `n` floats at `a` (a vectorised C reduction).
    public static func sum(_ a: UnsafePointer<Float>, _ n: Int) -> Float { ck_sum(a, n) }
}
