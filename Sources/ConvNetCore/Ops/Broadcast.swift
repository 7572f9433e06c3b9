/// Broadcasting of shapes, as NumPy and PyTorch define it.
public enum Broadcast {
    /// The broadcast shape of `a` and `b`, or a PyTorch-style failure naming the clashing sizes.
    public static func shape(_ a: [Int], _ b: [Int]) -> [Int] {
        let r = Swift.max(a.count, b.count)
        var out = [Int](repeating: 1, count: r)
        for i in 0..<r {
            let da = i < r - a.count ? 1 : a[i - (r - a.count)]
            let db = i < r - b.count ? 1 : b[i - (r - b.count)]
            checkArgument(da == db || da == 1 || db == 1,
                         "The size of tensor a (\(da)) must match the size of tensor b (\(db)) at non-singleton dimension \(i) (shapes \(a) and \(b))")
            out[i] = da == 1 ? db : da
        }
        return out
    }

    /// Element strides of a contiguous tensor of `shape` seen as `target` (0 on broadcast dims).
    static func strides(of shape: [Int], in target: [Int]) -> [Int] {
        let r = target.count
        var strides = [Int](repeating: 0, count: r)
        var s = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            let ti = i + (r - shape.count)
            strides[ti] = shape[i] == 1 ? 0 : s
            s *= shape[i]
        }
        return strides
    }
}

extension Tensor {
    /// This tensor's values repeated to `target` (no autograd; a helper for kernels).
    func materialized(as target: [Int]) -> Tensor {
        if shape == target { return self }
        let out = Tensor(uninitializedShape: target)
        let st = Broadcast.strides(of: shape, in: target)
        let src = elementPointer, dst = out.elementPointer
        let r = target.count
        if r == 0 { dst[0] = src[0]; return out }
        let inner = target[r - 1], innerStride = st[r - 1]
        let outer = out.count / Swift.max(inner, 1)
        var idx = [Int](repeating: 0, count: r)
        var base = 0
        for o in 0..<outer {
            let d = dst + o * inner
            if innerStride == 0 { let v = src[base]; for j in 0..<inner { d[j] = v } }
            else { for j in 0..<inner { d[j] = src[base + j] } }
            // odometer over all but the last dimension
            var k = r - 2
            while k >= 0 {
                idx[k] += 1; base += st[k]
                if idx[k] < target[k] { break }
                base -= st[k] * idx[k]; idx[k] = 0; k -= 1
            }
        }
        return out
    }

    /// Sums this gradient down to `target` (undoing a broadcast).
    func sumTo(_ target: [Int]) -> Tensor {
        if shape == target { return self }
        var t: Tensor = self
        let lead = rank - target.count
        if lead > 0 { t = t.sum(dims: Array(0..<lead), keepDim: false) }
        let dims = (0..<target.count).filter { target[$0] == 1 && t.shape[$0] != 1 }
        if !dims.isEmpty { t = t.sum(dims: dims, keepDim: true) }
        return t.shape == target ? t : t.reshape(target)
    }
}
