import Foundation
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

/// Switches between convolution algorithms (all give the same results to rounding).
public enum ConvolutionOptions {
    /// Whether stride-1 undilated 3×3 layers use Winograd F(2×2, 3×3) in the forward and
    /// input-gradient passes. Off, they take the im2col + GEMM path; tests compare the two.
    /// `CONVNET_WINOGRAD=0` in the environment turns it off from the start (for A/B measurements).
    nonisolated(unsafe) public static var winograd = ProcessInfo.processInfo.environment["CONVNET_WINOGRAD"] != "0"

    /// Runs `body` with Winograd off (or on, as globally set) on the calling thread only.
    public static func withWinograd<T>(_ enabled: Bool, _ body: () throws -> T) rethrows -> T {
        let saved = ck_thread_winograd_off()
        ck_set_thread_winograd_off(enabled ? 0 : 1)
        defer { ck_set_thread_winograd_off(saved) }
        return try body()
    }

    static var winogradActive: Bool { winograd && ck_thread_winograd_off() == 0 }
}

/// What a convolution does to each output value as it writes it: `v·scale[o] + shift[o]` per output
/// channel (the layer's bias already folded into shift), plus a residual tensor shaped as the
/// output, then ReLU if asked.
struct ConvEpilogue {
    let scale: UnsafePointer<Float>?
    let shift: UnsafePointer<Float>?
    var residual: UnsafePointer<Float>? = nil
    let relu: Bool

    /// Applies the epilogue to image `image`'s output planes (`channels` × `plane` values, in place,
    /// or reading the raw values from `src` with `srcStride` between channels).
    func apply(_ y: UnsafeMutablePointer<Float>, image: Int, channels: Int, plane: Int, from src: UnsafePointer<Float>? = nil,
               srcStride: Int = 0) {
        let out = y + image * channels * plane, res = residual.map { $0 + image * channels * plane }
        for o in 0..<channels {
            let s = src.map { $0 + o * srcStride } ?? UnsafePointer(out + o * plane)
            ck_affine_relu(s, res.map { $0 + o * plane }, out + o * plane, plane, scale?[o] ?? 1, shift?[o] ?? 0, relu ? 1 : 0)
        }
    }
}

/// The convolution passes (forward, input gradient, weight gradient) over NCHW buffers: im2col
/// into reused per-thread buffers, then blocked GEMM. Images with small outputs are gathered into
/// blocks whose column matrices sit side by side, so each GEMM is wide enough for full 64-column
/// panels (ResNet's 3×3 outputs would otherwise fill 9 of 64); blocks are split over threads.
enum ConvKernels {
    /// Output columns a GEMM should have at least.
    static let targetColumns = 512

