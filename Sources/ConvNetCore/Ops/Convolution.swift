import CKernels

/// Geometry of one 2-D convolution, checked once and shared by the three passes.
struct ConvGeometry {
    let n, c, h, w: Int
    let cout, kh, kw: Int
    let groups: Int
    let sh, sw, ph, pw, dh, dw: Int
    let ho, wo: Int
    var cg: Int { c / groups }
    var coutG: Int { cout / groups }
    var kg: Int { cg * kh * kw }
    var hwo: Int { ho * wo }
    var isPointwise: Bool { kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 }
    var flops: Int { 2 * n * cout * hwo * kg }
}

/// The convolution passes (forward, input gradient, weight gradient) over NCHW buffers:
/// im2col into a reused per-thread buffer, then blocked GEMM; images are split over threads.
enum ConvKernels {
    static func forward(_ g: ConvGeometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) {
        let inPlane = g.c * g.h * g.w, outPlane = g.cout * g.hwo
        let colCount = g.isPointwise ? 0 : g.c * g.kh * g.kw * g.hwo
        func image(_ i: Int, threaded: Bool) {
            let xi = x + i * inPlane, yi = y + i * outPlane
            var col = UnsafePointer(xi)
            if !g.isPointwise {
                let buf = Workspace.buffer(slot: 0, count: colCount)
                ck_im2col(xi, g.c, g.h, g.w, g.kh, g.kw, g.ph, g.pw, g.sh, g.sw, g.dh, g.dw, g.ho, g.wo, buf)
                col = UnsafePointer(buf)
            }
            for gr in 0..<g.groups {
                let a = weight + gr * g.coutG * g.kg, b = col + gr * g.kg * g.hwo, c = yi + gr * g.coutG * g.hwo
                if threaded {
                    GEMM.sgemm(transA: false, transB: false, m: g.coutG, n: g.hwo, k: g.kg, a: a, lda: g.kg, b: b, ldb: g.hwo,
                               c: c, ldc: g.hwo, accumulate: false)
                } else {
                    GEMM.sgemmSingle(transA: false, transB: false, m: g.coutG, n: g.hwo, k: g.kg, a: a, lda: g.kg, b: b,
                                     ldb: g.hwo, c: c, ldc: g.hwo, accumulate: false)
                }
            }
            if let bias {
                for co in 0..<g.cout {
                    let v = bias[co], row = yi + co * g.hwo
                    for j in 0..<g.hwo { row[j] += v }
                }
            }
        }
        if g.n >= Threads.count && Threads.count > 1 {
            _ = Threads.parallelChunks(g.n) { t, r in for i in r { image(i, threaded: false) } }
        } else {
            for i in 0..<g.n { image(i, threaded: true) }
        }
    }

    /// Input gradient into `gx` and weight/bias gradients (each optional) from `gy`.
    static func backward(_ g: ConvGeometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, gy: UnsafePointer<Float>,
                         gx: UnsafeMutablePointer<Float>?, gw: UnsafeMutablePointer<Float>?, gb: UnsafeMutablePointer<Float>?) {
        let inPlane = g.c * g.h * g.w, outPlane = g.cout * g.hwo
        let colCount = g.c * g.kh * g.kw * g.hwo
        let wCount = g.cout * g.kg
        let threads = g.n >= Threads.count ? Threads.count : 1
        // per-thread weight-gradient partials, summed in a fixed order afterwards (reproducible)
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(1, threads * (wCount + g.cout)))
        defer { partials.deallocate() }
        partials.initialize(repeating: 0, count: threads * (wCount + g.cout))
        let used = Threads.parallelChunks(g.n) { t, r in
            let pw = partials + t * (wCount + g.cout), pb = pw + wCount
            for i in r {
                let xi = x + i * inPlane, gyi = gy + i * outPlane
                if gw != nil {
                    var col = xi
                    if !g.isPointwise {
                        let buf = Workspace.buffer(slot: 0, count: colCount)
                        ck_im2col(xi, g.c, g.h, g.w, g.kh, g.kw, g.ph, g.pw, g.sh, g.sw, g.dh, g.dw, g.ho, g.wo, buf)
                        col = UnsafePointer(buf)
                    }
                    for gr in 0..<g.groups {
                        GEMM.sgemmSingle(transA: false, transB: true, m: g.coutG, n: g.kg, k: g.hwo,
                                         a: gyi + gr * g.coutG * g.hwo, lda: g.hwo, b: col + gr * g.kg * g.hwo, ldb: g.hwo,
                                         c: pw + gr * g.coutG * g.kg, ldc: g.kg, accumulate: true)
                    }
                }
                if gb != nil {
                    for co in 0..<g.cout { pb[co] += Elementwise.sum(gyi + co * g.hwo, g.hwo) }
                }
                if let gx {
                    let gxi = gx + i * inPlane
                    if g.isPointwise {
                        for gr in 0..<g.groups {
                            GEMM.sgemmSingle(transA: true, transB: false, m: g.kg, n: g.hwo, k: g.coutG,
                                             a: weight + gr * g.coutG * g.kg, lda: g.kg, b: gyi + gr * g.coutG * g.hwo, ldb: g.hwo,
                                             c: gxi + gr * g.kg * g.hwo, ldc: g.hwo, accumulate: false)
                        }
                    } else {
                        let dcol = Workspace.buffer(slot: 1, count: colCount)
                        for gr in 0..<g.groups {
                            GEMM.sgemmSingle(transA: true, transB: false, m: g.kg, n: g.hwo, k: g.coutG,
                                             a: weight + gr * g.coutG * g.kg, lda: g.kg, b: gyi + gr * g.coutG * g.hwo, ldb: g.hwo,
                                             c: dcol + gr * g.kg * g.hwo, ldc: g.hwo, accumulate: false)
                        }
                        gxi.update(repeating: 0, count: inPlane)
                        ck_col2im(dcol, g.c, g.h, g.w, g.kh, g.kw, g.ph, g.pw, g.sh, g.sw, g.dh, g.dw, g.ho, g.wo, gxi)
                    }
                }
            }
        }
        if let gw {
            gw.update(from: partials, count: wCount)
            for t in 1..<Swift.max(used, 1) { Elementwise.axpy(1, partials + t * (wCount + g.cout), gw, wCount) }
        }
        if let gb {
            gb.update(from: partials + wCount, count: g.cout)
            for t in 1..<Swift.max(used, 1) { Elementwise.axpy(1, partials + t * (wCount + g.cout) + wCount, gb, g.cout) }
        }
    }
}

