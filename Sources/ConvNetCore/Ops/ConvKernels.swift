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
}

/// What a convolution does to each output value as it writes it: `v·scale[o] + shift[o]` per output
/// channel (the layer's bias already folded into shift), plus a residual tensor shaped as the
/// output, then ReLU if asked, then a clamp to [lower, upper] if given (MobileNet's ReLU6, with the
/// same formula as `clamp`, so NaN stays NaN).
struct ConvEpilogue {
    let scale: UnsafePointer<Float>?
    let shift: UnsafePointer<Float>?
    var residual: UnsafePointer<Float>? = nil
    let relu: Bool
    var clamp: (lower: Float, upper: Float)? = nil

    /// Clamps `count` values in place (the kernels that apply scale, shift, residual and ReLU
    /// themselves leave the clamp to this pass).
    static func clamp(_ y: UnsafeMutablePointer<Float>, count: Int, to bounds: (lower: Float, upper: Float)) {
        withUnsafePointer(to: ck_epilogue(scale: nil, shift: nil, residual: nil, relu: 0, clamp: 1, lo: bounds.lower, hi: bounds.upper)) { e in
            Threads.parallelFor(count, minPerThread: 1 << 16) { r in
                ck_epilogue_rows(e, 0, 1, r.count, y + r.lowerBound, 0, y + r.lowerBound, 0)
            }
        }
    }

    /// Runs `body` with the epilogue of a layer with these (optional) bias, scale and shift over
    /// `channels` outputs, the bias folded into the shift: (v + b)·s + t = v·s + (b·s + t). The
    /// pointers live only inside `body`.
    static func foldingBias<R>(channels: Int, bias: Tensor?, scale: Tensor?, shift: Tensor?, residual: UnsafePointer<Float>? = nil,
                               relu: Bool, clamp: (lower: Float, upper: Float)?, _ body: (ConvEpilogue) -> R) -> R {
        let (bias, scale, shift) = (bias?.contiguous(), scale?.contiguous(), shift?.contiguous())
        // (the pointers are taken once: read per channel through the optional tensors, every read
        // retained and released its tensor and checked its layout)
        let (b, sc, sh) = (bias?.elementPointer, scale?.elementPointer, shift?.elementPointer)
        if b == nil || (sc == nil && sh == nil) {
            // nothing to fold: the bias or the shift is the shift (ONNX exports fold the batch norm into the bias)
            return withExtendedLifetime((bias, scale, shift)) {
                body(ConvEpilogue(scale: sc.map { UnsafePointer($0) }, shift: (sh ?? b).map { UnsafePointer($0) }, residual: residual,
                                  relu: relu, clamp: clamp))
            }
        }
        let folded = [Float](unsafeUninitializedCapacity: channels) { f, count in
            for o in 0..<channels { f[o] = (b?[o] ?? 0) * (sc?[o] ?? 1) + (sh?[o] ?? 0) }
            count = channels
        }
        return folded.withUnsafeBufferPointer { f in
            withExtendedLifetime((bias, scale, shift)) {
                body(ConvEpilogue(scale: sc.map { UnsafePointer($0) }, shift: f.baseAddress, residual: residual,
                                  relu: relu, clamp: clamp))
            }
        }
    }

    /// `epilogue`, or for a plain convolution with a bias the bias alone (nil: nothing to apply).
    static func orBias(_ epilogue: ConvEpilogue?, _ bias: UnsafePointer<Float>?) -> ConvEpilogue? {
        epilogue ?? bias.map { ConvEpilogue(scale: nil, shift: $0, relu: false) }
    }

    /// The C kernels' form of this epilogue for image `image`'s output planes from channel
    /// `channel0` on (row 0 of the GEMM's C is that channel's plane).
    func kernelForm(image: Int, channels: Int, plane: Int, channel0: Int) -> ck_epilogue {
        ck_epilogue(scale: scale.map { $0 + channel0 }, shift: shift.map { $0 + channel0 },
                    residual: residual.map { $0 + (image * channels + channel0) * plane }, relu: relu ? 1 : 0,
                    clamp: clamp == nil ? 0 : 1, lo: clamp?.lower ?? 0, hi: clamp?.upper ?? 0)
    }

    /// Applies the epilogue to image `image`'s output planes (`channels` × `plane` values, in place,
    /// or reading the raw values from `src` with `srcStride` between channels).
    func apply(_ y: UnsafeMutablePointer<Float>, image: Int, channels: Int, plane: Int, from src: UnsafePointer<Float>? = nil,
               srcStride: Int = 0) {
        let out = y + image * channels * plane
        var ep = kernelForm(image: image, channels: channels, plane: plane, channel0: 0)
        ck_epilogue_rows(&ep, 0, channels, plane, src ?? UnsafePointer(out), src == nil ? plane : srcStride, out, plane)
    }
}

