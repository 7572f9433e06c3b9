import ConvNet
import Foundation
import Testing

/// A D2L reader's residual block, with the book's in-place `Y += X`.
private final class BookResidual: Module {
    let conv1: Conv2d, conv2: Conv2d, conv3: Conv2d?
    let bn1: BatchNorm2d, bn2: BatchNorm2d
    init(_ c: Int, _ n: Int, use1x1conv: Bool = false, strides: Int = 1) {
        conv1 = Conv2d(c, n, kernelSize: 3, stride: strides, padding: 1)
        conv2 = Conv2d(n, n, kernelSize: 3, padding: 1)
        conv3 = use1x1conv ? Conv2d(c, n, kernelSize: 1, stride: strides) : nil
        bn1 = BatchNorm2d(n); bn2 = BatchNorm2d(n)
    }
    func forward(_ x: Tensor) -> Tensor {
        var Y = relu(bn1(conv1(x)))
        Y = bn2(conv2(Y))
        var X = x
        if let conv3 { X = conv3(X) }
        Y += X
        return relu(Y)
    }
}

/// A forward whose control flow depends on values: the engine must not replay it.
private final class DataDependent: Module {
    let conv = Conv2d(1, 2, kernelSize: 3)
    func forward(_ x: Tensor) -> Tensor {
        let y = conv(x)
        return y.sum().item() > 0 ? relu(y) : -y
    }
}

/// MobileNetV2's pattern as a user writes it: pointwise conv → batch norm → ReLU6, depthwise conv →
/// ReLU6 (a PyTorch export folds the batch norm, leaving conv → clamp), pointwise conv → batch norm.
private final class InvertedResidualStem: Module {
    let expand = Conv2d(8, 24, kernelSize: 1, bias: false), bn1 = BatchNorm2d(24)
    let depthwise = Conv2d(24, 24, kernelSize: 3, padding: 1, groups: 24)
    let project = Conv2d(24, 8, kernelSize: 1, bias: false), bn2 = BatchNorm2d(8)
    func forward(_ x: Tensor) -> Tensor {
        var y = bn1(expand(x)).clamp(min: 0, max: 6)
        y = depthwise(y).clamp(min: 0, max: 6)
        return bn2(project(y))
    }
}

/// An inverted residual's first two layers with a widened map too large for a core's cache:
/// pointwise conv → batch norm → ReLU6, depthwise conv (any kernel, padding, stride) → batch norm → ReLU6.
private final class WideExpandDepthwise: Module {
    let expand: Conv2d, bn1: BatchNorm2d, depthwise: Conv2d, bn2: BatchNorm2d
    init(_ c: Int, _ e: Int, kernel: Size2, padding: Size2, stride: Int) {
        expand = Conv2d(c, e, kernelSize: 1, bias: false)
        bn1 = BatchNorm2d(e)
        depthwise = Conv2d(e, e, kernelSize: kernel, stride: Size2(stride, stride), padding: .pair(padding.h, padding.w), groups: e)
        bn2 = BatchNorm2d(e)
    }
    func forward(_ x: Tensor) -> Tensor {
        let y = bn1(expand(x)).clamp(min: 0, max: 6)
        return bn2(depthwise(y)).clamp(min: 0, max: 6)
    }
}

/// A whole inverted residual: [pointwise conv → batch norm → ReLU6], depthwise conv → batch norm →
/// ReLU6, pointwise conv (→ batch norm, or its bias alone as a PyTorch export leaves it) [+ input].
private final class InvertedResidual: Module {
    let expand: Conv2d?, bn1: BatchNorm2d?, depthwise: Conv2d, bn2: BatchNorm2d, project: Conv2d, bn3: BatchNorm2d?
    let residual: Bool
    init(_ c: Int, _ e: Int, _ cout: Int, expands: Bool, stride: Int, projectNorm: Bool, residual: Bool) {
        expand = expands ? Conv2d(c, e, kernelSize: 1, bias: false) : nil
        bn1 = expands ? BatchNorm2d(e) : nil
        depthwise = Conv2d(e, e, kernelSize: 3, stride: stride, padding: 1, groups: e, bias: false)
        bn2 = BatchNorm2d(e)
        project = Conv2d(e, cout, kernelSize: 1, bias: !projectNorm)
        bn3 = projectNorm ? BatchNorm2d(cout) : nil
        self.residual = residual
    }
    func forward(_ x: Tensor) -> Tensor {
        var y = x
        if let expand, let bn1 { y = bn1(expand(y)).clamp(min: 0, max: 6) }
        y = bn2(depthwise(y)).clamp(min: 0, max: 6)
        y = project(y)
        if let bn3 { y = bn3(y) }
        return residual ? y + x : y
    }
}

