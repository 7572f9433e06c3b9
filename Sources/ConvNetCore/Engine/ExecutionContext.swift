import CKernels
import Foundation

/// Everything that steers how operations run on the calling thread, in one value, as swift-apis'
/// `Context`: gradient recording, the engine's fusions, the Winograd policy, the kernels' ISA cap,
/// profiling and the thread count. Each thread has its own; a parallel region's workers run with
/// a copy of the caller's. Change it for a scope with `withContext`; environment variables set the
/// defaults once, when the process first asks (`CONVNET_NUM_THREADS`, `CONVNET_WINOGRAD=0`,
/// `CONVNET_FUSION=0`; `CONVNET_ISA` caps the kernels process-wide).
public struct ExecutionContext: Sendable, Equatable {
    /// How 3×3 (and 5×5) stride-1 convolutions may use Winograd's algorithm.
    public enum WinogradPolicy: Sendable, Equatable {
        /// Per layer, by a cost model (F(3×3) with AVX-512 where its tiles cost less, else F(2×2)).
        case auto
        /// Never: im2col + GEMM or direct kernels.
        case off
        /// Force the output tile (2 or 3), for tests of each variant.
        case tile(Int)
    }

    /// Whether operations record the autograd graph (off inside `withNoGrad`).
    public var gradEnabled = true
    /// Whether `compile(model)` applies the engine's rewrites (off: it runs the model op by op).
    public var fusion: Bool
    /// How convolutions may use Winograd's algorithm (`.auto` unless `CONVNET_WINOGRAD=0`).
    public var winograd: WinogradPolicy
    /// The highest micro-kernel ISA the kernels may use (0 portable, 1 AVX2, 2 AVX-512); nil for the machine's.
    public var isaCap: Int?
    /// Whether `Profiler.measure` records time.
    public var profiling = false
    /// How many threads kernels split work over (at least 1).
    public var threads: Int {
        didSet { threads = Swift.max(1, threads) }
    }

    /// The defaults every thread starts from, read from the environment once.
    public static let processDefault: ExecutionContext = {
        let env = ProcessInfo.processInfo.environment
        var threads = ProcessInfo.processInfo.activeProcessorCount
        if let s = env["CONVNET_NUM_THREADS"], let n = Int(s), n > 0 { threads = n }
        return ExecutionContext(fusion: env["CONVNET_FUSION"] != "0", winograd: env["CONVNET_WINOGRAD"] == "0" ? .off : .auto,
                                isaCap: nil, threads: threads)
    }()

    init(fusion: Bool, winograd: WinogradPolicy, isaCap: Int?, threads: Int) {
        self.fusion = fusion; self.winograd = winograd; self.isaCap = isaCap; self.threads = Swift.max(1, threads)
    }

    /// The calling thread's context.
    public static var current: ExecutionContext {
        get { ContextSlot.box.value }
        set {
            let box = ContextSlot.box
            if box.value.isaCap != newValue.isaCap { ck_gemm_set_isa_override(Int32(newValue.isaCap ?? -1)) }
            box.value = newValue
        }
    }
}

/// Runs `body` with the calling thread's context changed by `update`, restoring it afterwards; the
/// only way a scope changes how operations run.
@discardableResult
public func withContext<T>(_ update: (inout ExecutionContext) -> Void, _ body: () throws -> T) rethrows -> T {
    let saved = ExecutionContext.current
    var changed = saved
    update(&changed)
    ExecutionContext.current = changed
    defer { ExecutionContext.current = saved }
    return try body()
}

/// Per-thread storage of the context (a box per thread, reached through a pthread key).
enum ContextSlot {
    final class Box { var value = ExecutionContext.processDefault }
    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k) { p in if let p { Unmanaged<Box>.fromOpaque(p).release() } }
        return k
    }()

    static var box: Box {
        if let p = pthread_getspecific(key) { return Unmanaged<Box>.fromOpaque(p).takeUnretainedValue() }
        let b = Box()
        pthread_setspecific(key, Unmanaged.passRetained(b).toOpaque())
        return b
    }
}
