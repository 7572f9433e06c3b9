import CKernels

/// Winograd F(2×2, 3×3) for stride-1 undilated 3×3 layers: forward, input and weight gradients
/// (the transforms and block GEMMs are in CKernels/winograd.c).
extension ConvKernels {
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

    /// Splits tiles `0..<tiles` into one contiguous, equal share per thread (at least 64 tiles each)
    /// and calls `body(thread, first, count)` for consecutive blocks of at most `block` tiles of each
    /// share. Returns how many threads ran.
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
        let packed = Tensor.zeros([ck_winograd_packed_size(rows, cols)])   // zero: the panels' padding rows
        Threads.parallelFor(g.cout, minPerThread: Swift.max(1, 16_384 / Swift.max(1, g.c))) { r in
            ck_winograd_pack_weights(weight, g.cout, g.c, adjoint ? 1 : 0, r.lowerBound, r.upperBound, packed.data)
        }
        return packed
    }

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
        let store = Tensor.zeros([slots * per])
        let acc = store.data
        let scratch = ck_winograd_dw_scratch(g.c, g.cout, g.w, g.pw, block)
        let chunks = forEachTileBlock(tiles: tiles, block: block) { t, t0, count in
            ck_winograd_dw_block(x, gy, g.c, g.h, g.w, g.ph, g.pw, g.cout, g.ho, g.wo, t0, count, acc + t * per, ck_scratch(0, scratch)!)
        }
        for t in 1..<Swift.max(chunks, 1) { Elementwise.axpy(1, acc + t * per, acc, per) }
        Threads.parallelFor(g.cout, minPerThread: 8) { r in
            ck_winograd_dw_finish(acc, g.cout, g.c, r.lowerBound, r.upperBound, gw)
        }
    }
}
