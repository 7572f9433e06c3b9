import CKernels

/// Paths without an im2col matrix: the direct kernels for narrow layers and groups, the in-place
/// weight gradient of stride-1 layers, and dot products for tiny outputs.
extension ConvKernels {
    /// Whether the direct kernel for narrow layers applies: 4–16 output channels per group, no
    /// dilation, and a CPU with AVX-512 (LeNet's second layer, RegNet's 16-channel groups).
    static func usesDirect(_ g: ConvGeometry) -> Bool {
        g.coutG >= 4 && usesDirectWeightGradient(g)
    }

    /// The weight gradient of any layer with at most 16 output channels per group (no dilation,
    /// strides up to 4) is accumulated directly, one output-channel vector per pixel.
    static func usesDirectWeightGradient(_ g: ConvGeometry) -> Bool {
        g.coutG <= 16 && g.sh <= 4 && g.sw <= 4 && g.dh == 1 && g.dw == 1
            && g.kg <= 1024 && ck_conv_direct16_available() != 0
    }

    /// The input gradient of a stride-1 layer with 12–16 input channels per group is the direct
    /// kernel's forward pass over the output gradient with the rotated filters (padding k − 1 − p).
    /// (With fewer, most lanes would idle; LeNet's 6-channel input gradient measured faster through
    /// the GEMM and col2im than through either direct kernel.)
    static func usesDirectInputGradient(_ g: ConvGeometry) -> Bool {
        g.cg >= 12 && g.cg <= 16 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.ph < g.kh && g.pw < g.kw
            && g.coutG * g.kh * g.kw <= 1024 && ck_conv_direct16_available() != 0
    }

    /// Stride-2 3×3 layers with at least 32 channels in and out (ResNet's downsampling 3×3s) and
    /// outputs at least 8 wide: the 32-channel direct kernel, which builds no column matrix (the
    /// strided gather cost about as much as the GEMM it fed). Its pixel blocks are 8–14 wide, so
    /// ResNet-18/96's 6- and 3-wide outputs would leave most lanes idle: those take the GEMM
    /// (a training step 279 → 255 ms).
    static func usesDirectStrided(_ g: ConvGeometry) -> Bool {
        g.groups == 1 && g.sh == 2 && g.sw == 2 && g.kh == 3 && g.kw == 3 && g.dh == 1 && g.dw == 1 && g.c >= 32 && g.cout >= 32 && g.wo >= 8
            && ck_conv_direct16_available() != 0
    }

    /// y = conv(x, w) + bias by the 32-channel direct kernel, images split over threads.
    static func directStrided(_ g: ConvGeometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                              y: UnsafeMutablePointer<Float>, constantWeight: Tensor? = nil) {
        let taps = g.c * g.kh * g.kw
        let packed = ConvKernels.packedWeight(constantWeight, PackedLayout(.direct32)) { () -> (Tensor, Int) in
            let p = Tensor(uninitializedShape: [(g.cout + 31) / 32 * taps * 32])
            ck_pack_conv_direct32(weight, g.cout, g.c, g.kh, g.kw, p.elementPointer)
            return (p, p.count * 4)
        }
        let scratch = ck_conv_direct16_scratch(g.c, g.h, g.w, g.kh, g.kw, g.ph, g.pw, g.sw)
        let inPlane = g.c * g.h * g.w, outPlane = g.cout * g.hwo, weights = packed.elementPointer
        defer { withExtendedLifetime(packed) {} }
        if g.n < Threads.count {
            // fewer images than threads (batch-1 inference): each thread takes a range of 32-channel
            // blocks of an image (and pads the image once for it)
            let blocks = (g.cout + 31) / 32, parts = Threads.count
            Threads.parallelFor(g.n * parts) { r in
                for job in r {
                    let (i, p) = (job / parts, job % parts)
                    let (b0, b1) = (blocks * p / parts, blocks * (p + 1) / parts)
                    guard b1 > b0 else { continue }
                    let o0 = b0 * 32, count = Swift.min(b1 * 32, g.cout) - o0
                    ck_conv_direct32(x + i * inPlane, 1, g.c, g.h, g.w, weights + b0 * taps * 32, bias.map { $0 + o0 }, count,
                                     g.kh, g.kw, g.ph, g.pw, g.sh, g.sw, g.ho, g.wo, y + i * outPlane + o0 * g.hwo, ck_scratch(3, scratch))
                }
            }
            return
        }
        Threads.parallelFor(g.n) { r in
            ck_conv_direct32(x + r.lowerBound * inPlane, r.count, g.c, g.h, g.w, weights, bias, g.cout, g.kh, g.kw,
                             g.ph, g.pw, g.sh, g.sw, g.ho, g.wo, y + r.lowerBound * outPlane, ck_scratch(3, scratch))
        }
    }

