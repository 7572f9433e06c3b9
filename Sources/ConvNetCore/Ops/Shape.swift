extension Tensor {
    /// The same elements with a new shape (one dimension may be −1); shares storage, like `view`.
    public func reshape(_ newShape: [Int]) -> Tensor {
        var s = newShape
        let known = s.filter { $0 != -1 }.reduce(1, *)
        let holes = s.filter { $0 == -1 }.count
        checkArgument(holes <= 1, "only one dimension can be inferred in shape \(newShape)")
        if holes == 1 {
            checkArgument(known > 0 && count % known == 0, "shape '\(newShape)' is invalid for input of size \(count)")
            s[s.firstIndex(of: -1)!] = count / known
        }
        checkArgument(s.reduce(1, *) == count, "shape '\(newShape)' is invalid for input of size \(count)")
        if s == shape { return self }
        let out = Tensor(shape: s, storage: storage)
        let inShape = shape
        return Tensor.record(out, "reshape", [self]) { g in [g.reshape(inShape)] }
    }

    public func reshape(_ dims: Int...) -> Tensor { reshape(dims) }
    /// PyTorch's `view`: a reshape (every tensor here is contiguous).
    public func view(_ dims: Int...) -> Tensor { reshape(dims) }
    public func view(_ dims: [Int]) -> Tensor { reshape(dims) }

    /// Flattens dimensions `startDim...endDim` into one.
    public func flatten(startDim: Int = 0, endDim: Int = -1) -> Tensor {
        if rank == 0 { return reshape([1]) }
        let s = normalizeDim(startDim, rank: rank), e = normalizeDim(endDim, rank: rank)
        checkArgument(s <= e, "flatten() has invalid args: start_dim \(startDim) cannot come after end_dim \(endDim)")
        return reshape(Array(shape[..<s]) + [shape[s...e].reduce(1, *)] + Array(shape[(e + 1)...]))
    }

    /// Removes size-1 dimensions (all of them, or just `dim`).
    public func squeeze(_ dim: Int? = nil) -> Tensor {
        if let dim {
            let d = normalizeDim(dim, rank: rank)
            guard shape[d] == 1 else { return self }
            var s = shape; s.remove(at: d); return reshape(s)
        }
        return reshape(shape.filter { $0 != 1 })
    }

    /// Inserts a size-1 dimension at `dim`.
    public func unsqueeze(_ dim: Int) -> Tensor {
        let d = normalizeDim(dim, rank: rank + 1)
        var s = shape; s.insert(1, at: d); return reshape(s)
    }

    /// Reorders dimensions (copies the data).
    public func permute(_ dims: [Int]) -> Tensor {
        checkArgument(dims.count == rank && Set(dims.map { normalizeDim($0, rank: rank) }).count == rank,
                     "permute: dims \(dims) do not match the number of dimensions of shape \(shape)")
        let p = dims.map { normalizeDim($0, rank: rank) }
        if p == Array(0..<rank) { return self }
        let outShape = p.map { shape[$0] }
        var inStrides = [Int](repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * shape[i + 1] }
        let st = p.map { inStrides[$0] }
        let out = Tensor(uninitializedShape: outShape)
        let src = data, dst = out.data
        let inner = outShape[rank - 1], innerStride = st[rank - 1]
        let outer = count / Swift.max(inner, 1)
        var idx = [Int](repeating: 0, count: rank)
        var base = 0
        for o in 0..<outer {
            let d = dst + o * inner
            for j in 0..<inner { d[j] = src[base + j * innerStride] }
            var k = rank - 2
            while k >= 0 {
                idx[k] += 1; base += st[k]
                if idx[k] < outShape[k] { break }
                base -= st[k] * idx[k]; idx[k] = 0; k -= 1
            }
        }
        var inverse = [Int](repeating: 0, count: rank)
        for (i, v) in p.enumerated() { inverse[v] = i }
        return Tensor.record(out, "permute", [self]) { g in [g.permute(inverse)] }
    }

    public func permute(_ dims: Int...) -> Tensor { permute(dims) }

    /// Swaps two dimensions.
    public func transpose(_ d0: Int, _ d1: Int) -> Tensor {
        var p = Array(0..<rank)
        p.swapAt(normalizeDim(d0, rank: rank), normalizeDim(d1, rank: rank))
        return permute(p)
    }

    /// The transpose of a 2-D tensor.
    public var T: Tensor {
        checkArgument(rank == 2, "T needs a 2-D tensor, got shape \(shape)")
        return transpose(0, 1)
    }

    /// `length` entries of dimension `dim` starting at `start` (a copy).
    public func narrow(dim: Int, start: Int, length: Int) -> Tensor {
        let d = normalizeDim(dim, rank: rank)
        checkArgument(start >= 0 && length >= 0 && start + length <= shape[d],
                     "narrow: range \(start)..<\(start + length) is out of bounds for dimension \(d) of size \(shape[d])")
        let (outer, n, inner) = axisSplit(d)
        var outShape = shape; outShape[d] = length
        let out = Tensor(uninitializedShape: outShape)
        for o in 0..<outer {
            (out.data + o * length * inner).update(from: data + (o * n + start) * inner, count: length * inner)
        }
        let inShape = shape
        return Tensor.record(out, "narrow", [self]) { g in
            let gx = Tensor(shape: inShape, repeating: 0)
            for o in 0..<outer { (gx.data + (o * n + start) * inner).update(from: g.data + o * length * inner, count: length * inner) }
            return [gx]
        }
    }

    /// Entry `index` of dimension `dim`, that dimension removed.
    public func select(dim: Int, index: Int) -> Tensor {
        let d = normalizeDim(dim, rank: rank)
        let i = index < 0 ? index + shape[d] : index
        checkArgument(i >= 0 && i < shape[d], "index \(index) is out of bounds for dimension \(d) with size \(shape[d])")
        return narrow(dim: d, start: i, length: 1).squeeze(d)
    }

    /// `x[i]`: entry `i` of the first dimension.
    public subscript(_ index: Int) -> Tensor { select(dim: 0, index: index) }

    /// `x[a..<b]`: a range of the first dimension.
    public subscript(_ range: Range<Int>) -> Tensor { narrow(dim: 0, start: range.lowerBound, length: range.count) }

    /// The tensor broadcast (copied) to `target`.
    public func expand(_ target: [Int]) -> Tensor {
        let shapeOut = Broadcast.shape(shape, target)
        checkArgument(shapeOut == target, "expand: shape \(shape) cannot be expanded to \(target)")
        let inShape = shape
        return Tensor.record(materialized(as: target), "expand", [self]) { g in [g.sumTo(inShape)] }
    }

    /// Pads the last dimensions with `value`; `padding` lists (before, after) pairs starting from the
    /// last dimension, as PyTorch's `F.pad`: `[left, right, top, bottom]` for images. Negative crops.
    public func pad(_ padding: [Int], value: Float = 0) -> Tensor {
        checkArgument(padding.count % 2 == 0 && padding.count / 2 <= rank,
                     "pad: padding length \(padding.count) must be even and at most twice the number of dimensions (\(rank))")
        var outShape = shape
        var before = [Int](repeating: 0, count: rank)
        for k in 0..<(padding.count / 2) {
            let d = rank - 1 - k
            before[d] = padding[2 * k]
            outShape[d] = shape[d] + padding[2 * k] + padding[2 * k + 1]
            checkArgument(outShape[d] >= 0, "pad: resulting size of dimension \(d) would be negative")
        }
        let out = Tensor(shape: outShape, repeating: value)
        Tensor.copyRegion(from: self, to: out, offset: before, adding: false)
        let inShape = shape
        return Tensor.record(out, "pad", [self]) { g in
            let gx = Tensor(shape: inShape, repeating: 0)
            Tensor.copyRegion(from: g, to: gx, offset: before.map { -$0 }, adding: false)
            return [gx]
        }
    }

    /// Copies `src` into `dst` with `src[i]` landing at `dst[i + offset]`, skipping what falls outside.
    static func copyRegion(from src: Tensor, to dst: Tensor, offset: [Int], adding: Bool) {
        let r = src.rank
        if r == 0 { dst.data[0] = adding ? dst.data[0] + src.data[0] : src.data[0]; return }
        var dstStrides = [Int](repeating: 1, count: r)
        for i in stride(from: r - 2, through: 0, by: -1) { dstStrides[i] = dstStrides[i + 1] * dst.shape[i + 1] }
        let inner = src.shape[r - 1]
        let outer = src.count / Swift.max(inner, 1)
        var idx = [Int](repeating: 0, count: r)
        let lo = Swift.max(0, -offset[r - 1]), hi = Swift.min(inner, dst.shape[r - 1] - offset[r - 1])
        for o in 0..<outer {
            var inside = true
            var base = 0
            for k in 0..<(r - 1) {
                let p = idx[k] + offset[k]
                if p < 0 || p >= dst.shape[k] { inside = false; break }
                base += p * dstStrides[k]
            }
            if inside && hi > lo {
                let s = src.data + o * inner, d = dst.data + base + offset[r - 1]
                if adding { for j in lo..<hi { d[j] += s[j] } } else { (d + lo).update(from: s + lo, count: hi - lo) }
            }
            var k = r - 2
            while k >= 0 { idx[k] += 1; if idx[k] < src.shape[k] { break }; idx[k] = 0; k -= 1 }
        }
    }
}

