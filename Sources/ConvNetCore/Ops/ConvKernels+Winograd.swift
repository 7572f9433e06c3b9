import CKernels

/// The Winograd algorithms: F(m×m, r×r) computes m×m output tiles of an r×r convolution from
/// (m + r − 1)² GEMMs over channels.
enum WinogradVariant: Int {
    /// F(2×2, 3×3) (CKernels/winograd.c), on every ISA.
    case f2k3
    /// F(3×3, 3×3) (winograd3.c), AVX-512 only.
    case f3k3
    /// F(2×2, 5×5) (winograd25.c), AVX-512 only.
    case f2k5

    /// Output tile side.
    var m: Int { self == .f3k3 ? 3 : 2 }
    /// Kernel side.
    var r: Int { self == .f2k5 ? 5 : 3 }
    /// Transformed matrices: (m + r − 1)².
    var elements: Int { (m + r - 1) * (m + r - 1) }

    /// Output tiles over `n` maps of ho × wo.
    func tiles(n: Int, ho: Int, wo: Int) -> Int { n * ((ho + m - 1) / m) * ((wo + m - 1) / m) }

    /// The variant's C kernels, one table entry per variant (each call site looks them up here
    /// instead of switching over the variants).
    var kernels: WinogradKernels {
        switch self {
        case .f2k3: return .f2k3
        case .f3k3: return .f3k3
        case .f2k5: return .f2k5
        }
    }
}

/// One Winograd variant's block kernels, with a common signature (F(2×2, 3×3) ignores `groups`,
/// which its callers keep at 1; the F(3×3)/F(2×2, 5×5) scratch sizes ignore the map width).
/// Sendable: the closures only forward to stateless C functions.
struct WinogradKernels: Sendable {
    typealias Buffer = UnsafeMutablePointer<Float>
    /// Scratch floats per thread for conv blocks of `block` tiles: (c, oc, w, pw, block).
    let convScratch: @Sendable (Int, Int, Int, Int, Int) -> Int
    /// One block of tiles of the forward pass (or input gradient) with its epilogue.
    let convBlock: @Sendable (_ x: UnsafePointer<Float>, _ c: Int, _ h: Int, _ w: Int, _ ph: Int, _ pw: Int, _ oc: Int, _ ho: Int, _ wo: Int,
                    _ groups: Int, _ packed: UnsafePointer<Float>, _ scale: UnsafePointer<Float>?, _ bias: UnsafePointer<Float>?,
                    _ residual: UnsafePointer<Float>?, _ relu: Int32, _ t0: Int, _ count: Int, _ y: Buffer, _ scratch: Buffer) -> Void
    /// Scratch floats per thread for weight-gradient blocks: (c, cout, w, pw, block).
    let dwScratch: @Sendable (Int, Int, Int, Int, Int) -> Int
    /// One block of tiles of the weight gradient into a thread's accumulator (added when `add` is 1).
    let dwBlock: @Sendable (_ x: UnsafePointer<Float>, _ gy: UnsafePointer<Float>, _ c: Int, _ h: Int, _ w: Int, _ ph: Int, _ pw: Int,
                  _ cout: Int, _ ho: Int, _ wo: Int, _ t0: Int, _ count: Int, _ add: Int32, _ acc: Buffer, _ scratch: Buffer) -> Void
    /// The accumulated transformed gradient of output channels [o0, o1) back to filters.
    let dwFinish: @Sendable (_ acc: UnsafePointer<Float>, _ cout: Int, _ c: Int, _ o0: Int, _ o1: Int, _ gw: Buffer) -> Void

    static let f2k3 = WinogradKernels(
        convScratch: { ck_winograd_scratch($0, $1, $2, $3, $4) },
        convBlock: { x, c, h, w, ph, pw, oc, ho, wo, _, packed, scale, bias, residual, relu, t0, count, y, buffer in
            ck_winograd_conv_block(x, c, h, w, ph, pw, oc, ho, wo, packed, scale, bias, residual, relu, t0, count, y, buffer) },
        dwScratch: { ck_winograd_dw_scratch($0, $1, $2, $3, $4) },
        dwBlock: { ck_winograd_dw_block($0, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) },
        dwFinish: { ck_winograd_dw_finish($0, $1, $2, $3, $4, $5) })

