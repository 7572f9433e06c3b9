import ConvNet
import Foundation
import Testing

/// The direct definition of a grouped, dilated, strided, padded cross-correlation.
func referenceConv(_ x: Tensor, _ w: Tensor, bias: Tensor?, stride: (Int, Int), padding: (Int, Int),
                   dilation: (Int, Int), groups: Int) -> Tensor {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (co, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    let ho = (h + 2 * padding.0 - dilation.0 * (kh - 1) - 1) / stride.0 + 1
    let wo = (wd + 2 * padding.1 - dilation.1 * (kw - 1) - 1) / stride.1 + 1
    var out = [Float](repeating: 0, count: n * co * ho * wo)
    let xs = x.scalars, ws = w.scalars, bs = bias?.scalars
    let coG = co / groups
    _ = c
    for b in 0..<n { for o in 0..<co { for i in 0..<ho { for j in 0..<wo {
        var s: Double = Double(bs?[o] ?? 0)
        let g = o / coG
        for ci in 0..<cg { for p in 0..<kh { for q in 0..<kw {
            let ih = i * stride.0 - padding.0 + p * dilation.0, iw = j * stride.1 - padding.1 + q * dilation.1
            if ih < 0 || ih >= h || iw < 0 || iw >= wd { continue }
            let cin = g * cg + ci
            s += Double(xs[((b * x.shape[1] + cin) * h + ih) * wd + iw]) * Double(ws[((o * cg + ci) * kh + p) * kw + q])
        } } }
        out[((b * co + o) * ho + i) * wo + j] = Float(s)
    } } } }
    return Tensor(shape: [n, co, ho, wo], scalars: out)
}

/// The worst relative error of conv2d's input, weight and bias gradients against their definitions
/// (summed in double) for upstream gradient `g`; stride and padding are square, no dilation.
func convGradientError(x: Tensor, w: Tensor, b: Tensor, g: Tensor, stride: Int, pad: Int, groups: Int) -> Double {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (cout, cg, k) = (w.shape[0], w.shape[1], w.shape[2])
    let (ho, wo, coutG) = (g.shape[2], g.shape[3], cout / groups)
    let xs = x.scalars, ws = w.scalars, gs = g.scalars
    let (gx, gw, gb) = (x.grad!.scalars, w.grad!.scalars, b.grad!.scalars)
    var worst: Double = 0
    func note(_ want: Double, _ got: Float) { worst = max(worst, abs(want - Double(got)) / max(1, abs(want))) }
    for bi in 0..<n { for ci in 0..<c { for ih in 0..<h { for iw in 0..<wd {
        let gr = ci / cg
        var s: Double = 0
        for o in gr * coutG..<(gr + 1) * coutG { for p in 0..<k { for q in 0..<k {
            let (ohs, ows) = (ih + pad - p, iw + pad - q)
            if ohs < 0 || ows < 0 || ohs % stride != 0 || ows % stride != 0 { continue }
            let oh = ohs / stride, ow = ows / stride
            if oh >= ho || ow >= wo { continue }
            s += Double(gs[((bi * cout + o) * ho + oh) * wo + ow]) * Double(ws[((o * cg + ci % cg) * k + p) * k + q])
        } } }
        note(s, gx[((bi * c + ci) * h + ih) * wd + iw])
    } } } }
    for o in 0..<cout {
        let gr = o / coutG
        var sb: Double = 0
        for bi in 0..<n { for p in 0..<ho * wo { sb += Double(gs[(bi * cout + o) * ho * wo + p]) } }
        note(sb, gb[o])
        for cl in 0..<cg { for p in 0..<k { for q in 0..<k {
            var s: Double = 0
            for bi in 0..<n { for i in 0..<ho { for j in 0..<wo {
                let ih = i * stride + p - pad, iw = j * stride + q - pad
                if ih < 0 || ih >= h || iw < 0 || iw >= wd { continue }
                s += Double(gs[((bi * cout + o) * ho + i) * wo + j]) * Double(xs[((bi * c + gr * cg + cl) * h + ih) * wd + iw])
            } } }
            note(s, gw[((o * cg + cl) * k + p) * k + q])
        } } }
    }
    return worst
}

@Suite(.serialized) struct ConvReferenceTests {
    @Test(arguments: 0..<12)
    func randomConvMatchesDirectLoop(_ trial: Int) {
        let gen = Generator(seed: UInt64(1000 + trial))
        let groups = [1, 1, 2, 3][gen.nextInt(below: 4)]
        let cg = 1 + gen.nextInt(below: 3), coG = 1 + gen.nextInt(below: 3)
        let kh = 1 + gen.nextInt(below: 4), kw = 1 + gen.nextInt(below: 4)
        let stride = (1 + gen.nextInt(below: 3), 1 + gen.nextInt(below: 3))
        let dilation = (1 + gen.nextInt(below: 2), 1 + gen.nextInt(below: 2))
        let padding = (gen.nextInt(below: 3), gen.nextInt(below: 3))
        let h = dilation.0 * (kh - 1) + 1 + gen.nextInt(below: 8), w = dilation.1 * (kw - 1) + 1 + gen.nextInt(below: 8)
        let n = 1 + gen.nextInt(below: 3)
        let x = Tensor.randn([n, cg * groups, h, w], generator: gen)
        let wt = Tensor.randn([coG * groups, cg, kh, kw], generator: gen)
        let b = Tensor.randn([coG * groups], generator: gen)
        let got = conv2d(x, wt, bias: b, stride: Size2(stride.0, stride.1), padding: .pair(padding.0, padding.1),
                         dilation: Size2(dilation.0, dilation.1), groups: groups)
        let want = referenceConv(x, wt, bias: b, stride: stride, padding: padding, dilation: dilation, groups: groups)
        expectClose(got, want, rtol: 1e-4, atol: 1e-4, "trial \(trial)")
    }

    /// Depthwise layers with equal strides of 1 or 2 take the flattened-plane kernel (AVX-512):
    /// output rows ≥ 12 wide computed in place, 1–4 vectors at a time, narrower maps flattened and
    /// compressed; kernels 1–7 wide, odd and even sizes, paddings up to and past the kernel. Small
    /// 3×3 maps with padding 1 are read where they lie: at stride 1 flattened, each tap's lanes
    /// masked at the map's edges (up to 128 vectors a plane: 45×45; planes too small for the plain
    /// loads' reach, 3×3, go the padded way), at stride 2 row by row through permutes, two rows to
    /// a vector up to 16 wide, one up to 32 (odd sides: the padding column and row on the right
    /// and bottom). 3×3 planes at least 48 wide and a multiple of 16 (padding 1) walk their rows in
    /// aligned vectors, two output rows at a time (odd heights leave one). Other 3×3 planes at
    /// least 48 wide are read in place, four output rows
    /// at a time (fewer at the bottom), edge columns through masked loads; at stride 2 the even, odd
    /// and shifted even columns are picked by permutes (paddings 0–2, odd and even widths).
    @Test(arguments: [(16, 7, 7, 3, 3, 1, 1), (40, 14, 14, 3, 3, 1, 1), (32, 7, 7, 3, 3, 2, 1),
                      (48, 14, 14, 3, 3, 2, 1), (24, 13, 11, 3, 3, 1, 1), (16, 28, 28, 3, 3, 2, 1), (32, 5, 3, 3, 3, 1, 0),
                      (16, 4, 5, 3, 3, 2, 2), (4, 50, 48, 3, 3, 1, 1), (3, 7, 61, 3, 3, 1, 2), (2, 5, 64, 3, 3, 1, 0), (20, 28, 28, 3, 3, 1, 1), (8, 112, 112, 3, 3, 1, 1), (6, 113, 57, 3, 3, 2, 1),
                      (5, 56, 56, 3, 3, 2, 1), (33, 9, 11, 5, 3, 2, 0), (17, 6, 6, 7, 7, 1, 3), (3, 30, 23, 1, 5, 1, 2),
                      (4, 31, 40, 4, 2, 2, 2), (7, 12, 75, 3, 3, 1, 1), (5, 20, 32, 3, 3, 1, 1), (3, 9, 96, 5, 5, 1, 2),
                      (3, 21, 50, 3, 3, 2, 0), (2, 9, 97, 3, 3, 2, 2), (4, 64, 64, 3, 3, 2, 1),
                      (6, 15, 15, 3, 3, 2, 1), (5, 13, 11, 3, 3, 2, 1), (4, 9, 31, 3, 3, 2, 1), (5, 17, 16, 3, 3, 2, 1),
                      (5, 6, 17, 3, 3, 2, 1), (9, 2, 2, 3, 3, 2, 1), (3, 45, 45, 3, 3, 1, 1), (7, 3, 3, 3, 3, 1, 1),
                      (4, 2, 40, 3, 3, 1, 1), (3, 47, 9, 3, 3, 1, 1),
                      (3, 33, 64, 3, 3, 2, 1), (3, 48, 48, 3, 3, 2, 1), (2, 7, 96, 3, 3, 1, 1), (2, 9, 80, 3, 3, 1, 1)])
    func flattenedDepthwiseMatchesDirectLoop(_ c: Int, _ h: Int, _ w: Int, _ kh: Int, _ kw: Int, _ stride: Int, _ pad: Int) {
        let gen = Generator(seed: UInt64(2100 + c + h * 7 + w * 3 + kh))
        let x = Tensor.randn([2, c, h, w], generator: gen), wt = Tensor.randn([c, 1, kh, kw], generator: gen)
        let b: Tensor? = c % 2 == 0 ? Tensor.randn([c], generator: gen) : nil
        withContext({ $0.threads = 2 }) {
            let got = withNoGrad { conv2d(x, wt, bias: b, stride: stride, padding: pad, groups: c) }
            let want = referenceConv(x, wt, bias: b, stride: (stride, stride), padding: (pad, pad), dilation: (1, 1), groups: c)
            expectClose(got, want, rtol: 1e-4, atol: 1e-4, "\(c) channels, \(kh)×\(kw)/\(stride) pad \(pad) on \(h)×\(w)")
        }
    }

    @Test(arguments: 0..<10)
    func depthwiseConvMatchesDirectLoop(_ trial: Int) {
        // groups = channels = outputs (MobileNet's layers) take the depthwise kernel: random sizes,
        // strides, dilations and paddings, including windows that hang over both edges
        let gen = Generator(seed: UInt64(2000 + trial))
        let c = 1 + gen.nextInt(below: 20), kh = 1 + gen.nextInt(below: 5), kw = 1 + gen.nextInt(below: 5)
        let stride = (1 + gen.nextInt(below: 3), 1 + gen.nextInt(below: 3))
        let dilation = (1 + gen.nextInt(below: 2), 1 + gen.nextInt(below: 2))
        let padding = (gen.nextInt(below: 4), gen.nextInt(below: 4))
        let h = dilation.0 * (kh - 1) + 1 + gen.nextInt(below: 20), w = dilation.1 * (kw - 1) + 1 + gen.nextInt(below: 20)
        let n = 1 + gen.nextInt(below: 3)
        let x = Tensor.randn([n, c, h, w], generator: gen), wt = Tensor.randn([c, 1, kh, kw], generator: gen)
        let b: Tensor? = trial % 3 == 0 ? nil : Tensor.randn([c], generator: gen)
        let got = conv2d(x, wt, bias: b, stride: Size2(stride.0, stride.1), padding: .pair(padding.0, padding.1),
                         dilation: Size2(dilation.0, dilation.1), groups: c)
        let want = referenceConv(x, wt, bias: b, stride: stride, padding: padding, dilation: dilation, groups: c)
        expectClose(got, want, rtol: 1e-4, atol: 1e-4, "trial \(trial): \(c) channels, \(kh)×\(kw), stride \(stride), dilation \(dilation), pad \(padding), \(h)×\(w)")
    }

    @Test func largeBatchUsesThreadsAndAgrees() {
        // more images than threads exercises the per-image parallel path and weight-gradient reduction
        let x = param([9, 5, 11, 10], seed: 40), w = param([7, 5, 3, 3], seed: 41), b = param([7], seed: 42)
        let y = conv2d(x, w, bias: b, stride: 1, padding: 1)
        expectClose(y, referenceConv(x, w, bias: b, stride: (1, 1), padding: (1, 1), dilation: (1, 1), groups: 1), rtol: 1e-4, atol: 1e-4)
        let g = Tensor.randn(y.shape)
        y.backward(g)
        // weight gradient against a direct sum: dW[o,c,p,q] = Σ g[n,o,i,j]·x[n,c,i+p-1,j+q-1]
        let gw = w.grad!
        let xs = x.scalars, gs = g.scalars
        for (o, c, p, q) in [(0, 0, 0, 0), (3, 2, 1, 2), (6, 4, 2, 1)] {
            var s: Double = 0
            for n in 0..<9 { for i in 0..<11 { for j in 0..<10 {
                let ih = i + p - 1, iw = j + q - 1
                if ih < 0 || ih >= 11 || iw < 0 || iw >= 10 { continue }
                s += Double(gs[((n * 7 + o) * 11 + i) * 10 + j]) * Double(xs[((n * 5 + c) * 11 + ih) * 10 + iw])
            } } }
            #expect(abs(Float(s) - gw.data[((o * 5 + c) * 3 + p) * 3 + q]) < 1e-3 * max(1, abs(Float(s))))
        }
        let gb = b.grad!
        for o in 0..<7 {
            var s: Float = 0
            for n in 0..<9 { for k in 0..<110 { s += gs[(n * 7 + o) * 110 + k] } }
            #expect(abs(s - gb.data[o]) < 1e-3 * max(1, abs(s)))
        }
    }

    @Test(arguments: [0, 1, 2])
    func gemmMatchesNaiveOnEveryISA(_ level: Int) {
        withContext({ $0.isaCap = level }) { gemmMatchesNaive(used: min(level, ["portable", "avx2", "avx512"].firstIndex(of: GEMM.isa) ?? 0)) }
    }

    func gemmMatchesNaive(used: Int) {
        for (m, n, k) in [(1, 1, 1), (7, 13, 5), (6, 64, 384), (13, 130, 400), (100, 70, 33), (97, 3100, 20), (200, 300, 800)] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let a = Tensor.randn(ta ? [k, m] : [m, k]), b = Tensor.randn(tb ? [n, k] : [k, n])
                let c = Tensor.full([m, n], 1)
                GEMM.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, a: a.data, lda: ta ? m : k, b: b.data, ldb: tb ? k : n,
                           c: c.data, ldc: n, accumulate: true)
                let A = (ta ? a.T : a).contiguous(), B = (tb ? b.T : b).contiguous()
                let want = (A.matmul(B) + 1).scalars
                // compare against a double-precision dot product for a few entries
                for (i, j) in [(0, 0), (m - 1, n - 1), (m / 2, n / 3)] {
                    var s: Double = 1
                    for p in 0..<k { s += Double(A.data[i * k + p]) * Double(B.data[p * n + j]) }
                    #expect(abs(Double(c.data[i * n + j]) - s) < 1e-3 * max(1, abs(s)), "ISA \(used) \(m)×\(n)×\(k) t\(ta)\(tb)")
                }
                #expect(want.count == c.count)
            }
        }
    }
}

