import ConvNetCore
import Foundation

/// Cross-entropy between logits [N, C] and class indices, averaged over the batch, as
/// `F.cross_entropy` (with optional label smoothing). Fused: the gradient is (softmax − target)/N.
public func crossEntropy(_ logits: Tensor, _ labels: [Int], labelSmoothing: Float = 0) -> Tensor {
    checkArgument(logits.rank == 2, "cross_entropy: expected logits of shape [N, C], got \(logits.shape)")
    let logits = logits.contiguous()
    let n = logits.shape[0], c = logits.shape[1]
    checkArgument(labels.count == n, "Expected input batch_size (\(n)) to match target batch_size (\(labels.count)).")
    checkArgument(labelSmoothing >= 0 && labelSmoothing <= 1, "label_smoothing must be between 0.0 and 1.0, got \(labelSmoothing)")
    for y in labels { checkArgument(y >= 0 && y < c, "Target \(y) is out of bounds for \(c) classes") }
    let probs = Tensor.empty([n, c])
    var total: Double = 0
    let x = logits.elementPointer, p = probs.elementPointer
    let eps = labelSmoothing
    for i in 0..<n {
        let row = x + i * c, prow = p + i * c
        var m = -Float.infinity
        for j in 0..<c { m = Swift.max(m, row[j]) }
        var s: Float = 0
        for j in 0..<c { let e = Foundation.exp(row[j] - m); prow[j] = e; s += e }
        let lse = m + Foundation.log(s)
        let inv = 1 / s
        var sumLogp: Float = 0
        for j in 0..<c { prow[j] *= inv; sumLogp += row[j] - lse }
        let nll = -(row[labels[i]] - lse)
        total += Double((1 - eps) * nll - eps / Float(c) * sumLogp)
    }
    let loss = Tensor(Float(total / Double(Swift.max(n, 1))))
    return Tensor.recordOp(loss, "cross_entropy", [logits]) { g in
        let scale = g.item() / Float(n)
        let gx = Tensor.empty([n, c])
        let d = gx.elementPointer, p = probs.elementPointer
        for i in 0..<n {
            for j in 0..<c { d[i * c + j] = scale * (p[i * c + j] - eps / Float(c)) }
            d[i * c + labels[i]] -= scale * (1 - eps)
        }
        return [gx]
    }
}

/// Cross-entropy with a tensor target, as `F.cross_entropy`: an int64 tensor of N class indices
/// (`Tensor(labels as [Int])`, a `DataLoader` batch's `targets`), or a float tensor of class
/// probabilities shaped like `logits`.
public func crossEntropy(_ logits: Tensor, _ target: Tensor, labelSmoothing: Float = 0) -> Tensor {
    if target.dtype.isInteger {
        checkArgument(target.rank == 1, "cross_entropy: expected a 1-D tensor of class indices, got shape \(target.shape)")
        return crossEntropy(logits, target.integers, labelSmoothing: labelSmoothing)
    }
    checkArgument(target.shape == logits.shape,
                  "cross_entropy: a float target holds class probabilities shaped like the logits \(logits.shape), got \(target.shape); for class indices pass an int64 tensor (.long())")
    let c = Float(logits.shape[1])
    let smoothed = labelSmoothing == 0 ? target : target * (1 - labelSmoothing) + labelSmoothing / c
    return -(smoothed * logits.logSoftmax(dim: 1)).sum() / Float(Swift.max(logits.shape[0], 1))
}

/// Mean squared error, as `F.mse_loss`.
public func mseLoss(_ input: Tensor, _ target: Tensor) -> Tensor {
    checkArgument(input.shape == target.shape, "mse_loss: input shape \(input.shape) and target shape \(target.shape) differ")
    let d = input - target
    return (d * d).mean()
}
