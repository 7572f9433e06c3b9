import Foundation

extension Tensor {
    /// Splits `shape` around `dim` into (outer, size, inner) for axis-wise loops.
    func axisSplit(_ dim: Int) -> (outer: Int, n: Int, inner: Int) {
        let d = normalizeDim(dim, rank: rank)
        if rank == 0 { return (1, 1, 1) }
        return (shape[..<d].reduce(1, *), shape[d], shape[(d + 1)...].reduce(1, *))
    }

    private func sumAxis(_ dim: Int, keepDim: Bool) -> Tensor {
        let d = normalizeDim(dim, rank: rank)
        let (outer, n, inner) = axisSplit(d)
        var outShape = shape
        if keepDim { outShape[d] = 1 } else { outShape.remove(at: d) }
        let out = Tensor(shape: outShape, repeating: 0)
        let src = elementPointer, dst = out.elementPointer
        for o in 0..<outer {
            let s = src + o * n * inner, t = dst + o * inner
            if inner == 1 { t[0] = Elementwise.sum(s, n) }
            else { for k in 0..<n { Elementwise.axpy(1, s + k * inner, t, inner) } }
        }
        return out
    }

    /// Sum over all elements (a 0-d tensor).
    public func sum() -> Tensor {
        guard isContiguous else { return contiguous().sum() }
        let out = Tensor(Elementwise.sum(elementPointer, count))
        if dtype.isInteger { out.dtype = .int64 }
        return Tensor.record(out, "sum", [self], saving: []) { g in [Tensor(shape: self.shape, repeating: g.item())] }
    }

    /// Sum over `dims`, keeping them as size 1 when `keepDim`.
    public func sum(dims: [Int], keepDim: Bool = false) -> Tensor {
        guard isContiguous else { return contiguous().sum(dims: dims, keepDim: keepDim) }
        let ds = Set(dims.map { normalizeDim($0, rank: rank) }).sorted(by: >)
        var out = self.detached()
        for d in ds { out = out.sumAxis(d, keepDim: true) }
        if !keepDim { out = out.reshape(shape.enumerated().filter { !ds.contains($0.offset) }.map(\.element)) }
        var keptShape = shape
        for d in ds { keptShape[d] = 1 }
        if dtype.isInteger { out.dtype = .int64 }
        return Tensor.record(out, "sum_dims", [self], saving: []) { g in [g.reshape(keptShape).materialized(as: self.shape)] }
    }

    /// Sums over dimension `dim` (kept with size 1 when `keepDim`); PyTorch's `x.sum(dim, keepdim=...)`.
    public func sum(dim: Int, keepDim: Bool = false) -> Tensor { sum(dims: [dim], keepDim: keepDim) }

    /// The mean of all elements, as a 0-d tensor; PyTorch's `x.mean()`.
    public func mean() -> Tensor {
        checkFloating("mean")
        return sum() / Float(Swift.max(count, 1))
    }

    /// PyTorch refuses to average integers: the way out is `.float()`.
    func checkFloating(_ op: String) {
        checkArgument(!dtype.isInteger, "\(op)(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: \(dtype == .bool ? "Bool" : "Long") (convert with .float() first)")
    }

    /// Means over the dimensions `dims` (kept with size 1 when `keepDim`); PyTorch's `x.mean(dims, keepdim=...)`.
    public func mean(dims: [Int], keepDim: Bool = false) -> Tensor {
        checkFloating("mean")
        let n = Set(dims.map { normalizeDim($0, rank: rank) }).reduce(1) { $0 * shape[$1] }
        return sum(dims: dims, keepDim: keepDim) / Float(n)
    }

    /// Means over dimension `dim` (kept with size 1 when `keepDim`); PyTorch's `x.mean(dim, keepdim=...)`.
    public func mean(dim: Int, keepDim: Bool = false) -> Tensor { mean(dims: [dim], keepDim: keepDim) }

    /// Values and indices of the extremum along `dim`; `greater` picks max.
    private func extremum(dim: Int, keepDim: Bool, greater: Bool) -> (values: Tensor, indices: [Int]) {
        guard isContiguous else { return contiguous().extremum(dim: dim, keepDim: keepDim, greater: greater) }
        let d = normalizeDim(dim, rank: rank)
        let (outer, n, inner) = axisSplit(d)
        checkArgument(n > 0, "max/min over an empty dimension of shape \(shape)")
        var outShape = shape
        if keepDim { outShape[d] = 1 } else { outShape.remove(at: d) }
        let values = Tensor(uninitializedShape: outShape)
        var indices = [Int](repeating: 0, count: outer * inner)
        let src = elementPointer, out = values.elementPointer
        for o in 0..<outer {
            for i in 0..<inner {
                var best = src[o * n * inner + i], arg = 0
                for k in 1..<Swift.max(n, 1) {
                    let v = src[(o * n + k) * inner + i]
                    if greater ? (v > best || v.isNaN) : (v < best || v.isNaN) { best = v; arg = k; if v.isNaN { break } }
                }
                out[o * inner + i] = best
                indices[o * inner + i] = arg
            }
        }
        values.dtype = dtype
        let result = Tensor.record(values, greater ? "max" : "min", [self], saving: []) { g in
            let gx = Tensor(shape: self.shape, repeating: 0)
            let (dx, dy) = (gx.elementPointer, g.elementPointer)
            for o in 0..<outer { for i in 0..<inner {
                dx[(o * n + indices[o * inner + i]) * inner + i] += dy[o * inner + i]
            } }
            return [gx]
        }
        return (result, indices)
    }