/// The GEMM reads a small right operand in place (AVX-512), a row per step: a panel's last vector
/// loads only its columns, so a B that ends where unmapped memory begins (a guard page) is never
/// read past, whatever its width; the products match double-precision dot products.
@Test(arguments: [(6, 49, 7), (13, 196, 33), (5, 3, 2), (20, 64, 9), (7, 100, 1)])
func gemmReadsBWithinItsBounds(_ m: Int, _ n: Int, _ k: Int) throws {
    let page = Int(sysconf(Int32(_SC_PAGESIZE))), bytes = k * n * 4
    let span = (bytes + page - 1) / page * page
    let base = try #require(mmap(nil, span + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
    #expect(base != MAP_FAILED)
    defer { munmap(base, span + page) }
    #expect(mprotect(base + span, page, PROT_NONE) == 0)
    let b = (base + span - bytes).bindMemory(to: Float.self, capacity: k * n)   // B's last float touches the guard page
    let gen = Generator(seed: UInt64(m * 1000 + n * 10 + k))
    let a = Tensor.randn([m, k], generator: gen), bValues = Tensor.randn([k, n], generator: gen).scalars
    for i in 0..<(k * n) { b[i] = bValues[i] }
    let c = Tensor.zeros([m, n])
    GEMM.sgemmSingle(transA: false, transB: false, m: m, n: n, k: k, a: a.data, lda: k, b: b, ldb: n, c: c.data, ldc: n,
                     accumulate: false)
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k { s += Double(a.data[i * k + p]) * Double(b[p * n + j]) }
            #expect(abs(Double(c.data[i * n + j]) - s) < 1e-4 * max(1, abs(s)), "\(m)×\(n)×\(k) at (\(i), \(j))")
        }
    }
}