    /// Images per block.
    static func blockSize(_ g: ConvGeometry) -> Int {
        if g.hwo >= targetColumns { return 1 }
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

    /// y = conv(x, w) + bias by the direct kernel, group by group, images split over threads.
    /// `w` is [groups·outG, inG, kh, kw]; x has groups·inG channels of h×w, y groups·outG of ho×wo.
    static func direct(x: UnsafePointer<Float>, n: Int, groups: Int, inG: Int, h: Int, w: Int, weight: UnsafePointer<Float>,
                       bias: UnsafePointer<Float>?, outG: Int, kh: Int, kw: Int, ph: Int, pw: Int, sh: Int = 1, sw: Int = 1,
                       ho: Int, wo: Int, y: UnsafeMutablePointer<Float>) {
        let taps = inG * kh * kw
        let packed = Tensor(uninitializedShape: [groups * taps * 16])
        for gr in 0..<groups { ck_pack_conv_direct16(weight + gr * outG * taps, outG, inG, kh, kw, packed.data + gr * taps * 16) }
        let scratch = ck_conv_direct16_scratch(inG, h, w, kh, kw, ph, pw, sw)
        let inPlane = groups * inG * h * w, outPlane = groups * outG * ho * wo
        Threads.parallelFor(n, minPerThread: groups > 1 ? 1 : 4) { r in
            if groups == 1 {
                ck_conv_direct16(x + r.lowerBound * inPlane, r.count, inG, h, w, packed.data, bias, outG, kh, kw,
                                 ph, pw, sh, sw, ho, wo, y + r.lowerBound * outPlane, ck_scratch(3, scratch))
                return
            }
            for i in r {
                for gr in 0..<groups {
                    ck_conv_direct16(x + i * inPlane + gr * inG * h * w, 1, inG, h, w, packed.data + gr * taps * 16,
                                     bias.map { $0 + gr * outG }, outG, kh, kw, ph, pw, sh, sw, ho, wo,
                                     y + i * outPlane + gr * outG * ho * wo, ck_scratch(3, scratch))
                }
            }
        }
    }

    /// Whether the block weight gradient gathers its columns inside the GEMM (transposed, a scattered
    /// write per element) rather than building a column buffer and packing dY transposed instead:
    /// wide layers, and strided ones too narrow for a full panel of output channels.
    static func weightColumnsGathered(_ g: ConvGeometry) -> Bool { g.wo >= 48 || (g.sw > 1 && g.coutG < 64) }

    /// The weight gradient of other stride-1 single-group layers reads the im2col rows in place
    /// from a padded copy of each image (no column matrix, no transposed packing). On maps
    /// narrower than 10 the padding columns it multiplies through cost more than that saves.
    static func usesStride1WeightGradient(_ g: ConvGeometry) -> Bool {
        g.groups == 1 && g.sh == 1 && g.sw == 1 && g.wo >= 10 && ck_conv_dw_stride1_available() != 0
    }

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
            ck_split_columns(x + r.lowerBound * g.w, r.count, g.w, t.data + r.lowerBound * 2 * half)
        }
        return t
    }

    /// Winograd serves single-group stride-1 3×3 layers wide enough that the GEMMs dominate the
    /// transforms, with feature maps of at least 4×4 (on 2×2 or 3×3 maps padding tiles waste most of the gain).
    static func usesWinograd(_ g: ConvGeometry) -> Bool {
        ConvolutionOptions.winogradActive && g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.groups == 1
            && g.ph <= 2 && g.pw <= 2 && g.c >= 16 && g.cout >= 16 && g.ho >= 4 && g.wo >= 4
    }

    /// y [n, oc, ho, wo] = Winograd convolution of x [n, c, h, w] with weights packed by ck_winograd_pack_weights.
    static func winograd(x: UnsafePointer<Float>, n: Int, c: Int, h: Int, w: Int, ph: Int, pw: Int, oc: Int, ho: Int, wo: Int,
                         packed: UnsafePointer<Float>, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>,
                         scale: UnsafePointer<Float>? = nil, residual: UnsafePointer<Float>? = nil, relu: Bool = false) {
        let tiles = n * ((ho + 1) / 2) * ((wo + 1) / 2)
        // blocks of whole 64-column panels whose transforms (16·(c + oc) floats per tile) stay in L2
        let fit = Swift.max(1, 16_384 / (c + oc) / 64)
        let perThread = (tiles + Threads.count - 1) / Threads.count
        let block = 64 * Swift.max(1, Swift.min(fit, 4, (perThread + 63) / 64))
        let scratch = ck_winograd_scratch(c, oc, w, pw, block)
        // each thread takes an equal share of the tiles, in blocks (whole blocks per thread would leave
        // 4 against 5 for ResNet's 6×6 maps)
        forEachTileBlock(tiles: tiles, block: block) { _, t0, count in
            ck_winograd_conv_block(x, c, h, w, ph, pw, oc, ho, wo, packed, scale, bias, residual, relu ? 1 : 0, t0, count, y,
                                   ck_scratch(0, scratch)!)
        }
    }

    /// Splits tiles `0..<tiles` into one contiguous, equal share per thread and calls
    /// `body(thread, first, count)` for blocks of at most `block` tiles of each share (on 64-tile
    /// boundaries where the share allows). Returns how many threads ran.
    @discardableResult
    static func forEachTileBlock(tiles: Int, block: Int, _ body: (Int, Int, Int) -> Void) -> Int {
        let threads = Swift.max(1, Swift.min(Threads.count, (tiles + 63) / 64))
        return Threads.parallelChunks(threads) { _, r in
            for t in r {
                let lo = tiles * t / threads, hi = tiles * (t + 1) / threads
                var t0 = lo
                while t0 < hi {
                    let count = Swift.min(block, hi - t0)
                    body(t, t0, count)
                    t0 += count
                }
            }
        }
    }

    /// The weights transformed for `winograd`: as given, or (adjoint) for the input-gradient pass.
    static func winogradWeights(_ g: ConvGeometry, _ weight: UnsafePointer<Float>, adjoint: Bool) -> Tensor {
        let rows = adjoint ? g.c : g.cout, cols = adjoint ? g.cout : g.c
        let packed = Tensor(uninitializedShape: [ck_winograd_packed_size(rows, cols)])
        packed.data.update(repeating: 0, count: packed.count)   // the panels' padding rows
        Threads.parallelFor(g.cout, minPerThread: Swift.max(1, 16_384 / Swift.max(1, g.c))) { r in
            ck_winograd_pack_weights(weight, g.cout, g.c, adjoint ? 1 : 0, r.lowerBound, r.upperBound, packed.data)
        }
        return packed
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
            ck_im2col(x + i * inPlane, g.c, g.h, g.w, g.kh, g.kw, g.ph, g.pw, g.sh, g.sw, g.dh, g.dw, g.ho, g.wo, cols.data, g.hwo)
            ck_transpose(cols.data, g.kg * g.groups, g.hwo, g.hwo, rows.data, g.kg * g.groups)
            let out = y + i * outPlane
            for gr in 0..<g.groups {
                Threads.parallelFor(g.coutG, minPerThread: 32) { r in
                    ck_sgemm_small_n(r.count, g.hwo, g.kg, weight + (gr * g.coutG + r.lowerBound) * g.kg, g.kg,
                                     rows.data + gr * g.kg, g.kg * g.groups, out + (gr * g.coutG + r.lowerBound) * g.hwo, g.hwo)
                }
            }
            if let epi = epilogue ?? bias.map({ ConvEpilogue(scale: nil, shift: $0, relu: false) }) {
                epi.apply(y, image: i, channels: g.cout, plane: g.hwo)
            }
        }
    }

    /// y = conv(x, weight) + bias, or with an epilogue (whose shift includes the bias; pass bias nil).
    static func forward(_ g: ConvGeometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, epilogue: ConvEpilogue? = nil) {
        if TapwiseConv.applies(g) && !usesWinograd(g) {
            let inPixels = g.h * g.w
            let xT = Tensor(uninitializedShape: [g.c * inPixels * g.n]), yT = Tensor(uninitializedShape: [g.cout * g.hwo * g.n])
            TapwiseConv.toPositionMajor(x, n: g.n, c: g.c, plane: inPixels, order: TapwiseConv.inputOrder(g), xT.data)
            TapwiseConv.multiply(g, weight: weight, adjoint: false, input: xT.data, output: yT.data)
            TapwiseConv.fromPositionMajor(yT.data, n: g.n, c: g.cout, plane: g.hwo, y)
            if let epi = epilogue ?? bias.map({ ConvEpilogue(scale: nil, shift: $0, relu: false) }) {
                for i in 0..<g.n { epi.apply(y, image: i, channels: g.cout, plane: g.hwo) }
            }
            return
        }
        if g.n * g.hwo <= 64 && g.kg >= 256 {
            smallOutputs(g, x: x, weight: weight, bias: bias, y: y, epilogue: epilogue)
            return
        }
        if usesWinograd(g) {
            let packed = winogradWeights(g, weight, adjoint: false)
            winograd(x: x, n: g.n, c: g.c, h: g.h, w: g.w, ph: g.ph, pw: g.pw, oc: g.cout, ho: g.ho, wo: g.wo,
                     packed: packed.data, bias: epilogue?.shift ?? bias, y: y, scale: epilogue?.scale, residual: epilogue?.residual,
                     relu: epilogue?.relu ?? false)
            return
        }
        if usesDirect(g) {
            direct(x: x, n: g.n, groups: g.groups, inG: g.cg, h: g.h, w: g.w, weight: weight, bias: bias, outG: g.coutG,
                   kh: g.kh, kw: g.kw, ph: g.ph, pw: g.pw, sh: g.sh, sw: g.sw, ho: g.ho, wo: g.wo, y: y)
            if let epilogue {
                Threads.parallelFor(g.n) { r in
                    for i in r { epilogue.apply(y, image: i, channels: g.cout, plane: g.hwo) }
                }
            }
            return
        }
        let outPlane = g.cout * g.hwo
        let split = gathersDirectly(g) ? splitColumns(g, x) : nil
        // each group's weights are packed once and shared by every block and thread
        let packed = (0..<g.groups).map { PackedA(transA: false, m: g.coutG, k: g.kg, a: weight + $0 * g.coutG * g.kg, lda: g.kg) }
        _ = forEachBlock(g) { _, images, threaded in
            let ncols = images.count * g.hwo
            let single = images.count == 1
            // one image writes straight into the output; a block goes through [Cout, images·HWo]
            let out = single ? y + images.lowerBound * outPlane : ck_scratch(2, g.cout * ncols)!
            if !gathersDirectly(g) || (single && g.isPointwise) {
                // a column buffer (or, for one image of a 1×1 convolution, the input itself)
                let col = columns(g, x: x, images: images, slot: 0)
                for gr in 0..<g.groups {
                    let mul = threaded ? packed[gr].multiplyThreaded : packed[gr].multiply
                    mul(ncols, false, col + gr * g.kg * ncols, ncols, out + gr * g.coutG * ncols, ncols, false)
                }
            } else {
                // the im2col columns are gathered straight into the GEMM's panels
                for gr in 0..<g.groups {
                    let apacked = packed[gr].pointer, c = out + gr * g.coutG * ncols
                    let run = { (j0: Int, j1: Int) in
                        var src = convSource(g, x: x, images: images, group: gr, pixelOffset: j0,
                                             split: split.map { UnsafePointer($0.data) })
                        ck_sgemm_conv(0, g.coutG, j1 - j0, g.kg, nil, 0, apacked, 0, &src, c + j0, ncols, 0)
                    }
                    if threaded && ncols >= 128 && Threads.count > 1 {
                        Threads.parallelPanels(ncols, run)
                    } else {
                        run(0, ncols)
                    }
                }
            }
            for (j, i) in images.enumerated() {
                if let epilogue {
                    // the affine map and ReLU ride on the pass that places the block's output
                    epilogue.apply(y, image: i, channels: g.cout, plane: g.hwo,
                                   from: single ? nil : UnsafePointer(out + j * g.hwo), srcStride: ncols)
                    continue
                }
                for co in 0..<g.cout {
                    let dst = y + i * outPlane + co * g.hwo
                    let v = bias?[co] ?? 0
                    if single {
                        if bias != nil { for p in 0..<g.hwo { dst[p] += v } }
                    } else {
                        let src = out + co * ncols + j * g.hwo
                        for p in 0..<g.hwo { dst[p] = src[p] + v }
                    }
                }
            }
        }
    }

    /// The weight gradient by the direct kernel (≤ 16 output channels) or the in-place stride-1 GEMM:
    /// per-thread [tap][Cout] partials over image ranges, summed in a fixed order, then transposed.
    /// The weight gradient of a Winograd layer by Winograd too: per-thread 16 × Cout × C accumulators
    /// over contiguous tile ranges, summed in a fixed order, then transformed back to 3×3 filters.
    static func winogradWeightGradient(_ g: ConvGeometry, x: UnsafePointer<Float>, gy: UnsafePointer<Float>,
                                       gw: UnsafeMutablePointer<Float>) {
        let tiles = g.n * ((g.ho + 1) / 2) * ((g.wo + 1) / 2)
        // longer blocks make longer GEMMs (the tiles are their inner dimension); wide layers use shorter
        // ones so the block's transforms stay within a few MB
        let block = g.c + g.cout <= 256 ? 256 : 128
        let per = 16 * g.cout * g.c
        let slots = Swift.max(Threads.count, 1)
        let store = Tensor(uninitializedShape: [slots * per])
        let acc = store.data
        acc.update(repeating: 0, count: slots * per)
        let scratch = ck_winograd_dw_scratch(g.c, g.cout, g.w, g.pw, block)
        let chunks = forEachTileBlock(tiles: tiles, block: block) { t, t0, count in
            ck_winograd_dw_block(x, gy, g.c, g.h, g.w, g.ph, g.pw, g.cout, g.ho, g.wo, t0, count, acc + t * per, ck_scratch(0, scratch)!)
        }
        for t in 1..<Swift.max(chunks, 1) { Elementwise.axpy(1, acc + t * per, acc, per) }
        Threads.parallelFor(g.cout, minPerThread: 8) { r in
            ck_winograd_dw_finish(acc, g.cout, g.c, r.lowerBound, r.upperBound, gw)
        }
    }

    static func weightGradientWithoutColumns(_ g: ConvGeometry, x: UnsafePointer<Float>, gy: UnsafePointer<Float>,
                                             gw: UnsafeMutablePointer<Float>, direct: Bool) {
        let inPlane = g.c * g.h * g.w, outPlane = g.cout * g.hwo
        let taps = g.kg, width = direct ? 16 : g.cout
        let per = g.groups * taps * width       // one thread's partial: per group [taps][width]
        let slots = Swift.max(Threads.count, 1)
        let store = Tensor(uninitializedShape: [slots * per])
        let acc = store.data
        acc.update(repeating: 0, count: slots * per)
        let chunks: Int
        if direct {
            let scratch = ck_conv_dw_direct16_scratch(g.cg, g.h, g.w, g.kw, g.ph, g.pw, g.sw, g.ho, g.wo)
            chunks = Threads.parallelChunks(g.n, minPerThread: g.groups > 1 ? 1 : 4) { t, r in
                if g.groups == 1 {
                    ck_conv_dw_direct16(x + r.lowerBound * inPlane, gy + r.lowerBound * outPlane, r.count, g.c, g.h, g.w, g.cout,
                                        g.kh, g.kw, g.ph, g.pw, g.sh, g.sw, g.ho, g.wo, acc + t * per, ck_scratch(3, scratch))
                    return
                }
                for i in r {
                    for gr in 0..<g.groups {
                        ck_conv_dw_direct16(x + i * inPlane + gr * g.cg * g.h * g.w, gy + i * outPlane + gr * g.coutG * g.hwo, 1,
                                            g.cg, g.h, g.w, g.coutG, g.kh, g.kw, g.ph, g.pw, g.sh, g.sw, g.ho, g.wo,
                                            acc + t * per + gr * taps * width, ck_scratch(3, scratch))
                    }
                }
            }
        } else {
            let scratch = ck_conv_dw_stride1_scratch(g.c, g.h, g.w, g.kh, g.kw, g.ph, g.pw, g.dw)
            chunks = Threads.parallelChunks(g.n) { t, r in
                ck_conv_dw_stride1(x + r.lowerBound * inPlane, gy + r.lowerBound * outPlane, r.count, g.c, g.h, g.w, g.cout,
                                   g.kh, g.kw, g.ph, g.pw, g.dh, g.dw, g.ho, g.wo, acc + t * per, ck_scratch(3, scratch))
            }
        }
        for t in 1..<Swift.max(chunks, 1) { Elementwise.axpy(1, acc + t * per, acc, per) }
        for gr in 0..<g.groups {
            ck_transpose(acc + gr * taps * width, taps, g.coutG, width, gw + gr * g.coutG * taps, taps)
        }
    }

    /// Input gradient into `gx` and weight/bias gradients (each optional) from `gy`.
    static func backward(_ g: ConvGeometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, gy: UnsafePointer<Float>,
                         gx: UnsafeMutablePointer<Float>?, gw: UnsafeMutablePointer<Float>?, gb: UnsafeMutablePointer<Float>?) {
        let inPlane = g.c * g.h * g.w, outPlane = g.cout * g.hwo
        if TapwiseConv.applies(g) && !usesWinograd(g) {
            let inPixels = g.h * g.w
            let gyT = Tensor(uninitializedShape: [g.cout * g.hwo * g.n])
            TapwiseConv.toPositionMajor(gy, n: g.n, c: g.cout, plane: g.hwo, gyT.data)
            if let gx {
                let gxT = Tensor(uninitializedShape: [g.c * inPixels * g.n])
                TapwiseConv.multiply(g, weight: weight, adjoint: true, input: gyT.data, output: gxT.data)
                TapwiseConv.fromPositionMajor(gxT.data, n: g.n, c: g.c, plane: inPixels, order: TapwiseConv.inputOrder(g), gx)
            }
            if let gw {
                let xT = Tensor(uninitializedShape: [g.c * inPixels * g.n])
                TapwiseConv.toPositionMajor(x, n: g.n, c: g.c, plane: inPixels, order: TapwiseConv.inputOrder(g), xT.data)
                TapwiseConv.weightGradient(g, x: xT.data, gy: gyT.data, gw: gw)
            }
            if let gb {
                for co in 0..<g.cout { gb[co] = Elementwise.sum(gyT.data + co * g.hwo * g.n, g.hwo * g.n) }
            }
            return
        }
        // the input gradient of a stride-1 3×3 layer is a 3×3 convolution of gy with the rotated
        // filters, padded by 2 − p: Winograd again, with no column matrix and no col2im
        var gx = gx
        if let dx = gx, usesWinograd(g) {
            let packed = winogradWeights(g, weight, adjoint: true)
            winograd(x: gy, n: g.n, c: g.cout, h: g.ho, w: g.wo, ph: 2 - g.ph, pw: 2 - g.pw, oc: g.c, ho: g.h, wo: g.w,
                     packed: packed.data, bias: nil, y: dx)
            gx = nil
            if gw == nil && gb == nil { return }
        } else if let dx = gx, usesDirectInputGradient(g) {
            // filters rotated by 180° with in/out swapped: [groups·inG, outG, kh, kw]
            let taps = g.kh * g.kw
            let rotated = Tensor(uninitializedShape: [g.c * g.coutG * taps])
            let r = rotated.data
            for gr in 0..<g.groups { for o in 0..<g.coutG { for ci in 0..<g.cg {
                let src = weight + ((gr * g.coutG + o) * g.cg + ci) * taps, dst = r + ((gr * g.cg + ci) * g.coutG + o) * taps
                for k in 0..<taps { dst[k] = src[taps - 1 - k] }
            } } }
            direct(x: gy, n: g.n, groups: g.groups, inG: g.coutG, h: g.ho, w: g.wo, weight: r, bias: nil, outG: g.cg,
                   kh: g.kh, kw: g.kw, ph: g.kh - 1 - g.ph, pw: g.kw - 1 - g.pw, ho: g.h, wo: g.w, y: dx)
            gx = nil
            if gw == nil && gb == nil { return }
        }
        let wCount = g.cout * g.kg
        let slots = Swift.max(Threads.count, 1)
        // per-thread weight-gradient partials, summed in a fixed order afterwards (reproducible)
        // (pooled memory; each thread's first block overwrites its weight part, so only the bias
        // parts are zeroed — ResNet's last stage would otherwise clear 19 MB per call)
        let stride = wCount + g.cout
        let partialStore = Tensor(uninitializedShape: [slots * stride])
        let partials = partialStore.data
        for t in 0..<slots { (partials + t * stride + wCount).update(repeating: 0, count: g.cout) }
        let started = UnsafeMutablePointer<Bool>.allocate(capacity: slots)
        defer { started.deallocate() }
        started.initialize(repeating: false, count: slots)
        let packedT = gx == nil ? [] : (0..<g.groups).map {
            PackedA(transA: true, m: g.kg, k: g.coutG, a: weight + $0 * g.coutG * g.kg, lda: g.kg)
        }
        let directDW = gw != nil && usesDirectWeightGradient(g)
        let winogradDW = gw != nil && !directDW && usesWinograd(g)
        let stride1DW = gw != nil && !directDW && !winogradDW && usesStride1WeightGradient(g)
        let blockDW = gw != nil && !directDW && !winogradDW && !stride1DW
        // with a column buffer and at least one full 64-wide panel of output channels per group,
        // dWᵀ = col · dYᵀ (partials [taps × Cout/groups]) packs the smaller operand transposed
        let transposedPartials = !weightColumnsGathered(g) && g.coutG >= 64
        if gx == nil && !blockDW {
            // nothing needs image blocks: the bias gradient is a plain sum
            if let gb {
                for co in 0..<g.cout {
                    var s: Float = 0
                    for i in 0..<g.n { s += Elementwise.sum(gy + i * outPlane + co * g.hwo, g.hwo) }
                    gb[co] = s
                }
            }
            if let gw {
                if winogradDW { winogradWeightGradient(g, x: x, gy: gy, gw: gw) }
                else { weightGradientWithoutColumns(g, x: x, gy: gy, gw: gw, direct: directDW) }
            }
            return
        }
        let split = blockDW && weightColumnsGathered(g) ? splitColumns(g, x) : nil
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
            let pw = partials + t * stride, pb = pw + wCount
            if blockDW && !weightColumnsGathered(g) {
                let col = columns(g, x: x, images: images, slot: 0)
                for gr in 0..<g.groups {
                    let (cg, dyg, c) = (col + gr * g.kg * ncols, dy + gr * g.coutG * ncols, pw + gr * g.coutG * g.kg)
                    // dW = dY · colᵀ, or dWᵀ [taps × Cout] = col · dYᵀ so the transposed packing falls
                    // on dY, 9× smaller than col
                    let (a, b, m, n) = transposedPartials ? (cg, dyg, g.kg, g.coutG) : (dyg, cg, g.coutG, g.kg)
                    if threaded {
                        GEMM.sgemm(transA: false, transB: true, m: m, n: n, k: ncols, a: a, lda: ncols, b: b, ldb: ncols,
                                   c: c, ldc: n, accumulate: started[t])
                    } else {
                        GEMM.sgemmSingle(transA: false, transB: true, m: m, n: n, k: ncols, a: a, lda: ncols, b: b, ldb: ncols,
                                         c: c, ldc: n, accumulate: started[t])
                    }
                }
                started[t] = true
            } else if blockDW {
                // dW += dY · colᵀ with the columns gathered straight from the input
                for gr in 0..<g.groups {
                    var src = convSource(g, x: x, images: images, group: gr, pixelOffset: 0,
                                         split: split.map { UnsafePointer($0.data) })
                    ck_sgemm_conv(0, g.coutG, g.kg, ncols, dy + gr * g.coutG * ncols, ncols, nil, 1, &src,
                                  pw + gr * g.coutG * g.kg, g.kg, started[t] ? 1 : 0)
                }
                started[t] = true
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
        if let gw, winogradDW {
            winogradWeightGradient(g, x: x, gy: gy, gw: gw)
        } else if let gw, !blockDW {
            weightGradientWithoutColumns(g, x: x, gy: gy, gw: gw, direct: directDW)
        } else if let gw {
            for t in 1..<Swift.max(used, 1) { Elementwise.axpy(1, partials + t * stride, partials, wCount) }
            if !transposedPartials {
                gw.update(from: partials, count: wCount)
            } else {
                // each group's partial is [taps × Cout/groups]
                for gr in 0..<g.groups {
                    let src = partials + gr * g.coutG * g.kg, dst = gw + gr * g.coutG * g.kg
                    ck_transpose(src, g.kg, g.coutG, g.coutG, dst, g.kg)
                }
            }
        }
        if let gb {
            gb.update(from: partials + wCount, count: g.cout)
            for t in 1..<Swift.max(used, 1) { Elementwise.axpy(1, partials + t * stride + wCount, gb, g.cout) }
        }
    }
}

