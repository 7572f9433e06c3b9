import ConvNetCore
import Foundation

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
    /// A matrix with the given counts (square, non-negative), e.g. the sum of the counts that
    /// several processes each gathered on their share of a test set.
    public init(counts: [[Int]]) {
        checkArgument(counts.allSatisfy { $0.count == counts.count && $0.allSatisfy { $0 >= 0 } }, "confusion counts must be a square matrix of non-negative counts")
        numClasses = counts.count
        self.counts = counts
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