/// A packed left operand shared by several products gives the same result as packing each time.
@Suite struct PackedGEMMTests {
    @Test(arguments: [false, true])
    func packedMatchesPlain(_ transA: Bool) {
        let (m, k) = (150, 900)
        let a = Tensor.randn(transA ? [k, m] : [m, k])
        let packed = PackedA(transA: transA, m: m, k: k, a: a.data, lda: transA ? m : k)
        for (n, transB) in [(70, false), (333, true), (1, false)] {
            let b = Tensor.randn(transB ? [n, k] : [k, n])
            let c1 = Tensor.zeros([m, n]), c2 = Tensor.zeros([m, n])
            packed.multiplyThreaded(n: n, transB: transB, b: b.data, ldb: transB ? k : n, c: c1.data, ldc: n, accumulate: false)
            GEMM.sgemmSingle(transA: transA, transB: transB, m: m, n: n, k: k, a: a.data, lda: transA ? m : k,
                             b: b.data, ldb: transB ? k : n, c: c2.data, ldc: n, accumulate: false)
            #expect(c1.scalars == c2.scalars, "n \(n) transB \(transB)")
        }
    }
}

/// A linear layer on a few samples (batch-1 inference) streams its weight rows as dot products, the
/// rows split over threads: against dot products in double, for 1–4 samples (the one-vector kernel
/// and the four-row one), inputs whose length is not a multiple of 16, and the GEMM path at 5.
@Test func fewSampleLinearMatchesDotProducts() {
    Tensor.manualSeed(21)
    let (inF, outF) = (1300, 521)
    let weight = Tensor.randn([outF, inF]), bias = Tensor.randn([outF])
    for rows in [1, 2, 3, 4, 5] {
        let x = Tensor.randn([rows, inF])
        let y = withContext({ $0.threads = 2 }) { withNoGrad { linear(x, weight, bias: bias) } }
        let (w, xs, b, ys) = (weight.scalars, x.scalars, bias.scalars, y.scalars)
        var worst: Float = 0
        for r in 0..<rows {
            for o in 0..<outF {
                var dot = Double(b[o]), size = abs(Double(b[o]))
                for k in 0..<inF { dot += Double(w[o * inF + k]) * Double(xs[r * inF + k]); size += abs(Double(w[o * inF + k]) * Double(xs[r * inF + k])) }
                // float32 rounding grows with the terms' magnitudes, not with their (cancelling) sum
                worst = max(worst, abs(ys[r * outF + o] - Float(dot)) / Float(size))
            }
        }
        #expect(worst <= 1e-5, "\(rows) samples: error \(worst) of the terms' magnitudes")
    }
}

