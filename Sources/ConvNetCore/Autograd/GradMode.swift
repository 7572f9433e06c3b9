import CKernels

/// Whether operations record the autograd graph on the current thread. Off inside `withNoGrad`.
public enum GradMode {
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
