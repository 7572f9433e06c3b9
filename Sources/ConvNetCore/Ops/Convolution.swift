import CKernels
import Foundation

/// The calling thread's convolution algorithm choices (all give the same results to rounding),
/// from its `ExecutionContext`: `withContext({ $0.winograd = .off }) { … }`.
enum ConvolutionOptions {
    static var winogradActive: Bool { ExecutionContext.current.winograd != .off }
    /// The forced Winograd output tile, or 0 to choose per layer.
    static var winogradTile: Int { if case .tile(let t) = ExecutionContext.current.winograd { return t } else { return 0 } }
}

/// 2-D cross-correlation over NCHW input, as `F.conv2d`: `weight` is [out, in/groups, kh, kw].
public func conv2d(_ input: Tensor, _ weight: Tensor, bias: Tensor? = nil, stride: Size2 = 1, padding: Padding = 0,
                   dilation: Size2 = 1, groups: Int = 1) -> Tensor {
    OpTrace.op(.conv2d(weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups), [input]) {
        convolve(input, weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups, epilogue: nil)
    }
}

/// `relu?(conv2d(x, w, b) · scale + shift + residual)` with per-output-channel `scale` and `shift` and a
/// `residual` shaped as the output (each optional): a convolution followed by an eval-mode batch norm,
/// a residual connection and a ReLU. Without autograd
/// recording (inference under `withNoGrad`) it runs as one convolution whose kernels apply the
/// affine map and ReLU as they write the output: no separate passes, no intermediate tensors.
/// With recording it is composed from the differentiable ops.
public func conv2dAffineReLU(_ input: Tensor, _ weight: Tensor, bias: Tensor? = nil, stride: Size2 = 1, padding: Padding = 0,
                             dilation: Size2 = 1, groups: Int = 1, scale: Tensor? = nil, shift: Tensor? = nil,
                             residual: Tensor? = nil, relu: Bool) -> Tensor {
    conv2dAffineReLU(input, weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups, scale: scale,
                     shift: shift, residual: residual, relu: relu, clamp: nil)
}