    static let f3k3 = WinogradKernels(
        convScratch: { c, oc, _, _, block in ck_winograd3_scratch(c, oc, block) },
        convBlock: { ck_winograd3_conv_block($0, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) },
        dwScratch: { c, oc, _, _, block in ck_winograd3_dw_scratch(c, oc, block) },
        dwBlock: { ck_winograd3_dw_block($0, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) },
        dwFinish: { ck_winograd3_dw_finish($0, $1, $2, $3, $4, $5) })

    static let f2k5 = WinogradKernels(
        convScratch: { c, oc, _, _, block in ck_winograd25_scratch(c, oc, block) },
        convBlock: { ck_winograd25_conv_block($0, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) },
        dwScratch: { c, oc, _, _, block in ck_winograd25_dw_scratch(c, oc, block) },
        dwBlock: { ck_winograd25_dw_block($0, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) },
        dwFinish: { ck_winograd25_dw_finish($0, $1, $2, $3, $4, $5) })
}

/// Winograd convolution for stride-1 undilated 3×3 and 5×5 layers: forward, input and weight
/// gradients. 3×3 layers take F(3×3, 3×3) with AVX-512 where its tiles cost less, F(2×2, 3×3)
/// otherwise; 5×5 layers F(2×2, 5×5) with AVX-512 (36 multiply-adds per 2×2 tile against 100).
extension ConvKernels {
    /// The variant for `n` output maps of ho × wo and an r×r kernel, or nil where none pays. Each
    /// costs `elements` GEMMs, over its tiles plus about 60 multiply-adds' worth of transforming and
    /// packing per weight element (memory-bound; weights change every step).
    static func winogradVariant(kernel r: Int, n: Int, ho: Int, wo: Int) -> WinogradVariant? {
        let wide = ck_gemm_isa() == 2
        let tiles2 = WinogradVariant.f2k3.tiles(n: n, ho: ho, wo: wo)
        if r == 5 { return wide && ho >= 2 && wo >= 2 && tiles2 >= 64 ? .f2k5 : nil }
        guard r == 3 else { return nil }
        let forced = ConvolutionOptions.winogradTile
        let tiles3 = WinogradVariant.f3k3.tiles(n: n, ho: ho, wo: wo)
        // F(3×3) needs enough tiles to amortise its 25 weight matrices (ResNet's 3×3 maps at batch
        // 64, 64 tiles: 4.1 ms forward against 5.8 tap-wise, about even with the gradients)
        let f3 = wide && ho >= 3 && wo >= 3 && (tiles3 >= 64 || forced == 3) && forced != 2
        // on 2×2 or 3×3 maps F(2×2) pads most of its tiles
        let f2 = ho >= 4 && wo >= 4 && forced != 3
        if f3 && f2 { return 25 * (tiles3 + 60) <= 16 * (tiles2 + 60) ? .f3k3 : .f2k3 }
        return f3 ? .f3k3 : (f2 ? .f2k3 : nil)
    }

    /// Winograd serves stride-1 3×3 and 5×5 layers with ≥ 16 channels per group (wide enough that
    /// the GEMMs dominate the transforms), on maps where a variant's tiles are not mostly padding (the
    /// input gradient's pass, over the input's map, needs one too).
    static func usesWinograd(_ g: ConvGeometry) -> Bool {
        guard ConvolutionOptions.winogradActive && g.kh == g.kw && (g.kh == 3 || g.kh == 5) && g.sh == 1 && g.sw == 1
                && g.dh == 1 && g.dw == 1 && g.ph < g.kh && g.pw < g.kw && g.cg >= 16 && g.coutG >= 16,
              let forward = winogradVariant(kernel: g.kh, n: g.n, ho: g.ho, wo: g.wo),
              let input = winogradVariant(kernel: g.kh, n: g.n, ho: g.h, wo: g.w) else { return false }
        guard g.groups > 1 else { return true }
        // groups (RegNet's 16-channel ones) run through the AVX-512 variants' conv blocks, one group
        // after another over the same tiles; the weight gradient stays with the direct kernel
        return [(forward, g.ho, g.wo), (input, g.h, g.w)].allSatisfy { v, ho, wo in
            v != .f2k3 && !(v == .f3k3 && fewTiles(v.tiles(n: g.n, ho: ho, wo: wo)))
        }
    }

