import ConvNet
import Foundation
import Testing

/// Every differentiable op against central finite differences.
@Suite struct GradCheckTests {
    @Test func arithmeticWithBroadcasting() {
        let a = param([2, 3, 4], seed: 1), b = param([3, 1], seed: 2), c = param([4], seed: 3, offset: 3)
        gradCheck([a, b], "add") { $0[0] + $0[1] }
        gradCheck([a, b], "sub") { $0[0] - $0[1] }
        gradCheck([a, b], "mul") { $0[0] * $0[1] }
        gradCheck([a, c], "div") { $0[0] / $0[1] }
        gradCheck([a], "neg and scalars") { (-$0[0] * 2 + 1) / 3 - 0.5 }
        gradCheck([c], "scalar over tensor") { 2 / $0[0] + (1 - $0[0]) }
        gradCheck([a, a], "same tensor twice") { $0[0] * $0[1] + $0[0] }
    }

    @Test func unaryMath() {
        let x = param([3, 5], seed: 4), pos = param([3, 5], seed: 5, scale: 0.3, offset: 2)
        gradCheck([x], "exp") { $0[0].exp() }
        gradCheck([pos], "log") { $0[0].log() }
        gradCheck([pos], "sqrt") { $0[0].sqrt() }
        gradCheck([pos], "pow") { $0[0].pow(2.5) }
        gradCheck([x], "abs") { $0[0].abs() }
        gradCheck([x], "clamp") { $0[0].clamp(min: -0.5, max: 0.7) }
        gradCheck([x], "relu") { relu($0[0]) }
        gradCheck([x], "sigmoid") { sigmoid($0[0]) }
        gradCheck([x], "tanh") { tanh($0[0]) }
        gradCheck([x, pos], "maximum") { $0[0].maximum($0[1] - 2) }
    }

    @Test func reductions() {
        let x = param([2, 3, 4], seed: 6)
        gradCheck([x], "sum") { $0[0].sum() }
        gradCheck([x], "sum dims") { $0[0].sum(dims: [0, 2]) }
        gradCheck([x], "sum keepDim") { $0[0].sum(dim: 1, keepDim: true) }
        gradCheck([x], "mean") { $0[0].mean(dims: [1]) + $0[0].mean() }
        // distinct, well separated values keep max/min away from ties
        let spread = Tensor(shape: [2, 3, 4], scalars: Generator(seed: 60).permutation(24).map { Float($0) * 0.1 })
        spread.requiresGrad = true
        gradCheck([spread], "max dim") { $0[0].max(dim: 2).values }
        gradCheck([spread], "min dim") { $0[0].min(dim: 0, keepDim: true).values }
        gradCheck([x], "softmax") { $0[0].softmax(dim: 1) }
        gradCheck([x], "logSoftmax") { $0[0].logSoftmax(dim: -1) }
    }

    @Test func matmulAndLinear() {
        let a = param([3, 4], seed: 7), b = param([4, 5], seed: 8)
        gradCheck([a, b], "matmul 2-D") { $0[0].matmul($0[1]) }
        let ba = param([2, 3, 4], seed: 9), bb = param([2, 4, 5], seed: 10)
        gradCheck([ba, bb], "matmul batched") { $0[0].matmul($0[1]) }
        gradCheck([ba, b], "matmul batched × 2-D") { $0[0].matmul($0[1]) }
        let v = param([4], seed: 11)
        gradCheck([a, v], "matrix × vector") { $0[0].matmul($0[1]) }
        let x = param([6, 4], seed: 12), w = param([3, 4], seed: 13), bias = param([3], seed: 14)
        gradCheck([x, w, bias], "linear") { linear($0[0], $0[1], bias: $0[2]) }
    }

    @Test func shapeOps() {
        let x = param([2, 3, 4], seed: 15), y = param([2, 2, 4], seed: 16)
        gradCheck([x], "reshape") { $0[0].reshape(4, -1) * 2 }
        gradCheck([x], "permute") { $0[0].permute(2, 0, 1) }
        gradCheck([x], "transpose") { $0[0].transpose(0, 2) }
        gradCheck([x], "narrow") { $0[0].narrow(dim: 1, start: 1, length: 2) }
        gradCheck([x], "select") { $0[0].select(dim: 2, index: -1) }
        gradCheck([x, y], "cat") { cat([$0[0], $0[1]], dim: 1) }
        gradCheck([x], "pad") { $0[0].pad([1, 2, 0, 1]) }
        gradCheck([x], "crop by negative pad") { $0[0].pad([-1, 0]) }
        gradCheck([y], "expand") { $0[0].narrow(dim: 1, start: 0, length: 1).expand([2, 3, 4]) }
        gradCheck([x], "flatten squeeze unsqueeze") { $0[0].flatten(startDim: 1).unsqueeze(0).squeeze(0) }
        gradCheck([x, y], "stack") { stack([$0[0].narrow(dim: 1, start: 0, length: 2), $0[1]], dim: 0) }
    }