/// conv → clamp(0, 6), as a PyTorch export of MobileNetV2 leaves it (batch norm folded).
private final class ConvReLU6: Module {
    let conv = Conv2d(8, 16, kernelSize: 3, padding: 1)
    func forward(_ x: Tensor) -> Tensor { conv(x).clamp(min: 0, max: 6) }
}

/// A wide 1×1 layer clamped to [0, 6] (ReLU6), for maps of 7×7 and 7×8.
private final class PointwiseReLU6: Module {
    let conv = Conv2d(400, 20, kernelSize: 1)
    func forward(_ x: Tensor) -> Tensor { conv(x).clamp(min: 0, max: 6) }
}

/// MobileNet's stem (3×3/2 from three channels → batch norm → ReLU6) and a residual pointwise
/// layer (1×1 → batch norm → + input), on maps wide enough that each image's GEMM writes its
/// output in place (and more than 16 output channels: narrower layers take the direct kernel):
/// there the epilogue rides on the GEMM's stores.
private final class StemAndPointwise: Module {
    let stem = Conv2d(3, 24, kernelSize: 3, stride: 2, padding: 1, bias: false), bn1 = BatchNorm2d(24)
    let point = Conv2d(24, 24, kernelSize: 1), bn2 = BatchNorm2d(24)
    func forward(_ x: Tensor) -> Tensor {
        let y = bn1(stem(x)).clamp(min: 0, max: 6)
        return bn2(point(y)) + y
    }
}

/// A pointwise layer with a bias, a residual and a ReLU (ResNet's bottleneck exit).
private final class PointwiseReLU: Module {
    let point: Conv2d
    init(channels: Int = 24) { point = Conv2d(channels, channels, kernelSize: 1) }
    func forward(_ x: Tensor) -> Tensor { relu(point(x) + x) }
}

/// The module's eager output for x (no gradient recording), its compiled output after a warm-up
/// call that traces it, and how many steps the compiled forward replays (nil: it runs eagerly).
private func eagerAndCompiled(_ module: any Module, _ x: Tensor) -> (eager: Tensor, compiled: Tensor, steps: Int?) {
    let fast = compile(module)
    let eager = withNoGrad { module(x) }
    _ = withNoGrad { fast(x) }
    let compiled = withNoGrad { fast(x) }
    return (eager, compiled, withNoGrad { fast.replaySteps(forInputShape: x.shape) })
}

/// Puts the module in eval mode after one training-mode call on `warmUp`, so its batch norms' running
/// statistics (and so the eval-mode affine maps) are not identities.
private func evalAfterBatchStatistics<M: Module>(_ module: M, warmUp: Tensor) -> M {
    _ = module(warmUp)
    module.eval()
    return module
}

/// A standard-normal tensor times `scale`, with a NaN at flat index `nanAt`.
private func randn(_ shape: [Int], times scale: Float, nanAt: Int) -> Tensor {
    var v = (Tensor.randn(shape) * scale).scalars
    v[nanAt] = .nan
    return Tensor(shape: shape, scalars: v)
}

/// NaN in the same places, and the other values within the tolerances.
private func expectSameNaNsAndClose(_ got: Tensor, _ want: Tensor, rtol: Float, atol: Float, _ what: String,
                                    sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(zip(got.scalars, want.scalars).allSatisfy { $0.isNaN == $1.isNaN }, "\(what): NaN", sourceLocation: sourceLocation)
    let finite = { (t: Tensor) in Tensor(shape: t.shape, scalars: t.scalars.map { $0.isNaN ? 0 : $0 }) }
    expectClose(finite(got), finite(want), rtol: rtol, atol: atol, what, sourceLocation: sourceLocation)
}

