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
            guard v >= edges[0], v <= edges[bins] else { continue }
            // the bin whose left edge is the last one <= v; the last bin also holds its right edge
            var first = 0, last = edges.count
            while first < last {
                let mid = (first + last) / 2
                if edges[mid] <= v { first = mid + 1 } else { last = mid }
            }
            counts[Swift.min(first - 1, bins - 1)] += 1
        }
        guard let firstFull = counts.firstIndex(where: { $0 > 0 }), let lastFull = counts.lastIndex(where: { $0 > 0 }) else { return nil }
        // TensorBoard stores right edges only: an empty bucket in front carries the left edge of the first full one
        let kept = firstFull > 0 ? Array(counts[(firstFull - 1)...lastFull]) : [0] + counts[0...lastFull]
        self.init(min: lo, max: hi, count: Double(values.count), sum: sum, sumOfSquares: squares,
                  bucketLimits: Array(edges[firstFull...(lastFull + 1)]), bucketCounts: kept)
    }
}