/// Pooling against the definition on random shapes (every fast path and the general one).
@Suite struct PoolReferenceTests {
    func referenceMaxPool(_ x: Tensor, k: (Int, Int), s: (Int, Int), p: (Int, Int), d: (Int, Int), ceil: Bool) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let ho = convOutputSize(h, kernel: k.0, stride: s.0, padding: p.0, dilation: d.0, ceilMode: ceil)
        let wo = convOutputSize(w, kernel: k.1, stride: s.1, padding: p.1, dilation: d.1, ceilMode: ceil)
        var out: [Float] = []
        let xs = x.scalars
        for plane in 0..<(n * c) { for i in 0..<ho { for j in 0..<wo {
            var best = -Float.infinity
            for a in 0..<k.0 { for b in 0..<k.1 {
                let ih = i * s.0 - p.0 + a * d.0, iw = j * s.1 - p.1 + b * d.1
                if ih >= 0 && ih < h && iw >= 0 && iw < w { best = max(best, xs[plane * h * w + ih * w + iw]) }
            } }
            out.append(best)
        } } }
        return Tensor(shape: [n, c, ho, wo], scalars: out)
    }

    @Test(arguments: 0..<10)
    func randomMaxPoolMatchesDefinition(_ trial: Int) {
        let g = Generator(seed: UInt64(500 + trial))
        let k = (1 + g.nextInt(below: 3), 1 + g.nextInt(below: 3))
        let s = trial < 3 ? k : (1 + g.nextInt(below: 2), 1 + g.nextInt(below: 3))
        let p = (g.nextInt(below: k.0 / 2 + 1), g.nextInt(below: k.1 / 2 + 1))
        let d = trial % 4 == 3 ? (2, 1) : (1, 1)
        let ceil = trial % 2 == 1
        let x = Tensor.randn([2, 3, 5 + g.nextInt(below: 9), 5 + g.nextInt(below: 9)], generator: g)
        let got = maxPool2d(x, kernelSize: Size2(k.0, k.1), stride: Size2(s.0, s.1), padding: Size2(p.0, p.1),
                            dilation: Size2(d.0, d.1), ceilMode: ceil)
        #expect(got.scalars == referenceMaxPool(x, k: k, s: s, p: p, d: d, ceil: ceil).scalars, "trial \(trial)")
        let two = Tensor.randn([3, 2, 8, 6], generator: g)
        #expect(maxPool2d(two, kernelSize: 2).scalars == referenceMaxPool(two, k: (2, 2), s: (2, 2), p: (0, 0), d: (1, 1), ceil: false).scalars)
    }

    @Test func windowsOfMinusInfinityRouteTheGradientInsideTheWindow() {
        let x = Tensor(shape: [1, 1, 5, 5], repeating: -.infinity)
        x.requiresGrad = true
        let y = maxPool2d(x, kernelSize: 3, stride: 2, padding: 1)
        #expect(y.scalars.allSatisfy { $0 == -.infinity })
        y.sum().backward()
        // every window sends its gradient to one element inside the input
        #expect(x.grad!.scalars.reduce(0, +) == Float(y.count))
    }

    /// 2×2/2 pooling runs 16 windows per vector: rows with full vectors and a tail, values drawn from
    /// a few integers (ties everywhere: the first maximum in window order wins), a NaN mid-row.
    @Test func twoByTwoVectorRowsMatchDefinitionWithTiesAndNaN() {
        let g = Generator(seed: 4242)
        let (h, w) = (6, 2 * 37)
        var v = (0..<(2 * 3 * h * w)).map { _ in Float(g.nextInt(below: 4)) }
        v[h * w + 2 * w + 41] = .nan
        let x = Tensor(shape: [2, 3, h, w], scalars: v)
        x.requiresGrad = true
        let y = maxPool2d(x, kernelSize: 2)
        y.backward(Tensor.ones(y.shape))
        // each window's value and gradient come from its first maximum (or its NaN) in row-major order
        var values: [Float] = [], expected = [Float](repeating: 0, count: v.count)
        for plane in 0..<6 { for oh in 0..<(h / 2) { for ow in 0..<(w / 2) {
            var best = -Float.infinity, arg = -1
            for (i, j) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                let k = plane * h * w + (2 * oh + i) * w + 2 * ow + j
                if v[k].isNaN { arg = k; break }
                if arg < 0 || v[k] > best { best = v[k]; arg = k }
            }
            values.append(v[arg])
            expected[arg] += 1
        } } }
        #expect(zip(y.scalars, values).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) })
        #expect(y.scalars.filter(\.isNaN).count == 1)
        #expect(x.grad!.scalars == expected)
    }

    /// Planes at most 16 wide run one register per row: values and gradient routing against a scan
    /// in window order (the first maximum wins), with ties everywhere, strides 1–2 and padding.
    @Test(arguments: [(3, 1, 1, 12, 12), (3, 2, 1, 12, 12), (3, 1, 1, 3, 3), (3, 2, 1, 6, 6), (2, 2, 0, 9, 16), (3, 1, 0, 7, 5)])
    func smallPlanesMatchWindowScan(_ k: Int, _ s: Int, _ p: Int, _ h: Int, _ w: Int) {
        let gen = Generator(seed: UInt64(8100 + k * 7 + s * 3 + h + w))
        let v = (0..<(3 * h * w)).map { _ in Float(gen.nextInt(below: 3)) }
        let x = Tensor(shape: [1, 3, h, w], scalars: v)
        x.requiresGrad = true
        let y = maxPool2d(x, kernelSize: Size2(k), stride: Size2(s), padding: Size2(p))
        y.backward(Tensor.ones(y.shape))
        let (ho, wo) = (y.shape[2], y.shape[3])
        var values: [Float] = [], expected = [Float](repeating: 0, count: v.count)
        for plane in 0..<3 { for oh in 0..<ho { for ow in 0..<wo {
            var best = -Float.infinity, arg = -1
            for i in 0..<k { for j in 0..<k {
                let ih = oh * s - p + i, iw = ow * s - p + j
                guard ih >= 0 && ih < h && iw >= 0 && iw < w else { continue }
                let idx = plane * h * w + ih * w + iw
                if arg < 0 || v[idx] > best { best = v[idx]; arg = idx }
            } }
            values.append(best)
            expected[arg] += 1
        } } }
        #expect(y.scalars == values, "values k \(k)/\(s) pad \(p) on \(h)×\(w)")
        #expect(x.grad!.scalars == expected, "gradient routing k \(k)/\(s) pad \(p) on \(h)×\(w)")
    }

    /// Inference pooling of small planes walks many planes as one flat array (16 positions per
    /// vector across plane boundaries, in chunks of planes); wider planes reduce each output row's
    /// window rows, then along the row: values against the definition, with NaN propagated from
    /// anywhere in a window.
    @Test(arguments: [(3, 1, 1, 6, 6), (3, 2, 1, 12, 12), (3, 1, 1, 3, 3), (3, 2, 1, 6, 6), (2, 1, 0, 9, 16), (3, 2, 0, 16, 16),
                      (5, 1, 2, 7, 9), (1, 1, 0, 5, 3), (3, 2, 1, 16, 16), (3, 2, 1, 48, 48), (3, 1, 1, 20, 30), (2, 2, 0, 33, 17)])
    func valuesOnlyManyPlanesMatchDefinition(_ k: Int, _ s: Int, _ p: Int, _ h: Int, _ w: Int) {
        let gen = Generator(seed: UInt64(8300 + k * 11 + s * 5 + h * 3 + w))
        var v = Tensor.randn([3, 50, h, w], generator: gen).scalars
        for _ in 0..<5 { v[gen.nextInt(below: v.count)] = .nan }
        let x = Tensor(shape: [3, 50, h, w], scalars: v)
        let y = withNoGrad { maxPool2d(x, kernelSize: Size2(k), stride: Size2(s), padding: Size2(p)) }
        let (ho, wo) = (y.shape[2], y.shape[3])
        var want: [Float] = []
        for plane in 0..<150 { for oh in 0..<ho { for ow in 0..<wo {
            var best = -Float.infinity
            for i in 0..<k { for j in 0..<k {
                let ih = oh * s - p + i, iw = ow * s - p + j
                guard ih >= 0 && ih < h && iw >= 0 && iw < w else { continue }
                let e = v[plane * h * w + ih * w + iw]
                if e.isNaN || best.isNaN { best = .nan } else { best = Swift.max(best, e) }
            } }
            want.append(best)
        } } }
        let got = y.scalars
        #expect(got.count == want.count)
        #expect(zip(got, want).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }, "k \(k)/\(s) pad \(p) on \(h)×\(w)")
    }

    @Test func maxPoolPropagatesNaN() {
        var v = (0..<16).map(Float.init)
        v[5] = .nan
        let x = Tensor(shape: [1, 1, 4, 4], scalars: v)
        let a = maxPool2d(x, kernelSize: 2).scalars
        #expect(a[0].isNaN && a[1] == 7 && a[3] == 15)
        let b = maxPool2d(x, kernelSize: 3, stride: 1, padding: 1).scalars
        #expect(b[0].isNaN && b[10].isNaN && b[15] == 15 && b[3] == 7)
    }
}

/// The direct kernel for 4–16 output channels (stride 1) against the definition.
@Suite struct DirectConvTests {
    @Test(arguments: 0..<8)
    func narrowLayersMatchDirectLoop(_ trial: Int) {
        let g = Generator(seed: UInt64(900 + trial))
        let cout = 4 + g.nextInt(below: 13), c = 1 + g.nextInt(below: 7)
        let kh = 1 + g.nextInt(below: 5), kw = 1 + g.nextInt(below: 5)
        let pad = (g.nextInt(below: 3), g.nextInt(below: 3))
        let h = kh + g.nextInt(below: 12), w = kw + g.nextInt(below: 20)
        let x = Tensor.randn([1 + g.nextInt(below: 5), c, h, w], generator: g)
        let wt = Tensor.randn([cout, c, kh, kw], generator: g), b = Tensor.randn([cout], generator: g)
        let got = conv2d(x, wt, bias: trial % 2 == 0 ? b : nil, stride: Size2(1), padding: .pair(pad.0, pad.1))
        let want = referenceConv(x, wt, bias: trial % 2 == 0 ? b : nil, stride: (1, 1), padding: pad, dilation: (1, 1), groups: 1)
        expectClose(got, want, rtol: 1e-4, atol: 1e-4, "trial \(trial): cout \(cout) c \(c) k \(kh)×\(kw) pad \(pad) in \(h)×\(w)")
    }
}

extension DirectConvTests {
    /// dW[o,c,p,q] = Σ g[n,o,i,j]·x[n,c,i+p−ph,j+q−pw], summed in double, for narrow layers (direct path).
    @Test(arguments: 0..<6)
    func narrowWeightGradientMatchesDefinition(_ trial: Int) {
        let gen = Generator(seed: UInt64(1300 + trial))
        let cout = 1 + gen.nextInt(below: 16), c = 1 + gen.nextInt(below: 4)
        let k = (1 + gen.nextInt(below: 5), 1 + gen.nextInt(below: 5)), pad = (gen.nextInt(below: 3), gen.nextInt(below: 3))
        let (n, h, w) = (1 + gen.nextInt(below: 6), k.0 + gen.nextInt(below: 9), k.1 + gen.nextInt(below: trial < 3 ? 9 : 40))
        let x = Tensor.randn([n, c, h, w], generator: gen)
        let wt = Tensor.randn([cout, c, k.0, k.1], generator: gen); wt.requiresGrad = true
        let y = conv2d(x, wt, stride: Size2(1), padding: .pair(pad.0, pad.1))
        let g = Tensor.randn(y.shape, generator: gen)
        y.backward(g)
        let (ho, wo) = (y.shape[2], y.shape[3])
        let xs = x.scalars, gs = g.scalars, gw = wt.grad!.scalars
        var worst: Double = 0
        for o in 0..<cout { for ci in 0..<c { for p in 0..<k.0 { for q in 0..<k.1 {
            var s: Double = 0
            for b in 0..<n { for i in 0..<ho { for j in 0..<wo {
                let ih = i + p - pad.0, iw = j + q - pad.1
                if ih < 0 || ih >= h || iw < 0 || iw >= w { continue }
                s += Double(gs[((b * cout + o) * ho + i) * wo + j]) * Double(xs[((b * c + ci) * h + ih) * w + iw])
            } } }
            worst = max(worst, abs(s - Double(gw[((o * c + ci) * k.0 + p) * k.1 + q])) / max(1, abs(s)))
        } } } }
        #expect(worst < 1e-4, "trial \(trial): cout \(cout) c \(c) k \(k) pad \(pad) in \(h)×\(w), worst relative error \(worst)")
    }
}

