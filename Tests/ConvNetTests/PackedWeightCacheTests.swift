import ConvNet
import Testing

/// Inference keeps each convolution weight in its kernel's layout between calls: the results must
/// match the definition on every path that keeps one, and a weight changed by any tensor-API write
/// must be repacked, never read stale.
@Suite(.serialized) struct PackedWeightCacheTests {
    /// (n, c, cout, side, kernel, stride, pad): one shape per path that keeps packed weights, at 2 threads.
    static let shapes: [(Int, Int, Int, Int, Int, Int, Int)] = [
        (1, 32, 40, 5, 3, 1, 1),    // ≤ 64 output pixels, ≥ 256 taps: pixels as GEMM rows (AVX2: weight rows split)
        (1, 64, 150, 6, 3, 1, 1),   // the same with three 64-channel panels, the last one partial
        (1, 64, 150, 7, 3, 1, 1),   // one image on 7×7 (49 pixels: three vectors and a column): weight rows split
        (2, 32, 40, 5, 3, 1, 1),    // the same over two images (a block of columns)
        (3, 20, 30, 5, 1, 1, 0),    // a 1×1 layer with < 128 output pixels
        (1, 320, 128, 7, 1, 1, 0),  // one image of a 1×1 layer, ≤ 64 pixels: weight rows split over threads
        (1, 256, 192, 5, 1, 1, 0),  //   the same on 25 pixels
        (1, 16, 64, 14, 3, 1, 1),   // Winograd F(2×2, 3×3), output channels split over threads
        (1, 16, 48, 16, 5, 1, 2),   // Winograd F(2×2, 5×5), likewise
        (1, 32, 70, 9, 3, 2, 1),    // the 32-channel strided kernel, blocks split over threads
        (4, 6, 16, 14, 5, 1, 0),    // the 16-channel direct kernel (LeNet's second layer)
        (2, 24, 36, 20, 3, 1, 1),   // im2col + blocked GEMM / Winograd over tiles
    ]

    @Test(arguments: 0..<shapes.count, [nil, 1] as [Int?])
    func keptWeightsMatchTheDefinition(_ index: Int, _ isaCap: Int?) {
        let (n, c, cout, side, k, s, p) = Self.shapes[index]
        let gen = Generator(seed: UInt64(7100 + index))
        let x = Tensor.randn([n, c, side, side], generator: gen)
        let w = Tensor.randn([cout, c, k, k], generator: gen) * 0.1
        let b = Tensor.randn([cout], generator: gen)
        let want = referenceConv(x, w, bias: b, stride: (s, s), padding: (p, p), dilation: (1, 1), groups: 1)
        withContext({ $0.threads = 2; $0.isaCap = isaCap }) {
            let first = withNoGrad { conv2d(x, w, bias: b, stride: s, padding: p) }
            let second = withNoGrad { conv2d(x, w, bias: b, stride: s, padding: p) }
            expectClose(first, want, rtol: 1e-4, atol: 1e-4)
            #expect(second.scalars == first.scalars, "the kept weights give what packing afresh gave")
            // recorded for autograd: the weight may change before backward, so nothing is kept
            w.requiresGrad = true
            let recorded = conv2d(x, w, bias: b, stride: s, padding: p)
            w.requiresGrad = false
            expectClose(recorded, want, rtol: 1e-4, atol: 1e-4)
        }
    }

    /// The fused inference convolution (batch norm folded into scale and shift, residual, ReLU) on
    /// the channel-split Winograd path (16 → 64, 3×3 on 14²); on single images of 7² layers, 1×1
    /// and 3×3, weight rows split over the threads (320 → 128, 64 → 320); on a 6² 3×3 layer with
    /// pixels as GEMM rows, whose middle 64-channel panel the two threads share (64 → 320); and on a 14² 1×1
    /// layer whose GEMM the threads split by rows (96 → 576): twice each (kept weights), on one
    /// thread and two.
    @Test(arguments: [(16, 64, 14, 3, 1), (320, 128, 7, 1, 0), (64, 320, 7, 3, 1), (64, 320, 6, 3, 1), (96, 576, 14, 1, 0)])
    func fusedEpilogueOnKeptWeights(_ c: Int, _ cout: Int, _ side: Int, _ k: Int, _ pad: Int) {
        let gen = Generator(seed: UInt64(7200 + c))
        let x = Tensor.randn([1, c, side, side], generator: gen), w = Tensor.randn([cout, c, k, k], generator: gen) * 0.1
        let scale = Tensor.rand([cout], generator: gen) + 0.5, shift = Tensor.randn([cout], generator: gen)
        let residual = Tensor.randn([1, cout, side, side], generator: gen)
        let conv = referenceConv(x, w, bias: nil, stride: (1, 1), padding: (pad, pad), dilation: (1, 1), groups: 1)
        let want = relu(conv * scale.reshape([1, cout, 1, 1]) + shift.reshape([1, cout, 1, 1]) + residual)
        for threads in [1, 2] {
            withContext({ $0.threads = threads }) {
                for _ in 0..<2 {
                    let got = withNoGrad { conv2dAffineReLU(x, w, padding: .pair(pad, pad), scale: scale, shift: shift, residual: residual, relu: true) }
                    expectClose(got, want, rtol: 1e-4, atol: 1e-4, "\(c) → \(cout), \(threads) threads")
                }
            }
        }
    }

