import Foundation

/// A training configuration value out of its range, named as the option that sets it.
public struct TrainingConfigError: Error, CustomStringConvertible, Equatable {
    /// The setting (`momentum`, `batch size`, …).
    public let setting: String
    /// What is wrong with its value.
    public let reason: String
    /// One line naming the setting and the problem.
    public var description: String { "\(setting) \(reason)" }
}

extension TrainingConfig {
    /// Checks every numeric setting before a trainer (and its optimiser, which traps on bad
    /// values as PyTorch raises) is built: finite, in range, no overflow.
    public func validate() throws {
        func fail(_ s: String, _ r: String) -> TrainingConfigError { TrainingConfigError(setting: s, reason: r) }
        guard epochs > 0 else { throw fail("epochs", "must be positive, got \(epochs)") }
        guard batchSize > 0 else { throw fail("batch size", "must be positive, got \(batchSize)") }
        guard lr.isFinite, lr > 0 else { throw fail("learning rate", "must be a positive number, got \(lr)") }
        guard momentum.isFinite, momentum >= 0, momentum < 1 else { throw fail("momentum", "must be in [0, 1), got \(momentum)") }
        guard weightDecay.isFinite, weightDecay >= 0 else { throw fail("weight decay", "must be 0 or more, got \(weightDecay)") }
        guard labelSmoothing.isFinite, labelSmoothing >= 0, labelSmoothing <= 1 else {
            throw fail("label smoothing", "must be in [0, 1], got \(labelSmoothing)")
        }
        if let resize, resize <= 0 { throw fail("resize", "must be positive, got \(resize)") }
    }
}