/// Layers whose GEMM gathers im2col columns straight from the input (strided or ≥ 48 pixels wide; odd
/// and even widths for the stride-2 column split), and strided layers with a full panel of output
/// channels, whose weight gradient goes through a column buffer instead.
@Suite struct GatheredColumnsTests {
    @Test(arguments: [(1, 60, 20), (2, 31, 24), (3, 40, 17), (2, 31, 70), (2, 20, 64)])
    func forwardAndWeightGradientMatchDefinition(_ stride: Int, _ width: Int, _ cout: Int) {
        let gen = Generator(seed: UInt64(stride * 100 + width))
        let (n, c, h, k, pad) = (3, 3, 6, 3, 1)
        let x = Tensor.randn([n, c, h, width], generator: gen)
        let w = Tensor.randn([cout, c, k, k], generator: gen); w.requiresGrad = true
        let y = conv2d(x, w, stride: Size2(stride), padding: .pair(pad, pad))
        expectClose(y, referenceConv(x, w, bias: nil, stride: (stride, stride), padding: (pad, pad), dilation: (1, 1), groups: 1),
                    rtol: 1e-4, atol: 1e-4, "stride \(stride) width \(width)")
        let g = Tensor.randn(y.shape, generator: gen)
        y.backward(g)
        let (ho, wo) = (y.shape[2], y.shape[3])
        let xs = x.scalars, gs = g.scalars, gw = w.grad!.scalars
        var worst: Double = 0
        for o in 0..<cout { for ci in 0..<c { for p in 0..<k { for q in 0..<k {
            var s: Double = 0
            for b in 0..<n { for i in 0..<ho { for j in 0..<wo {
                let ih = i * stride + p - pad, iw = j * stride + q - pad
                if ih < 0 || ih >= h || iw < 0 || iw >= width { continue }
                s += Double(gs[((b * cout + o) * ho + i) * wo + j]) * Double(xs[((b * c + ci) * h + ih) * width + iw])
            } } }
            worst = max(worst, abs(s - Double(gw[((o * c + ci) * k + p) * k + q])) / max(1, abs(s)))
        } } } }
        #expect(worst < 1e-4, "stride \(stride) width \(width): worst relative weight-gradient error \(worst)")
    }
}

/// Stride-1 layers on maps at most 16 wide with few input channels (LeNet's second layer) take their
/// input gradient from the GEMM's columns one input row at a time: kernels 1–7 wide, paddings 0–3,
/// maps narrower than the kernel's reach, against the definition.
@Suite struct NarrowMapInputGradientTests {
    @Test(arguments: [(3, 6, 16, 12, 12, 5, 0), (2, 5, 20, 9, 14, 3, 1), (2, 4, 24, 16, 16, 7, 3), (3, 3, 18, 6, 5, 5, 2),
                      (2, 6, 17, 10, 16, 1, 0), (2, 2, 20, 16, 11, 4, 2)])
    func matchesDefinition(_ n: Int, _ c: Int, _ cout: Int, _ h: Int, _ w: Int, _ k: Int, _ pad: Int) {
        let gen = Generator(seed: UInt64(3100 + c * 7 + cout + h + k))
        let x = Tensor.randn([n, c, h, w], generator: gen); x.requiresGrad = true
        let wt = Tensor.randn([cout, c, k, k], generator: gen); wt.requiresGrad = true
        let b = Tensor.randn([cout], generator: gen); b.requiresGrad = true
        let y = conv2d(x, wt, bias: b, stride: Size2(1), padding: .pair(pad, pad))
        let g = Tensor.randn(y.shape, generator: gen)
        y.backward(g)
        let worst = convGradientError(x: x, w: wt, b: b, g: g, stride: 1, pad: pad, groups: 1)
        #expect(worst < 1e-4, "n \(n) \(c)→\(cout) on \(h)×\(w), k \(k) pad \(pad): worst relative gradient error \(worst)")
    }
}

/// Stride-1 3×3 and 5×5 layers with ≥ 16 channels run Winograd (3×3: F(3×3, 3×3) with AVX-512 where
/// its tiles cost less, F(2×2, 3×3) otherwise; 5×5: F(2×2, 5×5)) in all three passes: each 3×3
/// variant forced in turn, and the 5×5 one, against the
/// definition (summed in double), over odd and even maps down to 3×3, paddings 0–2, tile rows longer
/// than a 16-tile vector group, tile counts that split into several blocks and threads, counts too
/// small to share by tiles, and channel counts past the GEMM's 384-deep blocks of packed weights.
/// Errors are measured against each result's largest magnitude (1–3e-6 for 3×3, up to 1.2e-5 for 5×5).
@Suite struct WinogradTests {
    static let shapes = [(2, 16, 24, 7, 9, 1), (3, 20, 17, 8, 8, 0), (1, 32, 16, 13, 5, 2), (70, 16, 16, 4, 4, 1), (5, 24, 40, 12, 12, 1),
                         (2, 96, 32, 6, 7, 1), (3, 70, 130, 5, 6, 1), (2, 16, 18, 5, 37, 1), (32, 64, 64, 3, 3, 1), (5, 16, 20, 3, 4, 1),
                         (2, 400, 24, 3, 4, 1), (2, 24, 400, 4, 3, 1)]

    @Test(arguments: [2, 3], shapes)
    func allPassesMatchDefinition(_ tile: Int, _ shape: (Int, Int, Int, Int, Int, Int)) {
        withContext({ $0.winograd = .tile(tile) }) { check(kernel: 3, shape, "F(\(tile)×\(tile), 3×3)") }
    }

    /// 5×5 layers take F(2×2, 5×5) with AVX-512 (paddings 0–4; batches large enough for its 64 tiles).
    @Test(arguments: [(4, 16, 24, 9, 11, 2), (16, 20, 17, 8, 8, 0), (4, 32, 16, 13, 5, 4), (4, 24, 40, 12, 12, 2),
                      (2, 16, 18, 6, 37, 1), (8, 96, 32, 6, 7, 3), (12, 400, 24, 4, 5, 2), (12, 24, 400, 5, 4, 2)])
    func fiveByFiveMatchesDefinition(_ shape: (Int, Int, Int, Int, Int, Int)) {
        check(kernel: 5, shape, "F(2×2, 5×5)")
    }

    /// Grouped layers (RegNet's 16-channel groups) run the AVX-512 variants group by group over the same
    /// tiles in the forward pass and the input gradient (the weight gradient stays direct).
    @Test(arguments: [(16, 32, 32, 12, 12, 3, 1, 2), (8, 80, 80, 12, 12, 3, 1, 5), (4, 48, 32, 24, 24, 3, 1, 2),
                      (8, 32, 48, 10, 10, 5, 2, 2)])
    func groupsMatchDefinition(_ shape: (Int, Int, Int, Int, Int, Int, Int, Int)) {
        let (n, c, cout, h, w, k, pad, groups) = shape
        check(kernel: k, (n, c, cout, h, w, pad), "\(k)×\(k) groups \(groups)", groups: groups)
    }