/// 2-D cross-correlation over NCHW input, as `F.conv2d`: `weight` is [out, in/groups, kh, kw].
public func conv2d(_ input: Tensor, _ weight: Tensor, bias: Tensor? = nil, stride: Size2 = 1, padding: Padding = 0,
                   dilation: Size2 = 1, groups: Int = 1) -> Tensor {
    convolve(input, weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups, epilogue: nil)
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
    let cout = weight.rank == 4 ? weight.shape[0] : 0
    for (name, t) in [("scale", scale), ("shift", shift)] {
        if let t { checkArgument(t.shape == [cout], "conv2dAffineReLU: \(name) must have \(cout) elements (weight \(weight.shape)), got \(t.shape)") }
    }
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
        return relu ? y.relu() : y
    }
    // the layer's bias folds into the shift: (v + b)·s + t = v·s + (b·s + t)
    var folded = [Float](repeating: 0, count: cout)
    for o in 0..<cout {
        let s = scale?.data[o] ?? 1
        folded[o] = (bias?.data[o] ?? 0) * s + (shift?.data[o] ?? 0)
    }
    return folded.withUnsafeBufferPointer { f in
        convolve(input, weight, bias: nil, stride: stride, padding: padding, dilation: dilation, groups: groups,
                 epilogue: ConvEpilogue(scale: scale.map { UnsafePointer($0.data) }, shift: f.baseAddress,
                                        residual: residual.map { UnsafePointer($0.data) }, relu: relu),
                 residualShape: residual?.shape)
    }
}

