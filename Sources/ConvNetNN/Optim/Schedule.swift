import Foundation

/// A learning rate as a function of the epoch (0-based), applied at the start of each epoch.
public enum LRSchedule: Sendable, Equatable {
    /// The base rate every epoch.
    case constant
    /// Multiply by `gamma` every `stepSize` epochs.
    case step(stepSize: Int, gamma: Float)
    /// Cosine from the base rate down to `minLR` over `totalEpochs`.
    case cosine(totalEpochs: Int, minLR: Float)
    /// Linear warm-up over `warmupEpochs`, then cosine to `minLR` at `totalEpochs`.
    case warmupCosine(warmupEpochs: Int, totalEpochs: Int, minLR: Float)

    /// The learning rate for `epoch` (0-based) given the base rate `base`.
    public func lr(base: Float, epoch: Int) -> Float {
        switch self {
        case .constant: return base
        case .step(let s, let gamma): return base * Foundation.pow(gamma, Float(epoch / Swift.max(s, 1)))
        case .cosine(let total, let minLR):
            let t = Float(Swift.min(epoch, total)) / Float(Swift.max(total, 1))
            return minLR + (base - minLR) * (1 + Foundation.cos(Float.pi * t)) / 2
        case .warmupCosine(let warm, let total, let minLR):
            if epoch < warm { return base * Float(epoch + 1) / Float(warm) }
            let t = Float(Swift.min(epoch - warm, total - warm)) / Float(Swift.max(total - warm, 1))
            return minLR + (base - minLR) * (1 + Foundation.cos(Float.pi * t)) / 2
        }
    }
}
