import CKernels

extension ConvKernels {
    /// Floats of input rows (widened, or copied) one band holds: with the depthwise kernel's padded
    /// copy of a plane, its output rows and the packed weights it stays near a core's L2.
    static let bandFloats = 1 << 18

    /// Bands of output rows for `invertedResidual`: (the most rows a band has, band count), at least
    /// one band per thread; band b is rows [ho·b/count, ho·(b+1)/count), so a thread's bands hold
    /// as many rows as another's (56 rows as five bands of 10 and one of 6 gave one thread 30, the other 26).
    static func invertedResidualBands(_ p: InvertedResidualPlan, threads: Int) -> (rows: Int, count: Int) {
        let widenedRows = Swift.max(1, bandFloats / (p.e * p.w))
        var rows = Swift.min(p.ho, Swift.max(1, (widenedRows - p.kh) / p.s + 1))
        var count = (p.ho + rows - 1) / rows
        count = Swift.max(count, Swift.min(p.ho, (threads + p.n - 1) / p.n))
        rows = (p.ho + count - 1) / count
        return (rows, (p.ho + rows - 1) / rows)
    }

    /// y = project(depthwise(expand(x))) + residual band by band (see `conv2dInvertedResidual`): for
    /// each image and band of output rows, the input rows it reads are widened by the packed 1×1
    /// weights into a scratch buffer, with zero rows standing for the depthwise layer's vertical
    /// padding (without an expansion, it reads them where they lie); the depthwise kernel writes the band's rows of y
    /// from there, or, with a projection, into a second buffer that the packed projection weights
    /// multiply into y's rows (the residual added as they are stored). Bands run in parallel.
    static func invertedResidual(_ p: InvertedResidualPlan, x: UnsafePointer<Float>, expand: PackedA?, expandEpilogue: ck_epilogue,
                                 dwWeight: UnsafePointer<Float>, dwEpilogue: ck_epilogue, project: PackedA?,
                                 projectEpilogue: ck_epilogue, residual: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) {
        let (band, bands) = invertedResidualBands(p, threads: Threads.count)
        let maxRows = (band - 1) * p.s + p.kh
        let dwScratch = ck_conv_depthwise_padded_scratch(maxRows, p.w, p.kh, p.kw, p.ph, p.pw, p.s, p.wo)
        // (the packed weights' addresses taken here: read inside the region, the objects' shared
        // reference counts and fields were touched by both cores)
        let expand = expand?.pointer, project = project?.pointer
        Threads.parallelFor(p.n * bands) { r in
            let widened = expand == nil ? nil : ck_scratch(0, p.e * maxRows * p.w)!, scratch = ck_scratch(3, dwScratch)!
            let dwOut = project == nil ? nil : ck_scratch(1, p.e * band * p.wo)!
            var e1 = expandEpilogue, e2 = dwEpilogue
            for task in r {
                let (i, b) = (task / bands, task % bands)
                let o0 = p.ho * b / bands, o1 = p.ho * (b + 1) / bands, outRows = o1 - o0
                // input rows [a0, a1) feed output rows [o0, o1); those outside [0, h) are padding
                let a0 = o0 * p.s - p.ph, a1 = (o1 - 1) * p.s - p.ph + p.kh
                let v0 = Swift.max(0, a0), v1 = Swift.min(p.h, a1)
                let src = x + (i * p.c * p.h + v0) * p.w
                // the depthwise layer's input: the band's rows widened into scratch (zero rows for the
                // padding), or without an expansion the rows where they lie (the kernel pads)
                var dwIn = src, dwPlane = p.h * p.w, dwRows = v1 - v0, dwPad = v0 - a0
                if let expand, let widened {
                    let plane = (a1 - a0) * p.w
                    if v0 > a0 || v1 < a1 {
                        for ch in 0..<p.e {
                            let q = widened + ch * plane
                            q.update(repeating: 0, count: (Swift.min(v0, a1) - a0) * p.w)
                            if v1 < a1 { (q + (Swift.max(v1, a0) - a0) * p.w).update(repeating: 0, count: (a1 - Swift.max(v1, a0)) * p.w) }
                        }
                    }
                    if v1 > v0 {
                        ck_sgemm_packed(p.e, (v1 - v0) * p.w, p.c, expand, 0, src, p.h * p.w, widened + (v0 - a0) * p.w, plane, 0, &e1)
                    }
                    (dwIn, dwPlane, dwRows, dwPad) = (UnsafePointer(widened), plane, a1 - a0, 0)
                }
                let yBand = y + (i * p.cout * p.ho + o0) * p.wo
                guard let project, let dwOut else {
                    ck_conv_depthwise_padded(dwIn, dwPlane, 0, p.e, p.e, dwRows, p.w, dwWeight, p.kh, p.kw, p.s, dwPad, p.pw, outRows, p.wo,
                                             &e2, yBand, p.ho * p.wo, scratch)
                    continue
                }
                ck_conv_depthwise_padded(dwIn, dwPlane, 0, p.e, p.e, dwRows, p.w, dwWeight, p.kh, p.kw, p.s, dwPad, p.pw, outRows, p.wo,
                                         &e2, dwOut, outRows * p.wo, scratch)
                var e3 = projectEpilogue
                e3.residual = residual.map { $0 + (i * p.cout * p.ho + o0) * p.wo }
                ck_sgemm_packed(p.cout, outRows * p.wo, p.e, project, 0, dwOut, outRows * p.wo, yBand, p.ho * p.wo, 0, &e3)
            }
        }
    }

    /// depthwise(expand(x)) for one image (see `expandedDepthwiseByChannels`): each thread takes
    /// whole 6-row panels of the packed expansion weights, widens those channels into `widened`, then
    /// runs the depthwise kernel on the same channels into y.
    static func expandedDepthwiseByChannels(_ p: InvertedResidualPlan, x: UnsafePointer<Float>, expand: PackedA,
                                            expandEpilogue: ck_epilogue, dwWeight: UnsafePointer<Float>, dwEpilogue: ck_epilogue,
                                            widened: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>) {
        let hw = p.h * p.w, scratch = ck_conv_depthwise_padded_scratch(p.h, p.w, p.kh, p.kw, p.ph, p.pw, p.s, p.wo)
        let expand = expand.pointer
        Threads.parallelFor((p.e + 5) / 6) { r in
            var e1 = expandEpilogue, e2 = dwEpilogue
            let c0 = r.lowerBound * 6, c1 = Swift.min(p.e, r.upperBound * 6)
            ck_sgemm_packed_rows(p.e, c0, c1, hw, p.c, expand, 0, x, hw, widened, hw, 0, &e1)
            ck_conv_depthwise_padded(widened, hw, c0, c1, p.e, p.h, p.w, dwWeight, p.kh, p.kw, p.s, p.ph, p.pw, p.ho, p.wo, &e2, y,
                                     p.ho * p.wo, ck_scratch(3, scratch))
        }
    }
}