    /// Forward, input and weight gradients of a stride-1 k×k layer (in `groups` groups) against the
    /// definition, summed in double.
    func check(kernel k: Int, _ shape: (Int, Int, Int, Int, Int, Int), _ name: String, groups: Int = 1) {
        let (n, c, cout, h, w, pad) = shape
        // F(2×2, 5×5)'s transforms (entries up to 5, weights down to 1/24) round more: up to 1.2e-5
        // of the largest magnitude here, against 3e-6 for the 3×3 variants
        let bound: Float = k == 5 ? 5e-5 : 2e-5
        let (cg, og) = (c / groups, cout / groups)
        let gen = Generator(seed: UInt64(7000 + n * 31 + c + h + k + groups))
        let x = Tensor.randn([n, c, h, w], generator: gen); x.requiresGrad = true
        let wt = Tensor.randn([cout, cg, k, k], generator: gen), b = Tensor.randn([cout], generator: gen)
        wt.requiresGrad = true
        let what = "\(name) n \(n) c \(c)→\(cout) \(h)×\(w) pad \(pad)"
        let y = conv2d(x, wt, bias: b, stride: Size2(1), padding: .pair(pad, pad), groups: groups)
        let want = referenceConv(x.detached(), wt.detached(), bias: b, stride: (1, 1), padding: (pad, pad), dilation: (1, 1),
                                 groups: groups)
        let forward = scaledError(y, want)
        #expect(forward < bound, "forward \(what): error \(forward) of the largest output")
        let g = Tensor.randn(y.shape, generator: gen)
        y.backward(g)
        // dX = conv(g, W rotated by 180° with in/out swapped within each group, padding k − 1 − p)
        let ws = wt.scalars, taps = k * k
        var rotated = [Float](repeating: 0, count: ws.count)
        for gr in 0..<groups { for o in 0..<og { for ci in 0..<cg { for t in 0..<taps {
            rotated[((gr * cg + ci) * og + o) * taps + t] = ws[((gr * og + o) * cg + ci) * taps + taps - 1 - t]
        } } } }
        let wantGX = referenceConv(g, Tensor(shape: [c, og, k, k], scalars: rotated), bias: nil, stride: (1, 1),
                                   padding: (k - 1 - pad, k - 1 - pad), dilation: (1, 1), groups: groups)
        let input = scaledError(x.grad!, wantGX)
        #expect(input < bound, "input gradient \(what): error \(input) of the largest element")
        // dW[o,c,p,q] = Σ g[n,o,i,j]·x[n,c,i+p−pad,j+q−pad] (c within o's group), summed in double
        let (ho, wo) = (y.shape[2], y.shape[3])
        let xs = x.scalars, gs = g.scalars
        var wantGW = [Float](repeating: 0, count: cout * cg * taps)
        for o in 0..<cout { for cl in 0..<cg { for p in 0..<k { for q in 0..<k {
            let ci = (o / og) * cg + cl
            var s: Double = 0
            for bi in 0..<n { for i in 0..<ho { for j in 0..<wo {
                let ih = i + p - pad, iw = j + q - pad
                if ih < 0 || ih >= h || iw < 0 || iw >= w { continue }
                s += Double(gs[((bi * cout + o) * ho + i) * wo + j]) * Double(xs[((bi * c + ci) * h + ih) * w + iw])
            } } }
            wantGW[((o * cg + cl) * k + p) * k + q] = Float(s)
        } } } }
        let weight = scaledError(wt.grad!, Tensor(shape: [cout, cg, k, k], scalars: wantGW))
        #expect(weight < bound, "weight gradient \(what): error \(weight) of the largest element")
    }

    @Test(arguments: [2, 1, 0])
    func sameResultAsTheColumnPathOnEveryISA(_ level: Int) {
        let gen = Generator(seed: 77)
        let x = param([4, 32, 10, 9], seed: 78), wt = param([48, 32, 3, 3], seed: 79)
        let g = Tensor.randn([4, 48, 10, 9], generator: gen)
        func run() -> [Tensor] {
            x.grad = nil; wt.grad = nil
            let y = conv2d(x, wt, stride: Size2(1), padding: .pair(1, 1))
            y.backward(g)
            return [y.detached(), x.grad!, wt.grad!]
        }
        let (fast, plain) = withContext({ $0.isaCap = level }) { (run(), withContext({ $0.winograd = .off }) { run() }) }
        for (a, b) in zip(fast, plain) { expectClose(a, b, rtol: 1e-4, atol: 1e-3, "winograd vs im2col, ISA level \(level)") }
    }
}

/// Stride-1 layers with more than 16 output channels on maps at least 10 wide take their weight
/// gradient from shifted views of a padded image (no im2col): kernels, dilations, paddings and
/// channel counts past one 64-wide panel, against the definition summed in double.
@Suite struct InPlaceWeightGradientTests {
    @Test(arguments: [(2, 5, 20, 3, 2, 1, 2, 2, 13, 11), (3, 4, 70, 1, 1, 0, 0, 1, 12, 10), (1, 6, 130, 3, 3, 1, 1, 1, 10, 16),
                      (2, 3, 33, 5, 5, 2, 2, 1, 9, 14)])
    func matchesDefinition(_ n: Int, _ c: Int, _ cout: Int, _ kh: Int, _ kw: Int, _ ph: Int, _ pw: Int, _ dil: Int, _ h: Int, _ w: Int) {
        let gen = Generator(seed: UInt64(5100 + cout + kh * 7 + w))
        let x = Tensor.randn([n, c, h, w], generator: gen)
        let wt = Tensor.randn([cout, c, kh, kw], generator: gen); wt.requiresGrad = true
        let b = Tensor.randn([cout], generator: gen); b.requiresGrad = true
        let y = conv2d(x, wt, bias: b, stride: Size2(1), padding: .pair(ph, pw), dilation: Size2(dil))
        let g = Tensor.randn(y.shape, generator: gen)
        y.backward(g)
        let (ho, wo) = (y.shape[2], y.shape[3])
        let xs = x.scalars, gs = g.scalars, gw = wt.grad!.scalars, gb = b.grad!.scalars
        var worst: Double = 0
        for o in 0..<cout {
            var sb: Double = 0
            for i in 0..<n * ho * wo { sb += Double(gs[(i / (ho * wo) * cout + o) * ho * wo + i % (ho * wo)]) }
            worst = max(worst, abs(sb - Double(gb[o])) / max(1, abs(sb)))
            for ci in 0..<c { for p in 0..<kh { for q in 0..<kw {
                var s: Double = 0
                for bi in 0..<n { for i in 0..<ho { for j in 0..<wo {
                    let ih = i + p * dil - ph, iw = j + q * dil - pw
                    if ih < 0 || ih >= h || iw < 0 || iw >= w { continue }
                    s += Double(gs[((bi * cout + o) * ho + i) * wo + j]) * Double(xs[((bi * c + ci) * h + ih) * w + iw])
                } } }
                worst = max(worst, abs(s - Double(gw[((o * c + ci) * kh + p) * kw + q])) / max(1, abs(s)))
            } } }
        }
        #expect(worst < 1e-4, "n \(n) c \(c)→\(cout) k \(kh)×\(kw) pad (\(ph), \(pw)) dilation \(dil) in \(h)×\(w): worst \(worst)")
    }
}