/// Concatenates tensors along `dim`; all other dimensions must agree.
public func cat(_ tensors: [Tensor], dim: Int = 0) -> Tensor {
    checkArgument(!tensors.isEmpty, "cat(): expected a non-empty list of Tensors")
    let first = tensors[0]
    let d = normalizeDim(dim, rank: first.rank)
    for t in tensors {
        checkArgument(t.rank == first.rank, "cat(): tensors must have the same number of dimensions: got \(first.shape) and \(t.shape)")
        for k in 0..<first.rank where k != d {
            checkArgument(t.shape[k] == first.shape[k],
                         "Sizes of tensors must match except in dimension \(d). Expected size \(first.shape[k]) but got size \(t.shape[k]) for tensor of shape \(t.shape)")
        }
    }
    let sizes = tensors.map { $0.shape[d] }
    var outShape = first.shape; outShape[d] = sizes.reduce(0, +)
    let outer = first.shape[..<d].reduce(1, *), inner = first.shape[(d + 1)...].reduce(1, *)
    let total = outShape[d]
    let out = Tensor(uninitializedShape: outShape)
    var start = 0
    for t in tensors {
        let n = t.shape[d]
        for o in 0..<outer { (out.data + (o * total + start) * inner).update(from: t.data + o * n * inner, count: n * inner) }
        start += n
    }
    return Tensor.record(out, "cat", tensors) { g in
        var s = 0
        return sizes.map { n in defer { s += n }; return g.narrow(dim: d, start: s, length: n) }
    }
}

/// Stacks equal-shaped tensors along a new dimension.
public func stack(_ tensors: [Tensor], dim: Int = 0) -> Tensor {
    checkArgument(!tensors.isEmpty, "stack expects a non-empty list of Tensors")
    return cat(tensors.map { $0.unsqueeze(dim) }, dim: dim)
}
