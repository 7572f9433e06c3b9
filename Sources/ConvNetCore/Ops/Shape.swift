extension Tensor {
    /// A view of this tensor's elements with another geometry (sharing storage), recorded with
    /// `backward` mapping the view's gradient to this tensor's.
    func makeView(shape: [Int], strides: [Int], offset: Int, _ name: String,
                  _ backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        let v = Tensor(shape: shape, storage: storage, strides: strides, offset: offset, dtype: dtype)
        v.viewBase = viewBase ?? self
        return Tensor.record(v, name, [self], saving: [], backward)
    }

    /// The same elements with a new shape (one dimension may be −1), as PyTorch's `reshape`: a view
    /// sharing storage when the layout allows it (always for contiguous tensors), otherwise a copy.
    public func reshape(_ newShape: [Int]) -> Tensor {
        OpTrace.op(.other("reshape", { $0[0].reshape(newShape) }), [self]) { eagerReshape(newShape) }
    }

    private func eagerReshape(_ newShape: [Int]) -> Tensor {
        let s = inferShape(newShape)
        if s == shape { return self }
        guard isContiguous else { return contiguous().reshape(s) }
        let inShape = shape
        return makeView(shape: s, strides: Tensor.contiguousStrides(s), offset: storageOffset, "view") { g in [g.reshape(inShape)] }
    }

    private func inferShape(_ newShape: [Int]) -> [Int] {
        var s = newShape
        let known = s.filter { $0 != -1 }.reduce(1, *)
        let holes = s.filter { $0 == -1 }.count
        checkArgument(holes <= 1, "only one dimension can be inferred in shape \(newShape)")
        checkArgument(s.allSatisfy { $0 >= -1 }, "invalid shape dimension in \(newShape)")
        if holes == 1 {
            checkArgument(known > 0 && count % known == 0, "shape '\(newShape)' is invalid for input of size \(count)")
            s[s.firstIndex(of: -1)!] = count / known
        }
        checkArgument(s.reduce(1, *) == count, "shape '\(newShape)' is invalid for input of size \(count)")
        return s
    }

    /// Variadic spelling of `reshape(_:)` with an `[Int]`: `x.reshape(2, -1)`, as in PyTorch.
    public func reshape(_ dims: Int...) -> Tensor { reshape(dims) }

    /// PyTorch's `view`: a reshape that always shares storage; a non-contiguous tensor is refused,
    /// as PyTorch refuses it, with `reshape` (which copies) named as the way out.
    public func view(_ dims: [Int]) -> Tensor {
        checkArgument(isContiguous || inferShape(dims) == shape,
                      "view size is not compatible with input tensor's size and stride (at least one dimension spans across two contiguous subspaces). Use .reshape(...) instead.")
        return reshape(dims)
    }
    /// Variadic spelling of `view(_:)` with an `[Int]`: `x.view(-1, 16 * 4 * 4)`, as in PyTorch.
    public func view(_ dims: Int...) -> Tensor { view(dims) }

    /// Flattens dimensions `startDim...endDim` into one.
    public func flatten(startDim: Int = 0, endDim: Int = -1) -> Tensor {
        if rank == 0 { return reshape([1]) }
        let s = normalizeDim(startDim, rank: rank), e = normalizeDim(endDim, rank: rank)
        checkArgument(s <= e, "flatten() has invalid args: start_dim \(startDim) cannot come after end_dim \(endDim)")
        return reshape(Array(shape[..<s]) + [shape[s...e].reduce(1, *)] + Array(shape[(e + 1)...]))
    }

    /// Removes size-1 dimensions (all of them, or just `dim`); a view.
    public func squeeze(_ dim: Int? = nil) -> Tensor {
        let drop: [Int]
        if let dim {
            let d = normalizeDim(dim, rank: rank)
            guard shape[d] == 1 else { return self }
            drop = [d]
        } else {
            drop = shape.indices.filter { shape[$0] == 1 }
        }
        if drop.isEmpty { return self }
        let keep = shape.indices.filter { !drop.contains($0) }
        let inShape = shape
        return makeView(shape: keep.map { shape[$0] }, strides: keep.map { strides[$0] }, offset: storageOffset, "squeeze") { g in
            [g.reshape(inShape)]
        }
    }

    /// Inserts a size-1 dimension at `dim`; a view.
    public func unsqueeze(_ dim: Int) -> Tensor {
        let d = normalizeDim(dim, rank: rank + 1)
        var s = shape, st = strides
        s.insert(1, at: d)
        st.insert(d < rank ? strides[d] * shape[d] : 1, at: d)
        return makeView(shape: s, strides: st, offset: storageOffset, "unsqueeze") { g in [g.squeeze(d)] }
    }

    /// Reorders dimensions; a view (PyTorch's `permute`).
    public func permute(_ dims: [Int]) -> Tensor {
        checkArgument(dims.count == rank && Set(dims.map { normalizeDim($0, rank: rank) }).count == rank,
                     "permute: dims \(dims) do not match the number of dimensions of shape \(shape)")
        let p = dims.map { normalizeDim($0, rank: rank) }
        if p == Array(0..<rank) { return self }
        var inverse = [Int](repeating: 0, count: rank)
        for (i, v) in p.enumerated() { inverse[v] = i }
        return makeView(shape: p.map { shape[$0] }, strides: p.map { strides[$0] }, offset: storageOffset, "permute") { g in
            [g.permute(inverse)]
        }
    }

    /// Variadic spelling of `permute(_:)` with an `[Int]`: `x.permute(0, 2, 3, 1)`, as in PyTorch.
    public func permute(_ dims: Int...) -> Tensor { permute(dims) }

    /// Swaps two dimensions; a view.
    public func transpose(_ d0: Int, _ d1: Int) -> Tensor {
        var p = Array(0..<rank)
        p.swapAt(normalizeDim(d0, rank: rank), normalizeDim(d1, rank: rank))
        return permute(p)
    }

    /// The transpose of a 2-D tensor; a view.
    public var T: Tensor {
        checkArgument(rank == 2, "T needs a 2-D tensor, got shape \(shape)")
        return transpose(0, 1)
    }

    /// PyTorch's `t()`: a 2-D tensor transposed, a 0-D or 1-D tensor as it is.
    public func t() -> Tensor {
        checkArgument(rank <= 2, "t() expects a tensor with <= 2 dimensions, but self is \(rank)D")
        return rank == 2 ? transpose(0, 1) : self
    }

    /// `length` entries of dimension `dim` starting at `start`; a view (PyTorch's `narrow`).
    public func narrow(dim: Int, start: Int, length: Int) -> Tensor {
        let d = normalizeDim(dim, rank: rank)
        let s0 = start < 0 ? start + shape[d] : start
        checkArgument(s0 >= 0 && length >= 0 && s0 + length <= shape[d],
                     "start (\(start)) + length (\(length)) exceeds dimension size (\(shape[d])).")
        if s0 == 0 && length == shape[d] { return self }
        var outShape = shape; outShape[d] = length
        let inShape = shape
        return makeView(shape: outShape, strides: strides, offset: storageOffset + s0 * strides[d], "slice") { g in
            [g.pad(Tensor.padSpec(rank: inShape.count, dim: d, before: s0, after: inShape[d] - s0 - length))]
        }
    }

    /// `[0, 0, …, before, after, …]` in `pad`'s last-dimension-first order.
    static func padSpec(rank: Int, dim: Int, before: Int, after: Int) -> [Int] {
        var p = [Int](repeating: 0, count: 2 * (rank - dim))
        p[2 * (rank - 1 - dim)] = before
        p[2 * (rank - 1 - dim) + 1] = after
        return p
    }

    /// Entry `index` of dimension `dim`, that dimension removed; a view (PyTorch's `select`).
    public func select(dim: Int, index: Int) -> Tensor {
        let d = normalizeDim(dim, rank: rank)
        let i = index < 0 ? index + shape[d] : index
        checkArgument(i >= 0 && i < shape[d], "index \(index) is out of bounds for dimension \(d) with size \(shape[d])")
        var s = shape, st = strides
        s.remove(at: d); st.remove(at: d)
        let inShape = shape
        return makeView(shape: s, strides: st, offset: storageOffset + i * strides[d], "select") { g in
            [g.unsqueeze(d).pad(Tensor.padSpec(rank: inShape.count, dim: d, before: i, after: inShape[d] - i - 1))]
        }
    }

    /// `x[i]`: entry `i` of the first dimension, a view; assigning to it writes into `x`.
    public subscript(_ index: Int) -> Tensor {
        get { select(dim: 0, index: index) }
        set { select(dim: 0, index: index).copy_(newValue) }
    }

    /// `x[a..<b]`: a range of the first dimension, a view; assigning to it writes into `x`.
    public subscript(_ range: Range<Int>) -> Tensor {
        get { narrow(dim: 0, start: range.lowerBound, length: range.count) }
        set { narrow(dim: 0, start: range.lowerBound, length: range.count).copy_(newValue) }
    }

    /// The tensor broadcast to `target` (PyTorch's `expand`); a view whose repeated dimensions have
    /// stride 0, so writing into it is refused.
    public func expand(_ target: [Int]) -> Tensor {
        let t = zip(target, [Int](repeating: 1, count: Swift.max(0, target.count - rank)) + shape).map { $0.0 == -1 ? $0.1 : $0.0 }
        let shapeOut = Broadcast.shape(shape, t)
        checkArgument(shapeOut == t, "The expanded size of the tensor must match the existing size at non-singleton dimensions: \(shape) cannot be expanded to \(target)")
        if t == shape { return self }
        var st = [Int](repeating: 0, count: t.count)
        for i in 0..<rank where shape[i] != 1 { st[t.count - rank + i] = strides[i] }
        let inShape = shape
        return makeView(shape: t, strides: st, offset: storageOffset, "expand") { g in [g.sumTo(inShape)] }
    }

    /// Variadic spelling of `expand(_:)` with an `[Int]`: `x.expand(4, -1)`, as in PyTorch.
    public func expand(_ dims: Int...) -> Tensor { expand(dims) }

    /// Pads the last dimensions with `value`; `padding` lists (before, after) pairs starting from the
    /// last dimension, as PyTorch's `F.pad`: `[left, right, top, bottom]` for images. Negative crops.
    public func pad(_ padding: [Int], value: Float = 0) -> Tensor {
        OpTrace.op(.other("pad", { $0[0].pad(padding, value: value) }, attributes: ["pads": .ints(padding), "value": .float(value)]), [self]) {
            eagerPad(padding, value: value)
        }
    }

    private func eagerPad(_ padding: [Int], value: Float) -> Tensor {
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
        guard isContiguous else { return contiguous().pad(padding, value: value) }
        let out = Tensor(shape: outShape, repeating: value)
        Tensor.copyRegion(from: self, to: out, offset: before, adding: false)
        let inShape = shape
        return Tensor.record(out, "pad", [self], saving: []) { g in
            let gx = Tensor(shape: inShape, repeating: 0)
            Tensor.copyRegion(from: g, to: gx, offset: before.map { -$0 }, adding: false)
            return [gx]
        }
    }

    /// Copies `src` into `dst` with `src[i]` landing at `dst[i + offset]`, skipping what falls outside.
    static func copyRegion(from src: Tensor, to dst: Tensor, offset: [Int], adding: Bool) {
        let r = src.rank
        if r == 0 { dst.elementPointer[0] = adding ? dst.elementPointer[0] + src.elementPointer[0] : src.elementPointer[0]; return }
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
                let s = src.elementPointer + o * inner, d = dst.elementPointer + base + offset[r - 1]
                if adding { for j in lo..<hi { d[j] += s[j] } } else { (d + lo).update(from: s + lo, count: hi - lo) }
            }
            var k = r - 2
            while k >= 0 { idx[k] += 1; if idx[k] < src.shape[k] { break }; idx[k] = 0; k -= 1 }
        }
    }
}

/// Concatenates tensors along `dim`; all other dimensions must agree.
public func cat(_ tensors: [Tensor], dim: Int = 0) -> Tensor {
    OpTrace.op(.other("cat", { cat($0, dim: dim) }, attributes: ["dim": .int(dim)]), tensors) { eagerCat(tensors, dim: dim) }
}

private func eagerCat(_ tensors: [Tensor], dim: Int) -> Tensor {
    checkArgument(!tensors.isEmpty, "cat(): expected a non-empty list of Tensors")
    let tensors = tensors.map { $0.contiguous() }
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
        for o in 0..<outer { (out.elementPointer + (o * total + start) * inner).update(from: t.elementPointer + o * n * inner, count: n * inner) }
        start += n
    }
    return Tensor.record(out, "cat", tensors, saving: []) { g in
        var s = 0
        return sizes.map { n in defer { s += n }; return g.narrow(dim: d, start: s, length: n) }
    }
}

/// Stacks equal-shaped tensors along a new dimension.
public func stack(_ tensors: [Tensor], dim: Int = 0) -> Tensor {
    checkArgument(!tensors.isEmpty, "stack expects a non-empty list of Tensors")
    return cat(tensors.map { $0.unsqueeze(dim) }, dim: dim)
}