/// Narrow groups (RegNet's 16-channel groups, LeNet's 6→16 layer) run all three passes through the
/// direct kernel; forward, input, weight and bias gradients against the definition in double.
@Suite struct GroupedDirectTests {
    @Test(arguments: [(2, 2, 16, 16, 3, 1, 12, 12, 1), (3, 5, 16, 16, 3, 1, 7, 9, 1), (4, 1, 6, 16, 5, 0, 14, 14, 1),
                      (2, 3, 4, 8, 5, 2, 9, 11, 1), (2, 1, 14, 6, 5, 2, 9, 11, 1), (2, 2, 12, 5, 3, 0, 6, 20, 1),
                      (3, 2, 16, 16, 3, 1, 13, 12, 2), (2, 5, 16, 16, 3, 1, 9, 17, 2), (2, 1, 5, 12, 4, 1, 11, 23, 3)])
    func allPassesMatchDefinition(_ n: Int, _ groups: Int, _ cg: Int, _ coutG: Int, _ k: Int, _ pad: Int, _ h: Int, _ w: Int,
                                  _ stride: Int) {
        let gen = Generator(seed: UInt64(8800 + groups * 13 + cg + k + h))
        let (c, cout) = (groups * cg, groups * coutG)
        let x = Tensor.randn([n, c, h, w], generator: gen); x.requiresGrad = true
        let wt = Tensor.randn([cout, cg, k, k], generator: gen); wt.requiresGrad = true
        let b = Tensor.randn([cout], generator: gen); b.requiresGrad = true
        let y = conv2d(x, wt, bias: b, stride: Size2(stride), padding: .pair(pad, pad), groups: groups)
        let want = referenceConv(x.detached(), wt.detached(), bias: b.detached(), stride: (stride, stride), padding: (pad, pad),
                                 dilation: (1, 1), groups: groups)
        let what = "n \(n) groups \(groups) \(cg)→\(coutG) k \(k)/\(stride) pad \(pad) in \(h)×\(w)"
        expectClose(y, want, rtol: 1e-4, atol: 1e-4, "forward " + what)
        let g = Tensor.randn(y.shape, generator: gen)
        y.backward(g)
        let worst = convGradientError(x: x, w: wt, b: b, g: g, stride: stride, pad: pad, groups: groups)
        #expect(worst < 1e-4, "\(what): worst relative gradient error \(worst)")
    }
}

/// Inference fusion: conv → eval batch norm → ReLU in one pass, on every convolution path
/// (Winograd, direct narrow kernel, im2col for one image and for blocks, strided gather, groups),
/// against the same ops composed; and whole models with fusion on and off.
@Suite struct FusionTests {
    @Test(arguments: [(2, 32, 32, 3, 1, 1, 10, 1), (2, 32, 32, 3, 1, 1, 9, 1), (3, 6, 16, 5, 1, 0, 14, 1), (1, 8, 24, 3, 1, 1, 30, 1), (5, 8, 24, 3, 1, 1, 5, 1),
                      (4, 8, 40, 3, 2, 1, 13, 1), (2, 32, 32, 3, 1, 1, 8, 2), (3, 12, 20, 1, 1, 0, 7, 1),
                      (32, 64, 64, 3, 1, 1, 3, 1), (1, 16, 16, 3, 1, 1, 37, 1), (8, 16, 24, 5, 1, 2, 11, 1), (16, 32, 32, 3, 1, 1, 12, 2)])
    func fusedMatchesComposed(_ n: Int, _ c: Int, _ cout: Int, _ k: Int, _ stride: Int, _ pad: Int, _ hw: Int, _ groups: Int) {
        let gen = Generator(seed: UInt64(6100 + c * 3 + cout + hw + groups))
        let x = Tensor.randn([n, c, hw, hw], generator: gen)
        let w = Tensor.randn([cout, c / groups, k, k], generator: gen), b = Tensor.randn([cout], generator: gen)
        let scale = Tensor.randn([cout], generator: gen), shift = Tensor.randn([cout], generator: gen)
        let plain = conv2d(x, w, bias: b, stride: Size2(stride), padding: .pair(pad, pad), groups: groups)
        let residual = Tensor.randn(plain.shape, generator: gen)
        for (relu, withResidual) in [(false, false), (true, false), (false, true), (true, true)] {
            let fused = withNoGrad {
                conv2dAffineReLU(x, w, bias: b, stride: Size2(stride), padding: .pair(pad, pad), groups: groups,
                                 scale: scale, shift: shift, residual: withResidual ? residual : nil, relu: relu)
            }
            var want = plain * scale.reshape([1, cout, 1, 1]) + shift.reshape([1, cout, 1, 1])
            if withResidual { want = want + residual }
            if relu { want = want.relu() }
            expectClose(fused, want, rtol: 1e-4, atol: 1e-4,
                        "c \(c)→\(cout) k \(k)/\(stride) in \(hw)² groups \(groups) relu \(relu) residual \(withResidual)")
        }
    }

    /// The engine's fusions (a compiled model's replay) against the model run op by op: outputs in
    /// eval mode, and outputs and every parameter's gradient in training mode.
    @Test(arguments: ["lenet", "resnet18", "regnetx32", "bn-lenet", "nin", "googlenet", "densenet"])
    func compiledModelsAgreeWithEager(_ name: String) throws {
        let spec = try ModelZoo.spec(named: name)
        let model = spec.make()
        let fast = compile(model)
        let side = spec.defaults.resize
        let x = Tensor.randn([2, 1, side, side], generator: Generator(seed: 4))
        // a few training steps' worth of batch statistics, so the eval affine maps are not identities
        for _ in 0..<2 { _ = model(Tensor.randn([4, 1, side, side], generator: Generator(seed: 5))) }
        func step(_ f: (Tensor) -> Tensor) -> (out: Tensor, grads: [Tensor]) {
            model.zeroGrad()
            Tensor.manualSeed(7)
            let y = f(x)
            (y * Tensor.randn(y.shape, generator: Generator(seed: 6))).sum().backward()
            return (y.detached(), model.parameters().map { $0.grad! })
        }
        _ = step { fast($0) }   // traces
        let replayed = step { fast($0) }, eager = step { model($0) }
        #expect(fast.fallbackReason == nil, "\(name): \(fast.fallbackReason ?? "")")
        expectClose(replayed.out, eager.out, rtol: 1e-3, atol: 1e-4, name + " training output")
        for (a, b) in zip(replayed.grads, eager.grads) { expectClose(a, b, rtol: 1e-3, atol: 1e-4, name + " gradient") }
        model.eval()
        _ = withNoGrad { fast(x) }
        let fused = withNoGrad { fast(x) }
        let plain = withNoGrad { model(x) }
        #expect(fast.fallbackReason == nil)
        expectClose(fused, plain, rtol: 1e-3, atol: 1e-4, name + " inference")
    }
}

/// Tiny maps with wide layers and a full batch (ResNet's 3×3 last stage without AVX-512) run one GEMM
/// per kernel tap over the pixels it reaches: forward, input, weight and bias gradients against the definition.
@Suite struct TapwiseConvTests {
    @Test(arguments: [(32, 64, 64, 3, 3, 3, 1, 1), (33, 64, 72, 2, 3, 3, 1, 1), (32, 70, 64, 4, 4, 3, 0, 1), (32, 64, 64, 4, 4, 2, 0, 1),
                      (32, 64, 64, 4, 4, 3, 1, 2), (32, 64, 66, 4, 3, 3, 1, 2)])
    func allPassesMatchDefinition(_ n: Int, _ c: Int, _ cout: Int, _ h: Int, _ w: Int, _ k: Int, _ pad: Int, _ stride: Int) {
        // F(3×3) Winograd takes stride-1 3×3 layers on 3×3 maps when it can; here the tap-wise path is under test
        withContext({ $0.winograd = .off }) { tapwise(n, c, cout, h, w, k, pad, stride) }
    }

