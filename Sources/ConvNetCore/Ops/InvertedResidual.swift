import CKernels

/// One convolution with what the engine fuses into it (`conv2dAffineReLU`'s arguments): a
/// per-channel scale and shift, then ReLU or a clamp. A class: a replay hands it from its cache to
/// the kernels at every step, one reference instead of four tensors' worth of retains.
final class AffineConv {
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

    init(weight: Tensor, bias: Tensor?, stride: Size2, padding: Padding, dilation: Size2, groups: Int, scale: Tensor?, shift: Tensor?,
         relu: Bool, clamp: (lower: Float, upper: Float)?) {
        (self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups) = (weight, bias, stride, padding, dilation, groups)
        (self.scale, self.shift, self.relu, self.clamp) = (scale, shift, relu, clamp)
    }

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

    /// Runs `body` with this layer's epilogue in the kernels' form (the bias folded into the shift).
    func withEpilogue<R>(_ body: (ck_epilogue) -> R) -> R {
        let channels = weight.shape[0]
        return ConvEpilogue.foldingBias(channels: channels, bias: bias, scale: scale, shift: shift, relu: relu, clamp: clamp) {
            body($0.kernelForm(image: 0, channels: channels, plane: 0, channel0: 0))
        }
    }
}

/// `project(depthwise(expand(x))) + residual`, MobileNet's inverted residual: a 1×1 convolution
/// that widens x (optional), a depthwise one, then a 1×1 one that narrows the result (optional,
/// with an optional residual). Where a widened or depthwise map outgrows a core's cache, the chain
/// runs band by band of output rows, each band's intermediate rows made in a scratch buffer and
/// consumed there, instead of tensors several times the input's size going out to memory and
/// being read back. Other shapes, and grad-recording calls, run as the layers one after another.
func conv2dInvertedResidual(_ x: Tensor, _ expand: AffineConv?, _ depthwise: AffineConv, project: AffineConv? = nil,
                            residual: Tensor? = nil) -> Tensor {
    guard let plan = InvertedResidualPlan(x, expand, depthwise, project: project, residual: residual) else {
        if let expand, let y = expandedDepthwiseByChannels(x, expand, depthwise) {
            return project.map { $0(y, residual: residual) } ?? y
        }
        let widened = expand.map { $0(x) } ?? x
        let y = depthwise(widened)
        return project.map { $0(y, residual: residual) } ?? y
    }
    let x = x.contiguous(), dwWeight = depthwise.weight.contiguous(), residual = residual?.contiguous()
    let out = Tensor(uninitializedShape: [plan.n, plan.cout, plan.ho, plan.wo])
    let pack = { (weight: Tensor, m: Int, k: Int) in ConvKernels.gemmWeight(weight.elementPointer, constant: weight, rows: m, columns: k) }
    let expandWeight = expand?.weight.contiguous(), projectWeight = project?.weight.contiguous()
    let packedExpand = expandWeight.map { pack($0, plan.e, plan.c) }, packedProject = projectWeight.map { pack($0, plan.cout, plan.e) }
    let label = { (plan.expands ? "\(plan.c)→\(plan.e) 1×1 + depthwise" : "depthwise \(plan.e)") + " \(plan.kh)×\(plan.kw)/\(plan.s)"
        + (plan.projects ? " + \(plan.e)→\(plan.cout) 1×1" : "") + " @\(plan.h)×\(plan.w)" }
    // (an epilogue's pointers live only inside its withEpilogue)
    let none = ck_epilogue(scale: nil, shift: nil, residual: nil, relu: 0, clamp: 0, lo: 0, hi: 0)
    let withOptional = { (layer: AffineConv?, body: (ck_epilogue) -> Void) in
        if let layer { layer.withEpilogue(body) } else { body(none) }
    }
    Profiler.measure("conv fwd " + label()) {
        withExtendedLifetime((expandWeight, projectWeight, residual)) {
            withOptional(expand) { e1 in
                depthwise.withEpilogue { e2 in
                    withOptional(project) { e3 in
                        ConvKernels.invertedResidual(plan, x: x.elementPointer, expand: packedExpand, expandEpilogue: e1,
                                                     dwWeight: dwWeight.elementPointer, dwEpilogue: e2, project: packedProject,
                                                     projectEpilogue: e3, residual: residual.map { UnsafePointer($0.elementPointer) },
                                                     y: out.elementPointer)
                    }
                }
            }
        }
    }
    return out
}

/// depthwise(expand(x)) for one image of a map small enough to stay in cache, the widened channels
/// split over threads: each widens its channels and runs the depthwise layer on them at once, in one
/// parallel region instead of two, and no widened plane moves to another core. Nil where the layers
/// do not fit that (they then run one after the other).
func expandedDepthwiseByChannels(_ x: Tensor, _ expand: AffineConv, _ depthwise: AffineConv) -> Tensor? {
    guard x.rank == 4, x.shape[0] == 1,
          let plan = InvertedResidualPlan(x, expand, depthwise, project: nil, residual: nil, minimumIntermediate: 0) else { return nil }
    let x = x.contiguous(), expandWeight = expand.weight.contiguous(), dwWeight = depthwise.weight.contiguous()
    let packed = ConvKernels.gemmWeight(expandWeight.elementPointer, constant: expandWeight, rows: plan.e, columns: plan.c)
    let widened = Tensor(uninitializedShape: [1, plan.e, plan.h, plan.w]), out = Tensor(uninitializedShape: [1, plan.e, plan.ho, plan.wo])
    Profiler.measure("conv fwd \(plan.c)→\(plan.e) 1×1 + depthwise \(plan.kh)×\(plan.kw)/\(plan.s) by channels @\(plan.h)×\(plan.w)") {
        withExtendedLifetime((expandWeight, dwWeight)) {
            expand.withEpilogue { e1 in
                depthwise.withEpilogue { e2 in
                    ConvKernels.expandedDepthwiseByChannels(plan, x: x.elementPointer, expand: packed, expandEpilogue: e1,
                                                            dwWeight: dwWeight.elementPointer, dwEpilogue: e2,
                                                            widened: widened.elementPointer, y: out.elementPointer)
                }
            }
        }
    }
    return out
}