/// 2-D cross-correlation over NCHW input, as `F.conv2d`: `weight` is [out, in/groups, kh, kw].
public func conv2d(_ input: Tensor, _ weight: Tensor, bias: Tensor? = nil, stride: Size2 = 1, padding: Padding = 0,
                   dilation: Size2 = 1, groups: Int = 1) -> Tensor {
    if input.rank == 3 {
        return conv2d(input.unsqueeze(0), weight, bias: bias, stride: stride, padding: padding, dilation: dilation,
                      groups: groups).squeeze(0)
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
    if let bias { checkArgument(bias.shape == [cout], "Given weight of size \(weight.shape), expected bias to be 1-dimensional with \(cout) elements, but got bias of size \(bias.shape) instead") }

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
            return conv2d(padded, weight, bias: bias, stride: 1, padding: 0, dilation: dilation, groups: groups)
        }
        ph = th / 2; pw = tw / 2
    }
    checkArgument(ph >= 0 && pw >= 0, "negative padding is not supported")
    let ho = convOutputSize(h, kernel: kh, stride: stride.h, padding: ph, dilation: dilation.h)
    let wo = convOutputSize(w, kernel: kw, stride: stride.w, padding: pw, dilation: dilation.w)
    checkArgument(ho > 0 && wo > 0,
                 "Calculated output size: (\(cout)x\(ho)x\(wo)) is too small for input \(input.shape) with kernel (\(kh), \(kw)), padding (\(ph), \(pw)), dilation \(dilation)")
    let geo = ConvGeometry(n: n, c: c, h: h, w: w, cout: cout, kh: kh, kw: kw, groups: groups, sh: stride.h, sw: stride.w,
                           ph: ph, pw: pw, dh: dilation.h, dw: dilation.w, ho: ho, wo: wo)
    let out = Tensor(uninitializedShape: [n, cout, ho, wo])
    ConvKernels.forward(geo, x: input.data, weight: weight.data, bias: bias.map { UnsafePointer($0.data) }, y: out.data)
    var inputs = [input, weight]
    if let bias { inputs.append(bias) }
    return Tensor.record(out, "conv2d", inputs) { gy in
        let gx = input.requiresGrad ? Tensor(uninitializedShape: input.shape) : nil
        let gw = weight.requiresGrad ? Tensor(uninitializedShape: weight.shape) : nil
        let gb = (bias?.requiresGrad ?? false) ? Tensor(uninitializedShape: [cout]) : nil
        ConvKernels.backward(geo, x: input.data, weight: weight.data, gy: gy.data, gx: gx?.data, gw: gw?.data, gb: gb?.data)
        return bias == nil ? [gx, gw] : [gx, gw, gb]
    }
}

/// `conv2d` with plain integer options (what integer variables pass).
@_disfavoredOverload
public func conv2d(_ input: Tensor, _ weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                   dilation: Int = 1, groups: Int = 1) -> Tensor {
    conv2d(input, weight, bias: bias, stride: Size2(stride), padding: .explicit(Size2(padding)),
           dilation: Size2(dilation), groups: groups)
}
