import Foundation

/// Whether operations record the autograd graph on the current thread (`ExecutionContext.gradEnabled`).
public enum GradMode {
    /// Whether this thread records operations for autograd now (PyTorch's `torch.is_grad_enabled()`).
    public static var isEnabled: Bool { ContextSlot.box.value.gradEnabled }

    /// Runs `body` with recording set to `enabled` on this thread, restoring it afterwards.
    public static func with<T>(enabled: Bool, _ body: () throws -> T) rethrows -> T {
        try withContext({ $0.gradEnabled = enabled }, body)
    }
}

/// Evaluates `body` without recording gradients (evaluation, optimiser updates), returning its value
/// (PyTorch's `torch.no_grad()`).
@discardableResult
public func withNoGrad<T>(_ body: () throws -> T) rethrows -> T {
    try GradMode.with(enabled: false, body)
}

/// An object attached to the current thread (a model summary's tracer: a trace must record only the
/// modules its own thread runs, not those of other threads, such as tests running in parallel).
public enum ThreadTracer {
    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()

    /// The current thread's object, not retained (the owner keeps it alive while it is set).
    public static var current: AnyObject? {
        get { pthread_getspecific(key).map { Unmanaged<AnyObject>.fromOpaque($0).takeUnretainedValue() } }
        set { pthread_setspecific(key, newValue.map { Unmanaged.passUnretained($0).toOpaque() }) }
    }
}