    /// Every way the library writes a weight bumps its version, so the next inference repacks it.
    @Test(arguments: ["copy_", "assign", "optimizer", "loadStateDict", "data"])
    func aChangedWeightIsRepacked(_ how: String) throws {
        let gen = Generator(seed: 7300)
        let layer = Conv2d(32, 40, kernelSize: 3, padding: 1)
        let x = Tensor.randn([1, 32, 5, 5], generator: gen)
        try withContext({ $0.threads = 2 }) {
            _ = withNoGrad { layer(x) }                       // packs and keeps the weight
            let replacement = Tensor.randn(layer.weight.shape, generator: gen)
            switch how {
            case "copy_": withNoGrad { _ = layer.weight.copy_(replacement) }
            case "assign": layer.weight.assign(replacement)
            case "optimizer":
                layer.weight.grad = (layer.weight - replacement) * 10   // one step of lr 0.1 lands on it
                layer.bias!.grad = Tensor.zeros([40])
                SGD(layer.parameters(), lr: 0.1).step()
            case "loadStateDict":
                try layer.loadStateDict(["weight": replacement, "bias": layer.bias!.copy()])
            default:
                // a raw write that does not report itself (no markModifiedInPlace)
                let d = layer.weight.data
                for i in 0..<layer.weight.count { d[i] = replacement.scalars[i] }
            }
            let want = referenceConv(x, layer.weight.detached(), bias: layer.bias!.detached(), stride: (1, 1), padding: (1, 1),
                                     dilation: (1, 1), groups: 1)
            expectClose(layer.weight.detached(), replacement, rtol: 1e-5, atol: 1e-5)
            expectClose(withNoGrad { layer(x) }, want, rtol: 1e-4, atol: 1e-4)
        }
    }

    /// A weight whose raw pointer has been handed out may change without a version bump: it is
    /// packed afresh on every call, never kept (numerical gradient checks write so).
    @Test func weightsWithAHandedOutPointerAreNeverKept() {
        TensorMemory.releaseCached()
        let gen = Generator(seed: 7350)
        let x = Tensor.randn([1, 32, 5, 5], generator: gen)
        let kept = Tensor.randn([40, 32, 3, 3], generator: gen), exposed = Tensor.randn([40, 32, 3, 3], generator: gen)
        let pointer = exposed.data
        withContext({ $0.threads = 2 }) {
            _ = withNoGrad { conv2d(x, exposed, padding: 1) }
            #expect(TensorMemory.packedWeightBytes == 0)
            pointer[0] += 1
            let want = referenceConv(x, exposed, bias: nil, stride: (1, 1), padding: (1, 1), dilation: (1, 1), groups: 1)
            expectClose(withNoGrad { conv2d(x, exposed, padding: 1) }, want, rtol: 1e-4, atol: 1e-4)
            _ = withNoGrad { conv2d(x, kept, padding: 1) }
            #expect(TensorMemory.packedWeightBytes > 0)
        }
        TensorMemory.releaseCached()
    }

    /// The library's own ops read a weight without handing its pointer out: a weight that was
    /// printed, summed, scaled, broadcast or multiplied is still kept packed (only `data` stops that).
    @Test func readingAWeightKeepsItPacked() {
        TensorMemory.releaseCached()
        let gen = Generator(seed: 7370)
        let x = Tensor.randn([1, 32, 5, 5], generator: gen), w = Tensor.randn([40, 32, 3, 3], generator: gen)
        _ = (w.description, w.sum(), w.sum(dim: 1), w * 2, w.reshape([40, 288]).matmul(Tensor.randn([288, 3], generator: gen)))
        _ = (w.max(dim: 0), w + Tensor.ones([3]), w.mean())
        withContext({ $0.threads = 2 }) { _ = withNoGrad { conv2d(x, w, padding: 1) } }
        #expect(TensorMemory.packedWeightBytes > 0, "the weight is kept packed")
        TensorMemory.releaseCached()
        _ = w.data
        withContext({ $0.threads = 2 }) { _ = withNoGrad { conv2d(x, w, padding: 1) } }
        #expect(TensorMemory.packedWeightBytes == 0, "not once its pointer is out")
    }

    /// Weights that are freed take their packed forms with them at once: a loop over fresh weights
    /// keeps only the live weight's entry, and none after the loop.
    @Test func freedWeightsLeaveTheCache() {
        TensorMemory.releaseCached()
        let gen = Generator(seed: 7400)
        let x = Tensor.randn([1, 64, 4, 4], generator: gen)
        let oneEntry = 200 * 64 * 9 * 4
        withContext({ $0.threads = 2 }) {
            for _ in 0..<40 {
                let w = Tensor.randn([200, 64, 3, 3], generator: gen)
                _ = withNoGrad { conv2d(x, w, padding: 1) }
                // kept while the weight lives; the weights before it left with them
                #expect(TensorMemory.packedWeightBytes > 0)
                #expect(TensorMemory.packedWeightBytes < 3 * oneEntry, "\(TensorMemory.packedWeightBytes) bytes kept")
            }
        }
        #expect(TensorMemory.packedWeightBytes == 0, "the last weight's entry left when it was freed")
        let w = Tensor.randn([200, 64, 3, 3], generator: gen)
        _ = withNoGrad { conv2d(x, w, padding: 1) }
        #expect(TensorMemory.packedWeightBytes > 0)
        TensorMemory.releaseCached()
        #expect(TensorMemory.packedWeightBytes == 0)
        _ = withNoGrad { conv2d(x, w, padding: 1) }
        #expect(TensorMemory.packedWeightBytes > 0, "packed again after the cache was emptied")
    }
}