    /// The input gradient of a stride-2 3×3 layer padded by 1 on an even map, by phases: the input
    /// pixels of each (row, column) parity receive a stride-1 correlation of dy with the taps of
    /// that parity (1 or 2 per axis), which the 32-channel direct kernel computes with no col2im,
    /// reading dy padded once per image and storing straight into dx's pixels of that parity.
    static func usesDirectStridedInputGradient(_ g: ConvGeometry) -> Bool {
        usesDirectStrided(g) && g.ph == 1 && g.pw == 1 && g.h == 2 * g.ho && g.w == 2 * g.wo
    }

    static func directStridedInputGradient(_ g: ConvGeometry, weight: UnsafePointer<Float>, gy: UnsafePointer<Float>,
                                           gx: UnsafeMutablePointer<Float>) {
        let (ho, wo) = (g.ho, g.wo)
        // parity 0 reads tap 1 at offset 0; parity 1 reads tap 2 at offset 0 and tap 0 at offset +1
        let taps = [[1], [2, 0]]
        var packed: [[Tensor]] = [[], []]
        for r in 0..<2 {
            for s in 0..<2 {
                let (kh, kw) = (taps[r].count, taps[s].count)
                // w'[c][o][i'][j'] = w[o][c][taps[r][i']][taps[s][j']]
                let wT = Tensor(uninitializedShape: [g.c * g.cout * kh * kw])
                let d = wT.elementPointer
                for c in 0..<g.c { for o in 0..<g.cout { for (a, i) in taps[r].enumerated() { for (b, j) in taps[s].enumerated() {
                    d[((c * g.cout + o) * kh + a) * kw + b] = weight[((o * g.c + c) * 3 + i) * 3 + j]
                } } } }
                let p = Tensor(uninitializedShape: [(g.c + 31) / 32 * g.cout * kh * kw * 32])
                ck_pack_conv_direct32(wT.elementPointer, g.c, g.cout, kh, kw, p.elementPointer)
                packed[r].append(p)
            }
        }
        // each image's dy is padded once; the four phases read it in place and write dx directly
        let scratch = ck_conv_direct16_scratch(g.cout, ho, wo, 3, 3, 1, 1, 1)
        let phases: [UnsafePointer<Float>?] = packed.flatMap { $0.map { UnsafePointer($0.elementPointer) } }
        let outPlane = g.cout * ho * wo, inPlane = g.c * g.h * g.w
        phases.withUnsafeBufferPointer { phases in
            Threads.parallelFor(g.n) { range in
                ck_conv_direct32_stride2_input_grad(gy + range.lowerBound * outPlane, range.count, g.cout, ho, wo, phases.baseAddress!,
                                                    g.c, gx + range.lowerBound * inPlane, ck_scratch(3, scratch))
            }
        }
    }

