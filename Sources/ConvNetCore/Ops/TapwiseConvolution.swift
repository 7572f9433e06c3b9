import CKernels

/// Convolutions on tiny feature maps (ResNet-18/96's last stage: 512 channels on 3×3) as one GEMM
/// per kernel tap over a position-major layout [channel][pixel][image].
///
/// im2col on a 3×3 map with padding 1 is 40% zeros (a corner output sees 4 of the 9 taps), and the
/// GEMM multiplies through them. Here tap (i, j) contributes W[:, :, i, j] · X[:, pixel + offset, :]
/// only for the output pixels it reaches; with the batch innermost, each output pixel is one
/// 64-column panel for a batch of 64, and a row of reachable pixels is one contiguous stretch of
/// both the input and the output. 49 of 81 multiply-adds remain; nothing is gathered.
enum TapwiseConv {
    /// Stride-1, undilated, single-group layers with ≥ 64 channels on maps of at most 16 pixels,
    /// with a batch that fills GEMM panels.
    static func applies(_ g: ConvGeometry) -> Bool {
        g.groups == 1 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.h * g.w <= 16 && g.hwo <= 16
            && g.n >= 32 && g.c >= 64 && g.cout >= 64
    }

    /// A stretch of output pixels a tap reaches: output pixels [out, out+count) read input pixels [inp, inp+count).
    struct Run { let out: Int, inp: Int, count: Int }

    /// For each tap (i·kw + j), the output runs it reaches.
    static func runs(_ g: ConvGeometry) -> [[Run]] {
        (0..<g.kh * g.kw).map { t in
            let (i, j) = (t / g.kw, t % g.kw)
            var list: [Run] = []
            for r in 0..<g.ho {
                let ih = r + i - g.ph
                guard ih >= 0 && ih < g.h else { continue }
                let c0 = Swift.max(0, g.pw - j), c1 = Swift.min(g.wo, g.w + g.pw - j)
                if c1 > c0 { list.append(Run(out: r * g.wo + c0, inp: ih * g.w + c0 + j - g.pw, count: c1 - c0)) }
            }
            return list
        }
    }

    /// NCHW [n][c][p] → [c][p][n].
    static func toPositionMajor(_ src: UnsafePointer<Float>, n: Int, c: Int, plane: Int, _ dst: UnsafeMutablePointer<Float>) {
        ck_transpose(src, n, c * plane, c * plane, dst, n)
    }

    /// [c][p][n] → NCHW [n][c][p].
    static func fromPositionMajor(_ src: UnsafePointer<Float>, n: Int, c: Int, plane: Int, _ dst: UnsafeMutablePointer<Float>) {
        ck_transpose(src, c * plane, n, n, dst, c * plane)
    }

    /// Splits `rows` output channels over threads on micro-kernel row multiples.
    static func splitRows(_ rows: Int, _ body: (Range<Int>) -> Void) {
        let blocks = (rows + 5) / 6
        Threads.parallelFor(blocks, minPerThread: 8) { r in body(r.lowerBound * 6..<Swift.min(rows, r.upperBound * 6)) }
    }

    /// out[m][p][n] = Σ_taps A_t[m][k] · in[k][p + offset][n] for the reached pixels: the forward pass
    /// (A_t = W[:, :, t], m = Cout, k = C) or, with `adjoint`, the input gradient (A_t = W[:, :, t]ᵀ,
    /// runs reversed). `out` is overwritten.
    static func multiply(_ g: ConvGeometry, weight: UnsafePointer<Float>, adjoint: Bool, input: UnsafePointer<Float>,
                         output: UnsafeMutablePointer<Float>) {
        let taps = g.kh * g.kw, n = g.n
        let (m, k) = adjoint ? (g.c, g.cout) : (g.cout, g.c)
        let (inPixels, outPixels) = adjoint ? (g.hwo, g.h * g.w) : (g.h * g.w, g.hwo)
        let allRuns = runs(g)
        splitRows(m) { rows in
            let tapMatrix = UnsafeMutablePointer<Float>.allocate(capacity: rows.count * k)
            defer { tapMatrix.deallocate() }
            for mm in rows { (output + mm * outPixels * n).update(repeating: 0, count: outPixels * n) }
            for t in 0..<taps {
                // this thread's rows of the tap's matrix, [rows × k]
                for (a, mm) in rows.enumerated() {
                    let dst = tapMatrix + a * k
                    if adjoint {
                        // Wᵀ: row c, column o = W[o][c][t]
                        for o in 0..<k { dst[o] = weight[(o * g.c + mm) * taps + t] }
                    } else {
                        for c in 0..<k { dst[c] = weight[(mm * g.c + c) * taps + t] }
                    }
                }
                let packed = PackedA(transA: false, m: rows.count, k: k, a: tapMatrix, lda: k)
                for run in allRuns[t] {
                    let (src, dst) = adjoint ? (run.out, run.inp) : (run.inp, run.out)
                    packed.multiply(n: run.count * n, transB: false, b: input + src * n, ldb: inPixels * n,
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