/// The convolution passes (forward, input gradient, weight gradient) over NCHW buffers. `forward` and
/// `backward` pick a path per layer shape: tap-wise GEMMs for tiny maps (TapwiseConvolution.swift),
/// Winograd for stride-1 3×3 layers (+Winograd), direct kernels for narrow layers and dot products
/// for tiny outputs (+Direct), and otherwise im2col + blocked GEMM, defined here: images with small
/// outputs are gathered into blocks whose column matrices sit side by side, so each GEMM is wide
/// enough for full 64-column panels, and blocks are split over threads; strided and wide layers
/// gather their columns straight into the GEMM's panels.
enum ConvKernels {
    /// Output columns a GEMM should have at least.
    static let targetColumns = 512

    /// Images per block.
    static func blockSize(_ g: ConvGeometry) -> Int {
        // a 1×1 layer's column matrix is its input: with two full panels per image, multiplying each
        // image in place beats copying images into a block and the result back out (RegNet: −4%)
        if g.hwo >= targetColumns || (g.isPointwise && g.hwo >= 128) { return 1 }
        let wanted = Swift.max(1, Swift.min(g.n, (targetColumns + g.hwo - 1) / g.hwo))
        // round the block count up to a multiple of the threads so every thread gets equal work
        let t = Swift.max(1, Threads.count)
        var blocks = (g.n + wanted - 1) / wanted
        if g.n >= t { blocks = (blocks + t - 1) / t * t }
        return (g.n + blocks - 1) / blocks
    }

    /// Runs `body(thread, block images)` over blocks: in parallel when there are enough blocks,
    /// otherwise one after another with `threadedGEMM` true so each GEMM splits instead.
    static func forEachBlock(_ g: ConvGeometry, _ body: (_ slotThread: Int, _ images: Range<Int>, _ threadedGEMM: Bool) -> Void) -> Int {
        let bs = blockSize(g)
        let blocks = (g.n + bs - 1) / bs
        let range = { (b: Int) in (b * bs)..<Swift.min(g.n, (b + 1) * bs) }
        if blocks >= Threads.count && Threads.count > 1 {
            return Threads.parallelChunks(blocks) { t, r in for b in r { body(t, range(b), false) } }
        }
        for b in 0..<blocks { body(0, range(b), true) }
        return 1
    }

    /// The column matrix [C·kh·kw, images·Ho·Wo] of a block (the input itself for a single image of a 1×1 convolution).
    static func columns(_ g: ConvGeometry, x: UnsafePointer<Float>, images: Range<Int>, slot: Int32) -> UnsafePointer<Float> {
        let inPlane = g.c * g.h * g.w
        if images.count == 1 && g.isPointwise { return x + images.lowerBound * inPlane }
        let ncols = images.count * g.hwo
        let col = ck_scratch(slot, g.c * g.kh * g.kw * ncols)!
        for (j, i) in images.enumerated() {
            ck_im2col(x + i * inPlane, g.c, g.h, g.w, g.kh, g.kw, g.ph, g.pw, g.sh, g.sw, g.dh, g.dw, g.ho, g.wo, col + j * g.hwo, ncols)
        }
        return UnsafePointer(col)
    }

    /// Whether the block weight gradient gathers its columns inside the GEMM (transposed, a scattered
    /// write per element) rather than building a column buffer and packing dY transposed instead:
    /// wide layers, and strided ones too narrow for a full panel of output channels.
    static func weightColumnsGathered(_ g: ConvGeometry) -> Bool { g.wo >= 48 || (g.sw > 1 && g.coutG < 64) }

    /// Whether the GEMM gathers im2col columns straight from the input (strided and wide layers,
    /// where whole-row runs make the gather cheap) instead of building the column buffer.
    static func gathersDirectly(_ g: ConvGeometry) -> Bool { g.sw > 1 || g.wo >= 48 }

    /// The im2col matrix of a block of images and one group, described for ck_sgemm_conv.
    /// `split`: the input in ck_split_columns' layout, for stride-2 layers (see `splitColumns`).
    static func convSource(_ g: ConvGeometry, x: UnsafePointer<Float>, images: Range<Int>, group: Int, pixelOffset: Int,
                           split: UnsafePointer<Float>? = nil) -> ck_conv_source {
        let half = (g.w + 1) / 2
        if let split {
            return ck_conv_source(x: split + images.lowerBound * g.c * g.h * 2 * half, C: g.c, H: g.h, W: g.w, kh: g.kh, kw: g.kw,
                                  ph: g.ph, pw: g.pw, sh: g.sh, sw: g.sw, dh: g.dh, dw: g.dw, Ho: g.ho, Wo: g.wo,
                                  channelOffset: group * g.cg, pixelOffset: pixelOffset, phaseWidth: half)
        }
        return ck_conv_source(x: x + images.lowerBound * g.c * g.h * g.w, C: g.c, H: g.h, W: g.w, kh: g.kh, kw: g.kw, ph: g.ph,
                              pw: g.pw, sh: g.sh, sw: g.sw, dh: g.dh, dw: g.dw, Ho: g.ho, Wo: g.wo, channelOffset: group * g.cg,
                              pixelOffset: pixelOffset, phaseWidth: 0)
    }