    /// y [n, oc, ho, wo] = Winograd convolution of x [n, c, h, w] with weights from `winogradWeights`
    /// for the same variant.
    static func winograd(_ variant: WinogradVariant, x: UnsafePointer<Float>, n: Int, c: Int, h: Int, w: Int, ph: Int, pw: Int, oc: Int, ho: Int, wo: Int,
                         groups: Int = 1, packed: UnsafePointer<Float>, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>,
                         scale: UnsafePointer<Float>? = nil, residual: UnsafePointer<Float>? = nil, relu: Bool = false) {
        let tiles = variant.tiles(n: n, ho: ho, wo: wo)
        precondition(groups == 1 || variant != .f2k3, "grouped Winograd runs F(3×3) or F(2×2, 5×5) only")
        if variant == .f3k3 && fewTiles(tiles) {
            precondition(groups == 1, "grouped Winograd needs a share of tiles per thread")
            // too few tiles for a share per thread (ResNet's 3×3 maps: one per image): the phases
            // split over channels, the 25 GEMMs and output channels instead
            let vs = c * tiles + 32, ms = oc * tiles + 32
            let buffer = Tensor(uninitializedShape: [25 * (vs + ms)])
            let v = buffer.elementPointer, m = buffer.elementPointer + 25 * vs
            Threads.parallelFor(c, minPerThread: 16) { r in
                ck_winograd3_inputs(x, c, h, w, ph, pw, oc, ho, wo, 0, tiles, r.lowerBound, r.upperBound, v, vs, tiles)
            }
            let usize = ck_winograd3_packed_size(oc, c) / 25
            Threads.parallelFor(25) { r in
                for xi in r { ck_sgemm_packed(oc, tiles, c, packed + xi * usize, 0, v + xi * vs, tiles, m + xi * ms, tiles, 0, nil) }
            }
            Threads.parallelFor(oc, minPerThread: 16) { r in
                ck_winograd3_outputs(m, ms, tiles, c, h, w, ph, pw, oc, ho, wo, 0, tiles, r.lowerBound, r.upperBound,
                                     scale, bias, residual, relu ? 1 : 0, y)
            }
            return
        }
        // blocks of whole 64-column panels whose transforms (elements·(c + oc) floats per tile) stay in L2
        let fit = Swift.max(1, 16_384 * 16 / variant.elements / (c + oc) / 64)
        let perThread = (tiles + Threads.count - 1) / Threads.count
        let block = 64 * Swift.max(1, Swift.min(fit, 4, (perThread + 63) / 64))
        let kernels = variant.kernels
        let scratch = kernels.convScratch(c, oc, w, pw, block)
        // each thread takes an equal share of the tiles, in blocks (whole blocks per thread would leave
        // 4 against 5 for ResNet's 6×6 maps)
        forEachTileBlock(tiles: tiles, block: block) { _, t0, count in
            kernels.convBlock(x, c, h, w, ph, pw, oc, ho, wo, groups, packed, scale, bias, residual, relu ? 1 : 0, t0, count, y,
                              ck_scratch(0, scratch)!)
        }
    }

    /// Whether the forward pass splits output channels over threads instead of tiles: a batch too
    /// small to give every thread a 64-tile share (ResNet's 14×14 maps at batch 1: 49 tiles, which
    /// the tile split would leave to one thread), with channels enough for a share of panels each.
    static func winogradSplitsChannels(_ g: ConvGeometry, _ variant: WinogradVariant) -> Bool {
        let tiles = variant.tiles(n: g.n, ho: g.ho, wo: g.wo)
        return g.groups == 1 && Threads.count > 1 && (tiles + 63) / 64 < Threads.count && g.cout >= 24 * Threads.count
            && !(variant == .f3k3 && fewTiles(tiles))
    }