    func tapwise(_ n: Int, _ c: Int, _ cout: Int, _ h: Int, _ w: Int, _ k: Int, _ pad: Int, _ stride: Int) {
        let gen = Generator(seed: UInt64(9900 + c + cout + h * 5 + k))
        let x = Tensor.randn([n, c, h, w], generator: gen); x.requiresGrad = true
        let wt = Tensor.randn([cout, c, k, k], generator: gen); wt.requiresGrad = true
        let b = Tensor.randn([cout], generator: gen); b.requiresGrad = true
        let y = conv2d(x, wt, bias: b, stride: Size2(stride), padding: .pair(pad, pad))
        let what = "n \(n) \(c)→\(cout) on \(h)×\(w), k \(k)/\(stride) pad \(pad)"
        expectClose(y, referenceConv(x.detached(), wt.detached(), bias: b.detached(), stride: (stride, stride), padding: (pad, pad),
                                     dilation: (1, 1), groups: 1), rtol: 1e-4, atol: 1e-4, "forward " + what)
        let g = Tensor.randn(y.shape, generator: gen)
        y.backward(g)
        let worst = convGradientError(x: x, w: wt, b: b, g: g, stride: stride, pad: pad, groups: 1)
        #expect(worst < 1e-4, "\(what): worst relative gradient error \(worst)")
    }
}

/// Strided 1×1 convolutions (ResNet and RegNet shortcuts) subsample once and run pointwise; 1×1
/// layers with ≥ 128 pixels multiply each image in place (stride-1 rows here).
@Suite struct StridedPointwiseTests {
    @Test(arguments: [(2, 32, 40, 9, 11, 2, 2, 1), (3, 8, 20, 10, 7, 3, 2, 1), (2, 32, 64, 12, 12, 2, 2, 4),
                      (3, 20, 70, 12, 12, 1, 1, 1), (2, 24, 18, 16, 9, 1, 1, 2)])
    func matchesDefinition(_ n: Int, _ c: Int, _ cout: Int, _ h: Int, _ w: Int, _ sh: Int, _ sw: Int, _ groups: Int) {
        let gen = Generator(seed: UInt64(4400 + c + cout + h))
        let x = Tensor.randn([n, c, h, w], generator: gen); x.requiresGrad = true
        let wt = Tensor.randn([cout, c / groups, 1, 1], generator: gen); wt.requiresGrad = true
        let b = Tensor.randn([cout], generator: gen)
        let y = conv2d(x, wt, bias: b, stride: Size2(sh, sw), groups: groups)
        expectClose(y, referenceConv(x.detached(), wt.detached(), bias: b, stride: (sh, sw), padding: (0, 0), dilation: (1, 1),
                                     groups: groups), rtol: 1e-4, atol: 1e-4, "forward")
        let g = Tensor.randn(y.shape, generator: gen)
        y.backward(g)
        let (ho, wo, cg, coutG) = (y.shape[2], y.shape[3], c / groups, cout / groups)
        let (xs, ws, gs, gx, gw) = (x.scalars, wt.scalars, g.scalars, x.grad!.scalars, wt.grad!.scalars)
        var worst: Double = 0
        for bi in 0..<n { for ci in 0..<c { for i in 0..<h { for j in 0..<w {
            var s: Double = 0
            if i % sh == 0 && j % sw == 0 && i / sh < ho && j / sw < wo {
                let gr = ci / cg
                for o in gr * coutG..<(gr + 1) * coutG {
                    s += Double(ws[o * cg + ci % cg]) * Double(gs[((bi * cout + o) * ho + i / sh) * wo + j / sw])
                }
            }
            worst = max(worst, abs(s - Double(gx[((bi * c + ci) * h + i) * w + j])) / max(1, abs(s)))
        } } } }
        for o in 0..<cout { for cl in 0..<cg {
            var s: Double = 0
            for bi in 0..<n { for i in 0..<ho { for j in 0..<wo {
                s += Double(gs[((bi * cout + o) * ho + i) * wo + j]) * Double(xs[((bi * c + o / coutG * cg + cl) * h + i * sh) * w + j * sw])
            } } }
            worst = max(worst, abs(s - Double(gw[o * cg + cl])) / max(1, abs(s)))
        } }
        #expect(worst < 1e-4, "worst relative gradient error \(worst)")
    }
}

/// At most 64 output pixels in all with ≥ 256 taps (batch-1 inference on small maps): dot products of
/// weight rows with each pixel's taps, on every ISA, grouped and strided too.
@Suite(.serialized) struct SmallOutputTests {
    @Test(arguments: [2, 1, 0])
    func matchesDefinitionOnEveryISA(_ level: Int) {
        withContext({ $0.isaCap = level }) { matchesDefinition(level) }
    }

    func matchesDefinition(_ level: Int) {
        for (n, c, cout, hw, k, stride, pad, groups) in [(1, 40, 24, 3, 3, 1, 1, 1), (2, 72, 18, 6, 3, 2, 1, 2), (1, 300, 33, 7, 1, 1, 0, 1),
                                                         (1, 64, 70, 8, 3, 1, 1, 1)] {
            let gen = Generator(seed: UInt64(3300 + c + hw))
            let x = Tensor.randn([n, c, hw, hw], generator: gen)
            let w = Tensor.randn([cout, c / groups, k, k], generator: gen), b = Tensor.randn([cout], generator: gen)
            let y = withNoGrad { conv2d(x, w, bias: b, stride: Size2(stride), padding: .pair(pad, pad), groups: groups) }
            let want = referenceConv(x, w, bias: b, stride: (stride, stride), padding: (pad, pad), dilation: (1, 1), groups: groups)
            expectClose(y, want, rtol: 1e-4, atol: 1e-4, "ISA \(level): n \(n) \(c)→\(cout) on \(hw)², k \(k)/\(stride) groups \(groups)")
        }
    }
}

/// Stride-2 3×3 layers with ≥ 32 channels (ResNet's downsampling convolutions) run the 32-channel
/// direct kernel: against the definition, with output channel counts that leave partial blocks,
/// odd maps, both paddings, and the fused epilogue; gradients still flow through their own paths.
@Suite struct DirectStridedConvTests {
    @Test(arguments: [(2, 32, 32, 13, 11, 1), (3, 48, 80, 12, 12, 1), (2, 64, 48, 9, 15, 0), (1, 40, 100, 24, 24, 1)])
    func matchesDefinition(_ n: Int, _ c: Int, _ cout: Int, _ h: Int, _ w: Int, _ pad: Int) {
        let gen = Generator(seed: UInt64(7700 + c + cout + h * 3 + w))
        let x = Tensor.randn([n, c, h, w], generator: gen); x.requiresGrad = true
        let wt = Tensor.randn([cout, c, 3, 3], generator: gen); wt.requiresGrad = true
        let b = Tensor.randn([cout], generator: gen); b.requiresGrad = true
        let y = conv2d(x, wt, bias: b, stride: 2, padding: .pair(pad, pad))
        let what = "n \(n) \(c)→\(cout) on \(h)×\(w), 3×3/2 pad \(pad)"
        let want = referenceConv(x.detached(), wt.detached(), bias: b.detached(), stride: (2, 2), padding: (pad, pad),
                                 dilation: (1, 1), groups: 1)
        expectClose(y, want, rtol: 1e-4, atol: 1e-4, "forward " + what)
        // the inference epilogue (scale, shift, residual, ReLU) applied to the direct kernel's output
        let scale = Tensor.randn([cout], generator: gen), shift = Tensor.randn([cout], generator: gen)
        let residual = Tensor.randn(want.shape, generator: gen)
        let fused = withNoGrad {
            conv2dAffineReLU(x, wt, bias: b, stride: 2, padding: .pair(pad, pad), scale: scale, shift: shift, residual: residual, relu: true)
        }
        let composed = (want * scale.reshape([1, cout, 1, 1]) + shift.reshape([1, cout, 1, 1]) + residual).relu()
        expectClose(fused, composed, rtol: 1e-4, atol: 1e-4, "fused " + what)
        let g = Tensor.randn(y.shape, generator: gen)
        y.backward(g)
        let worst = convGradientError(x: x, w: wt, b: b, g: g, stride: 2, pad: pad, groups: 1)
        #expect(worst < 1e-4, "\(what): worst relative gradient error \(worst)")
    }
}
