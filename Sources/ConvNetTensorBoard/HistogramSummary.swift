import Foundation

/// A histogram as TensorBoard stores it (its `HistogramProto`), bucketed as PyTorch's
/// `SummaryWriter.add_histogram` does by default (`bins="tensorflow"`).
///
/// The bucket edges are TensorFlow's: 0 and ±1e-12·1.1ᵏ up to 1e20. Values are counted as
/// `numpy.histogram` counts them against those edges; the buckets from the one before the first
/// non-empty bucket to the last non-empty one are kept, each with its right edge as its limit, so
/// `bucketCounts[i]` counts the values in [`bucketLimits[i-1]`, `bucketLimits[i]`).
public struct HistogramSummary: Equatable, Sendable {
    /// The smallest value.
    public var min: Double
    /// The largest value.
    public var max: Double
    /// How many values there are.
    public var count: Double
    /// The sum of the values.
    public var sum: Double
    /// The sum of the squares of the values.
    public var sumOfSquares: Double
    /// Each bucket's right edge.
    public var bucketLimits: [Double]
    /// The number of values in each bucket.
    public var bucketCounts: [Double]

    /// TensorFlow's bucket edges, as PyTorch's `SummaryWriter` makes them (`default_bins`): the same
    /// repeated multiplication in double precision, so the edges are bit-identical.
    public static let defaultBucketEdges: [Double] = {
        var positive: [Double] = []
        var v = 1e-12
        while v < 1e20 { positive.append(v); v *= 1.1 }
        return positive.reversed().map { -$0 } + [0] + positive
    }()

    /// The positive edges, 1e-12·1.1ᵏ.
    private static let positiveEdges = Array(defaultBucketEdges[(defaultBucketEdges.count / 2 + 1)...])
    private static let logRatio = log(1.1)

    /// The bin of `v` as `numpy.histogram` finds it among `defaultBucketEdges`: the one whose left
    /// edge is the last edge ≤ v (the last bin also holds its right edge); nil outside the edges.
    /// The edges are geometric, so a logarithm guesses the place and at most a step or two of
    /// comparisons with the real edges settles it (a binary search over 1,549 edges was most of the
    /// cost of ResNet-18's 11 M weights).
    static func bin(of v: Double) -> Int? {
        let pos = positiveEdges, p = pos.count
        if v == 0 { return p }
        let a = Swift.abs(v)
        // j: the last positive edge ≤ |v| (-1 for none)
        var j = a < pos[0] ? -1 : Swift.min(p - 1, Int(log(a / pos[0]) / logRatio))
        while j + 1 < p && pos[j + 1] <= a { j += 1 }
        while j >= 0 && pos[j] > a { j -= 1 }
        if v > 0 {
            let bin = p + 1 + j
            return bin < 2 * p ? bin : (a == pos[p - 1] ? 2 * p - 1 : nil)
        }
        // edges ≤ v < 0 are -pos[k] with pos[k] ≥ |v|
        let below = j >= 0 && pos[j] == a ? j : j + 1
        let atOrLeft = p - below
        return atOrLeft > 0 ? atOrLeft - 1 : nil
    }

    /// A histogram with the given fields (e.g. from a reader).
    public init(min: Double, max: Double, count: Double, sum: Double, sumOfSquares: Double,
                bucketLimits: [Double], bucketCounts: [Double]) {
        self.min = min; self.max = max; self.count = count; self.sum = sum; self.sumOfSquares = sumOfSquares
        self.bucketLimits = bucketLimits; self.bucketCounts = bucketCounts
    }

    /// The histogram of `values`; nil when there are none, when one is NaN or infinite (PyTorch
    /// rejects those too), or when none lies within ±1e20.
    public init?(values: [Float]) {
        guard !values.isEmpty else { return nil }
        let edges = Self.defaultBucketEdges
        let bins = edges.count - 1
        var counts = [Double](repeating: 0, count: bins)
        var lo = Double.infinity, hi = -Double.infinity, sum = 0.0, squares = 0.0
        for f in values {
            guard f.isFinite else { return nil }
            let v = Double(f)
            lo = Swift.min(lo, v); hi = Swift.max(hi, v)
            sum += v; squares += v * v
            if let bin = Self.bin(of: v) { counts[bin] += 1 }
        }
        guard let firstFull = counts.firstIndex(where: { $0 > 0 }), let lastFull = counts.lastIndex(where: { $0 > 0 }) else { return nil }
        // TensorBoard stores right edges only: an empty bucket in front carries the left edge of the first full one
        let kept = firstFull > 0 ? Array(counts[(firstFull - 1)...lastFull]) : [0] + counts[0...lastFull]
        self.init(min: lo, max: hi, count: Double(values.count), sum: sum, sumOfSquares: squares,
                  bucketLimits: Array(edges[firstFull...(lastFull + 1)]), bucketCounts: kept)
    }
}