    /// For horizontal stride 2 (undilated): the input with each row's even and odd columns stored
    /// apart, so the gathered im2col runs are contiguous copies instead of every-other-element loops.
    static func splitColumns(_ g: ConvGeometry, _ x: UnsafePointer<Float>) -> Tensor? {
        guard g.sw == 2 && g.dw == 1 else { return nil }
        let rows = g.n * g.c * g.h, half = (g.w + 1) / 2
        let t = Tensor(uninitializedShape: [rows * 2 * half])
        Threads.parallelFor(rows, minPerThread: 256) { r in
            ck_split_columns(x + r.lowerBound * g.w, r.count, g.w, t.elementPointer + r.lowerBound * 2 * half)
        }
        return t
    }

    /// Depthwise layers with equal strides of 1 or 2, undilated, with AVX-512 or AVX2: the padded-plane
    /// kernel (`ck_conv_depthwise_padded`).
    static func usesFlattenedDepthwise(_ g: ConvGeometry) -> Bool {
        g.sh == g.sw && g.sh <= 2 && g.dh == 1 && g.dw == 1 && ck_conv_depthwise_padded_available() != 0
    }

    /// Stems at inference (weights kept packed): at most 4 input channels, kernels of 5×5 or more
    /// (ResNet's 7×7/2), or 3×3 for a single image or a strided stem of three channels or more
    /// (MobileNetV2's; batches of one-channel 3×3 layers run faster through im2col: measurements
    /// in benchmarks/README.md, sixth session), more than 16 outputs (fewer take the direct
    /// kernel), equal strides of 1 or 2, undilated, outputs at least 12 wide, with AVX-512 or AVX2: the
    /// implicit GEMM (`ck_conv_implicit`), which packs no im2col matrix. Without the direct kernel
    /// (AVX2), narrow layers with kernels of 5×5 or more take it too: up to 8 input channels, outputs
    /// at least 8 wide (LeNet's two convolutions).
    static func usesImplicitGEMM(_ g: ConvGeometry, constantWeight: Tensor?) -> Bool {
        let kernelTakes = g.kh * g.kw >= 25 || (g.kh * g.kw >= 9 && (g.n == 1 || (g.sh == 2 && g.c >= 3)))
        let common = constantWeight != nil && g.groups == 1 && g.sh == g.sw && g.sh <= 2 && g.dh == 1 && g.dw == 1
            && ck_conv_implicit_available() != 0
        let stem = g.c <= 4 && kernelTakes && g.cout > 16 && g.wo >= 12
        let narrow = g.cout <= 16 && g.c <= 8 && g.kh * g.kw >= 25 && g.wo >= 8 && ck_conv_direct16_available() == 0
        return common && (stem || narrow)
    }

    /// y = epilogue(conv(x, w)) image by image: the image's padded phases, then its output rows
    /// split over threads, 6 channels × 64 pixels at a time (16 with AVX2). Batches of small maps
    /// split the images over threads instead, each with phases of its own.
    static func implicitGEMM(_ g: ConvGeometry, x: UnsafePointer<Float>, packed: PackedA, epilogue: ConvEpilogue?,
                             y: UnsafeMutablePointer<Float>) {
        let phasesSize = ck_conv_implicit_phases_size(g.c, g.h, g.w, g.kw, g.ph, g.pw, g.sh)
        let inPlane = g.c * g.h * g.w, outPlane = g.cout * g.hwo, taps = g.kg, weights = packed.pointer
        // (an image of under ~4M multiply-adds split by rows makes regions of a few microseconds)
        if g.n >= 2 * Threads.count && g.hwo * g.cout * taps < 4_000_000 {
            let phases = Tensor(uninitializedShape: [Threads.count * phasesSize]), phasesPointer = phases.elementPointer
            defer { withExtendedLifetime(phases) {} }
            Threads.parallelChunks(g.n) { t, r in
                let own = phasesPointer + t * phasesSize
                let off = UnsafeMutableRawPointer(ck_scratch(3, 2 * taps + 2)!).bindMemory(to: Int.self, capacity: taps)
                for i in r {
                    ck_conv_implicit_phases(x + i * inPlane, g.c, g.h, g.w, g.kw, g.ph, g.pw, g.sh, 0, 1, own)
                    let ep = epilogue?.kernelForm(image: i, channels: g.cout, plane: g.hwo, channel0: 0)
                    withOptionalPointer(ep) { e in
                        ck_conv_implicit(own, g.c, g.h, g.w, g.cout, g.kh, g.kw, g.sh, g.ph, g.pw, g.ho, g.wo, weights, e,
                                         0, g.ho, y + i * outPlane, off)
                    }
                }
            }
            return
        }
        let phases = Tensor(uninitializedShape: [phasesSize]), phasesPointer = phases.elementPointer
        defer { withExtendedLifetime(phases) {} }
        for i in 0..<g.n {
            let parts = Swift.max(1, Swift.min(Threads.count, g.h / 16))
            Threads.parallelFor(parts) { r in
                for part in r {
                    ck_conv_implicit_phases(x + i * inPlane, g.c, g.h, g.w, g.kw, g.ph, g.pw, g.sh, part, parts, phasesPointer)
                }
            }
            let ep = epilogue?.kernelForm(image: i, channels: g.cout, plane: g.hwo, channel0: 0)
            Threads.parallelFor(g.ho, minPerThread: Swift.max(1, 65_536 / Swift.max(1, g.wo * g.cout * taps))) { r in
                let off = UnsafeMutableRawPointer(ck_scratch(3, 2 * taps + 2)!).bindMemory(to: Int.self, capacity: taps)
                withOptionalPointer(ep) { e in
                    ck_conv_implicit(phasesPointer, g.c, g.h, g.w, g.cout, g.kh, g.kw, g.sh, g.ph, g.pw, g.ho, g.wo,
                                     weights, e, r.lowerBound, r.upperBound, y + i * outPlane, off)
                }
            }
        }
    }

