import ConvNet
import Foundation
import Testing

/// Tensor basics: PyTorch-style printing, creation, random numbers, broadcasting, reductions and
/// shape operations, with expected values worked by hand or taken from PyTorch 2.x.
@Suite struct TensorTests {
    // MARK: printing (every expected string is what PyTorch prints for the same tensor)

    @Test func printsIntegersFixedAndZeroD() {
        #expect(Tensor([1, 2, 3]).description == "tensor([1., 2., 3.])")
        #expect(Tensor([-1, 2]).description == "tensor([-1.,  2.])")
        #expect(Tensor([0, 0]).description == "tensor([0., 0.])")
        #expect(Tensor(shape: [2, 2], scalars: [0.5, 1, -2.25, 3]).description
                == "tensor([[ 0.5000,  1.0000],\n        [-2.2500,  3.0000]])")
        #expect(Tensor(3.5).description == "tensor(3.5000)")
        #expect(Tensor(3).description == "tensor(3.)")
        #expect(Tensor.arange(12).reshape(3, 4).description
                == "tensor([[ 0.,  1.,  2.,  3.],\n        [ 4.,  5.,  6.,  7.],\n        [ 8.,  9., 10., 11.]])")
        #expect(Tensor.arange(0, 1, step: 0.25).description == "tensor([0.0000, 0.2500, 0.5000, 0.7500])")
    }

    @Test func printsHigherRankWithBlankLines() {
        #expect(Tensor.zeros([2, 3, 2]).description
                == "tensor([[[0., 0.],\n         [0., 0.],\n         [0., 0.]],\n\n        [[0., 0.],\n         [0., 0.],\n         [0., 0.]]])")
        #expect(Tensor(shape: [2, 1, 2], scalars: [1, 2, 3, 4]).description == "tensor([[[1., 2.]],\n\n        [[3., 4.]]])")
    }

    @Test func printsScientific() {
        #expect(Tensor([1e-5, 1]).description == "tensor([1.0000e-05, 1.0000e+00])")
        #expect(Tensor([1e-5, 0]).description == "tensor([1.0000e-05, 0.0000e+00])")
        #expect(Tensor([0, 1e9]).description == "tensor([0.0000e+00, 1.0000e+09])")
        #expect(Tensor([0.1, 100.5]).description == "tensor([1.0000e-01, 1.0050e+02])") // ratio > 1000
        #expect(Tensor([2, 1e-5, 3e3]).description == "tensor([2.0000e+00, 1.0000e-05, 3.0000e+03])")
    }

    @Test func printsRequiresGrad() {
        let a = Tensor([1, 2]); a.requiresGrad = true
        #expect(a.description == "tensor([1., 2.], requires_grad=True)")
        let b = Tensor([1.5, 2]); b.requiresGrad = true
        #expect(b.description == "tensor([1.5000, 2.0000], requires_grad=True)")
        // a result of a recorded op shows its grad_fn instead
        #expect((b * 2).description.hasPrefix("tensor([3., 4.], grad_fn=<"))
        #expect(!(b * 2).description.contains("requires_grad"))
    }

    @Test func wrapsLongRowsAt80Columns() {
        #expect(Tensor.arange(30).description
                == "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n"
                + "        14., 15., 16., 17., 18., 19., 20., 21., 22., 23., 24., 25., 26., 27.,\n"
                + "        28., 29.])")
    }

    /// `torch.arange(1001.)`: summarised (more than 1000 elements), integer mode (max/min = 1000 is not
    /// > 1000). PyTorch's summary marker is the element `" ..."` (with a leading space) joined by ", ".
    @Test func summarisesIntegerTensor() {
        let s = Tensor.arange(1001).description
        #expect(s.contains("..."))
        #expect(s == "tensor([   0.,    1.,    2.,  ...,  998.,  999., 1000.])")
    }

    /// `torch.arange(2000.)`: the shown values are integers whose nonzero max/min ratio (1999) exceeds
    /// 1000, so PyTorch switches to scientific notation (its integer mode also checks that ratio), and
    /// the 7 items (with " ...") wrap at 80 columns after 6.
    @Test func summarisesWideIntegerRangeInScientific() {
        let s = Tensor.arange(2000).description
        #expect(s.contains("..."))
        #expect(s == "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n        1.9990e+03])")
    }

    @Test func summarises2DTensor() {
        let s = Tensor.arange(1200).reshape(2, 600).description
        #expect(s == "tensor([[0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 5.9700e+02, 5.9800e+02,\n"
                + "         5.9900e+02],\n"
                + "        [6.0000e+02, 6.0100e+02, 6.0200e+02,  ..., 1.1970e+03, 1.1980e+03,\n"
                + "         1.1990e+03]])")
        // rows summarised too: 40 × 50 shows rows 0–2, "...", rows 37–39
        let rows = Tensor.arange(2000).reshape(40, 50).description
        #expect(rows.contains("\n        ...,\n"))
        #expect(rows.hasSuffix("[1.9500e+03, 1.9510e+03, 1.9520e+03,  ..., 1.9970e+03, 1.9980e+03,\n         1.9990e+03]])"))
    }

    /// PyTorch sizes integer-mode columns from the finite nonzero values only, so `nan`/`inf` do not widen them.
    @Test func printsNonFinite() {
        #expect(Tensor([1, .nan, .infinity]).description == "tensor([1., nan, inf])")
        #expect(Tensor([1, .nan]).description == "tensor([1., nan])")
        #expect(Tensor([1, -.infinity]).description == "tensor([1., -inf])")
        #expect(Tensor([0.5, .nan]).description == "tensor([0.5000,    nan])")
    }

    /// PyTorch shows the size of an empty tensor unless it is 1-D: `tensor([], size=(0, 3))`.
    @Test func printsEmpty() {
        #expect(Tensor([Float]()).description == "tensor([])")
        #expect(Tensor.zeros([0, 3]).description == "tensor([], size=(0, 3))")
    }

    // MARK: creation

    @Test func creation() {
        let z = Tensor.zeros([2, 3])
        #expect(z.shape == [2, 3] && z.count == 6 && z.rank == 2)
        #expect(z.scalars == [Float](repeating: 0, count: 6))
        #expect(Tensor.ones([4]).scalars == [1, 1, 1, 1])
        #expect(Tensor.full([2, 2], -1.5).scalars == [-1.5, -1.5, -1.5, -1.5])
        #expect(Tensor.zeros(like: Tensor.ones([3, 1])).shape == [3, 1])
        #expect(Tensor.ones(like: Tensor.zeros([1, 2])).scalars == [1, 1])
        #expect(Tensor.arange(5).scalars == [0, 1, 2, 3, 4])
        #expect(Tensor.arange(5).shape == [5])
        #expect(Tensor.arange(0).shape == [0])
        #expect(Tensor.arange(2, 5).scalars == [2, 3, 4])
        #expect(Tensor.arange(0, 1, step: 0.25).scalars == [0, 0.25, 0.5, 0.75])
        #expect(Tensor.arange(1, 2.01, step: 0.5).scalars == [1, 1.5, 2])
        #expect(Tensor.arange(5, 0, step: -1.5).scalars == [5, 3.5, 2, 0.5])
        #expect(Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6]).scalars == [1, 2, 3, 4, 5, 6])
        let rows = Tensor([[1, 2], [3, 4], [5, 6]])
        #expect(rows.shape == [3, 2] && rows.scalars == [1, 2, 3, 4, 5, 6])
        let s = Tensor(2.5)
        #expect(s.shape == [] && s.rank == 0 && s.count == 1 && s.item() == 2.5)
        #expect(Tensor([7]).item() == 7)
        #expect(Tensor.zeros([0, 3]).count == 0 && Tensor.zeros([0, 3]).scalars.isEmpty)
        #expect(Tensor.ones([2, 3, 4]).size(-1) == 4 && Tensor.ones([2, 3, 4]).size(0) == 2)
    }

    @Test func copiesAreIndependentAndViewsShare() {
        let a = Tensor([1, 2, 3, 4])
        let c = a.copy()
        let v = a.reshape(2, 2)
        a.data[0] = 10
        #expect(c.scalars == [1, 2, 3, 4])
        #expect(v.scalars == [10, 2, 3, 4])
        a.fill(0)
        #expect(v.scalars == [0, 0, 0, 0])
        a.assign(Tensor([[5, 6], [7, 8]]))
        #expect(a.scalars == [5, 6, 7, 8])
    }

    // MARK: random numbers

    @Test func seededRandomIsReproducible() {
        let a = Tensor.rand([3, 4], generator: Generator(seed: 42))
        let b = Tensor.rand([3, 4], generator: Generator(seed: 42))
        let c = Tensor.rand([3, 4], generator: Generator(seed: 43))
        #expect(a.scalars == b.scalars)
        #expect(a.scalars != c.scalars)
        let n1 = Tensor.randn([5, 5], generator: Generator(seed: 7))
        let n2 = Tensor.randn([5, 5], generator: Generator(seed: 7))
        let n3 = Tensor.randn([5, 5], generator: Generator(seed: 8))
        #expect(n1.scalars == n2.scalars)
        #expect(n1.scalars != n3.scalars)
        // a generator continues its sequence; reseeding restarts it
        let g = Generator(seed: 1)
        let first = Tensor.rand([4], generator: g), second = Tensor.rand([4], generator: g)
        #expect(first.scalars != second.scalars)
        g.reseed(1)
        #expect(Tensor.rand([4], generator: g).scalars == first.scalars)
        // state save / restore
        let saved = g.state
        let next = Tensor.randn([3], generator: g)
        g.restore(state: saved)
        #expect(Tensor.randn([3], generator: g).scalars == next.scalars)
        // integers and permutations
        let h1 = Generator(seed: 9), h2 = Generator(seed: 9)
        let ints = (0..<50).map { _ in h1.nextInt(below: 10) }
        #expect(ints == (0..<50).map { _ in h2.nextInt(below: 10) })
        #expect(ints.allSatisfy { (0..<10).contains($0) })
        let p = Generator(seed: 3).permutation(20)
        #expect(p.sorted() == Array(0..<20))
        #expect(p == Generator(seed: 3).permutation(20))
    }

    @Test func randomDistributions() {
        let n = 100_000
        let u = Tensor.rand([n], generator: Generator(seed: 123)).scalars
        #expect(u.allSatisfy { $0 >= 0 && $0 < 1 })
        let um = u.reduce(0, +) / Float(n)
        #expect(abs(um - 0.5) < 0.01, "uniform mean \(um)")
        let r = Tensor.randn([n], generator: Generator(seed: 321)).scalars
        let mean = r.reduce(0, +) / Float(n)
        let variance = r.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(n - 1)
        #expect(abs(mean) < 0.02, "randn mean \(mean)")
        #expect(abs(variance.squareRoot() - 1) < 0.02, "randn std \(variance.squareRoot())")
        #expect(r.allSatisfy { $0.isFinite })
        let within1 = Float(r.filter { abs($0) < 1 }.count) / Float(n)
        #expect(abs(within1 - 0.6827) < 0.01, "P(|z| < 1) = \(within1)")
        // odd counts fill every element
        let odd = Tensor.randn([3], generator: Generator(seed: 1))
        #expect(odd.scalars.allSatisfy { $0.isFinite })
        let un = Tensor.uniform([1000], low: -2, high: 3, generator: Generator(seed: 5)).scalars
        #expect(un.allSatisfy { $0 >= -2 && $0 < 3 })
        let nm = Tensor.normal([n], mean: 5, std: 2, generator: Generator(seed: 6)).scalars
        #expect(abs(nm.reduce(0, +) / Float(n) - 5) < 0.05)
    }

    // MARK: arithmetic and broadcasting

    @Test func broadcasting() {
        let col = Tensor(shape: [2, 1], scalars: [10, 20])
        let row = Tensor([1, 2, 3])
        let s = col + row
        #expect(s.shape == [2, 3])
        #expect(s.scalars == [11, 12, 13, 21, 22, 23])
        #expect((row + col).scalars == [11, 12, 13, 21, 22, 23])
        #expect((col - row).scalars == [9, 8, 7, 19, 18, 17])
        #expect((col * row).scalars == [10, 20, 30, 20, 40, 60])
        #expect((row / col).scalars == [0.1, 0.2, 0.3, 0.05, 0.1, 0.15])
        // [2, 3, 1] with [3, 4]: both broadcast
        let a = Tensor.arange(6).reshape(2, 3, 1)
        let b = Tensor.ones([3, 4])
        let c = a + b
        #expect(c.shape == [2, 3, 4])
        #expect(c.scalars == (0..<6).flatMap { v in [Float](repeating: Float(v) + 1, count: 4) })
        // 0-d and scalars
        #expect((Tensor([[1, 2], [3, 4]]) * Tensor(2)).scalars == [2, 4, 6, 8])
        #expect((Tensor([1, 2]) + 1).scalars == [2, 3])
        #expect((10 - Tensor([1, 2])).scalars == [9, 8])
        #expect((1 / Tensor([2, 4])).scalars == [0.5, 0.25])
        #expect((-Tensor([1, -2])).scalars == [-1, 2])
        #expect(Broadcast.shape([2, 1, 3], [4, 1]) == [2, 4, 3])
        #expect(Broadcast.shape([], [5]) == [5])
        #expect(Tensor([1, 2, 3]).expand([2, 3]).scalars == [1, 2, 3, 1, 2, 3])
    }

    @Test func unaryMath() {
        let x = Tensor([-2, -0.5, 0, 1.5])
        #expect(x.relu().scalars == [0, 0, 0, 1.5])
        #expect(x.abs().scalars == [2, 0.5, 0, 1.5])
        #expect(x.clamp(min: -1, max: 1).scalars == [-1, -0.5, 0, 1])
        #expect(Tensor([1, 4, 9]).sqrt().scalars == [1, 2, 3])
        #expect(Tensor([2, 3]).pow(2).scalars == [4, 9])
        expectClose(Tensor([0, 1]).exp().scalars, [1, Float(M_E)])
        expectClose(Tensor([1, Float(M_E)]).log().scalars, [0, 1])
        expectClose(Tensor([0]).sigmoid().scalars, [0.5])
        expectClose(Tensor([0, 100]).tanh().scalars, [0, 1])
        #expect(Tensor([1, 5]).maximum(Tensor([3, 2])).scalars == [3, 5])
    }

    // MARK: reductions

    @Test func reductions() {
        let x = Tensor([[1, 5, 3], [4, 2, 6]])
        #expect(x.sum().shape == [] && x.sum().item() == 21)
        #expect(x.mean().item() == 3.5)
        let s0 = x.sum(dim: 0)
        #expect(s0.shape == [3] && s0.scalars == [5, 7, 9])
        let s1 = x.sum(dim: 1, keepDim: true)
        #expect(s1.shape == [2, 1] && s1.scalars == [9, 12])
        let sNeg = x.sum(dim: -1)
        #expect(sNeg.shape == [2] && sNeg.scalars == [9, 12])
        let m1 = x.mean(dim: 1)
        #expect(m1.shape == [2] && m1.scalars == [3, 4])
        let (v1, i1) = x.max(dim: 1)
        #expect(v1.shape == [2] && v1.scalars == [5, 6] && i1.integers == [1, 2] && i1.dtype == .int64)
        let (v0, i0) = x.max(dim: 0, keepDim: true)
        #expect(v0.shape == [1, 3] && v0.scalars == [4, 5, 6] && i0.integers == [1, 0, 1] && i0.shape == [1, 3])
        let (mn, mi) = x.min(dim: 1)
        #expect(mn.scalars == [1, 2] && mi.integers == [0, 1])
        #expect(x.max().item() == 6 && x.min().item() == 1)
        #expect(x.argmax(dim: 1).integers == [1, 2])
        #expect(x.argmax(dim: 0).integers == [1, 0, 1])
        #expect(x.argmax().integers == [5] && x.argmax().shape == [])
        #expect(Tensor([3, 7, 7, 1]).argmax().item() == 1) // first on ties

        let y = Tensor.arange(24).reshape(2, 3, 4)
        let s02 = y.sum(dims: [0, 2])
        #expect(s02.shape == [3] && s02.scalars == [60, 92, 124])
        #expect(y.sum(dims: [0, 2], keepDim: true).shape == [1, 3, 1])
        let mlast = y.mean(dim: -1, keepDim: true)
        #expect(mlast.shape == [2, 3, 1] && mlast.scalars == [1.5, 5.5, 9.5, 13.5, 17.5, 21.5])
        #expect(y.mean(dims: [1, 2]).scalars == [5.5, 17.5])
    }

    @Test func softmax() {
        let x = Tensor([[1, 2, 3], [0, 0, 0], [1000, 1000, -1000]])
        let p = x.softmax(dim: 1)
        for r in 0..<3 {
            let row = p[r].scalars
            #expect(abs(row.reduce(0, +) - 1) < 1e-6, "row \(r) sums to \(row.reduce(0, +))")
            #expect(row.allSatisfy { $0.isFinite && $0 >= 0 })
        }
        expectClose(p[0].scalars, [0.09003057, 0.24472847, 0.66524096])
        expectClose(p[1].scalars, [1.0 / 3, 1.0 / 3, 1.0 / 3])
        expectClose(p[2].scalars, [0.5, 0.5, 0])
        // along dim 0 the columns sum to 1
        let q = Tensor.randn([4, 5], generator: Generator(seed: 2)).softmax(dim: 0)
        expectClose(q.sum(dim: 0).scalars, [Float](repeating: 1, count: 5))
        // log_softmax is log of softmax
        expectClose(x.logSoftmax(dim: 1).exp(), p, atol: 1e-6)
    }

    // MARK: matmul and shapes

    @Test func matmul() {
        let a = Tensor([[1, 2], [3, 4], [5, 6]])
        let b = Tensor([[1, 0, -1, 2], [2, 1, 0, -3]])
        let c = a.matmul(b)
        #expect(c.shape == [3, 4])
        #expect(c.scalars == [5, 2, -1, -4, 11, 4, -3, -6, 17, 6, -5, -8])
        // vector cases, as torch.matmul
        let v = Tensor([1, -1])
        #expect(a.matmul(v).shape == [3] && a.matmul(v).scalars == [-1, -1, -1])
        #expect(v.matmul(b).shape == [4] && v.matmul(b).scalars == [-1, -1, -1, 5])
        // batched × 2-D and batched × batched
        let batch = stack([a, a * 2])
        let bc = batch.matmul(b)
        #expect(bc.shape == [2, 3, 4])
        #expect(bc.scalars == c.scalars + c.scalars.map { $0 * 2 })
        let bb = batch.matmul(stack([b, b]))
        #expect(bb.scalars == bc.scalars)
        // linear: x · Wᵀ + b
        let w = Tensor([[1, 1], [0, 2]])
        #expect(linear(a, w, bias: Tensor([10, 20])).scalars == [13, 24, 17, 28, 21, 32])
    }

    /// Up to 4 rows take dot products over streamed weight rows, more the blocked GEMM: both against
    /// sums in double, with feature counts off the 16-lane vector width, and rows of a 3-D input.
    @Test(arguments: [1, 2, 3, 4, 5, 9])
    func linearRowsMatchDefinition(_ rows: Int) {
        let gen = Generator(seed: UInt64(600 + rows))
        let x = Tensor.randn([rows, 1, 37], generator: gen), w = Tensor.randn([21, 37], generator: gen)
        let b = Tensor.randn([21], generator: gen)
        let y = linear(x, w, bias: b)
        #expect(y.shape == [rows, 1, 21])
        let xs = x.scalars, ws = w.scalars, bs = b.scalars, ys = y.scalars
        for r in 0..<rows { for o in 0..<21 {
            var s = Double(bs[o])
            for k in 0..<37 { s += Double(xs[r * 37 + k]) * Double(ws[o * 37 + k]) }
            #expect(abs(Double(ys[r * 21 + o]) - s) <= 1e-4 * max(1, abs(s)), "row \(r) output \(o)")
        } }
    }

    @Test func transposeAndPermute() {
        let m = Tensor([[1, 2, 3], [4, 5, 6]])
        #expect(m.T.shape == [3, 2] && m.T.scalars == [1, 4, 2, 5, 3, 6])
        #expect(m.transpose(0, 1).scalars == [1, 4, 2, 5, 3, 6])
        let y = Tensor.arange(24).reshape(2, 3, 4)
        let p = y.permute(2, 0, 1)
        #expect(p.shape == [4, 2, 3])
        #expect(p.scalars == [0, 4, 8, 12, 16, 20, 1, 5, 9, 13, 17, 21, 2, 6, 10, 14, 18, 22, 3, 7, 11, 15, 19, 23])
        let t = y.transpose(0, 2)
        #expect(t.shape == [4, 3, 2])
        #expect(t.scalars == [0, 12, 4, 16, 8, 20, 1, 13, 5, 17, 9, 21, 2, 14, 6, 18, 10, 22, 3, 15, 7, 19, 11, 23])
        #expect(y.permute(-1, 0, 1).scalars == p.scalars)
        #expect(y.permute(0, 1, 2).scalars == y.scalars)
    }

    @Test func reshapeSqueezeFlatten() {
        let x = Tensor.arange(6)
        #expect(x.reshape(2, -1).shape == [2, 3])
        #expect(x.view(3, 2).shape == [3, 2])
        #expect(x.reshape([-1]).shape == [6])
        #expect(x.reshape(1, 2, 1, 3).squeeze().shape == [2, 3])
        #expect(x.reshape(1, 2, 1, 3).squeeze(2).shape == [1, 2, 3])
        #expect(x.reshape(1, 2, 1, 3).squeeze(1).shape == [1, 2, 1, 3]) // not size 1: unchanged
        #expect(x.unsqueeze(0).shape == [1, 6] && x.unsqueeze(-1).shape == [6, 1])
        let z = Tensor.zeros([2, 3, 4, 5])
        #expect(z.flatten().shape == [120])
        #expect(z.flatten(startDim: 1).shape == [2, 60])
        #expect(z.flatten(startDim: 1, endDim: 2).shape == [2, 12, 5])
        #expect(Tensor(4).flatten().shape == [1])
    }

    @Test func catNarrowPadSelect() {
        let a = Tensor([[1, 2], [3, 4]])
        let b = Tensor([[5, 6]])
        let c0 = cat([a, b], dim: 0)
        #expect(c0.shape == [3, 2] && c0.scalars == [1, 2, 3, 4, 5, 6])
        let c1 = cat([a, Tensor([[7], [8]])], dim: 1)
        #expect(c1.shape == [2, 3] && c1.scalars == [1, 2, 7, 3, 4, 8])
        let c2 = cat([a, a], dim: -1)
        #expect(c2.shape == [2, 4] && c2.scalars == [1, 2, 1, 2, 3, 4, 3, 4])
        let st = stack([Tensor([1, 2]), Tensor([3, 4])], dim: 1)
        #expect(st.shape == [2, 2] && st.scalars == [1, 3, 2, 4])

        let y = Tensor.arange(24).reshape(2, 3, 4)
        let n1 = y.narrow(dim: 1, start: 1, length: 2)
        #expect(n1.shape == [2, 2, 4])
        #expect(n1.scalars == [4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23])
        let n2 = y.narrow(dim: -1, start: 3, length: 1)
        #expect(n2.shape == [2, 3, 1] && n2.scalars == [3, 7, 11, 15, 19, 23])
        #expect(y.narrow(dim: 0, start: 2, length: 0).shape == [0, 3, 4])
        #expect(y[1].shape == [3, 4] && y[1].scalars == Array((12..<24).map(Float.init)))
        #expect(y[0..<1].shape == [1, 3, 4])
        #expect(y.select(dim: 2, index: -1).scalars == [3, 7, 11, 15, 19, 23])

        let p = a.pad([1, 2, 1, 0], value: 9)
        #expect(p.shape == [3, 5])
        #expect(p.scalars == [9, 9, 9, 9, 9, 9, 1, 2, 9, 9, 9, 3, 4, 9, 9])
        #expect(a.pad([1, 1]).scalars == [0, 1, 2, 0, 0, 3, 4, 0])
        let crop = Tensor.arange(16).reshape(4, 4).pad([-1, -1, -1, -1])
        #expect(crop.shape == [2, 2] && crop.scalars == [5, 6, 9, 10])
    }

    @Test func itemAndScalars() {
        #expect(Tensor(-4.25).item() == -4.25)
        #expect(Tensor.ones([1, 1, 1]).item() == 1)
        #expect(Tensor([[1, 2], [3, 4]]).scalars == [1, 2, 3, 4])
        #expect(Tensor([[1, 2], [3, 4]]).T.scalars == [1, 3, 2, 4])
        #expect(Tensor([1, 2, 3]).sum().item() == 6)
    }
}
