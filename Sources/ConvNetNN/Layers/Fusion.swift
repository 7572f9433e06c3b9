import Foundation
import ConvNetCore

/// Layer fusion. Always: a BatchNorm followed by a ReLU runs as one `batchNormReLU` (forward and
/// backward). At inference (under `withNoGrad`): a Conv2d followed by an eval-mode BatchNorm2d
/// and/or a ReLU (and in residual blocks the shortcut addition) runs as one `conv2dAffineReLU`.
/// Never while a summary traces the model layer by layer; results match the unfused layers to rounding.
public enum Fusion {
    /// Turns fusion off everywhere (for comparisons); on by default, off from the start with
    /// `CONVNET_FUSION=0` in the environment.
    nonisolated(unsafe) public static var enabled = ProcessInfo.processInfo.environment["CONVNET_FUSION"] != "0"

    /// Runs `body` with fusion off (or on, as globally set) on the calling thread only.
    public static func with<T>(enabled on: Bool, _ body: () throws -> T) rethrows -> T {
        let saved = ThreadSwitches.fusionOff
        ThreadSwitches.fusionOff = !on
        defer { ThreadSwitches.fusionOff = saved }
        return try body()
    }

    /// Whether layers may be fused at all (not while tracing a summary).
    static var isAllowed: Bool { enabled && !ThreadSwitches.fusionOff && ForwardTracer.current == nil }
    /// Whether inference fusion into convolutions applies.
    static var isActive: Bool { isAllowed && !GradMode.isEnabled }

    /// `relu(bn(x))`, one operation when allowed.
    static func batchNormReLU(_ bn: BatchNorm, _ x: Tensor) -> Tensor {
        isAllowed ? bn.forward(x, relu: true) : bn(x).relu()
    }

    /// `relu?(bn?(conv(x)) + residual?)`, fused when possible.
    static func convBatchNormReLU(_ conv: Conv2d, _ bn: BatchNorm?, residual: Tensor? = nil, relu: Bool, _ x: Tensor) -> Tensor {
        if isActive, !conv.isLazy, bn?.hasInferenceAffine ?? true {
            let weight = conv.weight
            let affine = bn?.inferenceAffine
            return conv2dAffineReLU(x, weight, bias: conv.bias, stride: conv.stride, padding: conv.padding,
                                    dilation: conv.dilation, groups: conv.groups, scale: affine?.scale, shift: affine?.shift,
                                    residual: residual, relu: relu)
        }
        var y = conv(x)
        if let bn, relu, residual == nil { return batchNormReLU(bn, y) }
        if let bn { y = bn(y) }
        if let residual { y = y + residual }
        return relu ? y.relu() : y
    }
}

extension BatchNorm {
    /// Whether `inferenceAffine` exists: eval mode with the channel count known.
    var hasInferenceAffine: Bool { !training && !isLazy }

    /// In eval mode, the per-channel map this layer applies: y = x·scale + shift (nil in training or before
    /// the channel count is known).
    var inferenceAffine: (scale: Tensor, shift: Tensor)? {
        guard hasInferenceAffine, let mean = runningMean, let variance = runningVar else { return nil }
        let map = batchNormInferenceAffine(runningMean: mean, runningVar: variance, weight: weight, bias: bias, eps: eps)
        return (Tensor(shape: [numFeatures], scalars: map.scale), Tensor(shape: [numFeatures], scalars: map.shift))
    }
}