    /// The Winograd forward pass with each thread computing all tiles of one image for its own
    /// range of output channels (the input transform is repeated per range; it costs little beside
    /// the products). Each range's weights are packed on their own.
    static func winogradByChannels(_ g: ConvGeometry, _ variant: WinogradVariant, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                   bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, scale: UnsafePointer<Float>?,
                                   residual: UnsafePointer<Float>?, relu: Bool, constantWeight: Tensor?) {
        let parts = Threads.count
        // whole 6-row panels per range
        let panels = (g.cout + 5) / 6
        let bounds = (0...parts).map { Swift.min(g.cout, panels * $0 / parts * 6) }
        let taps = g.c * g.kh * g.kw
        let packs: [Tensor] = (0..<parts).map { p in
            packedWeight(constantWeight, PackedLayout(.winogradChannels, variant.rawValue, bounds[p], bounds[p + 1])) { () -> (Tensor, Int) in
                let part = ConvGeometry(n: g.n, c: g.c, h: g.h, w: g.w, cout: bounds[p + 1] - bounds[p], kh: g.kh, kw: g.kw, groups: 1,
                                        sh: g.sh, sw: g.sw, ph: g.ph, pw: g.pw, dh: g.dh, dw: g.dw, ho: g.ho, wo: g.wo)
                let t = winogradWeights(part, weight + bounds[p] * taps, adjoint: false, variant: variant)
                return (t, t.count * 4)
            }
        }
        let perImage = variant.tiles(n: 1, ho: g.ho, wo: g.wo)
        let kernels = variant.kernels
        let inPlane = g.c * g.h * g.w, outPlane = g.cout * g.hwo
        Threads.parallelFor(g.n * parts) { r in
            for job in r {
                let (i, p) = (job / parts, job % parts)
                let (o0, o1) = (bounds[p], bounds[p + 1])
                guard o1 > o0 else { continue }
                let scratch = kernels.convScratch(g.c, o1 - o0, g.w, g.pw, perImage)
                kernels.convBlock(x + i * inPlane, g.c, g.h, g.w, g.ph, g.pw, o1 - o0, g.ho, g.wo, 1, packs[p].elementPointer,
                                  scale.map { $0 + o0 }, bias.map { $0 + o0 }, residual.map { $0 + i * outPlane + o0 * g.hwo },
                                  relu ? 1 : 0, 0, perImage, y + i * outPlane + o0 * g.hwo, ck_scratch(0, scratch)!)
            }
        }
    }

    /// Whether a tile count leaves threads without a 64-tile share (and is small enough for the
    /// phased F(3×3) path's one block).
    static func fewTiles(_ tiles: Int) -> Bool { Threads.count > 1 && tiles < 64 * Threads.count && tiles <= 512 }

