import CKernels

/// Whether operations record the autograd graph on the current thread. Off inside `withNoGrad`.
public enum GradMode {
    /// Whether this thread records operations for autograd now (PyTorch's `torch.is_grad_enabled()`).
    public static var isEnabled: Bool { ck_grad_disabled() == 0 }

    /// Runs `body` with recording set to `enabled` on this thread, restoring it afterwards.
    public static func with<T>(enabled: Bool, _ body: () throws -> T) rethrows -> T {
        let saved = ck_grad_disabled()
        ck_set_grad_disabled(enabled ? 0 : 1)
        defer { ck_set_grad_disabled(saved) }
        return try body()
    }
}

/// Evaluates `body` without recording gradients (evaluation, optimiser updates), returning its value.
@discardableResult
public func withNoGrad<T>(_ body: () throws -> T) rethrows -> T {
    try GradMode.with(enabled: false, body)
}

/// An object attached to the current thread (a model summary's tracer: a trace must record only the
/// modules its own thread runs, not those of other threads, such as tests running in parallel).
public enum ThreadTracer {
    /// The current thread's object, not retained (the owner keeps it alive while it is set).
    public static var current: AnyObject? {
        get { ck_thread_tracer().map { Unmanaged<AnyObject>.fromOpaque($0).takeUnretainedValue() } }
        set { ck_set_thread_tracer(newValue.map { Unmanaged.passUnretained($0).toOpaque() }) }
    }
}

/// Per-thread switches for scoped choices made above this layer (`Fusion.with(enabled:)`), kept in
/// the kernels' thread-local state so checking them costs nothing on the hot path.
public enum ThreadSwitches {
    /// Layer fusion turned off on the calling thread.
    public static var fusionOff: Bool {
        get { ck_thread_fusion_off() != 0 }
        set { ck_set_thread_fusion_off(newValue ? 1 : 0) }
    }
}