/// A network's stem as a user writes it: conv (few input channels, a large kernel) → ReLU.
private final class Stem: Module {
    let conv: Conv2d
    init(_ c: Int, _ cout: Int, kernel: Int, stride: Int) {
        conv = Conv2d(c, cout, kernelSize: Size2(kernel, kernel), stride: Size2(stride, stride), padding: .pair(kernel / 2, kernel / 2))
    }
    func forward(_ x: Tensor) -> Tensor { relu(conv(x)) }
}

@Suite struct EngineFusionTests {
    /// Stems at inference take the implicit GEMM (the taps read from the image's padded phases, no
    /// im2col matrix): ResNet's 7×7/2 from three channels and a 5×5/1 from two, rows of 26 and 70
    /// outputs (64-pixel tiles with tails), 6-channel panels with a partial last one of 1–5 channels, two images;
    /// MobileNetV2's 3×3/2 from three channels (two images) and a 3×3/1 from four (one image);
    /// batches of five or six images split over threads (a stem; LeNet's two layers, which take
    /// the implicit GEMM where the direct kernel is missing, on AVX2).
    @Test(arguments: [(3, 26, 7, 2, 50, 52, 2), (2, 20, 5, 1, 9, 70, 2), (1, 32, 5, 2, 31, 27, 2), (3, 32, 3, 2, 50, 52, 2),
                      (4, 24, 3, 1, 20, 30, 1), (3, 17, 3, 2, 30, 40, 1), (3, 19, 5, 1, 24, 36, 1), (2, 21, 7, 2, 40, 33, 1),
                      (3, 22, 3, 1, 17, 70, 1), (3, 32, 3, 2, 30, 30, 5), (1, 6, 5, 1, 28, 28, 5), (6, 16, 5, 1, 12, 12, 6)])
    func stemsTakeTheImplicitGEMM(_ c: Int, _ cout: Int, _ kernel: Int, _ stride: Int, _ h: Int, _ w: Int, _ images: Int) {
        Tensor.manualSeed(15)
        let stem = Stem(c, cout, kernel: kernel, stride: stride)
        stem.eval()
        let fast = compile(stem)
        let x = Tensor.randn(images, c, h, w)
        withContext({ $0.threads = 2 }) {
            _ = withNoGrad { fast(x) }
            let got = withNoGrad { fast(x) }
            let want = relu(referenceConv(x, stem.conv.weight, bias: stem.conv.bias, stride: (stride, stride),
                                          padding: (kernel / 2, kernel / 2), dilation: (1, 1), groups: 1))
            #expect(withNoGrad { fast.replaySteps(forInputShape: x.shape) } == 1)
            expectClose(got, want, rtol: 1e-4, atol: 1e-4, "\(c)→\(cout) \(kernel)×\(kernel)/\(stride) on \(h)×\(w)")
        }
    }

    /// The GEMM's fused epilogue (affine map, residual, ReLU, clamp) gives the eager values, NaN
    /// included, image by image of a batch: two steps, one per convolution.
    @Test func epiloguesRideOnTheGEMMsStores() {
        Tensor.manualSeed(14)
        let block = evalAfterBatchStatistics(StemAndPointwise(), warmUp: Tensor.randn(2, 3, 48, 48) * 3)
        let stem = eagerAndCompiled(block, randn([3, 3, 48, 48], times: 3, nanAt: 48 * 48 + 100))
        #expect(stem.steps == 2)
        #expect(stem.compiled.scalars.contains { $0.isNaN } && stem.compiled.scalars.contains { $0 < 0 })
        expectSameNaNsAndClose(stem.compiled, stem.eager, rtol: 1e-5, atol: 1e-5, "stem and residual pointwise, eval")
        let exit = PointwiseReLU()
        exit.eval()
        let wide = PointwiseReLU(channels: 256)
        wide.eval()
        // several images on a 24×24 map, one on a 48×48 map (its columns split over threads, the
        // residual moving with them), one on a 7×7 map (the few-pixel GEMM split by rows: with 256
        // channels the second thread's rows, and its residual, start below row 0)
        for (x, what) in [(Tensor.randn(3, 24, 24, 24), "24×24"), (Tensor.randn(1, 24, 48, 48), "48×48"),
                          (Tensor.randn(1, 24, 7, 7), "7×7"), (Tensor.randn(1, 256, 7, 7), "7×7, 256 channels")] {
            withContext({ $0.threads = 2 }) {
                let r = eagerAndCompiled(x.shape[1] == 256 ? wide : exit, x)
                #expect(r.steps == 1)
                #expect(r.compiled.scalars.allSatisfy { $0 >= 0 } && r.compiled.scalars.contains { $0 > 0 })
                expectClose(r.compiled, r.eager, rtol: 1e-5, atol: 1e-5, "pointwise + residual + ReLU on \(what), eval")
            }
        }
    }