    /// The weight in a kernel's layout: kept in ``PackedWeightCache`` when the weight is constant
    /// for the call (`constant` non-nil), made afresh otherwise.
    static func packedWeight<T: AnyObject>(_ constant: Tensor?, _ layout: PackedLayout, _ make: () -> (T, Int)) -> T {
        guard let constant else { return make().0 }
        return PackedWeightCache.shared.value(for: constant, layout: layout, make: make)
    }

    /// Group `group`'s weights [rows × columns] packed as the GEMM's left operand (kept between calls
    /// when `constant` is the weight tensor).
    static func gemmWeight(_ weight: UnsafePointer<Float>, constant: Tensor?, group: Int = 0, groups: Int = 1, rows: Int,
                           columns: Int) -> PackedA {
        packedWeight(constant, PackedLayout(.gemm, group, groups, rows, columns)) { () -> (PackedA, Int) in
            let p = PackedA(transA: false, m: rows, k: columns, a: weight + group * rows * columns, lda: columns)
            return (p, p.bytes)
        }
    }

    /// y = conv(x, weight) + bias, or with an epilogue (whose shift includes the bias; pass bias nil).
    /// `constantWeight` is the weight tensor when it cannot change during the call (inference): its
    /// packed forms are then kept between calls.
    static func forward(_ g: ConvGeometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, epilogue: ConvEpilogue? = nil,
                        constantWeight: Tensor? = nil) {
        let gemmWeights = { (0..<g.groups).map { gr in
            gemmWeight(weight, constant: constantWeight, group: gr, groups: g.groups, rows: g.coutG, columns: g.kg)
        } }
        let transposedWeights = { (0..<g.groups).map { gr in
            packedWeight(constantWeight, PackedLayout(.gemmTransposed, gr, g.groups, g.kg, g.coutG)) { () -> (PackedB, Int) in
                let p = PackedB(transB: true, k: g.kg, n: g.coutG, b: weight + gr * g.coutG * g.kg, ldb: g.kg)
                return (p, p.bytes)
            }
        } }
        // few output pixels with kept weights: the pixels as rows of a transposed GEMM (AVX-512),
        // or the weights' rows split over threads
        let fewPixels = { () -> Void in
            // (one image of a 1×1 layer, or of a map whose pixels fill whole vectors but one column,
            // as 7×7's 49 do: the weights' rows, fetched ahead as the GEMM streams them and with the
            // epilogue riding on its stores, win over packing, transposing and finishing the pixels)
            if ck_gemm_isa() == 2 && !(g.n == 1 && (g.isPointwise || g.hwo % 16 <= 1)) {
                fewColumnsTransposed(g, x: x, packed: transposedWeights(), bias: bias, y: y, epilogue: epilogue)
            } else {
                fewColumns(g, x: x, packed: gemmWeights(), bias: bias, y: y, epilogue: epilogue)
            }
        }
        if g.groups == g.c && g.cout == g.c && g.groups > 1 {
            if usesFlattenedDepthwise(g) {
                // flattened padded planes, the epilogue on the stores
                let ep = ConvEpilogue.orBias(epilogue, bias)?.kernelForm(image: 0, channels: g.cout, plane: g.hwo, channel0: 0)
                let scratch = ck_conv_depthwise_padded_scratch(g.h, g.w, g.kh, g.kw, g.ph, g.pw, g.sh, g.wo)
                let planes = g.n * g.c, work = g.hwo * g.kh * g.kw
                withOptionalPointer(ep) { e in
                    Threads.parallelFor(planes, minPerThread: Swift.max(1, 16_384 / Swift.max(work, 1))) { r in
                        ck_conv_depthwise_padded(x, g.h * g.w, r.lowerBound, r.upperBound, g.c, g.h, g.w, weight, g.kh, g.kw, g.sh, g.ph, g.pw,
                                                 g.ho, g.wo, e, y, g.hwo, ck_scratch(3, scratch))
                    }
                }
                return
            }
            // other strides and dilations: shifted rows times one weight each, per channel plane
            let planes = g.n * g.c, work = g.hwo * g.kh * g.kw
            Threads.parallelFor(planes, minPerThread: Swift.max(1, 32_768 / Swift.max(work, 1))) { r in
                ck_conv_depthwise(x, r.lowerBound, r.upperBound, g.c, g.h, g.w, weight, bias, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw,
                                  g.dh, g.dw, g.ho, g.wo, y)
            }
            if let epilogue {
                Threads.parallelFor(g.n) { r in
                    for i in r { epilogue.apply(y, image: i, channels: g.cout, plane: g.hwo) }
                }
            }
            return
        }
        if TapwiseConv.applies(g) && !usesWinograd(g) {
            let inPixels = g.h * g.w
            let xT = Tensor(uninitializedShape: [g.c * inPixels * g.n]), yT = Tensor(uninitializedShape: [g.cout * g.hwo * g.n])
            TapwiseConv.toPositionMajor(x, n: g.n, c: g.c, plane: inPixels, order: TapwiseConv.inputOrder(g), xT.elementPointer)
            TapwiseConv.multiply(g, weight: weight, adjoint: false, input: xT.elementPointer, output: yT.elementPointer)
            TapwiseConv.fromPositionMajor(yT.elementPointer, n: g.n, c: g.cout, plane: g.hwo, y)
            if let epi = ConvEpilogue.orBias(epilogue, bias) {
                for i in 0..<g.n { epi.apply(y, image: i, channels: g.cout, plane: g.hwo) }
            }
            return
        }
        if usesImplicitGEMM(g, constantWeight: constantWeight) {
            implicitGEMM(g, x: x, packed: gemmWeights()[0], epilogue: ConvEpilogue.orBias(epilogue, bias), y: y)
            return
        }
        if g.n * g.hwo <= 64 && g.kg >= 256 {
            // weights kept packed: a GEMM split by rows; otherwise each row streamed as stored
            if constantWeight != nil {
                fewPixels()
            } else {
                smallOutputs(g, x: x, weight: weight, bias: bias, y: y, epilogue: epilogue)
            }
            return
        }
        if usesWinograd(g) {
            let variant = winogradVariant(kernel: g.kh, n: g.n, ho: g.ho, wo: g.wo) ?? .f2k3
            if winogradSplitsChannels(g, variant) {
                winogradByChannels(g, variant, x: x, weight: weight, bias: epilogue?.shift ?? bias, y: y, scale: epilogue?.scale,
                                   residual: epilogue?.residual, relu: epilogue?.relu ?? false, constantWeight: constantWeight)
                if let bounds = epilogue?.clamp { ConvEpilogue.clamp(y, count: g.n * g.cout * g.hwo, to: bounds) }
                return
            }
            let packed = packedWeight(constantWeight, PackedLayout(.winograd, variant.rawValue, g.groups)) { () -> (Tensor, Int) in
                let t = winogradWeights(g, weight, adjoint: false, variant: variant)
                return (t, t.count * 4)
            }
            winograd(variant, x: x, n: g.n, c: g.c, h: g.h, w: g.w, ph: g.ph, pw: g.pw, oc: g.cout, ho: g.ho, wo: g.wo,
                     groups: g.groups, packed: packed.elementPointer, bias: epilogue?.shift ?? bias, y: y, scale: epilogue?.scale, residual: epilogue?.residual,
                     relu: epilogue?.relu ?? false)
            if let bounds = epilogue?.clamp { ConvEpilogue.clamp(y, count: g.n * g.cout * g.hwo, to: bounds) }
            return
        }
        if usesDirectStrided(g) {
            directStrided(g, x: x, weight: weight, bias: bias, y: y, constantWeight: constantWeight)
            if let epilogue {
                Threads.parallelFor(g.n) { r in
                    for i in r { epilogue.apply(y, image: i, channels: g.cout, plane: g.hwo) }
                }
            }
            return
        }
        // (a wide 1×1 layer is its input times the weights: the GEMM reads it in place)
        if usesDirect(g) && !(g.isPointwise && g.hwo >= 1024) {
            direct(x: x, n: g.n, groups: g.groups, inG: g.cg, h: g.h, w: g.w, weight: weight, bias: bias, outG: g.coutG,
                   kh: g.kh, kw: g.kw, ph: g.ph, pw: g.pw, sh: g.sh, sw: g.sw, ho: g.ho, wo: g.wo, y: y,
                   constantWeight: constantWeight)
            if let epilogue {
                Threads.parallelFor(g.n) { r in
                    for i in r { epilogue.apply(y, image: i, channels: g.cout, plane: g.hwo) }
                }
            }
            return
        }
        if constantWeight != nil && g.n * g.hwo < 128 && Threads.count > 1 {
            // too few columns to split by panels
            fewPixels()
            return
        }
        let outPlane = g.cout * g.hwo
        let split = gathersDirectly(g) ? splitColumns(g, x) : nil
        // each group's weights are packed once and shared by every block and thread
        let packed = gemmWeights()
        _ = forEachBlock(g) { _, images, threaded in
            let ncols = images.count * g.hwo
            let single = images.count == 1
            // one image writes straight into the output; a block goes through [Cout, images·HWo]
            let out = single ? y + images.lowerBound * outPlane : ck_scratch(2, g.cout * ncols)!
            // the bias (or the affine map, residual, ReLU and clamp) rides on the GEMM's stores when
            // a single image's output is written in place; a block's rides on the pass placing it
            let finish = ConvEpilogue.orBias(epilogue, bias)
            let fused = { (gr: Int) in single ? finish?.kernelForm(image: images.lowerBound, channels: g.cout, plane: g.hwo,
                                                                     channel0: gr * g.coutG) : nil }
            if !gathersDirectly(g) || (single && g.isPointwise) {
                // a column buffer (or, for one image of a 1×1 convolution, the input itself)
                let col = columns(g, x: x, images: images, slot: 0)
                for gr in 0..<g.groups {
                    let b = col + gr * g.kg * ncols, c = out + gr * g.coutG * ncols
                    if let ep = fused(gr) {
                        if threaded {
                            packed[gr].fusedMultiplyThreaded(n: ncols, b: b, ldb: ncols, c: c, ldc: ncols, epilogue: ep)
                        } else {
                            packed[gr].fusedMultiply(n: ncols, b: b, ldb: ncols, c: c, ldc: ncols, epilogue: ep)
                        }
                    } else {
                        let mul = threaded ? packed[gr].multiplyThreaded : packed[gr].multiply
                        mul(ncols, false, b, ncols, c, ncols, false)
                    }
                }
            } else {
                // the im2col columns are gathered straight into the GEMM's panels
                for gr in 0..<g.groups {
                    let apacked = packed[gr].pointer, c = out + gr * g.coutG * ncols, ep = fused(gr)
                    let run = { (j0: Int, j1: Int) in
                        var src = convSource(g, x: x, images: images, group: gr, pixelOffset: j0,
                                             split: split.map { UnsafePointer($0.elementPointer) })
                        withOptionalPointer(ep?.shifted(columns: j0)) { e in
                            ck_sgemm_conv(0, g.coutG, j1 - j0, g.kg, nil, 0, apacked, 0, &src, c + j0, ncols, 0, e)
                        }
                    }
                    if threaded && ncols >= 128 && Threads.count > 1 {
                        Threads.parallelPanels(ncols, run)
                    } else {
                        run(0, ncols)
                    }
                }
            }
            for (j, i) in images.enumerated() where !single {
                (finish ?? ConvEpilogue(scale: nil, shift: nil, relu: false))
                    .apply(y, image: i, channels: g.cout, plane: g.hwo, from: UnsafePointer(out + j * g.hwo), srcStride: ncols)
            }
        }
    }

