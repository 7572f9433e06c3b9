import CKernels

/// Convolutions on tiny feature maps (ResNet-18/96's last stage: 512 channels on 3×3) as one GEMM
/// per kernel tap over a position-major layout [channel][pixel][image].
///
/// im2col on a 3×3 map with padding 1 is 40% zeros (a corner output sees 4 of the 9 taps), and the
/// GEMM multiplies through them. Here tap (i, j) contributes W[:, :, i, j] · X[:, pixel + offset, :]
/// only for the output pixels it reaches; with the batch innermost, each output pixel is one
/// 64-column panel for a batch of 64, and a row of reachable pixels is one contiguous stretch of
/// both the input and the output. 49 of 81 multiply-adds remain; nothing is gathered.
///
/// Strided layers on tiny maps use the same GEMMs over the input in phase-major order: the pixels with (row mod sh, column mod sw) = (a, b) are stored together, so
/// the input pixels a row of outputs reads through one tap (sw apart) are again one contiguous stretch.
enum TapwiseConv {
    /// Undilated single-group layers with ≥ 64 channels on maps of at most 16 pixels, with a batch
    /// that fills GEMM panels. (Strided layers work too, through `phaseOrder`, but measured no faster
    /// than the gathered GEMM on ResNet-18/96's downsampling layers, forward and backward together.)
    static func applies(_ g: ConvGeometry) -> Bool {
        g.groups == 1 && g.dh == 1 && g.dw == 1 && g.sh <= 4 && g.sw <= 4 && g.h * g.w <= 16 && g.hwo <= 16
            && g.n >= 32 && g.c >= 64 && g.cout >= 64
    }

    /// Where input pixel (row, column) sits in the phase-major order, for every pixel of the map.
    static func phaseOrder(_ g: ConvGeometry) -> [Int] {
        var order = [Int](repeating: 0, count: g.h * g.w)
        var next = 0
        for a in 0..<g.sh { for b in 0..<g.sw {
            for r in stride(from: a, to: g.h, by: g.sh) { for c in stride(from: b, to: g.w, by: g.sw) { order[r * g.w + c] = next; next += 1 } }
        } }
        return order
    }

    /// A stretch of output pixels a tap reaches: output pixels [out, out+count) read input pixels [inp, inp+count).
    struct Run { let out: Int, inp: Int, count: Int }

    /// For each tap (i·kw + j), the output runs it reaches; input positions are in phase-major order
    /// (for stride 1, simply row-major).
    static func runs(_ g: ConvGeometry) -> [[Run]] {
        let order = phaseOrder(g)
        return (0..<g.kh * g.kw).map { t in
            let (i, j) = (t / g.kw, t % g.kw)
            var list: [Run] = []
            for r in 0..<g.ho {
                let ih = r * g.sh + i - g.ph
                guard ih >= 0 && ih < g.h else { continue }
                // output columns c with 0 ≤ c·sw + j − pw < W
                let c0 = Swift.max(0, (g.pw - j + g.sw - 1) / g.sw)
                let c1 = Swift.min(g.wo, (g.w + g.pw - j + g.sw - 1) / g.sw)
                if c1 > c0 { list.append(Run(out: r * g.wo + c0, inp: order[ih * g.w + c0 * g.sw + j - g.pw], count: c1 - c0)) }
            }
            return list
        }
    }

    /// NCHW [n][c][p] → [c][order[p]][n] (order: nil for the identity); channels split over threads.
    static func toPositionMajor(_ src: UnsafePointer<Float>, n: Int, c: Int, plane: Int, order: [Int]? = nil,
                                _ dst: UnsafeMutablePointer<Float>) {
        Threads.parallelFor(c, minPerThread: Swift.max(1, 16_384 / Swift.max(1, n * plane))) { chans in
            let tmp = order == nil ? nil : UnsafeMutablePointer<Float>.allocate(capacity: plane * n)
            defer { tmp?.deallocate() }
            for ch in chans {
                let out = dst + ch * plane * n
                guard let order, let tmp else { ck_transpose(src + ch * plane, n, plane, c * plane, out, n); continue }
                ck_transpose(src + ch * plane, n, plane, c * plane, tmp, n)
                for p in 0..<plane { (out + order[p] * n).update(from: tmp + p * n, count: n) }
            }
        }
    }

    /// [c][order[p]][n] → NCHW [n][c][p]; channels split over threads.
    static func fromPositionMajor(_ src: UnsafePointer<Float>, n: Int, c: Int, plane: Int, order: [Int]? = nil,
                                  _ dst: UnsafeMutablePointer<Float>) {
        Threads.parallelFor(c, minPerThread: Swift.max(1, 16_384 / Swift.max(1, n * plane))) { chans in
            let tmp = order == nil ? nil : UnsafeMutablePointer<Float>.allocate(capacity: plane * n)
            defer { tmp?.deallocate() }
            for ch in chans {
                var from = src + ch * plane * n
                if let order, let tmp {
                    for p in 0..<plane { (tmp + p * n).update(from: from + order[p] * n, count: n) }
                    from = UnsafePointer(tmp)
                }
                ck_transpose(from, plane, n, n, dst + ch * plane, c * plane)
            }
        }
    }