/// conv2d's checks and dispatch; with an epilogue (not recorded) the kernels apply it to the output.
func convolve(_ input: Tensor, _ weight: Tensor, bias: Tensor?, stride: Size2, padding: Padding, dilation: Size2, groups: Int,
              epilogue: ConvEpilogue?, residualShape: [Int]? = nil) -> Tensor {
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
        ConvKernels.forward(geo, x: input.data, weight: weight.data, bias: bias.map { UnsafePointer($0.data) }, y: out.data,
                            epilogue: epilogue)
    }
    if epilogue != nil { return out }
    var inputs = [input, weight]
    if let bias { inputs.append(bias) }
    return Tensor.record(out, "conv2d", inputs) { gy in
        let gx = input.requiresGrad ? Tensor(uninitializedShape: input.shape) : nil
        let gw = weight.requiresGrad ? Tensor(uninitializedShape: weight.shape) : nil
        let gb = (bias?.requiresGrad ?? false) ? Tensor(uninitializedShape: [cout]) : nil
        Profiler.measure("conv bwd " + label()) {
            ConvKernels.backward(geo, x: input.data, weight: weight.data, gy: gy.data, gx: gx?.data, gw: gw?.data, gb: gb?.data)
        }
        return bias == nil ? [gx, gw] : [gx, gw, gb]
    }
}

/// x[:, :, ::sh, ::sw] limited to ho × wo (differentiable: the gradient scatters back, zeros elsewhere).
func subsample(_ x: Tensor, _ stride: Size2, ho: Int, wo: Int) -> Tensor {
    let (planes, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
    let out = Tensor(uninitializedShape: [x.shape[0], x.shape[1], ho, wo])
    let (src, dst) = (x.data, out.data)
    Threads.parallelFor(planes, minPerThread: 64) { r in
        for p in r { for i in 0..<ho { for j in 0..<wo { dst[(p * ho + i) * wo + j] = src[(p * h + i * stride.h) * w + j * stride.w] } } }
    }
    return Tensor.record(out, "subsample", [x]) { gy in
        let gx = Tensor(uninitializedShape: x.shape)
        let (g, d) = (gy.data, gx.data)
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