    /// Input gradient into `gx` and weight/bias gradients (each optional) from `gy`: each by the
    /// cheapest path that serves it, the rest together over blocks of images.
    static func backward(_ g: ConvGeometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, gy: UnsafePointer<Float>,
                         gx: UnsafeMutablePointer<Float>?, gw: UnsafeMutablePointer<Float>?, gb: UnsafeMutablePointer<Float>?) {
        if TapwiseConv.applies(g) && !usesWinograd(g) {
            tapwiseBackward(g, x: x, weight: weight, gy: gy, gx: gx, gw: gw, gb: gb)
            return
        }
        let blockGX = gx.flatMap { inputGradientWithoutBlocks(g, weight: weight, gy: gy, gx: $0) ? nil : $0 }
        let unblockedDW = gw == nil ? nil : weightGradientWithoutBlocks(g, x: x, gy: gy)
        let blockGW = unblockedDW == nil ? gw : nil
        if blockGX == nil && blockGW == nil {
            // nothing needs image blocks: the bias gradient is a plain sum
            if let gb { biasGradient(g, gy: gy, gb: gb) }
        } else {
            blockedGradients(g, x: x, weight: weight, gy: gy, gx: blockGX, gw: blockGW, gb: gb)
        }
        if let gw, let unblockedDW { unblockedDW(gw) }
    }

