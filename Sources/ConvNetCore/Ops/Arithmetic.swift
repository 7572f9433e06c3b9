import CKernels
import Foundation

extension Tensor {
    /// Applies `f` elementwise to the broadcast of `a` and `b` (no autograd).
    @inline(__always)
    static func broadcastZip(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
        let (a, b) = (a.contiguous(), b.contiguous())
        if a.shape == b.shape {
            let out = Tensor(uninitializedShape: a.shape)
            Elementwise.zip(a.elementPointer, b.elementPointer, out.elementPointer, a.count, f)
            return out
        }
        let shape = Broadcast.shape(a.shape, b.shape)
        let out = Tensor(uninitializedShape: shape)
        let o = out.elementPointer, pa = a.elementPointer, pb = b.elementPointer, n = out.count
        if b.count == 1 {
            let v = pb[0]
            if a.count == n { for i in 0..<n { o[i] = f(pa[i], v) }; return out }
        }
        if a.count == 1 {
            let v = pa[0]
            if b.count == n { for i in 0..<n { o[i] = f(v, pb[i]) }; return out }
        }
        // general case: walk rows of the last dimension with per-input strides
        let r = shape.count
        let sa = Broadcast.strides(of: a.shape, in: shape), sb = Broadcast.strides(of: b.shape, in: shape)
        let inner = shape[r - 1], ia = sa[r - 1], ib = sb[r - 1]
        let outer = n / Swift.max(inner, 1)
        var idx = [Int](repeating: 0, count: r)
        var ba = 0, bb = 0
        for row in 0..<outer {
            let d = o + row * inner
            if ia == 1 && ib == 1 { for j in 0..<inner { d[j] = f(pa[ba + j], pb[bb + j]) } }
            else if ia == 1 { let v = pb[bb]; for j in 0..<inner { d[j] = f(pa[ba + j], v) } }
            else if ib == 1 { let v = pa[ba]; for j in 0..<inner { d[j] = f(v, pb[bb + j]) } }
            else { for j in 0..<inner { d[j] = f(pa[ba + j * ia], pb[bb + j * ib]) } }
            var k = r - 2
            while k >= 0 {
                idx[k] += 1; ba += sa[k]; bb += sb[k]
                if idx[k] < shape[k] { break }
                ba -= sa[k] * idx[k]; bb -= sb[k] * idx[k]; idx[k] = 0; k -= 1
            }
        }
        return out
    }

    @inline(__always)
    func mapValues(_ f: (Float) -> Float) -> Tensor {
        if !isContiguous { return contiguous().mapValues(f) }
        let out = Tensor(uninitializedShape: shape)
        Elementwise.map(elementPointer, out.elementPointer, count, f)
        return out
    }

    // MARK: binary ops with broadcasting