    @Test func convolution() {
        let x = param([2, 4, 7, 6], seed: 17)
        gradCheck([x, param([3, 4, 3, 3], seed: 18), param([3], seed: 19)], "conv2d") { conv2d($0[0], $0[1], bias: $0[2]) }
        gradCheck([x, param([6, 2, 3, 2], seed: 20)], "conv2d stride/pad/dilation/groups") {
            conv2d($0[0], $0[1], stride: [2, 1], padding: [1, 2], dilation: [2, 1], groups: 2)
        }
        gradCheck([x, param([5, 4, 1, 1], seed: 21)], "conv2d 1×1") { conv2d($0[0], $0[1]) }
        gradCheck([x, param([4, 1, 3, 3], seed: 22)], "depthwise") { conv2d($0[0], $0[1], padding: 1, groups: 4) }
        gradCheck([x, param([2, 4, 2, 2], seed: 23)], "same padding, even kernel") { conv2d($0[0], $0[1], padding: .same) }
    }

    @Test func pooling() {
        // distinct, well separated values keep max pooling away from ties
        let perm = Generator(seed: 24).permutation(2 * 3 * 7 * 7).map { Float($0) * 0.01 }
        let x = Tensor(shape: [2, 3, 7, 7], scalars: perm); x.requiresGrad = true
        gradCheck([x], eps: 2e-3, "maxPool2d") { maxPool2d($0[0], kernelSize: 3, stride: 2, padding: 1) }
        gradCheck([x], eps: 2e-3, "maxPool2d ceil") { maxPool2d($0[0], kernelSize: 2, stride: 2, ceilMode: true) }
        gradCheck([x], eps: 2e-3, "maxPool2d dilation") { maxPool2d($0[0], kernelSize: Size2(2), stride: Size2(1), dilation: Size2(2)) }
        let y = param([2, 3, 7, 7], seed: 25)
        gradCheck([y], "avgPool2d") { avgPool2d($0[0], kernelSize: 3, stride: 2, padding: 1) }
        gradCheck([y], "avgPool2d ceil, padding excluded") {
            avgPool2d($0[0], kernelSize: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false)
        }
        gradCheck([y], "adaptiveAvgPool2d") { adaptiveAvgPool2d($0[0], outputSize: Size2(3, 2)) }
        gradCheck([y], "adaptiveAvgPool2d global") { adaptiveAvgPool2d($0[0], outputSize: Size2(1, 1)) }
        // global pooling's own path: plane p of 0, 1, 2, … holds 49p … 49p + 48, mean 49p + 24
        let ramp = Tensor(shape: [2, 3, 7, 7], scalars: (0..<294).map { Float($0) })
        let means: [Float] = (0..<6).map { Float(49 * $0 + 24) }
        let pooled = adaptiveAvgPool2d(ramp, outputSize: Size2(1, 1))
        #expect(pooled.shape == [2, 3, 1, 1])
        #expect(pooled.scalars == means)
        // a classifier's head (1280 planes of 7×7), split over two threads: plane p holds
        // p mod 7 + 0 … 48, mean p mod 7 + 24
        let headValues: [Float] = (0..<1280 * 49).map { (i: Int) -> Float in Float(i / 49 % 7 + i % 49) }
        let head = Tensor(shape: [1, 1280, 7, 7], scalars: headValues)
        let headMeans = withContext({ $0.threads = 2 }) { adaptiveAvgPool2d(head, outputSize: Size2(1, 1)) }
        #expect(headMeans.shape == [1, 1280, 1, 1])
        let wanted: [Float] = (0..<1280).map { (p: Int) -> Float in Float(p % 7 + 24) }
        #expect(headMeans.scalars == wanted)
    }