    /// Tiny maps with wide layers: every gradient by one GEMM per kernel tap over position-major copies.
    private static func tapwiseBackward(_ g: ConvGeometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, gy: UnsafePointer<Float>,
                                        gx: UnsafeMutablePointer<Float>?, gw: UnsafeMutablePointer<Float>?, gb: UnsafeMutablePointer<Float>?) {
        let inPixels = g.h * g.w
        let gyT = Tensor(uninitializedShape: [g.cout * g.hwo * g.n])
        TapwiseConv.toPositionMajor(gy, n: g.n, c: g.cout, plane: g.hwo, gyT.elementPointer)
        if let gx {
            let gxT = Tensor(uninitializedShape: [g.c * inPixels * g.n])
            TapwiseConv.multiply(g, weight: weight, adjoint: true, input: gyT.elementPointer, output: gxT.elementPointer)
            TapwiseConv.fromPositionMajor(gxT.elementPointer, n: g.n, c: g.c, plane: inPixels, order: TapwiseConv.inputOrder(g), gx)
        }
        if let gw {
            let xT = Tensor(uninitializedShape: [g.c * inPixels * g.n])
            TapwiseConv.toPositionMajor(x, n: g.n, c: g.c, plane: inPixels, order: TapwiseConv.inputOrder(g), xT.elementPointer)
            TapwiseConv.weightGradient(g, x: xT.elementPointer, gy: gyT.elementPointer, gw: gw)
        }
        if let gb {
            for co in 0..<g.cout { gb[co] = Elementwise.sum(gyT.elementPointer + co * g.hwo * g.n, g.hwo * g.n) }
        }
    }