    /// Splits tiles `0..<tiles` into one contiguous, equal share per thread (at least 64 tiles each)
    /// and calls `body(thread, first, count)` for consecutive blocks of at most `block` tiles of each
    /// share. Returns how many threads ran.
    @discardableResult
    static func forEachTileBlock(tiles: Int, block: Int, maxThreads: Int = .max, _ body: (Int, Int, Int) -> Void) -> Int {
        let threads = Swift.max(1, Swift.min(Threads.count, maxThreads, (tiles + 63) / 64))
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

    /// The weights transformed for `winograd` with `variant`: as given, or (adjoint) for the input-gradient pass.
    static func winogradWeights(_ g: ConvGeometry, _ weight: UnsafePointer<Float>, adjoint: Bool, variant: WinogradVariant) -> Tensor {
        if variant != .f2k3 {
            // each group's matrices in turn ([coutG × cg] each, or transposed), every panel written
            // whole, padding rows included
            let (gr, gc) = adjoint ? (g.cg, g.coutG) : (g.coutG, g.cg)
            let size = variant == .f3k3 ? ck_winograd3_packed_size(gr, gc) : ck_winograd25_packed_size(gr, gc)
            let packed = Tensor(uninitializedShape: [g.groups * size])
            let panels = (gr + 5) / 6, taps = g.kh * g.kw
            Threads.parallelFor(g.groups * panels, minPerThread: Swift.max(1, 2_048 / Swift.max(1, gc))) { r in
                var i = r.lowerBound
                while i < r.upperBound {
                    let group = i / panels, p0 = i % panels, p1 = Swift.min(panels, p0 + r.upperBound - i)
                    let w = weight + group * g.coutG * g.cg * taps, out = packed.elementPointer + group * size
                    if variant == .f3k3 {
                        ck_winograd3_pack_weights(w, g.coutG, g.cg, adjoint ? 1 : 0, p0, p1, out)
                    } else {
                        ck_winograd25_pack_weights(w, g.coutG, g.cg, adjoint ? 1 : 0, p0, p1, out)
                    }
                    i += p1 - p0
                }
            }
            return packed
        }
        precondition(g.groups == 1, "F(2×2, 3×3) weights are packed for a single group")
        let rows = adjoint ? g.c : g.cout, cols = adjoint ? g.cout : g.c
        let packed = Tensor.zeros([ck_winograd_packed_size(rows, cols)])   // zero: the panels' padding rows
        Threads.parallelFor(g.cout, minPerThread: Swift.max(1, 16_384 / Swift.max(1, g.c))) { r in
            ck_winograd_pack_weights(weight, g.cout, g.c, adjoint ? 1 : 0, r.lowerBound, r.upperBound, packed.elementPointer)
        }
        return packed
    }

    /// The weight gradient of a Winograd layer by Winograd too: per-thread elements × Cout × C
    /// accumulators over contiguous tile ranges, summed in a fixed order, then transformed back to k×k filters.
    static func winogradWeightGradient(_ g: ConvGeometry, x: UnsafePointer<Float>, gy: UnsafePointer<Float>,
                                       gw: UnsafeMutablePointer<Float>) {
        guard let variant = winogradVariant(kernel: g.kh, n: g.n, ho: g.ho, wo: g.wo) else {
            preconditionFailure("no Winograd variant for \(g.kh)×\(g.kw) on \(g.ho)×\(g.wo)")
        }
        let tiles = variant.tiles(n: g.n, ho: g.ho, wo: g.wo)
        if variant == .f3k3 && fewTiles(tiles) {
            // transforms split over channels, the 25 GEMMs over threads, one accumulator
            let vs = g.c * tiles + 32, us = g.cout * tiles + 32
            let buffer = Tensor(uninitializedShape: [25 * (vs + us)])
            let v = buffer.elementPointer, u = buffer.elementPointer + 25 * vs
            let acc = Tensor(uninitializedShape: [25 * g.cout * g.c])   // written whole by the GEMMs
            Threads.parallelFor(g.c, minPerThread: 16) { r in
                ck_winograd3_inputs(x, g.c, g.h, g.w, g.ph, g.pw, g.cout, g.ho, g.wo, 0, tiles, r.lowerBound, r.upperBound, v, vs, tiles)
            }
            Threads.parallelFor(g.cout, minPerThread: 16) { r in
                ck_winograd3_gradients(gy, g.c, g.h, g.w, g.ph, g.pw, g.cout, g.ho, g.wo, 0, tiles, r.lowerBound, r.upperBound, u, us, tiles)
            }
            let panels = 64 * ((g.c + 63) / 64) * tiles
            Threads.parallelFor(25) { r in
                ck_winograd3_dw_gemm(v, vs, u, us, tiles, g.c, g.cout, tiles, Int32(r.lowerBound), Int32(r.upperBound), acc.elementPointer,
                                     ck_scratch(0, panels)!)
            }
            Threads.parallelFor(g.cout, minPerThread: 8) { r in
                ck_winograd3_dw_finish(acc.elementPointer, g.cout, g.c, r.lowerBound, r.upperBound, gw)
            }
            return
        }
        // longer blocks make longer GEMMs (the tiles are their inner dimension); wide layers use shorter
        // ones so the block's transforms stay within a few MB
        let block = g.c + g.cout <= 256 ? 256 : 128
        let per = variant.elements * g.cout * g.c
        // one accumulator per thread, but no more threads than fit 256 MB of them (a 512-channel
        // layer's 25 matrices take 26 MB each: on many cores the accumulators would outweigh the layer)
        let slots = Swift.max(1, Swift.min(Threads.count, (64 << 20) / Swift.max(per, 1)))
        // each thread's first block writes its accumulator, later ones add (no clearing pass; every
        // thread that runs gets at least one block, and only those are summed)
        let partials = PerThreadPartials(slots: slots, count: per, zeroed: 0)
        let kernels = variant.kernels
        let scratch = kernels.dwScratch(g.c, g.cout, g.w, g.pw, block)
        let chunks = forEachTileBlock(tiles: tiles, block: block, maxThreads: slots) { t, t0, count in
            let add: Int32 = partials.accumulates(t) ? 1 : 0
            kernels.dwBlock(x, gy, g.c, g.h, g.w, g.ph, g.pw, g.cout, g.ho, g.wo, t0, count, add, partials.part(t), ck_scratch(0, scratch)!)
        }
        let acc = partials.sum(used: chunks)
        Threads.parallelFor(g.cout, minPerThread: 8) { r in
            kernels.dwFinish(acc, g.cout, g.c, r.lowerBound, r.upperBound, gw)
        }
    }
}