    /// Elementwise sum with broadcasting; PyTorch's `a + b`.
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        OpTrace.op(.add, [a, b]) { addEager(a, b) }
    }

    private static func addEager(_ a: Tensor, _ b: Tensor) -> Tensor {
        record(broadcastZip(a, b, +), "add", [a, b], saving: []) { g in [g.sumTo(a.shape), g.sumTo(b.shape)] }
    }

    /// Elementwise difference with broadcasting; PyTorch's `a - b`.
    public static func - (a: Tensor, b: Tensor) -> Tensor {
        OpTrace.op(.other("sub", { $0[0] - $0[1] }), [a, b]) { subEager(a, b) }
    }

    private static func subEager(_ a: Tensor, _ b: Tensor) -> Tensor {
        record(broadcastZip(a, b, -), "sub", [a, b], saving: []) { g in [g.sumTo(a.shape), (-g).sumTo(b.shape)] }
    }

    /// Elementwise product with broadcasting; PyTorch's `a * b`.
    public static func * (a: Tensor, b: Tensor) -> Tensor {
        OpTrace.op(.other("mul", { $0[0] * $0[1] }), [a, b]) { mulEager(a, b) }
    }

    private static func mulEager(_ a: Tensor, _ b: Tensor) -> Tensor {
        record(broadcastZip(a, b, *), "mul", [a, b]) { g in
            [a.requiresGrad ? (g * b).sumTo(a.shape) : nil, b.requiresGrad ? (g * a).sumTo(b.shape) : nil]
        }
    }

    /// Elementwise quotient with broadcasting; PyTorch's `a / b`.
    public static func / (a: Tensor, b: Tensor) -> Tensor {
        OpTrace.op(.other("div", { $0[0] / $0[1] }), [a, b]) { divEager(a, b) }
    }

    private static func divEager(_ a: Tensor, _ b: Tensor) -> Tensor {
        record(broadcastZip(a, b, /), "div", [a, b]) { g in
            [a.requiresGrad ? (g / b).sumTo(a.shape) : nil,
             b.requiresGrad ? (-(g * a) / (b * b)).sumTo(b.shape) : nil]
        }
    }

    /// Elementwise negation; PyTorch's `-a`.
    public static prefix func - (a: Tensor) -> Tensor {
        record(a.mapValues { -$0 }, "neg", [a], saving: []) { g in [-g] }
    }

    // MARK: with scalars

    /// Adds a scalar to every element; PyTorch's `a + s`.
    public static func + (a: Tensor, s: Float) -> Tensor { record(a.mapValues { $0 + s }, "add_scalar", [a], saving: []) { g in [g] } }
    /// Adds a scalar to every element; PyTorch's `s + a`.
    public static func + (s: Float, a: Tensor) -> Tensor { a + s }
    /// Subtracts a scalar from every element; PyTorch's `a - s`.
    public static func - (a: Tensor, s: Float) -> Tensor { a + (-s) }
    /// Subtracts every element from a scalar; PyTorch's `s - a`.
    public static func - (s: Float, a: Tensor) -> Tensor { record(a.mapValues { s - $0 }, "rsub_scalar", [a], saving: []) { g in [-g] } }
    /// Multiplies every element by a scalar; PyTorch's `a * s`.
    public static func * (a: Tensor, s: Float) -> Tensor { record(a.mapValues { $0 * s }, "mul_scalar", [a], saving: []) { g in [g * s] } }
    /// Multiplies every element by a scalar; PyTorch's `s * a`.
    public static func * (s: Float, a: Tensor) -> Tensor { a * s }
    /// Divides every element by a scalar; PyTorch's `a / s`.
    public static func / (a: Tensor, s: Float) -> Tensor { a * (1 / s) }
    /// Divides a scalar by every element; PyTorch's `s / a`.
    public static func / (s: Float, a: Tensor) -> Tensor {
        record(a.mapValues { s / $0 }, "rdiv_scalar", [a]) { g in [g * (-s) / (a * a)] }
    }

    // MARK: unary math

    /// Elementwise e^x; PyTorch's `x.exp()`.
    public func exp() -> Tensor {
        guard isContiguous else { return contiguous().exp() }
        let y = Tensor(uninitializedShape: shape)
        Threads.parallelFor(count, minPerThread: 1 << 16) { r in ck_exp(self.elementPointer + r.lowerBound, y.elementPointer + r.lowerBound, r.count) }
        let saved = y.detached()
        return Tensor.record(y, "exp", [self], saving: [y]) { g in [g * saved] }
    }

    /// Elementwise natural logarithm; PyTorch's `x.log()`.
    public func log() -> Tensor {
        Tensor.record(mapValues { Foundation.log($0) }, "log", [self]) { g in [g / self] }
    }

    /// Elementwise square root; PyTorch's `x.sqrt()`.
    public func sqrt() -> Tensor {
        let y = mapValues { $0.squareRoot() }, saved = y.detached()
        return Tensor.record(y, "sqrt", [self], saving: [y]) { g in [g / (saved * 2)] }
    }

    /// Raises every element to the power `p`; PyTorch's `x.pow(p)` / `x ** p`.
    public func pow(_ p: Float) -> Tensor {
        Tensor.record(mapValues { Foundation.pow($0, p) }, "pow", [self]) { g in
            [g * p * self.mapValues { Foundation.pow($0, p - 1) }]
        }
    }

    /// Elementwise absolute value; PyTorch's `x.abs()`.
    public func abs() -> Tensor {
        Tensor.record(mapValues { Swift.abs($0) }, "abs", [self]) { g in
            [g * self.mapValues { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }]
        }
    }

    /// Limits values to [min, max]; the gradient passes where the value was inside.
    public func clamp(min lo: Float = -.infinity, max hi: Float = .infinity) -> Tensor {
        OpTrace.op(.other("clamp", { $0[0].clamp(min: lo, max: hi) }, attributes: ["min": .float(lo), "max": .float(hi)]), [self]) {
            eagerClamp(min: lo, max: hi)
        }
    }

    private func eagerClamp(min lo: Float, max hi: Float) -> Tensor {
        // one pass without a closure per element (MobileNet's ReLU6 runs on every activation)
        let src = contiguous(), out = Tensor(uninitializedShape: shape)
        let s = UnsafePointer(src.elementPointer), d = out.elementPointer
        Threads.parallelFor(count, minPerThread: 1 << 16) { r in
            for i in r { let v = s[i]; d[i] = v < lo ? lo : (v > hi ? hi : v) }
        }
        return Tensor.record(out, "clamp", [self]) { g in
            [g * self.mapValues { $0 >= lo && $0 <= hi ? 1 : 0 }]
        }
    }

    /// Elementwise max(x, 0); PyTorch's `x.relu()`.
    public func relu() -> Tensor { OpTrace.op(.relu, [self]) { eagerReLU() } }

    private func eagerReLU() -> Tensor {
        guard isContiguous else { return contiguous().relu() }
        let y = Tensor(uninitializedShape: shape)
        Threads.parallelFor(count, minPerThread: 1 << 17) { r in ck_relu(self.elementPointer + r.lowerBound, y.elementPointer + r.lowerBound, r.count) }
        let saved = y.detached()
        return Tensor.record(y, "relu", [self], saving: [y]) { g in
            let gx = Tensor(uninitializedShape: saved.shape)
            Threads.parallelFor(saved.count, minPerThread: 1 << 17) { r in
                ck_relu_backward(g.elementPointer + r.lowerBound, saved.elementPointer + r.lowerBound, gx.elementPointer + r.lowerBound, r.count)
            }
            return [gx]
        }
    }

    /// Elementwise 1 / (1 + e^-x); PyTorch's `x.sigmoid()`.
    public func sigmoid() -> Tensor { OpTrace.op(.other("sigmoid", { $0[0].sigmoid() }), [self]) { eagerSigmoid() } }

    private func eagerSigmoid() -> Tensor {
        guard isContiguous else { return contiguous().sigmoid() }
        let y = Tensor(uninitializedShape: shape)
        Threads.parallelFor(count, minPerThread: 1 << 16) { r in ck_sigmoid(self.elementPointer + r.lowerBound, y.elementPointer + r.lowerBound, r.count) }
        let saved = y.detached()
        return Tensor.record(y, "sigmoid", [self], saving: [y]) { g in
            let gx = Tensor(uninitializedShape: saved.shape)
            Threads.parallelFor(saved.count, minPerThread: 1 << 16) { r in
                ck_sigmoid_backward(g.elementPointer + r.lowerBound, saved.elementPointer + r.lowerBound, gx.elementPointer + r.lowerBound, r.count)
            }
            return [gx]
        }
    }

    /// Elementwise hyperbolic tangent; PyTorch's `x.tanh()`.
    public func tanh() -> Tensor { OpTrace.op(.other("tanh", { $0[0].tanh() }), [self]) { eagerTanh() } }

    private func eagerTanh() -> Tensor {
        let y = mapValues { Foundation.tanh($0) }, saved = y.detached()
        return Tensor.record(y, "tanh", [self], saving: [y]) { g in
            [Tensor.broadcastZip(g, saved) { $0 * (1 - $1 * $1) }]
        }
    }

    /// Elementwise maximum with broadcasting (gradient to the larger; ties to `self`).
    public func maximum(_ other: Tensor) -> Tensor {
        Tensor.record(Tensor.broadcastZip(self, other) { Swift.max($0, $1) }, "maximum", [self, other]) { g in
            let mask = Tensor.broadcastZip(self, other) { $0 >= $1 ? 1 : 0 }
            return [(g * mask).sumTo(self.shape), (g * (1 - mask)).sumTo(other.shape)]
        }
    }
}

// Free functions in PyTorch's functional style (F.relu and friends).
/// Elementwise max(x, 0); PyTorch's `torch.relu` / `F.relu`.
public func relu(_ x: Tensor) -> Tensor { x.relu() }
/// Elementwise logistic sigmoid; PyTorch's `torch.sigmoid`.
public func sigmoid(_ x: Tensor) -> Tensor { x.sigmoid() }
/// Elementwise hyperbolic tangent; PyTorch's `torch.tanh`.
public func tanh(_ x: Tensor) -> Tensor { x.tanh() }
/// Elementwise e^x; PyTorch's `torch.exp`.
public func exp(_ x: Tensor) -> Tensor { x.exp() }
/// Elementwise natural logarithm; PyTorch's `torch.log`.
public func log(_ x: Tensor) -> Tensor { x.log() }
/// Elementwise square root; PyTorch's `torch.sqrt`.
public func sqrt(_ x: Tensor) -> Tensor { x.sqrt() }
/// Elementwise absolute value; PyTorch's `torch.abs`.
public func abs(_ x: Tensor) -> Tensor { x.abs() }
