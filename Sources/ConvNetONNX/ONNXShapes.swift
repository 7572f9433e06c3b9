import ConvNetCore

/// Why a node cannot run on the shapes it would get (wrapped into an `ONNXError` naming the node).
struct ShapeProblem: Error { let reason: String }

/// Output shapes of the supported operators, with every check the ConvNet ops would make, so a
/// graph that does not fit together is refused with a typed error before any op runs.
enum ONNXShapes {
    private static func fail(_ reason: String) -> ShapeProblem { ShapeProblem(reason: reason) }

    /// NumPy broadcasting of two shapes.
    static func broadcast(_ a: [Int], _ b: [Int]) throws -> [Int] {
        let r = max(a.count, b.count)
        return try (0..<r).map { i in
            let da = i < r - a.count ? 1 : a[i - (r - a.count)], db = i < r - b.count ? 1 : b[i - (r - b.count)]
            guard da == db || da == 1 || db == 1 else { throw fail("shapes \(a) and \(b) cannot be broadcast together") }
            return da == 1 ? db : da
        }
    }

    private static func window(_ x: [Int], kernel: Size2, stride: Size2, padding: ONNXPadding, dilation: Size2,
                               ceil: Bool, what: String) throws -> (ho: Int, wo: Int) {
        guard x.count == 4 else { throw fail("\(what) needs 4-D NCHW input, got shape \(x)") }
        let ek = Size2(dilation.h * (kernel.h - 1) + 1, dilation.w * (kernel.w - 1) + 1)
        let p = padding.amounts(h: x[2], w: x[3], kernel: ek, stride: stride)
        // as the forward runs it: symmetric padding inside the op, any other padded beforehand
        let inside = symmetricPadding(p, kernel: kernel)
        let ho = convOutputSize(inside == nil ? x[2] + p.top + p.bottom : x[2], kernel: kernel.h, stride: stride.h,
                                padding: inside?.h ?? 0, dilation: dilation.h, ceilMode: ceil)
        let wo = convOutputSize(inside == nil ? x[3] + p.left + p.right : x[3], kernel: kernel.w, stride: stride.w,
                                padding: inside?.w ?? 0, dilation: dilation.w, ceilMode: ceil)
        guard ho > 0 && wo > 0 else { throw fail("\(what): input \(x) is too small for kernel \(kernel) with padding \(p) (output \(ho)×\(wo))") }
        return (ho, wo)
    }

    /// The padding a ConvNet window op can apply itself (the same on both sides, at most half the
    /// kernel), or nil when the forward pads the input first.
    static func symmetricPadding(_ p: (top: Int, left: Int, bottom: Int, right: Int), kernel: Size2) -> Size2? {
        p.top == p.bottom && p.left == p.right && p.top <= kernel.h / 2 && p.left <= kernel.w / 2 ? Size2(p.top, p.left) : nil
    }

    static func normalizedAxis(_ axis: Int, rank: Int, inclusiveEnd: Bool = false) throws -> Int {
        let n = rank + (inclusiveEnd ? 1 : 0)
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0 && a < n else { throw fail("axis \(axis) is out of range for rank \(rank)") }
        return a
    }

