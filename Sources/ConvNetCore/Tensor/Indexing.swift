/// One position in a multi-dimensional subscript: an integer (that dimension is removed), a range
/// (kept, narrowed), a stride (`stride(from: 0, to: 8, by: 2)`), or `.all` (PyTorch's `:`).
/// `x[.all, 2..<6]` is PyTorch's `x[:, 2:6]`; every form gives a view.
public protocol TensorIndexExpression {
    /// The position for a dimension of `size`.
    func resolved(size: Int) -> TensorIndex
}

/// A resolved subscript position.
public enum TensorIndex: TensorIndexExpression, Equatable, Sendable {
    /// One entry; the dimension is removed.
    case index(Int)
    /// Entries `start`, `start + step`, … (`count` of them); the dimension is kept.
    case slice(start: Int, count: Int, step: Int)
    /// The whole dimension (PyTorch's `:`); written `.all`.
    case whole

    public func resolved(size: Int) -> TensorIndex {
        switch self {
        case .index(let i): return i.resolved(size: size)
        case .slice: return self
        case .whole: return .slice(start: 0, count: size, step: 1)
        }
    }
}

extension TensorIndexExpression where Self == TensorIndex {
    /// The whole dimension (PyTorch's `:`).
    public static var all: TensorIndex { .whole }
}

/// An integer selects one position (negative counts from the end) and drops the dimension, as in PyTorch's `x[2]`.
extension Int: TensorIndexExpression {
    public func resolved(size: Int) -> TensorIndex {
        let i = self < 0 ? self + size : self
        checkArgument(i >= 0 && i < size, "index \(self) is out of bounds for dimension with size \(size)")
        return .index(i)
    }
}

/// Python's slice clamping: bounds past the end stop at the end, negative ones count from it.
private func clampedSlice(_ lower: Int, _ upper: Int, size: Int) -> TensorIndex {
    let lo = Swift.min(Swift.max(lower < 0 ? lower + size : lower, 0), size)
    let hi = Swift.min(Swift.max(upper < 0 ? upper + size : upper, 0), size)
    return .slice(start: lo, count: Swift.max(hi - lo, 0), step: 1)
}

/// `a..<b` is PyTorch's slice `a:b` (clamped to the dimension, negative bounds count from the end).
extension Range: TensorIndexExpression where Bound == Int {
    public func resolved(size: Int) -> TensorIndex { clampedSlice(lowerBound, upperBound, size: size) }
}
/// `a...b` is PyTorch's slice `a:b+1`.
extension ClosedRange: TensorIndexExpression where Bound == Int {
    public func resolved(size: Int) -> TensorIndex { clampedSlice(lowerBound, upperBound + 1, size: size) }
}
/// `a...` is PyTorch's slice `a:`.
extension PartialRangeFrom: TensorIndexExpression where Bound == Int {
    public func resolved(size: Int) -> TensorIndex { clampedSlice(lowerBound, size, size: size) }
}
/// `..<b` is PyTorch's slice `:b`.
extension PartialRangeUpTo: TensorIndexExpression where Bound == Int {
    public func resolved(size: Int) -> TensorIndex { clampedSlice(0, upperBound, size: size) }
}
/// `...b` is PyTorch's slice `:b+1`.
extension PartialRangeThrough: TensorIndexExpression where Bound == Int {
    public func resolved(size: Int) -> TensorIndex { clampedSlice(0, upperBound + 1, size: size) }
}
/// `stride(from: a, to: b, by: s)` is PyTorch's slice `a:b:s` (positive steps).
extension StrideTo: TensorIndexExpression where Element == Int {
    public func resolved(size: Int) -> TensorIndex {
        let all = Array(self)
        guard let first = all.first else { return .slice(start: 0, count: 0, step: 1) }
        let step = all.count > 1 ? all[1] - all[0] : 1
        checkArgument(step > 0, "step must be greater than zero")
        checkArgument(first >= 0 && all.last! < size, "stride \(first)..<\(all.last! + 1) is out of bounds for dimension with size \(size)")
        return .slice(start: first, count: all.count, step: step)
    }
}

extension Tensor {
    /// The view that a subscript names: one position per leading dimension, the rest kept whole.
    public func indexed(_ positions: [any TensorIndexExpression]) -> Tensor {
        checkArgument(positions.count <= rank, "too many indices for tensor of dimension \(rank)")
        // the view's geometry in storage, and the same positions in the input's row-major layout
        // (where its gradient lands)
        let strides = self.strides, logical = Tensor.contiguousStrides(shape)
        var outShape: [Int] = [], outStrides: [Int] = [], gradStrides: [Int] = []
        var offset = storageOffset, gradOffset = 0
        for d in 0..<rank {
            let r = d < positions.count ? positions[d].resolved(size: shape[d]) : TensorIndex.whole.resolved(size: shape[d])
            switch r {
            case .index(let i):
                offset += i * strides[d]; gradOffset += i * logical[d]
            case .slice(let start, let n, let step):
                offset += start * strides[d]; gradOffset += start * logical[d]
                outShape.append(n); outStrides.append(strides[d] * step); gradStrides.append(logical[d] * step)
            case .whole:
                outShape.append(shape[d]); outStrides.append(strides[d]); gradStrides.append(logical[d])
            }
        }
        let inShape = shape, gradRegion = (shape: outShape, strides: gradStrides, offset: gradOffset)
        return makeView(shape: outShape, strides: outStrides, offset: offset, "index") { g in
            [Tensor.scatterRegion(g, gradRegion, into: inShape)]
        }
    }