    /// A 7×7 map's 49 columns are three vectors and one column of its own in the GEMM's tile; a
    /// 7×8 map's 56 are four vectors. Each value is the same sum in the same order either way, so
    /// the 7×7 output is the 7×8 one's first seven columns bit for bit: through the affine map, the
    /// residual and ReLU (NaN made 0), and through a fused clamp past both bounds (NaN kept), with 400 input
    /// channels (two blocks of the GEMM's depth, the second accumulating onto the first).
    @Test func sevenColumnTilesMatchTheVectorPath() {
        Tensor.manualSeed(31)
        let gen = Generator(seed: 31)
        let clean = Tensor.randn([1, 400, 7, 7], generator: gen) * 2
        var v = clean.scalars
        v[3 * 49 + 48] = .nan   // channel 3's last pixel: every output's column 48 is NaN (ReLU makes it 0)
        let withNaN = Tensor(shape: [1, 400, 7, 7], scalars: v)
        let w = Tensor.randn([20, 400, 1, 1], generator: gen) * 0.3
        let scale = Tensor.randn([20], generator: gen), shift = Tensor.randn([20], generator: gen)
        let r49 = Tensor.randn([1, 20, 7, 7], generator: gen), r56 = r49.pad([0, 1]).contiguous()
        func firstSeven(_ y: Tensor) -> [Float] { y.narrow(dim: 3, start: 0, length: 7).contiguous().scalars }
        func same(_ a: [Float], _ b: [Float]) -> Bool { zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern } }
        let layer = PointwiseReLU6()
        layer.eval()
        let fast = compile(layer)
        for threads in [1, 2] {
            withContext({ $0.threads = threads }) {
                for x49 in [clean, withNaN] {
                    let x56 = x49.pad([0, 1]).contiguous()
                    let a49 = withNoGrad { conv2dAffineReLU(x49, w, scale: scale, shift: shift, residual: r49, relu: true) }
                    let a56 = withNoGrad { conv2dAffineReLU(x56, w, scale: scale, shift: shift, residual: r56, relu: true) }
                    #expect(same(a49.scalars, firstSeven(a56)), "affine map, residual, ReLU; \(threads) threads")
                }
                for x49 in [clean, withNaN] {
                    let c49 = withNoGrad { fast(x49 * 20) }, c56 = withNoGrad { fast(x49.pad([0, 1]).contiguous() * 20) }
                    #expect(same(c49.scalars, firstSeven(c56)), "clamp; \(threads) threads")
                }
                let c49 = withNoGrad { fast(clean * 20) }
                let lastColumn = (0..<20).map { c49.scalars[$0 * 49 + 48] }
                #expect(lastColumn.contains(6) && lastColumn.contains(0), "both bounds reached in the last column")
            }
        }
    }

    /// A few columns past a full 64-wide panel (a 14×14 map's 196 = 3·64 + 4; rows of 65 to 68
    /// pixels) ride on that panel's tile, each column on its own; with the map widened so they fall
    /// in vectors instead, every value is the same sum in the same order, so the outputs agree bit
    /// for bit: affine map, residual and ReLU (NaN made 0), with 400 input channels (two blocks of
    /// the GEMM's depth), on one thread and on two (rows split, the last panel of 4 rows).
    @Test func columnsPastAFullPanelMatchTheVectorPath() {
        Tensor.manualSeed(32)
        let gen = Generator(seed: 32)
        func same(_ a: [Float], _ b: [Float]) -> Bool { a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern } }
        for (h, w) in [(14, 14), (1, 65), (1, 66), (1, 67), (1, 68), (2, 66)] {
            let cin = 400, cout = 28, wide = 80
            var v = (Tensor.randn([1, cin, h, w], generator: gen) * 2).scalars
            v[3 * h * w + h * w - 1] = .nan   // every output's last pixel is NaN (ReLU makes it 0)
            let x = Tensor(shape: [1, cin, h, w], scalars: v)
            let weight = Tensor.randn([cout, cin, 1, 1], generator: gen) * 0.3
            let scale = Tensor.randn([cout], generator: gen), shift = Tensor.randn([cout], generator: gen)
            let residual = Tensor.randn([1, cout, h, w], generator: gen)
            let (xWide, residualWide) = (x.pad([0, wide - w]).contiguous(), residual.pad([0, wide - w]).contiguous())
            for threads in [1, 2] {
                withContext({ $0.threads = threads }) {
                    let y = withNoGrad { conv2dAffineReLU(x, weight, scale: scale, shift: shift, residual: residual, relu: true) }
                    let yWide = withNoGrad {
                        conv2dAffineReLU(xWide, weight, scale: scale, shift: shift, residual: residualWide, relu: true)
                    }
                    let agree = same(y.scalars, yWide.narrow(dim: 3, start: 0, length: w).contiguous().scalars)
                    #expect(agree, "\(h)×\(w) map, \(threads) threads")
                    #expect(y.scalars.allSatisfy { $0 >= 0 } && y.scalars.contains { $0 > 0 })
                    let lastColumn = (0..<cout).map { y.scalars[$0 * h * w + h * w - 1] }
                    #expect(lastColumn.allSatisfy { $0 == 0 }, "NaN made 0 in the last column")
                }
            }
        }
    }

    /// Inference fuses a clamp (ReLU6) into the convolution before it, with or without a batch
    /// norm between them: three convolutions (one inverted-residual step) and nothing else, the values the eager forward gives,
    /// NaN kept as `clamp` keeps it.
    @Test func reluSixFusesIntoTheConvolution() {
        Tensor.manualSeed(13)
        let block = evalAfterBatchStatistics(InvertedResidualStem(), warmUp: Tensor.randn(4, 8, 7, 7) * 4)
        let x = randn([2, 8, 7, 7], times: 4, nanAt: 3)
        let inverted = eagerAndCompiled(block, x)
        #expect(inverted.steps == 1)   // expand, depthwise and project as one inverted residual
        #expect(inverted.compiled.scalars.contains { $0.isNaN })
        expectSameNaNsAndClose(inverted.compiled, inverted.eager, rtol: 1e-4, atol: 1e-4, "inverted residual, eval")
        // conv → clamp with no batch norm between (the bias then rides on the epilogue instead of the
        // kernel's accumulators: the same values up to rounding)
        let plain = eagerAndCompiled(ConvReLU6(), x)
        #expect(plain.compiled.scalars.allSatisfy { $0.isNaN || (0...6).contains($0) })
        expectSameNaNsAndClose(plain.compiled, plain.eager, rtol: 1e-5, atol: 1e-5, "conv → ReLU6")
        #expect(plain.steps == 1)
    }

    /// A widening 1×1 layer and the depthwise layer reading it run as one step; with AVX-512 and a
    /// widened map of more than 2¹⁸ values per image (48 × 80 × 76 here), band by band of output
    /// rows (two or more bands of 35 or fewer rows here, meeting inside the map, one thread or two,
    /// the top and bottom bands at the padded edges): the values of the layers run apart.
    @Test(arguments: [(Size2(3, 3), Size2(1, 1), 2), (Size2(3, 3), Size2(1, 1), 1), (Size2(5, 3), Size2(2, 1), 1),
                      (Size2(5, 5), Size2(0, 0), 2)])
    func expandAndDepthwiseRunInBands(_ kernel: Size2, _ padding: Size2, _ stride: Int) {
        Tensor.manualSeed(17)
        let block = evalAfterBatchStatistics(WideExpandDepthwise(8, 48, kernel: kernel, padding: padding, stride: stride),
                                             warmUp: Tensor.randn(2, 8, 20, 19) * 3)
        let x = randn([2, 8, 80, 76], times: 3, nanAt: 5 * 76 + 9)
        for threads in [1, 2] {
            let (eager, compiled, steps) = withContext({ $0.threads = threads; $0.profiling = true }) { eagerAndCompiled(block, x) }
            #expect(steps == 1)
            expectSameNaNsAndClose(compiled, eager, rtol: 1e-5, atol: 1e-5, "\(kernel) p\(padding) /\(stride), \(threads) threads")
        }
        if GEMM.isa == "avx512" {
            let label = "conv fwd 8→48 1×1 + depthwise \(kernel.h)×\(kernel.w)/\(stride) @80×76"
            #expect(Profiler.entries.contains { $0.name == label }, "the banded kernel ran")
        }
    }

    /// A whole inverted residual runs as one step; with AVX-512 and an intermediate map of more than
    /// 2¹⁸ values per image, band by band, the depthwise rows of each band multiplied by the
    /// the projection (and the residual added) as they are made: with and without the expansion (without
    /// it, the depthwise layer reads the input's rows in place), with a batch norm or a bias after
    /// the projection, stride 1 or 2, one thread or two; 76 wide, 96 (rows on 64-byte lines: the
    /// depthwise rows' aligned loads, the first band padded above, the rest not) and 40 (narrower
    /// than the in-place rows: padded planes, whose last band's outputs read the zero row below).
    @Test(arguments: [(8, 48, 12, true, 2, true, false, 76), (8, 48, 8, true, 1, false, true, 76), (48, 48, 16, false, 1, false, false, 76),
                      (48, 48, 48, false, 1, true, true, 76), (176, 176, 24, false, 2, true, false, 76),
                      (8, 48, 12, true, 2, true, false, 96), (8, 48, 8, true, 1, false, true, 96), (48, 48, 48, false, 1, true, true, 96),
                      (176, 176, 24, false, 2, true, false, 96), (176, 176, 24, false, 1, false, false, 40)])
    func invertedResidualRunsInBands(_ c: Int, _ e: Int, _ cout: Int, _ expands: Bool, _ stride: Int, _ projectNorm: Bool,
                                     _ residual: Bool, _ width: Int) {
        Tensor.manualSeed(23)
        let block = evalAfterBatchStatistics(InvertedResidual(c, e, cout, expands: expands, stride: stride, projectNorm: projectNorm,
                                                              residual: residual), warmUp: Tensor.randn(2, c, 20, 19) * 3)
        let x = randn([2, c, 80, width], times: 3, nanAt: 7 * width + 3)
        for threads in [1, 2] {
            let (eager, compiled, steps) = withContext({ $0.threads = threads; $0.profiling = true }) { eagerAndCompiled(block, x) }
            #expect(steps == 1)
            expectSameNaNsAndClose(compiled, eager, rtol: 1e-4, atol: 1e-4, "\(c)→\(e)→\(cout) /\(stride), \(threads) threads")
        }
        if GEMM.isa == "avx512" {
            let label = "conv fwd " + (expands ? "\(c)→\(e) 1×1 + depthwise" : "depthwise \(e)") + " 3×3/\(stride) + \(e)→\(cout) 1×1 @80×\(width)"
            #expect(Profiler.entries.contains { $0.name == label }, "the banded kernel ran: \(label)")
        }
    }

    /// One image of a small map: each thread widens its share of the channels (whole 6-row panels
    /// of the expansion weights; 200 channels leave a last panel of 2) and runs the depthwise layer
    /// on them at once, then the projection runs on the whole: the eager values, NaN kept, on one
    /// thread and two, stride 1 (with the residual) and 2, maps of even and odd sides.
    @Test(arguments: [(16, 96, 16, 1, 14), (24, 144, 32, 2, 28), (32, 200, 32, 1, 7), (8, 40, 12, 2, 9)])
    func smallMapsWidenAndFilterChannelsByThread(_ c: Int, _ e: Int, _ cout: Int, _ stride: Int, _ side: Int) {
        Tensor.manualSeed(29)
        let block = evalAfterBatchStatistics(InvertedResidual(c, e, cout, expands: true, stride: stride, projectNorm: true,
                                                              residual: stride == 1 && c == cout), warmUp: Tensor.randn(2, c, side, side) * 3)
        let x = randn([1, c, side, side], times: 3, nanAt: side + 2)
        for threads in [1, 2] {
            Profiler.reset()
            let (eager, compiled, steps) = withContext({ $0.threads = threads; $0.profiling = true }) { eagerAndCompiled(block, x) }
            #expect(steps == 1)
            #expect(compiled.scalars.contains { $0.isNaN } && compiled.scalars.contains { !$0.isNaN })
            expectSameNaNsAndClose(compiled, eager, rtol: 1e-4, atol: 1e-4, "\(c)→\(e)→\(cout) /\(stride) on \(side)², \(threads) threads")
            if GEMM.isa == "avx512" {
                let label = "conv fwd \(c)→\(e) 1×1 + depthwise 3×3/\(stride) by channels @\(side)×\(side)"
                #expect(Profiler.entries.contains { $0.name == label }, "the channel-split kernel ran: \(label)")
            }
        }
    }

    /// On small maps the two layers run apart, the depthwise one reading its planes where they lie
    /// with the epilogue (the batch norm's scale and shift, ReLU6) on its stores: the eager values, NaN kept.
    @Test(arguments: [(7, 1), (14, 2), (9, 1)])
    func depthwiseTilesApplyTheEpilogue(_ side: Int, _ stride: Int) {
        Tensor.manualSeed(19)
        let block = evalAfterBatchStatistics(WideExpandDepthwise(8, 40, kernel: 3, padding: 1, stride: stride),
                                             warmUp: Tensor.randn(2, 8, side, side) * 3)
        _ = withNoGrad { block.bn2.weight!.mul_(5) }   // past the upper bound too
        let x = randn([2, 8, side, side], times: 3, nanAt: 2 * side + 1)
        let (eager, compiled, steps) = eagerAndCompiled(block, x)
        #expect(steps == 1)
        #expect(compiled.scalars.contains { $0 == 6 } && compiled.scalars.contains { $0 == 0 }, "both clamp bounds reached")
        expectSameNaNsAndClose(compiled, eager, rtol: 1e-5, atol: 1e-5, "\(side)×\(side) /\(stride)")
    }

    /// A replay keeps each fused layer's batch norm affine map between calls, and makes it again
    /// once a statistic or parameter is written: in place (`mul_`, `copy_`, `add_`) or by a
    /// training-mode call. Layers run apart (7×7) and banded (80×80) alike.
    @Test(arguments: [7, 80])
    func changedStatisticsReachTheCompiledModel(_ side: Int) {
        Tensor.manualSeed(29)
        let block = evalAfterBatchStatistics(WideExpandDepthwise(8, 48, kernel: 3, padding: 1, stride: 1),
                                             warmUp: Tensor.randn(2, 8, 9, 9) * 3)
        let fast = compile(block)
        let x = Tensor.randn(1, 8, side, side)
        _ = withNoGrad { fast(x) }
        let changes: [(String, () -> Void)] = [
            ("running mean mul_", { _ = withNoGrad { block.bn1.runningMean!.mul_(0.5) } }),
            ("running var copy_", { _ = withNoGrad { block.bn2.runningVar!.copy_(block.bn2.runningVar! * 3) } }),
            ("weight add_", { _ = withNoGrad { block.bn2.weight!.add_(1) } }),
            ("a training-mode call", { block.train(); _ = block(Tensor.randn(2, 8, 9, 9) * 5); block.eval() }),
        ]
        for (what, change) in changes {
            let before = withNoGrad { fast(x) }
            change()
            let eager = withNoGrad { block(x) }, compiled = withNoGrad { fast(x) }
            #expect((compiled - before).abs().max().item() > 1e-3, "\(what) changed the output")
            expectClose(compiled, eager, rtol: 1e-5, atol: 1e-5, "after \(what), \(side)×\(side)")
        }
    }

    /// Fusion is found in the traced graph, whatever module wrote the ops.
    @Test func fusionsFoundInAUsersBlock() {
        Tensor.manualSeed(11)
        let block = BookResidual(4, 8, use1x1conv: true, strides: 2)
        let fast = compile(block)
        let x = Tensor.randn(2, 4, 8, 8)
        _ = block(Tensor.randn(4, 4, 8, 8))   // batch statistics, so eval maps are not identities
        block.eval()
        let eager = withNoGrad { block(x) }
        _ = withNoGrad { fast(x) }
        let fused = withNoGrad { fast(x) }
        // conv1+bn1+relu, conv3 (shortcut), conv2+bn2+add+relu: three convolutions, nothing else
        #expect(withNoGrad { fast.replaySteps(forInputShape: x.shape) } == 3)
        expectClose(fused, eager, rtol: 1e-4, atol: 1e-5, "book residual, eval")
        // training: bn1+relu fuse (one step instead of two); the in-place add stays an add
        block.train()
        _ = fast(x)
        // conv1, bn1·relu, conv2, bn2, conv3, add, relu, and the two batch norms' counters
        #expect(fast.replaySteps(forInputShape: x.shape) == 9)
        #expect(fast.fallbackReason == nil)
    }

    @Test func userBlockMatchesZooBlockThroughTheEngine() {
        Tensor.manualSeed(12); let mine = BookResidual(8, 8)
        Tensor.manualSeed(12); let zoo = Residual(8, 8)
        let x = Tensor.randn(2, 8, 6, 6)
        let (a, b) = (compile(mine), compile(zoo))
        for _ in 0..<2 { #expect(a(x).scalars == b(x).scalars) }
        #expect(a.replaySteps(forInputShape: x.shape) == b.replaySteps(forInputShape: x.shape))
    }

    @Test func dataDependentForwardRunsEagerly() {
        let m = DataDependent()
        let fast = compile(m)
        let x = Tensor.randn(1, 1, 5, 5)
        let first = fast(x), second = fast(x)
        #expect(fast.fallbackReason?.contains("reads tensor values") == true)
        #expect(first.scalars == m(x).scalars && second.scalars == m(x).scalars)
    }

    @Test func randomTensorsInForwardRunEagerly() {
        final class Noisy: Module {
            func forward(_ x: Tensor) -> Tensor { x + Tensor.rand(x.shape) }
        }
        let fast = compile(Noisy())
        let x = Tensor.zeros(4)
        let a = fast(x), b = fast(x)
        #expect(fast.fallbackReason?.contains("random") == true && a.scalars != b.scalars)
    }

    /// A compiled module inside a compiled model runs op by op within the outer trace, so the outer
    /// graph replays its ops (not its first outputs) on new inputs.
    @Test func compiledModuleInsideACompiledModel() {
        Tensor.manualSeed(13)
        let inner = Sequential(Conv2d(1, 4, kernelSize: 3), ReLU())
        let model = Sequential(compile(inner), Flatten(), Linear(4 * 4 * 4, 3))
        let fast = compile(model)
        for seed in 0..<3 {
            let x = Tensor.randn([2, 1, 6, 6], generator: Generator(seed: UInt64(seed)))
            expectClose(fast(x), model(x), rtol: 1e-5, atol: 1e-6, "call \(seed)")
        }
        #expect(fast.fallbackReason == nil)
    }

    /// State a forward changes in place (a buffer of the module) would be missed by a replay.
    @Test func inPlaceWriteToModuleStateRunsEagerly() {
        final class Counting: Module {
            let calls = Tensor.zeros(1)
            func forward(_ x: Tensor) -> Tensor { calls.add_(1); return x * 2 }
        }
        let m = Counting()
        let fast = compile(m)
        for _ in 0..<3 { _ = withNoGrad { fast(Tensor.ones(2)) } }
        #expect(fast.fallbackReason?.contains("outside the forward") == true && m.calls.item() == 3)
    }

    /// BatchNorm's counter advances on replays too.
    @Test func sideEffectsReplay() {
        let bn = BatchNorm2d(3)
        let fast = compile(Sequential(bn, ReLU()))
        for _ in 0..<3 { _ = fast(Tensor.randn(2, 3, 4, 4)) }
        #expect(bn.numBatchesTracked!.item() == 3)
    }

    /// House rule: fusion, layout, Winograd and ISA choices belong to the engine, not to model or layer files.
    @Test func modelAndLayerFilesHoldNoKernelPolicy() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let forbidden = ["Fusion", "conv2dAffineReLU", "batchNormReLU", "ConvolutionOptions", "Winograd", "GEMM", "import CKernels", "ck_gemm", "OptimizedGraph"]
        var checked = 0
        for folder in ["Sources/ConvNetNN/Models", "Sources/ConvNetNN/Layers"] {
            let dir = root.appendingPathComponent(folder)
            for file in try FileManager.default.contentsOfDirectory(atPath: dir.path) where file.hasSuffix(".swift") {
                let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
                for word in forbidden { #expect(!text.contains(word), "\(folder)/\(file) mentions \(word)") }
                checked += 1
            }
        }
        #expect(checked >= 10)
    }
}