    /// y = conv(x, w) + bias by the direct kernel, group by group, images split over threads.
    /// `w` is [groups·outG, inG, kh, kw]; x has groups·inG channels of h×w, y groups·outG of ho×wo.
    static func direct(x: UnsafePointer<Float>, n: Int, groups: Int, inG: Int, h: Int, w: Int, weight: UnsafePointer<Float>,
                       bias: UnsafePointer<Float>?, outG: Int, kh: Int, kw: Int, ph: Int, pw: Int, sh: Int = 1, sw: Int = 1,
                       ho: Int, wo: Int, y: UnsafeMutablePointer<Float>, constantWeight: Tensor? = nil) {
        let taps = inG * kh * kw
        let packed = ConvKernels.packedWeight(constantWeight, PackedLayout(.direct16, groups)) { () -> (Tensor, Int) in
            let p = Tensor(uninitializedShape: [groups * taps * 16])
            for gr in 0..<groups { ck_pack_conv_direct16(weight + gr * outG * taps, outG, inG, kh, kw, p.elementPointer + gr * taps * 16) }
            return (p, p.count * 4)
        }
        let scratch = ck_conv_direct16_scratch(inG, h, w, kh, kw, ph, pw, sw)
        let inPlane = groups * inG * h * w, outPlane = groups * outG * ho * wo
        Threads.parallelFor(n, minPerThread: groups > 1 ? 1 : 4) { r in
            if groups == 1 {
                ck_conv_direct16(x + r.lowerBound * inPlane, r.count, inG, h, w, packed.elementPointer, bias, outG, kh, kw,
                                 ph, pw, sh, sw, ho, wo, y + r.lowerBound * outPlane, ck_scratch(3, scratch))
                return
            }
            for i in r {
                for gr in 0..<groups {
                    ck_conv_direct16(x + i * inPlane + gr * inG * h * w, 1, inG, h, w, packed.elementPointer + gr * taps * 16,
                                     bias.map { $0 + gr * outG }, outG, kh, kw, ph, pw, sh, sw, ho, wo,
                                     y + i * outPlane + gr * outG * ho * wo, ck_scratch(3, scratch))
                }
            }
        }
    }

    /// The weight gradient of other stride-1 single-group layers reads the im2col rows in place
    /// from a padded copy of each image (no column matrix, no transposed packing); undilated
    /// stride-2 layers read them from the image's four phases. On maps narrower than 10 the
    /// padding columns it multiplies through cost more than that saves.
    static func usesInPlaceWeightGradient(_ g: ConvGeometry) -> Bool {
        let strides = (g.sh == 1 && g.sw == 1) || (g.sh == 2 && g.sw == 2 && g.dh == 1 && g.dw == 1)
        return g.groups == 1 && strides && g.wo >= 10 && ck_conv_dw_stride1_available() != 0
    }

    /// At most 64 output pixels in all and ≥ 256 taps (batch-1 inference on ResNet's last two stages):
    /// each output channel is a dot product of a weight row with each pixel's im2col row, so the
    /// weights are streamed once, as stored, instead of packed for a GEMM with one mostly empty panel.
    static func smallOutputs(_ g: ConvGeometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                             bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, epilogue: ConvEpilogue?) {
        let inPlane = g.c * g.h * g.w, outPlane = g.cout * g.hwo
        let cols = Tensor(uninitializedShape: [g.kg * g.groups * g.hwo]), rows = Tensor(uninitializedShape: [g.hwo * g.kg * g.groups])
        for i in 0..<g.n {
            // the image's im2col matrix, then each pixel's taps as one contiguous row
            ck_im2col(x + i * inPlane, g.c, g.h, g.w, g.kh, g.kw, g.ph, g.pw, g.sh, g.sw, g.dh, g.dw, g.ho, g.wo, cols.elementPointer, g.hwo)
            ck_transpose(cols.elementPointer, g.kg * g.groups, g.hwo, g.hwo, rows.elementPointer, g.kg * g.groups)
            let out = y + i * outPlane
            for gr in 0..<g.groups {
                Threads.parallelFor(g.coutG, minPerThread: 32) { r in
                    ck_sgemm_small_n(r.count, g.hwo, g.kg, weight + (gr * g.coutG + r.lowerBound) * g.kg, g.kg,
                                     rows.elementPointer + gr * g.kg, g.kg * g.groups, out + (gr * g.coutG + r.lowerBound) * g.hwo, g.hwo)
                }
            }
            ConvEpilogue.orBias(epilogue, bias)?.apply(y, image: i, channels: g.cout, plane: g.hwo)
        }
    }

