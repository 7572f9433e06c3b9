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
    let x = logits.data, p = probs.data
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
        let d = gx.data, p = probs.data
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

/// Fraction of rows of `logits` whose argmax equals the label.
public func accuracy(_ logits: Tensor, _ labels: [Int]) -> Float {
    checkArgument(logits.rank == 2 && logits.shape[0] == labels.count, "accuracy: logits \(logits.shape) vs \(labels.count) labels")
    let pred = logits.argmax(dim: 1).integers
    return Float(zip(pred, labels).filter { $0 == $1 }.count) / Float(Swift.max(labels.count, 1))
}

/// Number of rows of `logits` whose argmax equals the label.
public func correctCount(_ logits: Tensor, _ labels: [Int]) -> Int {
    zip(logits.argmax(dim: 1).integers, labels).filter { $0 == $1 }.count
}

/// Counts of (true class, predicted class) pairs.
public struct ConfusionMatrix: Sendable, Equatable {
    /// The number of classes (rows and columns).
    public let numClasses: Int
    /// `counts[trueClass][predictedClass]`: how many examples of each pair were seen.
    public private(set) var counts: [[Int]]
    /// An empty `numClasses`×`numClasses` matrix.
    public init(numClasses: Int) {
        self.numClasses = numClasses
        counts = Array(repeating: Array(repeating: 0, count: numClasses), count: numClasses)
    }
    /// Counts each (label, prediction) pair.
    public mutating func add(predictions: [Int], labels: [Int]) {
        for (p, y) in zip(predictions, labels) { counts[y][p] += 1 }
    }
    /// The number of examples counted.
    public var total: Int { counts.joined().reduce(0, +) }
    /// The fraction of examples on the diagonal (predicted class = true class).
    public var accuracy: Double { Double((0..<numClasses).reduce(0) { $0 + counts[$1][$1] }) / Double(Swift.max(total, 1)) }
    /// Per-class recall.
    public var recall: [Double] { (0..<numClasses).map { Double(counts[$0][$0]) / Double(Swift.max(counts[$0].reduce(0, +), 1)) } }

    /// A text table with class names on both axes (rows: true class, columns: predicted).
    public func table(classNames: [String]) -> String {
        let names = (0..<numClasses).map { $0 < classNames.count ? classNames[$0] : "\($0)" }
        let w = Swift.max(6, (counts.joined().map { String($0).count }.max() ?? 1) + 1)
        let nameW = (names.map(\.count).max() ?? 4) + 1
        func pad(_ s: String, _ n: Int) -> String { String(repeating: " ", count: Swift.max(0, n - s.count)) + s }
        var lines = [pad("true \\ pred", nameW) + (0..<numClasses).map { pad("\($0)", w) }.joined() + pad("recall", 8)]
        for i in 0..<numClasses {
            lines.append(pad(names[i], nameW) + counts[i].map { pad("\($0)", w) }.joined() + pad(String(format: "%.3f", recall[i]), 8))
        }
        return lines.joined(separator: "\n")
    }
}
