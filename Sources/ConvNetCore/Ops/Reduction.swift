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
        let src = data, dst = out.data
        for o in 0..<outer {
            let s = src + o * n * inner, t = dst + o * inner
            if inner == 1 { t[0] = Elementwise.sum(s, n) }
            else { for k in 0..<n { Elementwise.axpy(1, s + k * inner, t, inner) } }
        }
        return out
    }

    /// Sum over all elements (a 0-d tensor).
    public func sum() -> Tensor {
        let out = Tensor(Elementwise.sum(data, count))
        return Tensor.record(out, "sum", [self]) { g in [Tensor(shape: self.shape, repeating: g.item())] }
    }

    /// Sum over `dims`, keeping them as size 1 when `keepDim`.
    public func sum(dims: [Int], keepDim: Bool = false) -> Tensor {
        let ds = Set(dims.map { normalizeDim($0, rank: rank) }).sorted(by: >)
        var out = self.detached()
        for d in ds { out = out.sumAxis(d, keepDim: true) }
        if !keepDim { out = out.reshape(shape.enumerated().filter { !ds.contains($0.offset) }.map(\.element)) }
        var keptShape = shape
        for d in ds { keptShape[d] = 1 }
        return Tensor.record(out, "sum_dims", [self]) { g in [g.reshape(keptShape).materialized(as: self.shape)] }
    }

    public func sum(dim: Int, keepDim: Bool = false) -> Tensor { sum(dims: [dim], keepDim: keepDim) }

    public func mean() -> Tensor { sum() / Float(Swift.max(count, 1)) }

    public func mean(dims: [Int], keepDim: Bool = false) -> Tensor {
        let n = Set(dims.map { normalizeDim($0, rank: rank) }).reduce(1) { $0 * shape[$1] }
        return sum(dims: dims, keepDim: keepDim) / Float(n)
    }

    public func mean(dim: Int, keepDim: Bool = false) -> Tensor { mean(dims: [dim], keepDim: keepDim) }

    /// Values and indices of the extremum along `dim`; `greater` picks max.
    private func extremum(dim: Int, keepDim: Bool, greater: Bool) -> (values: Tensor, indices: [Int]) {
        let d = normalizeDim(dim, rank: rank)
        let (outer, n, inner) = axisSplit(d)
        checkArgument(n > 0, "max/min over an empty dimension of shape \(shape)")
        var outShape = shape
        if keepDim { outShape[d] = 1 } else { outShape.remove(at: d) }
        let values = Tensor(uninitializedShape: outShape)
        var indices = [Int](repeating: 0, count: outer * inner)
        let src = data
        for o in 0..<outer {
            for i in 0..<inner {
                var best = src[o * n * inner + i], arg = 0
                for k in 1..<Swift.max(n, 1) {
                    let v = src[(o * n + k) * inner + i]
                    if greater ? (v > best || v.isNaN) : (v < best || v.isNaN) { best = v; arg = k; if v.isNaN { break } }
                }
                values.data[o * inner + i] = best
                indices[o * inner + i] = arg
            }
        }
        let result = Tensor.record(values, greater ? "max" : "min", [self]) { g in
            let gx = Tensor(shape: self.shape, repeating: 0)
            for o in 0..<outer { for i in 0..<inner {
                gx.data[(o * n + indices[o * inner + i]) * inner + i] += g.data[o * inner + i]
            } }
            return [gx]
        }
        return (result, indices)
    }

    /// Maximum along `dim` with its indices (PyTorch's `max(dim)`).
    public func max(dim: Int, keepDim: Bool = false) -> (values: Tensor, indices: [Int]) {
        extremum(dim: dim, keepDim: keepDim, greater: true)
    }

    public func min(dim: Int, keepDim: Bool = false) -> (values: Tensor, indices: [Int]) {
        extremum(dim: dim, keepDim: keepDim, greater: false)
    }

    /// Maximum over all elements.
    public func max() -> Tensor { reshape([count]).max(dim: 0).values }
    public func min() -> Tensor { reshape([count]).min(dim: 0).values }

    /// Index of the maximum along `dim` (first one on ties).
    public func argmax(dim: Int) -> [Int] { withNoGrad { max(dim: dim).indices } }

    /// Index of the maximum of the flattened tensor.
    public func argmax() -> Int { withNoGrad { reshape([count]).max(dim: 0).indices[0] } }

    /// Softmax along `dim`.
    public func softmax(dim: Int) -> Tensor {
        let (outer, n, inner) = axisSplit(dim)
        let y = Tensor(uninitializedShape: shape)
        let src = data, dst = y.data
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
        return Tensor.record(y, "softmax", [self]) { g in
            let y = saved
            // dx = y ⊙ (g − Σ g⊙y)
            let gx = Tensor(uninitializedShape: self.shape)
            for o in 0..<outer { for i in 0..<inner {
                let base = o * n * inner + i
                var dot: Float = 0
                for k in 0..<n { dot += g.data[base + k * inner] * y.data[base + k * inner] }
                for k in 0..<n { gx.data[base + k * inner] = y.data[base + k * inner] * (g.data[base + k * inner] - dot) }
            } }
            return [gx]
        }
    }

    /// Log-softmax along `dim`, computed stably.
    public func logSoftmax(dim: Int) -> Tensor {
        let (outer, n, inner) = axisSplit(dim)
        let y = Tensor(uninitializedShape: shape)
        let src = data, dst = y.data
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
        return Tensor.record(y, "log_softmax", [self]) { g in
            let y = saved
            // dx = g − softmax · Σ g
            let gx = Tensor(uninitializedShape: self.shape)
            for o in 0..<outer { for i in 0..<inner {
                let base = o * n * inner + i
                var s: Float = 0
                for k in 0..<n { s += g.data[base + k * inner] }
                for k in 0..<n { gx.data[base + k * inner] = g.data[base + k * inner] - Foundation.exp(y.data[base + k * inner]) * s }
            } }
            return [gx]
        }
    }
}

public func softmax(_ x: Tensor, dim: Int) -> Tensor { x.softmax(dim: dim) }
public func logSoftmax(_ x: Tensor, dim: Int) -> Tensor { x.logSoftmax(dim: dim) }