    /// Maximum along `dim` with its indices, an int64 tensor (PyTorch's `max(dim)`).
    public func max(dim: Int, keepDim: Bool = false) -> (values: Tensor, indices: Tensor) {
        let (v, i) = extremum(dim: dim, keepDim: keepDim, greater: true)
        return (v, Tensor(indices: i, shape: v.shape))
    }

    /// Minimum along `dim` with its indices, an int64 tensor (PyTorch's `min(dim)`).
    public func min(dim: Int, keepDim: Bool = false) -> (values: Tensor, indices: Tensor) {
        let (v, i) = extremum(dim: dim, keepDim: keepDim, greater: false)
        return (v, Tensor(indices: i, shape: v.shape))
    }

    /// Maximum over all elements.
    public func max() -> Tensor { reshape([count]).max(dim: 0).values }
    /// Minimum over all elements.
    public func min() -> Tensor { reshape([count]).min(dim: 0).values }

    /// Indices of the maxima along `dim` (the first on ties), an int64 tensor (PyTorch's `argmax(dim)`).
    public func argmax(dim: Int, keepDim: Bool = false) -> Tensor {
        withNoGrad { Tensor(indices: extremum(dim: dim, keepDim: keepDim, greater: true).indices, shape: keepDim ? keptShape(dim) : droppedShape(dim)) }
    }

    /// Indices of the minima along `dim`, an int64 tensor (PyTorch's `argmin(dim)`).
    public func argmin(dim: Int, keepDim: Bool = false) -> Tensor {
        withNoGrad { Tensor(indices: extremum(dim: dim, keepDim: keepDim, greater: false).indices, shape: keepDim ? keptShape(dim) : droppedShape(dim)) }
    }

    /// Index of the maximum of the flattened tensor, a 0-d int64 tensor (PyTorch's `argmax()`).
    public func argmax() -> Tensor { reshape([count]).argmax(dim: 0) }

    private func keptShape(_ dim: Int) -> [Int] { var s = shape; s[normalizeDim(dim, rank: rank)] = 1; return s }
    private func droppedShape(_ dim: Int) -> [Int] { var s = shape; s.remove(at: normalizeDim(dim, rank: rank)); return s }

    /// Softmax along `dim`.
    public func softmax(dim: Int) -> Tensor {
        OpTrace.op(.other("softmax", { $0[0].softmax(dim: dim) }, attributes: ["dim": .int(dim)]), [self]) { eagerSoftmax(dim: dim) }
    }

    private func eagerSoftmax(dim: Int) -> Tensor {
        guard isContiguous else { return contiguous().softmax(dim: dim) }
        let (outer, n, inner) = axisSplit(dim)
        let y = Tensor(uninitializedShape: shape)
        let src = elementPointer, dst = y.elementPointer
        for o in 0..<outer { for i in 0..<inner {
            let base = o * n * inner + i
            var m = -Float.infinity
            for k in 0..<n { m = Swift.max(m, src[base + k * inner]) }
            var s: Float = 0
            for k in 0..<n { let e = Foundation.exp(src[base + k * inner] - m); dst[base + k * inner] = e; s += e }
            let r = 1 / s
            for k in 0..<n { dst[base + k * inner] *= r }
        } }
        let saved = y.detached()
        return Tensor.record(y, "softmax", [self], saving: [y]) { g in
            let y = saved
            // dx = y ⊙ (g − Σ g⊙y)
            let gx = Tensor(uninitializedShape: self.shape)
            let (dx, dy, yv) = (gx.elementPointer, g.elementPointer, y.elementPointer)
            for o in 0..<outer { for i in 0..<inner {
                let base = o * n * inner + i
                var dot: Float = 0
                for k in 0..<n { dot += dy[base + k * inner] * yv[base + k * inner] }
                for k in 0..<n { dx[base + k * inner] = yv[base + k * inner] * (dy[base + k * inner] - dot) }
            } }
            return [gx]
        }
    }

    /// Log-softmax along `dim`, computed stably.
    public func logSoftmax(dim: Int) -> Tensor {
        guard isContiguous else { return contiguous().logSoftmax(dim: dim) }
        let (outer, n, inner) = axisSplit(dim)
        let y = Tensor(uninitializedShape: shape)
        let src = elementPointer, dst = y.elementPointer
        for o in 0..<outer { for i in 0..<inner {
            let base = o * n * inner + i
            var m = -Float.infinity
            for k in 0..<n { m = Swift.max(m, src[base + k * inner]) }
            var s: Float = 0
            for k in 0..<n { s += Foundation.exp(src[base + k * inner] - m) }
            let lse = m + Foundation.log(s)
            for k in 0..<n { dst[base + k * inner] = src[base + k * inner] - lse }
        } }
        let saved = y.detached()
        return Tensor.record(y, "log_softmax", [self], saving: [y]) { g in
            let y = saved
            // dx = g − softmax · Σ g
            let gx = Tensor(uninitializedShape: self.shape)
            let (dx, dy, yv) = (gx.elementPointer, g.elementPointer, y.elementPointer)
            for o in 0..<outer { for i in 0..<inner {
                let base = o * n * inner + i
                var s: Float = 0
                for k in 0..<n { s += dy[base + k * inner] }
                for k in 0..<n { dx[base + k * inner] = dy[base + k * inner] - Foundation.exp(yv[base + k * inner]) * s }
            } }
            return [gx]
        }
    }
}

/// Softmax along `dim`; PyTorch's `F.softmax(x, dim=dim)`.
public func softmax(_ x: Tensor, dim: Int) -> Tensor { x.softmax(dim: dim) }
/// Log-softmax along `dim` (numerically stable); PyTorch's `F.log_softmax(x, dim=dim)`.
public func logSoftmax(_ x: Tensor, dim: Int) -> Tensor { x.logSoftmax(dim: dim) }