/// The same, then `clamp(min: lower, max: upper)` (the engine fuses a ReLU6 so).
func conv2dAffineReLU(_ input: Tensor, _ weight: Tensor, bias: Tensor?, stride: Size2, padding: Padding, dilation: Size2, groups: Int,
                      scale: Tensor?, shift: Tensor?, residual: Tensor?, relu: Bool, clamp: (lower: Float, upper: Float)?) -> Tensor {
    let (input, weight, bias, scale, shift, residual) = (input.contiguous(), weight.contiguous(), bias?.contiguous(),
                                                         scale?.contiguous(), shift?.contiguous(), residual?.contiguous())
    let cout = weight.rank == 4 ? weight.shape[0] : 0
    if let scale { checkArgument(scale.shape.count == 1 && scale.shape[0] == cout, "conv2dAffineReLU: scale must have \(cout) elements (weight \(weight.shape)), got \(scale.shape)") }
    if let shift { checkArgument(shift.shape.count == 1 && shift.shape[0] == cout, "conv2dAffineReLU: shift must have \(cout) elements (weight \(weight.shape)), got \(shift.shape)") }
    let recording = GradMode.isEnabled && (input.requiresGrad || weight.requiresGrad || (bias?.requiresGrad ?? false)
        || (scale?.requiresGrad ?? false) || (shift?.requiresGrad ?? false) || (residual?.requiresGrad ?? false))
    // a residual of the wrong shape (or a 3-D input) takes the composed route, whose ops check and broadcast
    let composed = recording || input.rank != 4
    if composed || residual.map({ $0.shape.count != 4 || $0.shape[0] != input.shape[0] || $0.shape[1] != cout }) == true {
        var y = conv2d(input, weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
        let channelShape = input.rank == 3 ? [cout, 1, 1] : [1, cout, 1, 1]
        if let scale { y = y * scale.reshape(channelShape) }
        if let shift { y = y + shift.reshape(channelShape) }
        if let residual { y = y + residual }
        if relu { y = y.relu() }
        if let (lo, hi) = clamp { y = y.clamp(min: lo, max: hi) }
        return y
    }
    return ConvEpilogue.foldingBias(channels: cout, bias: bias, scale: scale, shift: shift,
                                    residual: residual.map { UnsafePointer($0.elementPointer) }, relu: relu, clamp: clamp) { epilogue in
        convolve(input, weight, bias: nil, stride: stride, padding: padding, dilation: dilation, groups: groups,
                 epilogue: epilogue, residualShape: residual?.shape)
    }
}

/// conv2d's checks and dispatch; with an epilogue (not recorded) the kernels apply it to the output.
func convolve(_ input: Tensor, _ weight: Tensor, bias: Tensor?, stride: Size2, padding: Padding, dilation: Size2, groups: Int,
              epilogue: ConvEpilogue?, residualShape: [Int]? = nil) -> Tensor {
    // a stored weight that no gradient is recorded for stays as it is during the call (inference,
    // frozen layers): its packed forms may be kept for the next call
    let constantWeight = weight.isContiguous && !(GradMode.isEnabled && weight.requiresGrad)
    let (input, weight, bias) = (input.contiguous(), weight.contiguous(), bias?.contiguous())
    if input.rank == 3 {
        return convolve(input.unsqueeze(0), weight, bias: bias, stride: stride, padding: padding, dilation: dilation,
                        groups: groups, epilogue: epilogue).squeeze(0)
    }
    checkArgument(input.rank == 4, "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: \(input.shape)")
    checkArgument(weight.rank == 4, "conv2d: weight must be 4-D [out, in/groups, kh, kw], got \(weight.shape)")
    checkArgument(groups >= 1, "non-positive groups is not supported")
    checkArgument(stride.h > 0 && stride.w > 0, "non-positive stride is not supported")
    checkArgument(dilation.h > 0 && dilation.w > 0, "dilation should be greater than zero")
    let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
    let (cout, cinG, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
    checkArgument(c == cinG * groups,
                 "Given groups=\(groups), weight of size \(weight.shape), expected input\(input.shape) to have \(cinG * groups) channels, but got \(c) channels instead")
    checkArgument(cout % groups == 0, "Given groups=\(groups), expected weight to be divisible by \(groups) at dimension 0, but got weight of size \(weight.shape) instead")
    if let bias { checkArgument(bias.shape.count == 1 && bias.shape[0] == cout, "Given weight of size \(weight.shape), expected bias to be 1-dimensional with \(cout) elements, but got bias of size \(bias.shape) instead") }

    var ph = 0, pw = 0
    switch padding {
    case .explicit(let p): ph = p.h; pw = p.w
    case .valid: break
    case .same:
        checkArgument(stride.h == 1 && stride.w == 1, "padding='same' is not supported for strided convolutions")
        let th = dilation.h * (kh - 1), tw = dilation.w * (kw - 1)
        if th % 2 != 0 || tw % 2 != 0 {
            // asymmetric: the extra row/column goes after, as PyTorch does
            let padded = input.pad([tw / 2, tw - tw / 2, th / 2, th - th / 2])
            return convolve(padded, weight, bias: bias, stride: 1, padding: 0, dilation: dilation, groups: groups,
                            epilogue: epilogue, residualShape: residualShape)
        }
        ph = th / 2; pw = tw / 2
    }
    checkArgument(ph >= 0 && pw >= 0, "negative padding is not supported")
    let ho = convOutputSize(h, kernel: kh, stride: stride.h, padding: ph, dilation: dilation.h)
    let wo = convOutputSize(w, kernel: kw, stride: stride.w, padding: pw, dilation: dilation.w)
    checkArgument(ho > 0 && wo > 0,
                 "Calculated output size: (\(cout)x\(ho)x\(wo)) is too small for input \(input.shape) with kernel (\(kh), \(kw)), padding (\(ph), \(pw)), dilation \(dilation)")
    if let residualShape {
        checkArgument(residualShape == [n, cout, ho, wo],
                      "conv2dAffineReLU: residual of size \(residualShape) does not match the convolution's output size \([n, cout, ho, wo])")
    }
    if kh == 1 && kw == 1 && ph == 0 && pw == 0 && (stride.h > 1 || stride.w > 1) {
        // a strided 1×1 convolution only reads every sh-th row and sw-th column: take those pixels
        // once, then run it as a pointwise GEMM (the gather would otherwise go element by element)
        return convolve(subsample(input, stride, ho: ho, wo: wo), weight, bias: bias, stride: 1, padding: 0, dilation: 1,
                        groups: groups, epilogue: epilogue, residualShape: residualShape)
    }
    let geo = ConvGeometry(n: n, c: c, h: h, w: w, cout: cout, kh: kh, kw: kw, groups: groups, sh: stride.h, sw: stride.w,
                           ph: ph, pw: pw, dh: dilation.h, dw: dilation.w, ho: ho, wo: wo)
    let out = Tensor(uninitializedShape: [n, cout, ho, wo])
    let label = { "\(c)→\(cout) \(kh)×\(kw)/\(stride.h) g\(groups) @\(h)×\(w)" }
    Profiler.measure("conv fwd " + label()) {
        ConvKernels.forward(geo, x: input.elementPointer, weight: weight.elementPointer, bias: bias.map { UnsafePointer($0.elementPointer) }, y: out.elementPointer,
                            epilogue: epilogue, constantWeight: constantWeight ? weight : nil)
    }
    if epilogue != nil { return out }
    var inputs = [input, weight]
    if let bias { inputs.append(bias) }
    return Tensor.record(out, "conv2d", inputs) { gy in
        let gx = input.requiresGrad ? Tensor(uninitializedShape: input.shape) : nil
        let gw = weight.requiresGrad ? Tensor(uninitializedShape: weight.shape) : nil
        let gb = (bias?.requiresGrad ?? false) ? Tensor(uninitializedShape: [cout]) : nil
        Profiler.measure("conv bwd " + label()) {
            ConvKernels.backward(geo, x: input.elementPointer, weight: weight.elementPointer, gy: gy.elementPointer, gx: gx?.elementPointer, gw: gw?.elementPointer, gb: gb?.elementPointer)
        }
        return bias == nil ? [gx, gw] : [gx, gw, gb]
    }
}

/// x[:, :, ::sh, ::sw] limited to ho × wo (differentiable: the gradient scatters back, zeros elsewhere).
func subsample(_ x: Tensor, _ stride: Size2, ho: Int, wo: Int) -> Tensor {
    let (planes, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
    let out = Tensor(uninitializedShape: [x.shape[0], x.shape[1], ho, wo])
    let (src, dst) = (x.elementPointer, out.elementPointer)
    Threads.parallelFor(planes, minPerThread: 64) { r in
        for p in r { for i in 0..<ho { for j in 0..<wo { dst[(p * ho + i) * wo + j] = src[(p * h + i * stride.h) * w + j * stride.w] } } }
    }
    return Tensor.record(out, "subsample", [x], saving: []) { gy in
        let gx = Tensor(uninitializedShape: x.shape)
        let (g, d) = (gy.elementPointer, gx.elementPointer)
        Threads.parallelFor(planes, minPerThread: 64) { r in
            (d + r.lowerBound * h * w).update(repeating: 0, count: r.count * h * w)
            for p in r { for i in 0..<ho { for j in 0..<wo { d[(p * h + i * stride.h) * w + j * stride.w] = g[(p * ho + i) * wo + j] } } }
        }
        return [gx]
    }
}

/// `conv2d` with plain integer options (what integer variables pass).
@_disfavoredOverload
public func conv2d(_ input: Tensor, _ weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                   dilation: Int = 1, groups: Int = 1) -> Tensor {
    conv2d(input, weight, bias: bias, stride: Size2(stride), padding: .explicit(Size2(padding)),
           dilation: Size2(dilation), groups: groups)
}
