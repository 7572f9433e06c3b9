import CKernels

/// One convolution with what the engine fuses into it (`conv2dAffineReLU`'s arguments): a
/// per-channel scale and shift, then ReLU or a clamp.
struct AffineConv {
    let weight: Tensor
    let bias: Tensor?
    let stride: Size2
    let padding: Padding
    let dilation: Size2
    let groups: Int
    let scale: Tensor?
    let shift: Tensor?
    let relu: Bool
    let clamp: (lower: Float, upper: Float)?

    func callAsFunction(_ x: Tensor, residual: Tensor? = nil) -> Tensor {
        conv2dAffineReLU(x, weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups,
                         scale: scale, shift: shift, residual: residual, relu: relu, clamp: clamp)
    }

    /// The explicit padding (height, width), or nil for `.same` with an even kernel (asymmetric).
    var explicitPadding: (h: Int, w: Int)? {
        switch padding {
        case .explicit(let p): return (p.h, p.w)
        case .valid: return (0, 0)
        case .same:
            let th = dilation.h * (weight.shape[2] - 1), tw = dilation.w * (weight.shape[3] - 1)
            return th % 2 == 0 && tw % 2 == 0 ? (th / 2, tw / 2) : nil
        }
    }

    /// Runs `body` with this layer's epilogue in the kernels' form (the bias folded into the shift:
    /// (v + b)·s + t = v·s + (b·s + t)).
    func withEpilogue<R>(_ body: (ck_epilogue) -> R) -> R {
        let channels = weight.shape[0]
        let (scale, bias, shift) = (scale?.contiguous(), bias?.contiguous(), shift?.contiguous())
        var folded = [Float](repeating: 0, count: channels)
        for o in 0..<channels {
            let s = scale?.elementPointer[o] ?? 1
            folded[o] = (bias?.elementPointer[o] ?? 0) * s + (shift?.elementPointer[o] ?? 0)
        }
        return folded.withUnsafeBufferPointer { f in
            let e = ConvEpilogue(scale: scale.map { UnsafePointer($0.elementPointer) }, shift: f.baseAddress, relu: relu, clamp: clamp)
            return withExtendedLifetime((scale, bias, shift)) {
                body(e.kernelForm(image: 0, channels: channels, plane: 0, channel0: 0))
            }
        }
    }
}

/// `depthwise(expand(x))` for a 1×1 convolution that widens x followed by a depthwise one
/// (MobileNet's inverted residual). Where the widened map outgrows a core's cache, it is made
/// band by band of output rows into a scratch buffer and consumed there, instead of going out
/// to memory as a tensor several times the input's size and being read back. Other shapes run
/// as the two layers, as do grad-recording calls.
func conv2dExpandDepthwise(_ x: Tensor, _ expand: AffineConv, _ depthwise: AffineConv) -> Tensor {
    guard let plan = ExpandDepthwisePlan(x, expand, depthwise) else { return depthwise(expand(x)) }
    let x = x.contiguous(), expandWeight = expand.weight.contiguous(), dwWeight = depthwise.weight.contiguous()
    let out = Tensor(uninitializedShape: [plan.n, plan.e, plan.ho, plan.wo])
    let packed = ConvKernels.packedWeight(expandWeight, "gemm 0/1 \(plan.e)×\(plan.c)") { () -> (PackedA, Int) in
        let p = PackedA(transA: false, m: plan.e, k: plan.c, a: expandWeight.elementPointer, lda: plan.c)
        return (p, p.bytes)
    }
    Profiler.measure("conv fwd \(plan.c)→\(plan.e) 1×1 + depthwise \(plan.kh)×\(plan.kw)/\(plan.s) @\(plan.h)×\(plan.w)") {
        expand.withEpilogue { e1 in
            depthwise.withEpilogue { e2 in
                ConvKernels.expandDepthwise(plan, x: x.elementPointer, packed: packed, expandEpilogue: e1,
                                            dwWeight: dwWeight.elementPointer, dwEpilogue: e2, y: out.elementPointer)
            }
        }
    }
    return out
}

/// The shapes of a widening 1×1 layer and the depthwise layer after it, when the banded kernel
/// takes them (nil otherwise).
struct ExpandDepthwisePlan {
    let n, c, h, w, e, kh, kw, s, ph, pw, ho, wo: Int

    /// Widened maps smaller than this per image (floats) stay in cache anyway: the two layers run apart.
    static let minimumWidened = 1 << 18

    init?(_ x: Tensor, _ expand: AffineConv, _ depthwise: AffineConv) {
        guard ck_conv_depthwise512_available() != 0, x.rank == 4, expand.weight.rank == 4, depthwise.weight.rank == 4 else { return nil }
        let recording = GradMode.isEnabled && ([x, expand.weight, depthwise.weight] + [expand.bias, expand.scale, expand.shift,
            depthwise.bias, depthwise.scale, depthwise.shift].compactMap { $0 }).contains { $0.requiresGrad }
        guard !recording else { return nil }
        let (e, c) = (expand.weight.shape[0], expand.weight.shape[1])
        guard x.shape[1] == c, expand.weight.shape[2] == 1, expand.weight.shape[3] == 1, expand.groups == 1,
              expand.stride == Size2(1), expand.dilation == Size2(1), let p1 = expand.explicitPadding, p1 == (0, 0) else { return nil }
        let dw = depthwise.weight.shape
        guard dw[0] == e, dw[1] == 1, depthwise.groups == e, depthwise.dilation == Size2(1), depthwise.stride.h == depthwise.stride.w,
              depthwise.stride.h == 1 || depthwise.stride.h == 2, let p2 = depthwise.explicitPadding else { return nil }
        let (h, w, s) = (x.shape[2], x.shape[3], depthwise.stride.h)
        guard e * h * w >= ExpandDepthwisePlan.minimumWidened, p2.h < dw[2], p2.w < dw[3] else { return nil }
        let ho = (h + 2 * p2.h - dw[2]) / s + 1, wo = (w + 2 * p2.w - dw[3]) / s + 1
        guard h + 2 * p2.h >= dw[2], w + 2 * p2.w >= dw[3] else { return nil }
        for (name, t, count) in [("scale", expand.scale, e), ("shift", expand.shift, e), ("bias", expand.bias, e),
                                 ("scale", depthwise.scale, e), ("shift", depthwise.shift, e), ("bias", depthwise.bias, e)] {
            if let t { checkArgument(t.shape == [count], "conv2dAffineReLU: \(name) must have \(count) elements, got \(t.shape)") }
        }
        (self.n, self.c, self.h, self.w, self.e) = (x.shape[0], c, h, w, e)
        (self.kh, self.kw, self.s, self.ph, self.pw, self.ho, self.wo) = (dw[2], dw[3], s, p2.h, p2.w, ho, wo)
    }
}