    /// Fewer than 128 output pixels in all, with the weights kept packed (inference): one GEMM per
    /// group over the images' column matrix, split over threads by rows of output channels.
    static func fewColumns(_ g: ConvGeometry, x: UnsafePointer<Float>, packed: [PackedA], bias: UnsafePointer<Float>?,
                           y: UnsafeMutablePointer<Float>, epilogue: ConvEpilogue?) {
        let ncols = g.n * g.hwo, single = g.n == 1
        let col = columns(g, x: x, images: 0..<g.n, slot: 0)
        let out = single ? y : ck_scratch(2, g.cout * ncols)!
        // one image: the epilogue rides on the GEMM's stores
        let finish = single ? ConvEpilogue.orBias(epilogue, bias) : nil
        for gr in 0..<g.groups {
            let b = col + gr * g.kg * ncols, c = out + gr * g.coutG * ncols
            if let ep = finish?.kernelForm(image: 0, channels: g.cout, plane: g.hwo, channel0: gr * g.coutG) {
                packed[gr].fusedMultiplySplittingRows(n: ncols, b: b, ldb: ncols, c: c, ldc: ncols, epilogue: ep)
            } else {
                packed[gr].multiplySplittingRows(n: ncols, b: b, ldb: ncols, c: c, ldc: ncols)
            }
        }
        if finish == nil { finishFewColumns(g, out: out, bias: bias, y: y, epilogue: epilogue) }
    }

    /// The same product transposed, for AVX-512: the pixels are the GEMM's rows (6-row panels,
    /// ResNet's 49 pixels fill 49 of 54 rows where 64-wide column panels filled 49 of 64) against
    /// the weights kept transposed in 64-channel panels, which the threads share out.
    static func fewColumnsTransposed(_ g: ConvGeometry, x: UnsafePointer<Float>, packed: [PackedB], bias: UnsafePointer<Float>?,
                                     y: UnsafeMutablePointer<Float>, epilogue: ConvEpilogue?) {
        let ncols = g.n * g.hwo, inPlane = g.c * g.h * g.w, taps = g.kh * g.kw
        // the column matrix [C·kh·kw, pixels], channels split over threads
        let col = ck_scratch(0, g.c * taps * ncols)!
        Threads.parallelFor(g.c, minPerThread: Swift.max(1, 4096 / Swift.max(1, taps * ncols))) { r in
            for i in 0..<g.n {
                ck_im2col(x + i * inPlane + r.lowerBound * g.h * g.w, r.count, g.h, g.w, g.kh, g.kw, g.ph, g.pw, g.sh, g.sw, g.dh, g.dw,
                          g.ho, g.wo, col + r.lowerBound * taps * ncols + i * g.hwo, ncols)
            }
        }
        let outT = ck_scratch(1, ncols * g.cout)!, out = g.n == 1 ? y : ck_scratch(2, g.cout * ncols)!
        for gr in 0..<g.groups {
            // [pixels × coutG] = colᵀ [pixels × kg] · Wᵀ [kg × coutG], colᵀ packed once for all threads
            let pixels = PackedA(transA: true, m: ncols, k: g.kg, a: col + gr * g.kg * ncols, lda: ncols)
            packed[gr].multiply(pixels, c: outT + gr * g.coutG, ldc: g.cout)
        }
        // one image: straight into y; several: [cout, images·HWo], placed by the epilogue pass
        let dst = g.n == 1 ? y : out
        ck_transpose(outT, ncols, g.cout, g.cout, dst, ncols)
        finishFewColumns(g, out: dst, bias: bias, y: y, epilogue: epilogue)
    }