    /// The shape of the result of `op` on inputs of shapes `ins`.
    static func output(_ op: ONNXOperation, _ ins: [[Int]]) throws -> [Int] {
        let x = ins[0]
        switch op {
        case .conv(let w, let b, let stride, let dilation, let padding, let groups):
            guard x.count == 4 else { throw fail("Conv needs 4-D NCHW input, got shape \(x)") }
            guard w.rank == 4 else { throw fail("the weight must be 4-D [M, C/group, kH, kW], got \(w.shape)") }
            guard x[1] == w.shape[1] * groups else {
                throw fail("the input has \(x[1]) channels but the weight \(w.shape) with group=\(groups) expects \(w.shape[1] * groups)")
            }
            guard w.shape[0] % groups == 0 else { throw fail("the weight's \(w.shape[0]) output channels are not divisible by group=\(groups)") }
            if let b, b.shape != [w.shape[0]] { throw fail("the bias has shape \(b.shape); the weight \(w.shape) needs [\(w.shape[0])]") }
            guard w.shape[2] > 0 && w.shape[3] > 0 else { throw fail("the weight \(w.shape) has an empty kernel") }
            let (ho, wo) = try window(x, kernel: Size2(w.shape[2], w.shape[3]), stride: stride, padding: padding, dilation: dilation, ceil: false, what: "Conv")
            return [x[0], w.shape[0], ho, wo]
        case .batchNorm(let scale, let bias, let mean, let variance, _):
            guard x.count >= 2 else { throw fail("BatchNormalization needs at least 2-D input, got \(x)") }
            for (name, t) in [("scale", scale), ("B", bias), ("mean", mean), ("var", variance)] where t.count != x[1] || t.rank != 1 {
                throw fail("\(name) has shape \(t.shape); the input \(x) has \(x[1]) channels")
            }
            return x
        case .relu, .sigmoid, .tanh, .clip: return x
        case .maxPool(let k, let s, let p, let d, let ceil):
            let (ho, wo) = try window(x, kernel: k, stride: s, padding: p, dilation: d, ceil: ceil, what: "MaxPool")
            return [x[0], x[1], ho, wo]
        case .averagePool(let k, let s, let p, let ceil, let countIncludePad):
            let (ho, wo) = try window(x, kernel: k, stride: s, padding: p, dilation: Size2(1), ceil: ceil, what: "AveragePool")
            let a = p.amounts(h: x[2], w: x[3], kernel: k, stride: s)
            if !countIncludePad && (a.top != a.bottom || a.left != a.right || a.top > k.h / 2 || a.left > k.w / 2) {
                throw fail("AveragePool with count_include_pad=0 and pads \(a) (uneven, or over half the kernel) is not supported")
            }
            return [x[0], x[1], ho, wo]
        case .globalAveragePool:
            guard x.count == 4, x[2] > 0, x[3] > 0 else { throw fail("GlobalAveragePool needs non-empty 4-D NCHW input, got \(x)") }
            return [x[0], x[1], 1, 1]
        case .linear(let w, let b, let addend):
            guard x.count == 2 else { throw fail("Gemm needs a 2-D input A, got \(x)") }
            guard x[1] == w.shape[1] else { throw fail("A has shape \(x) but B gives \(w.shape[1]) rows (K)") }
            if let b, b.count != w.shape[0] { throw fail("C has \(b.count) elements; the output has \(w.shape[0]) columns") }
            let out = [x[0], w.shape[0]]
            if let addend {
                guard try broadcast(out, addend.shape) == out else { throw fail("C of shape \(addend.shape) does not broadcast to the output \(out)") }
            }
            return out
        case .gemm(_, _, let transA, let transB):
            let b = ins[1]
            guard x.count == 2 && b.count == 2 else { throw fail("Gemm needs 2-D A and B, got \(x) and \(b)") }
            let (m, k) = transA ? (x[1], x[0]) : (x[0], x[1]), (k2, n) = transB ? (b[1], b[0]) : (b[0], b[1])
            guard k == k2 else { throw fail("A \(x) and B \(b) cannot be multiplied (K \(k) against \(k2))") }
            if ins.count > 2 {
                guard try broadcast([m, n], ins[2]) == [m, n] else { throw fail("C of shape \(ins[2]) does not broadcast to [\(m), \(n)]") }
            }
            return [m, n]
        case .matmul:
            let b = ins[1]
            guard x.count >= 1 && b.count >= 1 else { throw fail("MatMul needs at least 1-D operands") }
            let a2 = x.count == 1 ? [1] + x : x, b2 = b.count == 1 ? b + [1] : b
            guard a2[a2.count - 1] == b2[b2.count - 2] else { throw fail("shapes \(x) and \(b) cannot be multiplied") }
            let batchA = Array(a2.dropLast(2)), batchB = Array(b2.dropLast(2))
            guard batchB.isEmpty || batchA == batchB else { throw fail("MatMul batch dimensions \(batchA) and \(batchB) differ (ConvNet does not broadcast them)") }
            var out = batchA + [a2[a2.count - 2], b2[b2.count - 1]]
            if x.count == 1 { out.remove(at: out.count - 2) }
            if b.count == 1 { out.removeLast() }
            return out
        case .binary: return try broadcast(x, ins[1])
        case .concat(let axis):
            let a = try normalizedAxis(axis, rank: x.count)
            var out = x
            for s in ins.dropFirst() {
                guard s.count == x.count else { throw fail("Concat inputs have ranks \(x.count) and \(s.count)") }
                for k in 0..<x.count where k != a && s[k] != x[k] { throw fail("Concat inputs \(x) and \(s) differ outside axis \(a)") }
                out[a] += s[a]
            }
            return out
        case .flatten(let axis):
            let a = try normalizedAxis(axis, rank: x.count, inclusiveEnd: true)
            return [x[..<a].reduce(1, *), x[a...].reduce(1, *)]
        case .reshape(let shape, let allowZero):
            return try resolveReshape(shape, input: x, allowZero: allowZero)
        case .softmax(let axis, _):
            _ = try normalizedAxis(axis, rank: x.count)
            return x
        }
    }

    /// Reshape's target for an input of shape `x`: 0 copies the input's dimension (unless
    /// `allowZero`), −1 is inferred.
    static func resolveReshape(_ shape: [Int], input x: [Int], allowZero: Bool) throws -> [Int] {
        var s = shape
        for (i, d) in shape.enumerated() where d == 0 && !allowZero {
            guard i < x.count else { throw fail("Reshape's 0 at position \(i) has no input dimension to copy (input \(x))") }
            s[i] = x[i]
        }
        guard s.allSatisfy({ $0 >= -1 }), s.filter({ $0 == -1 }).count <= 1,
              let bound = ONNXTensorCoding.extent(s), bound <= 1 << 40 else { throw fail("invalid Reshape target \(shape)") }
        let count = x.reduce(1, *)
        guard let known = ONNXTensorCoding.elementCount(s.filter { $0 != -1 }) else { throw fail("invalid Reshape target \(shape)") }
        if let hole = s.firstIndex(of: -1) {
            guard known > 0 && count % known == 0 else { throw fail("cannot reshape \(x) to \(shape)") }
            s[hole] = count / known
        }
        guard s.reduce(1, *) == count else { throw fail("cannot reshape \(x) (\(count) elements) to \(shape)") }
        return s
    }
}
