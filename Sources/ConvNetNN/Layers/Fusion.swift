import ConvNetCore

/// Inference-time layer fusion: a Conv2d followed by an eval-mode BatchNorm2d and/or a ReLU runs as
/// one `conv2dAffineReLU`. Only without autograd recording (under `withNoGrad`), and never while a
/// summary traces the model layer by layer; results match the unfused layers to rounding.
public enum Fusion {
    /// Turns fusion off everywhere (for comparisons); on by default.
    nonisolated(unsafe) public static var enabled = true

    static var isActive: Bool { enabled && !GradMode.isEnabled && ForwardTracer.current == nil }

    /// `relu?(bn?(conv(x)) + residual?)`, fused when possible.
    static func convBatchNormReLU(_ conv: Conv2d, _ bn: BatchNorm?, residual: Tensor? = nil, relu: Bool, _ x: Tensor) -> Tensor {
        if isActive, let weight = conv.weight, bn == nil || bn!.inferenceAffine != nil {
            let affine = bn?.inferenceAffine
            return conv2dAffineReLU(x, weight, bias: conv.bias, stride: conv.stride, padding: conv.padding,
                                    dilation: conv.dilation, groups: conv.groups, scale: affine?.scale, shift: affine?.shift,
                                    residual: residual, relu: relu)
        }
        var y = conv(x)
        if let bn { y = bn(y) }
        if let residual { y = y + residual }
        return relu ? y.relu() : y
    }
}

extension BatchNorm {
    /// In eval mode, the per-channel map this layer applies: y = x·scale + shift (nil in training or before
    /// the channel count is known).
    var inferenceAffine: (scale: Tensor, shift: Tensor)? {
        guard !training, let mean = runningMean, let variance = runningVar else { return nil }
        let c = numFeatures
        let scale = Tensor.zeros([c]), shift = Tensor.zeros([c])
        for i in 0..<c {
            let s = (weight?.data[i] ?? 1) / (variance.data[i] + eps).squareRoot()
            scale.data[i] = s
            shift.data[i] = (bias?.data[i] ?? 0) - mean.data[i] * s
        }
        return (scale, shift)
    }
}