    /// Bias or epilogue over `out` [cout, images·HWo] (which is `y` itself for one image) into y.
    private static func finishFewColumns(_ g: ConvGeometry, out: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?,
                                         y: UnsafeMutablePointer<Float>, epilogue: ConvEpilogue?) {
        let ncols = g.n * g.hwo, single = g.n == 1
        let finish = ConvEpilogue.orBias(epilogue, bias)
        for i in 0..<g.n {
            if single {
                finish?.apply(y, image: i, channels: g.cout, plane: g.hwo)
            } else {
                (finish ?? ConvEpilogue(scale: nil, shift: nil, relu: false))
                    .apply(y, image: i, channels: g.cout, plane: g.hwo, from: UnsafePointer(out + i * g.hwo), srcStride: ncols)
            }
        }
    }

    /// The weight gradient by the direct kernel (≤ 16 output channels) or the in-place stride-1 GEMM:
    /// per-thread [tap][Cout] partials over image ranges, summed in a fixed order, then transposed.
    static func weightGradientWithoutColumns(_ g: ConvGeometry, x: UnsafePointer<Float>, gy: UnsafePointer<Float>,
                                             gw: UnsafeMutablePointer<Float>, direct: Bool) {
        let inPlane = g.c * g.h * g.w, outPlane = g.cout * g.hwo
        let taps = g.kg, width = direct ? 16 : g.cout
        let per = g.groups * taps * width       // one thread's partial: per group [taps][width]
        let partials = PerThreadPartials(slots: Swift.max(Threads.count, 1), count: per)
        let chunks: Int
        if direct {
            let scratch = ck_conv_dw_direct16_scratch(g.cg, g.h, g.w, g.kw, g.ph, g.pw, g.sw, g.ho, g.wo)
            chunks = Threads.parallelChunks(g.n, minPerThread: g.groups > 1 ? 1 : 4) { t, r in
                if g.groups == 1 {
                    ck_conv_dw_direct16(x + r.lowerBound * inPlane, gy + r.lowerBound * outPlane, r.count, g.c, g.h, g.w, g.cout,
                                        g.kh, g.kw, g.ph, g.pw, g.sh, g.sw, g.ho, g.wo, partials.part(t), ck_scratch(3, scratch))
                    return
                }
                for i in r {
                    for gr in 0..<g.groups {
                        ck_conv_dw_direct16(x + i * inPlane + gr * g.cg * g.h * g.w, gy + i * outPlane + gr * g.coutG * g.hwo, 1,
                                            g.cg, g.h, g.w, g.coutG, g.kh, g.kw, g.ph, g.pw, g.sh, g.sw, g.ho, g.wo,
                                            partials.part(t) + gr * taps * width, ck_scratch(3, scratch))
                    }
                }
            }
        } else {
            let strided = g.sh == 2
            let scratch = strided ? ck_conv_dw_stride2_scratch(g.c, g.h, g.w, g.kh, g.kw, g.ph, g.pw)
                                  : ck_conv_dw_stride1_scratch(g.c, g.h, g.w, g.kh, g.kw, g.ph, g.pw, g.dw)
            chunks = Threads.parallelChunks(g.n) { t, r in
                if strided {
                    ck_conv_dw_stride2(x + r.lowerBound * inPlane, gy + r.lowerBound * outPlane, r.count, g.c, g.h, g.w, g.cout,
                                       g.kh, g.kw, g.ph, g.pw, g.ho, g.wo, partials.part(t), ck_scratch(3, scratch))
                } else {
                    ck_conv_dw_stride1(x + r.lowerBound * inPlane, gy + r.lowerBound * outPlane, r.count, g.c, g.h, g.w, g.cout,
                                       g.kh, g.kw, g.ph, g.pw, g.dh, g.dw, g.ho, g.wo, partials.part(t), ck_scratch(3, scratch))
                }
            }
        }
        let acc = partials.sum(used: chunks)
        for gr in 0..<g.groups {
            ck_transpose(acc + gr * taps * width, taps, g.coutG, width, gw + gr * g.coutG * taps, taps)
        }
    }
}