/// The shapes of an inverted residual's layers (`conv2dInvertedResidual`), when the banded kernel
/// takes them (nil otherwise; with `minimumIntermediate` 0, whenever the layers fit a fused kernel).
struct InvertedResidualPlan {
    /// x: n × c × h × w; widened to e channels (c = e without an expansion); depthwise to
    /// e × ho × wo; projected to cout channels (cout = e without a projection).
    let n, c, h, w, e, cout, kh, kw, s, ph, pw, ho, wo: Int
    let expands, projects: Bool

    /// Intermediate maps smaller than this per image (floats) stay in cache anyway: the layers run apart.
    static let minimumIntermediate = 1 << 18

    init?(_ x: Tensor, _ expand: AffineConv?, _ depthwise: AffineConv, project: AffineConv?, residual: Tensor?,
          minimumIntermediate: Int = InvertedResidualPlan.minimumIntermediate) {
        guard ck_conv_depthwise_padded_available() != 0, x.rank == 4, depthwise.weight.rank == 4 else { return nil }
        // most calls are small maps, whose layers run apart: turned away before the checks below
        // (padding < kernel, so neither map has more than h + kh rows or w + kw columns)
        let dws = depthwise.weight.shape
        guard (expand?.weight.shape[0] ?? x.shape[1]) * (x.shape[2] + dws[2]) * (x.shape[3] + dws[3])
            >= minimumIntermediate else { return nil }
        // (no arrays built here: this runs on every call of every block)
        func records(_ l: AffineConv?) -> Bool {
            guard let l else { return false }
            return l.weight.requiresGrad || l.bias?.requiresGrad == true || l.scale?.requiresGrad == true || l.shift?.requiresGrad == true
        }
        guard !(GradMode.isEnabled && (x.requiresGrad || residual?.requiresGrad == true || records(expand) || records(depthwise)
                                        || records(project))) else { return nil }
        func isPointwise(_ l: AffineConv) -> Bool {
            l.weight.rank == 4 && l.weight.shape[2] == 1 && l.weight.shape[3] == 1 && l.groups == 1 && l.stride == Size2(1)
                && l.dilation == Size2(1) && l.explicitPadding.map { $0 == (0, 0) } == true
        }
        var e = x.shape[1]
        if let expand {
            guard isPointwise(expand), expand.weight.shape[1] == x.shape[1] else { return nil }
            e = expand.weight.shape[0]
        }
        let dw = depthwise.weight.shape
        guard dw[0] == e, dw[1] == 1, depthwise.groups == e, depthwise.dilation == Size2(1), depthwise.stride.h == depthwise.stride.w,
              depthwise.stride.h == 1 || depthwise.stride.h == 2, let p2 = depthwise.explicitPadding, p2.h < dw[2], p2.w < dw[3] else { return nil }
        let (h, w, s) = (x.shape[2], x.shape[3], depthwise.stride.h)
        guard h + 2 * p2.h >= dw[2], w + 2 * p2.w >= dw[3] else { return nil }
        let ho = (h + 2 * p2.h - dw[2]) / s + 1, wo = (w + 2 * p2.w - dw[3]) / s + 1
        var cout = e
        if let project {
            guard isPointwise(project), project.weight.shape[1] == e else { return nil }
            cout = project.weight.shape[0]
        }
        if let residual { guard project != nil, residual.shape == [x.shape[0], cout, ho, wo] else { return nil } }
        guard (expand != nil && e * h * w >= minimumIntermediate)
            || (project != nil && e * ho * wo >= minimumIntermediate) else { return nil }
        func checkChannels(_ l: AffineConv?) {
            guard let l else { return }
            let channels = l.weight.shape[0]
            func check(_ name: String, _ t: Tensor?) {
                if let t { checkArgument(t.shape.count == 1 && t.shape[0] == channels, "conv2dAffineReLU: \(name) must have \(channels) elements, got \(t.shape)") }
            }
            check("scale", l.scale); check("shift", l.shift); check("bias", l.bias)
        }
        checkChannels(expand); checkChannels(depthwise); checkChannels(project)
        (self.n, self.c, self.h, self.w, self.e, self.cout) = (x.shape[0], x.shape[1], h, w, e, cout)
        (self.kh, self.kw, self.s, self.ph, self.pw, self.ho, self.wo) = (dw[2], dw[3], s, p2.h, p2.w, ho, wo)
        (self.expands, self.projects) = (expand != nil, project != nil)
    }
}