    /// `x[i, j]`, `x[.all, 2..<6]`: a view (PyTorch's basic indexing); assigning a tensor writes
    /// it (broadcast) into `x`.
    public subscript<A: TensorIndexExpression, B: TensorIndexExpression>(_ a: A, _ b: B) -> Tensor {
        get { indexed([a, b]) }
        set { indexed([a, b]).copy_(newValue) }
    }

    /// `x[i, j, k]` with ranges or `.all` as well: a view; assigning a tensor writes it (broadcast) into `x`.
    public subscript<A: TensorIndexExpression, B: TensorIndexExpression, C: TensorIndexExpression>(_ a: A, _ b: B, _ c: C) -> Tensor {
        get { indexed([a, b, c]) }
        set { indexed([a, b, c]).copy_(newValue) }
    }

    /// `x[i, j, k, l]` with ranges or `.all` as well: a view; assigning a tensor writes it (broadcast) into `x`.
    public subscript<A: TensorIndexExpression, B: TensorIndexExpression, C: TensorIndexExpression, D: TensorIndexExpression>(
        _ a: A, _ b: B, _ c: C, _ d: D) -> Tensor {
        get { indexed([a, b, c, d]) }
        set { indexed([a, b, c, d]).copy_(newValue) }
    }

    /// `x[2...]`, `x[..<3]`, `x[.all]`: other one-dimensional positions, as views.
    public subscript<A: TensorIndexExpression>(_ a: A) -> Tensor {
        get { indexed([a]) }
        set { indexed([a]).copy_(newValue) }
    }

    /// Scalar assignment and reading: `x[.all, 2..<6] = 0` fills the indexed elements (PyTorch's
    /// `X[:, 2:6] = 0`); reading gives the single value of a one-element index (`let v: Float = x[1, 2]`).
    @_disfavoredOverload
    public subscript<A: TensorIndexExpression, B: TensorIndexExpression>(_ a: A, _ b: B) -> Float {
        get { indexed([a, b]).item() }
        set { indexed([a, b]).fill_(newValue) }
    }

    /// Scalar assignment and reading with three indices: `x[0, .all, 1..<3] = 0`.
    @_disfavoredOverload
    public subscript<A: TensorIndexExpression, B: TensorIndexExpression, C: TensorIndexExpression>(_ a: A, _ b: B, _ c: C) -> Float {
        get { indexed([a, b, c]).item() }
        set { indexed([a, b, c]).fill_(newValue) }
    }

    /// Scalar assignment and reading with four indices: `x[0, 0, .all, 2] = 1`.
    @_disfavoredOverload
    public subscript<A: TensorIndexExpression, B: TensorIndexExpression, C: TensorIndexExpression, D: TensorIndexExpression>(
        _ a: A, _ b: B, _ c: C, _ d: D) -> Float {
        get { indexed([a, b, c, d]).item() }
        set { indexed([a, b, c, d]).fill_(newValue) }
    }

    /// Scalar assignment and reading with one index: `x[2...] = 0`, `let v: Float = x[3]`.
    @_disfavoredOverload
    public subscript<A: TensorIndexExpression>(_ a: A) -> Float {
        get { indexed([a]).item() }
        set { indexed([a]).fill_(newValue) }
    }
}

/// Iterating a tensor walks its first dimension, as in PyTorch (`for row in x`); each element is a
/// view.
extension Tensor: Sequence {
    /// Walks a tensor's first dimension, giving each slice as a view.
    public struct Iterator: IteratorProtocol {
        let tensor: Tensor
        var position = 0
        /// The next slice along the first dimension, or `nil` at its end.
        public mutating func next() -> Tensor? {
            guard position < tensor.shape[0] else { return nil }
            defer { position += 1 }
            return tensor.select(dim: 0, index: position)
        }
    }

    /// An iterator over the first dimension (`for row in x`); a 0-d tensor cannot be iterated.
    public func makeIterator() -> Iterator {
        checkArgument(rank > 0, "iteration over a 0-d tensor")
        return Iterator(tensor: self)
    }

    /// The size of the first dimension (0 for a 0-d tensor).
    public var underestimatedCount: Int { rank > 0 ? shape[0] : 0 }
}