    /// The input gradient by Winograd or the direct kernel where one serves the layer (true when done).
    private static func inputGradientWithoutBlocks(_ g: ConvGeometry, weight: UnsafePointer<Float>, gy: UnsafePointer<Float>,
                                                   gx: UnsafeMutablePointer<Float>) -> Bool {
        if usesWinograd(g) {
            // the input gradient of a stride-1 k×k layer is a k×k convolution of gy with the rotated
            // filters, padded by k − 1 − p: Winograd again, with no column matrix and no col2im
            let variant = winogradVariant(kernel: g.kh, n: g.n, ho: g.h, wo: g.w) ?? .f2k3
            let packed = winogradWeights(g, weight, adjoint: true, variant: variant)
            winograd(variant, x: gy, n: g.n, c: g.cout, h: g.ho, w: g.wo, ph: g.kh - 1 - g.ph, pw: g.kw - 1 - g.pw, oc: g.c, ho: g.h, wo: g.w,
                     groups: g.groups, packed: packed.elementPointer, bias: nil, y: gx)
            return true
        }
        if usesDirectStridedInputGradient(g) {
            directStridedInputGradient(g, weight: weight, gy: gy, gx: gx)
            return true
        }
        guard usesDirectInputGradient(g) else { return false }
        // filters rotated by 180° with in/out swapped: [groups·inG, outG, kh, kw]
        let taps = g.kh * g.kw
        let rotated = Tensor(uninitializedShape: [g.c * g.coutG * taps])
        let r = rotated.elementPointer
        for gr in 0..<g.groups { for o in 0..<g.coutG { for ci in 0..<g.cg {
            let src = weight + ((gr * g.coutG + o) * g.cg + ci) * taps, dst = r + ((gr * g.cg + ci) * g.coutG + o) * taps
            for k in 0..<taps { dst[k] = src[taps - 1 - k] }
        } } }
        direct(x: gy, n: g.n, groups: g.groups, inG: g.coutG, h: g.ho, w: g.wo, weight: r, bias: nil, outG: g.cg,
               kh: g.kh, kw: g.kw, ph: g.kh - 1 - g.ph, pw: g.kw - 1 - g.pw, ho: g.h, wo: g.w, y: gx)
        return true
    }

    /// The weight gradient's path when it needs no image blocks: direct, Winograd or in place (nil:
    /// it goes through the blocks, with the column matrix).
    private static func weightGradientWithoutBlocks(_ g: ConvGeometry, x: UnsafePointer<Float>,
                                                    gy: UnsafePointer<Float>) -> ((UnsafeMutablePointer<Float>) -> Void)? {
        if usesDirectWeightGradient(g) { return { weightGradientWithoutColumns(g, x: x, gy: gy, gw: $0, direct: true) } }
        if usesWinograd(g) && g.groups == 1 { return { winogradWeightGradient(g, x: x, gy: gy, gw: $0) } }
        if usesInPlaceWeightGradient(g) { return { weightGradientWithoutColumns(g, x: x, gy: gy, gw: $0, direct: false) } }
        return nil
    }

    /// db = Σ over images and pixels of gy, per output channel.
    private static func biasGradient(_ g: ConvGeometry, gy: UnsafePointer<Float>, gb: UnsafeMutablePointer<Float>) {
        let outPlane = g.cout * g.hwo
        for co in 0..<g.cout {
            var s: Float = 0
            for i in 0..<g.n { s += Elementwise.sum(gy + i * outPlane + co * g.hwo, g.hwo) }
            gb[co] = s
        }
    }