    /// The input's pixel order: phase-major for strided layers, nil (row-major) for stride 1.
    static func inputOrder(_ g: ConvGeometry) -> [Int]? { g.sh == 1 && g.sw == 1 ? nil : phaseOrder(g) }

    /// Splits `rows` output channels over threads on micro-kernel row multiples.
    static func splitRows(_ rows: Int, _ body: (Range<Int>) -> Void) {
        let blocks = (rows + 5) / 6
        Threads.parallelFor(blocks, minPerThread: 8) { r in body(r.lowerBound * 6..<Swift.min(rows, r.upperBound * 6)) }
    }

    /// out[m][p][n] = Σ_taps A_t[m][k] · in[k][p + offset][n] for the reached pixels: the forward pass
    /// (A_t = W[:, :, t], m = Cout, k = C) or, with `adjoint`, the input gradient (A_t = W[:, :, t]ᵀ,
    /// runs reversed). `out` is overwritten. Output rows go outermost, so each row's accumulators stay
    /// in cache while every tap adds into them.
    static func multiply(_ g: ConvGeometry, weight: UnsafePointer<Float>, adjoint: Bool, input: UnsafePointer<Float>,
                         output: UnsafeMutablePointer<Float>) {
        let taps = g.kh * g.kw, n = g.n
        let (m, k) = adjoint ? (g.c, g.cout) : (g.cout, g.c)
        let (inPixels, outPixels) = adjoint ? (g.hwo, g.h * g.w) : (g.h * g.w, g.hwo)
        let allRuns = runs(g)
        let rowRuns = (0..<g.ho).map { r in
            (0..<taps).flatMap { t in allRuns[t].filter { $0.out / g.wo == r }.map { (t, $0) } }
        }
        splitRows(m) { rows in
            let tapMatrices = UnsafeMutablePointer<Float>.allocate(capacity: taps * rows.count * k)
            defer { tapMatrices.deallocate() }
            for mm in rows { (output + mm * outPixels * n).update(repeating: 0, count: outPixels * n) }
            // this thread's rows of every tap's matrix ([taps][rows][k]), read from W in one pass
            let size = rows.count * k
            for (a, mm) in rows.enumerated() {
                for q in 0..<k {
                    // forward: row o = mm, column c = q; adjoint (Wᵀ): row c = mm, column o = q
                    let src = weight + (adjoint ? (q * g.c + mm) : (mm * g.c + q)) * taps
                    for t in 0..<taps { tapMatrices[t * size + a * k + q] = src[t] }
                }
            }
            let packed = (0..<taps).map { PackedA(transA: false, m: rows.count, k: k, a: tapMatrices + $0 * size, lda: k) }
            for list in rowRuns {
                for (t, run) in list {
                    let (src, dst) = adjoint ? (run.out, run.inp) : (run.inp, run.out)
                    packed[t].multiply(n: run.count * n, transB: false, b: input + src * n, ldb: inPixels * n,
                                       c: output + rows.lowerBound * outPixels * n + dst * n, ldc: outPixels * n, accumulate: true)
                }
            }
        }
    }

    /// dW[o][c][t] = Σ over reached pixels and images of dY[o][p][n] · X[c][p + offset][n].
    static func weightGradient(_ g: ConvGeometry, x: UnsafePointer<Float>, gy: UnsafePointer<Float>, gw: UnsafeMutablePointer<Float>) {
        let taps = g.kh * g.kw, n = g.n, inPixels = g.h * g.w
        let allRuns = runs(g)
        splitRows(g.cout) { rows in
            let tapGrad = UnsafeMutablePointer<Float>.allocate(capacity: rows.count * g.c)
            defer { tapGrad.deallocate() }
            for t in 0..<taps {
                var first = true
                for run in allRuns[t] {
                    GEMM.sgemmSingle(transA: false, transB: true, m: rows.count, n: g.c, k: run.count * n,
                                     a: gy + rows.lowerBound * g.hwo * n + run.out * n, lda: g.hwo * n,
                                     b: x + run.inp * n, ldb: inPixels * n, c: tapGrad, ldc: g.c, accumulate: !first)
                    first = false
                }
                if first { tapGrad.update(repeating: 0, count: rows.count * g.c) }
                for (a, o) in rows.enumerated() {
                    for c in 0..<g.c { gw[(o * g.c + c) * taps + t] = tapGrad[a * g.c + c] }
                }
            }
        }
    }
}