    @Test func normalizationAndDropout() {
        let x = param([4, 3, 3, 2], seed: 26), g = param([3], seed: 27, offset: 1), b = param([3], seed: 28)
        gradCheck([x, g, b], "batchNorm training") {
            batchNorm($0[0], runningMean: nil, runningVar: nil, weight: $0[1], bias: $0[2], training: true)
        }
        let rm = Tensor.randn([3]), rv = Tensor.rand([3]) + 0.5
        gradCheck([x, g, b], "batchNorm eval") {
            batchNorm($0[0], runningMean: rm, runningVar: rv, weight: $0[1], bias: $0[2], training: false)
        }
        let x2 = param([5, 4], seed: 29)
        gradCheck([x2], "batchNorm 1-D") { batchNorm($0[0], runningMean: nil, runningVar: nil, training: true) }
        let g4 = param([4], seed: 32, offset: 1), b4 = param([4], seed: 33)
        gradCheck([x2, g4, b4], "batchNorm 1-D affine") {
            batchNorm($0[0], runningMean: nil, runningVar: nil, weight: $0[1], bias: $0[2], training: true)
        }
        let rm4 = Tensor.randn([4]), rv4 = Tensor.rand([4]) + 0.5
        gradCheck([x2, g4, b4], "batchNorm 1-D eval") {
            batchNorm($0[0], runningMean: rm4, runningVar: rv4, weight: $0[1], bias: $0[2], training: false)
        }
        // the fused BN → ReLU against the two ops composed (both passes; training and eval)
        for (xx, gg, bb, mm, vv) in [(x, g, b, rm, rv), (x2, g4, b4, rm4, rv4)] { for training in [true, false] {
            let (x, g, b, rm, rv) = (xx, gg, bb, mm, vv)
            let upstream = Tensor.randn(x.shape, generator: Generator(seed: 31))
            func grads(_ fused: Bool) -> [Tensor] {
                for t in [x, g, b] { t.grad = nil }
                let (m, v) = training ? (nil, nil) : (rm, rv)
                let y = fused ? batchNormReLU(x, runningMean: m, runningVar: v, weight: g, bias: b, training: training)
                              : batchNorm(x, runningMean: m, runningVar: v, weight: g, bias: b, training: training).relu()
                y.backward(upstream)
                return [y.detached(), x.grad!, g.grad!, b.grad!]
            }
            for (a, e) in zip(grads(true), grads(false)) {
                expectClose(a, e, rtol: 1e-5, atol: 1e-6, "batchNormReLU \(x.shape) training \(training)")
            }
        } }
        gradCheck([x2], "dropout (fixed mask)") { dropout($0[0], p: 0.4, generator: Generator(seed: 5)) }
    }

    /// The fused BN → ReLU backward recomputes the ReLU's mask from x only when the AVX-512 kernel
    /// wrote the forward: a forward on another ISA and a backward on AVX-512 give the gradient of a
    /// backward on that ISA. In eval mode an infinite input keeps a finite gradient, as PyTorch's.
    @Test func fusedBatchNormReLUAcrossISAsAndInfiniteInputs() {
        let x = param([3, 4, 5, 7], seed: 90), g = param([4], seed: 91, offset: 1), b = param([4], seed: 92)
        let upstream = Tensor.randn(x.shape, generator: Generator(seed: 93))
        func grads(forwardISA: Int, backwardISA: Int) -> [Tensor] {
            for t in [x, g, b] { t.grad = nil }
            let y = withContext({ $0.isaCap = forwardISA }) { batchNormReLU(x, runningMean: nil, runningVar: nil, weight: g, bias: b, training: true) }
            withContext({ $0.isaCap = backwardISA }) { y.backward(upstream) }
            return [x.grad!, g.grad!, b.grad!]
        }
        let reference = grads(forwardISA: 0, backwardISA: 0)
        for (forward, backward) in [(0, 2), (2, 0), (2, 2), (1, 2)] {
            for (a, e) in zip(grads(forwardISA: forward, backwardISA: backward), reference) {
                expectClose(a, e, rtol: 1e-5, atol: 1e-6, "forward on ISA \(forward), backward on \(backward)")
            }
        }
        var v: [Float] = (0..<72).map { (i: Int) -> Float in Float(i % 7) - 3 }
        v[5] = Float.infinity
        let xi = Tensor(shape: [2, 4, 3, 3], scalars: v), xf = Tensor(shape: [2, 4], scalars: Array(v[0..<8]))
        for input in [xi, xf] {
            input.requiresGrad = true
            let c = 4
            let y = batchNorm(input, runningMean: Tensor.zeros([c]), runningVar: Tensor.ones([c]), training: false)
            y.backward(Tensor.ones(y.shape))
            #expect(input.grad!.scalars.allSatisfy { $0.isFinite }, "eval-mode gradient of \(input.shape) with an infinite input")
        }
        // an infinite input the ReLU cuts off (negative γ) leaves γ's gradient finite on every ISA
        for level in [2, 1, 0] {
            let gamma = Tensor.full([4], -1), beta = Tensor.zeros([4])
            gamma.requiresGrad = true
            let input = Tensor(shape: [2, 4, 3, 3], scalars: v)
            let y = withContext({ $0.isaCap = level }) {
                batchNormReLU(input, runningMean: Tensor.zeros([4]), runningVar: Tensor.ones([4]), weight: gamma, bias: beta,
                              training: false)
            }
            withContext({ $0.isaCap = level }) { y.backward(Tensor.ones(y.shape)) }
            #expect(gamma.grad!.scalars.allSatisfy { $0.isFinite }, "γ gradient with a cut-off infinite input, ISA level \(level)")
        }
    }