    /// The gradients that need the column matrix or col2im, over blocks of images: the input gradient
    /// (dcol = Wᵀ·dY, then col2im), the weight gradient (dW += dY·colᵀ) and the bias gradient, each
    /// optional, sharing each block's gathered dY.
    private static func blockedGradients(_ g: ConvGeometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, gy: UnsafePointer<Float>,
                                         gx: UnsafeMutablePointer<Float>?, gw: UnsafeMutablePointer<Float>?, gb: UnsafeMutablePointer<Float>?) {
        let inPlane = g.c * g.h * g.w, outPlane = g.cout * g.hwo
        let wCount = g.cout * g.kg
        // per-thread weight and bias partials: each thread's first block overwrites its weight part,
        // so only the bias parts are zeroed
        let partials = PerThreadPartials(slots: Swift.max(Threads.count, 1), count: wCount + g.cout, zeroed: g.cout)
        let packedT = gx == nil ? [] : (0..<g.groups).map {
            PackedA(transA: true, m: g.kg, k: g.coutG, a: weight + $0 * g.coutG * g.kg, lda: g.kg)
        }
        // with a column buffer and at least one full 64-wide panel of output channels per group,
        // dWᵀ = col · dYᵀ (partials [taps × Cout/groups]) packs the smaller operand transposed
        let transposedPartials = !weightColumnsGathered(g) && g.coutG >= 64
        let split = gw != nil && weightColumnsGathered(g) ? splitColumns(g, x) : nil
        let used = forEachBlock(g) { t, images, threaded in
            let ncols = images.count * g.hwo
            let single = images.count == 1
            // the output gradient as [Cout, images·HWo]
            var dy = gy + images.lowerBound * outPlane
            if !single {
                let buf = ck_scratch(2, g.cout * ncols)!
                for (j, i) in images.enumerated() {
                    for co in 0..<g.cout { (buf + co * ncols + j * g.hwo).update(from: gy + i * outPlane + co * g.hwo, count: g.hwo) }
                }
                dy = UnsafePointer(buf)
            }
            let pw = partials.part(t), pb = pw + wCount
            if gw != nil && !weightColumnsGathered(g) {
                let col = columns(g, x: x, images: images, slot: 0)
                let accumulate = partials.accumulates(t)
                for gr in 0..<g.groups {
                    let (cg, dyg, c) = (col + gr * g.kg * ncols, dy + gr * g.coutG * ncols, pw + gr * g.coutG * g.kg)
                    // dW = dY · colᵀ, or dWᵀ [taps × Cout] = col · dYᵀ so the transposed packing falls
                    // on dY, 9× smaller than col
                    let (a, b, m, n) = transposedPartials ? (cg, dyg, g.kg, g.coutG) : (dyg, cg, g.coutG, g.kg)
                    if threaded {
                        GEMM.sgemm(transA: false, transB: true, m: m, n: n, k: ncols, a: a, lda: ncols, b: b, ldb: ncols,
                                   c: c, ldc: n, accumulate: accumulate)
                    } else {
                        GEMM.sgemmSingle(transA: false, transB: true, m: m, n: n, k: ncols, a: a, lda: ncols, b: b, ldb: ncols,
                                         c: c, ldc: n, accumulate: accumulate)
                    }
                }
            } else if gw != nil {
                // dW += dY · colᵀ with the columns gathered straight from the input
                let accumulate: Int32 = partials.accumulates(t) ? 1 : 0
                for gr in 0..<g.groups {
                    var src = convSource(g, x: x, images: images, group: gr, pixelOffset: 0,
                                         split: split.map { UnsafePointer($0.elementPointer) })
                    ck_sgemm_conv(0, g.coutG, g.kg, ncols, dy + gr * g.coutG * ncols, ncols, nil, 1, &src,
                                  pw + gr * g.coutG * g.kg, g.kg, accumulate, nil)
                }
            }
            if gb != nil {
                for co in 0..<g.cout { pb[co] += Elementwise.sum(dy + co * ncols, ncols) }
            }
            if let gx {
                if single && g.isPointwise {
                    let gxi = gx + images.lowerBound * inPlane
                    for gr in 0..<g.groups {
                        let mul = threaded ? packedT[gr].multiplyThreaded : packedT[gr].multiply
                        mul(ncols, false, dy + gr * g.coutG * ncols, ncols, gxi + gr * g.kg * ncols, ncols, false)
                    }
                } else {
                    let dcol = ck_scratch(1, g.c * g.kh * g.kw * ncols)!
                    for gr in 0..<g.groups {
                        let mul = threaded ? packedT[gr].multiplyThreaded : packedT[gr].multiply
                        mul(ncols, false, dy + gr * g.coutG * ncols, ncols, dcol + gr * g.kg * ncols, ncols, false)
                    }
                    for (j, i) in images.enumerated() {
                        let gxi = gx + i * inPlane
                        gxi.update(repeating: 0, count: inPlane)
                        ck_col2im(dcol + j * g.hwo, g.c, g.h, g.w, g.kh, g.kw, g.ph, g.pw, g.sh, g.sw, g.dh, g.dw, g.ho, g.wo, gxi, ncols)
                    }
                }
            }
        }
        if let gw {
            let total = partials.sum(used: used, range: 0..<wCount)
            if !transposedPartials {
                gw.update(from: total, count: wCount)
            } else {
                // each group's partial is [taps × Cout/groups]
                for gr in 0..<g.groups {
                    ck_transpose(total + gr * g.coutG * g.kg, g.kg, g.coutG, g.coutG, gw + gr * g.coutG * g.kg, g.kg)
                }
            }
        }
        if let gb { gb.update(from: partials.sum(used: used, range: wCount..<(wCount + g.cout)) + wCount, count: g.cout) }
    }
}