    @Test func losses() {
        let logits = param([5, 7], seed: 30), labels = [0, 6, 3, 3, 1]
        gradCheck([logits], "crossEntropy") { crossEntropy($0[0], labels) }
        gradCheck([logits], "crossEntropy smoothing") { crossEntropy($0[0], labels, labelSmoothing: 0.2) }
        let t = Tensor.randn([5, 7])
        gradCheck([logits], "mseLoss") { mseLoss($0[0], t) }
    }

    @Test func gradientAccumulatesAndDetaches() {
        let x = param([3], seed: 31)
        (x * 2).sum().backward()
        (x * 3).sum().backward()
        #expect(x.grad!.scalars == [5, 5, 5])
        x.zeroGrad()
        #expect(x.grad == nil)
        let y = withNoGrad { x * 2 }
        #expect(!y.requiresGrad)
        let seed = Tensor([1, 2, 3])
        let z = x * x
        z.backward(seed)
        expectClose(x.grad!.scalars, zip(x.scalars, seed.scalars).map { 2 * $0 * $1 })
    }
}

/// The autograd graph must not keep its own outputs alive (a cycle would leak every activation).
@Suite struct GraphLifetimeTests {
    @Test func everyOpsOutputIsFreedAfterUse() {
        let x = param([2, 3, 6, 6], seed: 50, scale: 0.5, offset: 1)
        let w = param([4, 3, 3, 3], seed: 51)
        let ops: [(String, (Tensor) -> Tensor)] = [
            ("exp", { $0.exp() }), ("sqrt", { $0.abs().sqrt() }), ("relu", relu), ("sigmoid", sigmoid), ("tanh", tanh),
            ("softmax", { $0.softmax(dim: 1) }), ("logSoftmax", { $0.logSoftmax(dim: 1) }), ("log", { ($0 * $0 + 1).log() }),
            ("conv2d", { conv2d($0, w, padding: 1) }), ("maxPool2d", { maxPool2d($0, kernelSize: 2) }),
            ("avgPool2d", { avgPool2d($0, kernelSize: 2) }), ("batchNorm", { batchNorm($0, runningMean: nil, runningVar: nil, training: true) }),
            ("batchNormReLU", { batchNormReLU($0, runningMean: nil, runningVar: nil, training: true) }),
            ("crossEntropy", { crossEntropy($0.flatten(startDim: 1), [0, 1]) }), ("matmul", { $0.flatten(startDim: 1).matmul($0.flatten(startDim: 1).T) }),
        ]
        for (name, op) in ops {
            weak var weakOut: Tensor?
            do {
                let y = op(x)
                weakOut = y
                y.sum().backward()
            }
            #expect(weakOut == nil, "\(name) output outlived its graph")
        }
    }
}

/// The vectorised exp and sigmoid against the C library, edge cases included.
@Suite struct FastMathTests {
    let xs: [Float] = stride(from: -110.0, through: 90.0, by: 0.173).map { Float($0) }
        + [0, -0.0, 1e-8, -1e-8, 88.72, 88.73, -103.9, -104, .infinity, -.infinity]

    @Test func expMatchesLibm() {
        let e = Tensor(xs).exp().scalars
        for (x, y) in zip(xs, e) {
            let r = Foundation.exp(x)
            if r.isInfinite || r == 0 { #expect(y == r, "exp(\(x)) = \(y), expected \(r)") }
            else { #expect(abs(y - r) <= 3e-7 * r + 1e-37, "exp(\(x)) = \(y), expected \(r)") }
        }
        #expect(Tensor([.nan]).exp().scalars[0].isNaN)
    }

    @Test func sigmoidMatchesLibm() {
        let s = sigmoid(Tensor(xs)).scalars
        for (x, y) in zip(xs, s) {
            let r = 1 / (1 + Foundation.exp(-x))
            #expect(abs(y - r) <= 3e-7, "sigmoid(\(x)) = \(y), expected \(r)")
        }
        #expect(sigmoid(Tensor([.nan])).scalars[0].isNaN)
    }
}
