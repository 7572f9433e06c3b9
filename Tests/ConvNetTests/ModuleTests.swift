import ConvNet
import Testing

final class HomeworkLeNet: Module {
    let conv1 = Conv2d(1, 6, kernelSize: 5)
    let conv2 = Conv2d(6, 16, kernelSize: 5)
    let fc1 = Linear(16 * 4 * 4, 120)
    let fc2 = Linear(120, 84)
    let fc3 = Linear(84, 10)
    func forward(_ x: Tensor) -> Tensor {
        var x = maxPool2d(relu(conv1(x)), kernelSize: 2)
        x = maxPool2d(relu(conv2(x)), kernelSize: 2)
        x = x.view(-1, 16 * 4 * 4)
        return fc3(relu(fc2(relu(fc1(x)))))
    }
}

final class Containers: Module {
    let stem = Conv2d(3, 4, kernelSize: 3)
    let conv3: Conv2d?
    let absent: Conv2d? = nil
    let net: [Sequential]
    let scale = Tensor.ones([1])
    init() {
        conv3 = Conv2d(4, 4, kernelSize: 1, bias: false)
        net = [Sequential(ReLU(), Conv2d(4, 2, kernelSize: 1)), Sequential(BatchNorm2d(2), Linear(2, 2))]
        scale.requiresGrad = true
    }
    func forward(_ x: Tensor) -> Tensor { x }
}

@Suite struct ModuleTests {
    @Test func layerReprs() {
        #expect(Conv2d(1, 6, kernelSize: 5).description == "Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))")
        #expect(Conv2d(3, 64, kernelSize: 3, padding: 1).description == "Conv2d(3, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))")
        #expect(Conv2d(4, 6, kernelSize: [3, 5], stride: [2, 1], padding: [1, 2], dilation: 2, groups: 2, bias: false).description
                == "Conv2d(4, 6, kernel_size=(3, 5), stride=(2, 1), padding=(1, 2), dilation=(2, 2), groups=2, bias=False)")
        #expect(Conv2d(4, 6, kernelSize: 3, padding: .same).description == "Conv2d(4, 6, kernel_size=(3, 3), stride=(1, 1), padding=same)")
        #expect(Linear(256, 120).description == "Linear(in_features=256, out_features=120, bias=True)")
        #expect(Linear(3, 2, bias: false).description == "Linear(in_features=3, out_features=2, bias=False)")
        #expect(MaxPool2d(kernelSize: 2, stride: 2).description == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)")
        #expect(MaxPool2d(kernelSize: 3, stride: 2, padding: 1).description == "MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)")
        #expect(MaxPool2d(kernelSize: [3, 3], stride: [2, 2], ceilMode: true).description
                == "MaxPool2d(kernel_size=(3, 3), stride=(2, 2), padding=(0, 0), dilation=(1, 1), ceil_mode=True)")
        #expect(AvgPool2d(kernelSize: 2, stride: 2).description == "AvgPool2d(kernel_size=2, stride=2, padding=0)")
        #expect(AdaptiveAvgPool2d(outputSize: [1, 1]).description == "AdaptiveAvgPool2d(output_size=(1, 1))")
        #expect(AdaptiveAvgPool2d(outputSize: 1).description == "AdaptiveAvgPool2d(output_size=1)")
        #expect(BatchNorm2d(6).description == "BatchNorm2d(6, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)")
        #expect(BatchNorm1d(120, eps: 0.001).description == "BatchNorm1d(120, eps=0.001, momentum=0.1, affine=True, track_running_stats=True)")
        #expect(ReLU().description == "ReLU()")
        #expect(Sigmoid().description == "Sigmoid()")
        #expect(Tanh().description == "Tanh()")
        #expect(Identity().description == "Identity()")
        #expect(Dropout(p: 0.5).description == "Dropout(p=0.5, inplace=False)")
        #expect(Flatten().description == "Flatten(start_dim=1, end_dim=-1)")
        #expect(LazyConv2d(6, kernelSize: 5).description == "LazyConv2d(0, 6, kernel_size=(5, 5), stride=(1, 1))")
        #expect(LazyLinear(10).description == "LazyLinear(in_features=0, out_features=10, bias=True)")
    }

    @Test func nestedSequentialRepr() {
        let net = Sequential(
            Sequential(Conv2d(1, 6, kernelSize: 5, padding: 2), Sigmoid()),
            Sequential(named: [("pool", AvgPool2d(kernelSize: 2, stride: 2)), ("flat", Flatten())]),
            Linear(400, 10))
        #expect(net.description == """
        Sequential(
          (0): Sequential(
            (0): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))
            (1): Sigmoid()
          )
          (1): Sequential(
            (pool): AvgPool2d(kernel_size=2, stride=2, padding=0)
            (flat): Flatten(start_dim=1, end_dim=-1)
          )
          (2): Linear(in_features=400, out_features=10, bias=True)
        )
        """)
        #expect(Sequential().description == "Sequential()")
    }

    @Test func keysFollowPyTorch() {
        let m = Containers()
        #expect(m.namedTensors().map(\.0) == [
            "scale", "stem.weight", "stem.bias", "conv3.weight", "net.0.1.weight", "net.0.1.bias",
            "net.1.0.weight", "net.1.0.bias", "net.1.0.running_mean", "net.1.0.running_var", "net.1.0.num_batches_tracked",
            "net.1.1.weight", "net.1.1.bias",
        ])
        #expect(m.namedBuffers().map(\.0) == ["net.1.0.running_mean", "net.1.0.running_var", "net.1.0.num_batches_tracked"])
        #expect(m.parameters().count == 10)
        #expect(m.numParameters == 1 + 4 * 3 * 9 + 4 + 16 + 8 + 2 + 2 + 2 + 4 + 2)
        #expect(m.description.contains("(net): ModuleList(\n    (0): Sequential(\n      (0): ReLU()"))
    }

    @Test func homeworkLeNetCounts() {
        let m = HomeworkLeNet()
        #expect(m.numParameters == 44_426)
        #expect(m.children().count == 5)
        #expect(m.modules().count == 6)
        #expect(m(Tensor.rand([3, 1, 28, 28])).shape == [3, 10])
    }

    @Test func trainEvalIsRecursive() {
        let m = Containers()
        let bn = m.net[1].layers[0] as! BatchNorm2d
        #expect(m.training && bn.training)
        m.eval()
        #expect(!m.training && !bn.training)
        m.train()
        #expect(bn.training)
        let plain = HomeworkLeNet()
        plain.eval()
        #expect(!plain.training)
    }

    @Test func lazyLayersInferInputSize() {
        let net = Sequential(LazyConv2d(6, kernelSize: 5, padding: 2), LazyBatchNorm2d(), ReLU(), Flatten(), LazyLinear(10))
        // lazy layers hold uninitialized parameters from the start (PyTorch's UninitializedParameter),
        // so an optimiser built now sees them; the first call gives them shapes in place
        let before = net.parameters()
        #expect(before.count == 6 && before.allSatisfy(\.isUninitialized))
        let y = net(Tensor.rand([2, 3, 8, 8]))
        #expect(zip(before, net.parameters()).allSatisfy { $0 === $1 && !$0.isUninitialized })
        #expect(y.shape == [2, 10])
        #expect(net.description.contains("(0): Conv2d(3, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))"))
        #expect(net.description.contains("(1): BatchNorm2d(6, eps=1e-05"))
        #expect(net.description.contains("(4): Linear(in_features=384, out_features=10, bias=True)"))
        #expect(net.numParameters == 6 * 3 * 25 + 6 + 12 + 384 * 10 + 10)
    }

    @Test func stateDictRoundTripAndErrors() throws {
        let a = HomeworkLeNet(), b = HomeworkLeNet()
        try b.loadStateDict(a.stateDict())
        let x = Tensor.rand([2, 1, 28, 28])
        #expect(a(x).scalars == b(x).scalars)
        var sd = a.stateDict()
        sd["fc1.weight"] = Tensor.zeros([3, 3])
        sd["extra"] = Tensor.zeros([1])
        sd.removeValue(forKey: "conv1.bias")
        #expect(throws: StateDictError.self) { try b.loadStateDict(sd) }
        do { try b.loadStateDict(sd) } catch let e as StateDictError {
            #expect(e.missingKeys == ["conv1.bias"])
            #expect(e.unexpectedKeys == ["extra"])
            #expect(e.description.contains("size mismatch for fc1.weight: copying a param with shape [3, 3] from checkpoint, the shape in current model is [120, 256]."))
        }
        // nothing was changed by the failed load
        #expect(a(x).scalars == b(x).scalars)
        // camelCase and snake_case keys are interchangeable
        let bn = BatchNorm2d(3)
        try bn.loadStateDict(["weight": Tensor.ones([3]), "bias": Tensor.zeros([3]), "runningMean": Tensor([1, 2, 3]),
                              "running_var": Tensor([4, 5, 6]), "num_batches_tracked": Tensor(7)])
        #expect(bn.runningMean!.scalars == [1, 2, 3])
        #expect(bn.numBatchesTracked!.item() == 7)
    }

    @Test func batchNormRunningStatistics() {
        let bn = BatchNorm2d(2)
        let x = Tensor(shape: [2, 2, 1, 2], scalars: [1, 2, 10, 20, 3, 4, 30, 40])
        _ = bn(x)
        // channel 0 values 1,2,3,4: mean 2.5, unbiased variance 5/3
        expectClose(bn.runningMean!.scalars, [0.25, 2.5], tol: 1e-6)
        expectClose(bn.runningVar!.scalars, [0.9 + 0.1 * 5 / 3, 0.9 + 0.1 * 500 / 3], tol: 1e-5)
        #expect(bn.numBatchesTracked!.item() == 1)
        bn.eval()
        _ = bn(x)
        #expect(bn.numBatchesTracked!.item() == 1)
    }

    @Test func initializers() {
        let w = Tensor.zeros([64, 32, 3, 3])
        Init.xavierUniform(w)
        let bound = (6 / Float(32 * 9 + 64 * 9)).squareRoot()
        #expect(w.scalars.allSatisfy { abs($0) <= bound })
        #expect(w.scalars.map { abs($0) }.max()! > bound * 0.95)
        Init.kaimingNormal(w)
        let std = (w.scalars.map { $0 * $0 }.reduce(0, +) / Float(w.count)).squareRoot()
        #expect(abs(std - (2 / Float(32 * 9)).squareRoot()) < 0.01)
        let m = HomeworkLeNet()
        m.initWeights { Init.constant($0, 0.5) }
        #expect(m.conv1.weight.scalars.allSatisfy { $0 == 0.5 } && m.fc3.bias!.scalars.allSatisfy { $0 == 0 })
        // PyTorch's default: uniform within 1/√fan_in
        let l = Linear(100, 50)
        #expect(l.weight.scalars.allSatisfy { abs($0) <= 0.1 } && l.bias!.scalars.allSatisfy { abs($0) <= 0.1 })
    }

    @Test func seededInitIsReproducible() {
        Tensor.manualSeed(7); let a = HomeworkLeNet()
        Tensor.manualSeed(7); let b = HomeworkLeNet()
        #expect(a.fc1.weight.scalars == b.fc1.weight.scalars)
    }
    /// `updateBatchNorm` (PyTorch's `update_bn`) leaves the plain average of the batches' statistics
    /// (mean, unbiased variance) and restores momentum and mode: the next training batch moves the
    /// statistics by the layer's own momentum again.
    @Test func updateBatchNormAveragesTheBatches() {
        let conv = Conv2d(2, 3, kernelSize: 3), bn = BatchNorm2d(3, momentum: 0.3)
        let model = Sequential(conv, bn, ReLU())
        model.eval()
        let batches = (0..<3).map { _ in Tensor.randn([4, 2, 6, 6]) * 2 + 1 }
        // per batch and channel: mean and unbiased variance of the convolution's 4·4·4 outputs
        func statistics(_ x: Tensor) -> (mean: [Double], variance: [Double]) {
            let y = withNoGrad { conv(x) }.scalars, n = 4, c = 3, hw = 16
            var means = [Double](), variances = [Double]()
            for ch in 0..<c {
                let v = (0..<n).flatMap { i in (0..<hw).map { Double(y[(i * c + ch) * hw + $0]) } }
                let m = v.reduce(0, +) / Double(v.count)
                means.append(m)
                variances.append(v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count - 1))
            }
            return (means, variances)
        }
        let stats = batches.map(statistics)
        #expect(updateBatchNorm(compile(model), batches: batches) == 3)
        for ch in 0..<3 {
            let mean = stats.map { $0.mean[ch] }.reduce(0, +) / 3, variance = stats.map { $0.variance[ch] }.reduce(0, +) / 3
            #expect(abs(Double(bn.runningMean!.scalars[ch]) - mean) <= 1e-5 * max(1, abs(mean)), "channel \(ch) mean")
            #expect(abs(Double(bn.runningVar!.scalars[ch]) - variance) <= 1e-5 * variance, "channel \(ch) variance")
        }
        #expect(bn.numBatchesTracked!.item() == 3)
        #expect(!model.training && !bn.training)
        let before = bn.runningMean!.scalars, next = Tensor.randn([4, 2, 6, 6])
        model.train()
        _ = withNoGrad { model(next) }
        let after = bn.runningMean!.scalars, fresh = statistics(next).mean
        for ch in 0..<3 {
            let expected = 0.7 * Double(before[ch]) + 0.3 * fresh[ch]
            #expect(abs(Double(after[ch]) - expected) <= 1e-5 * max(1, abs(expected)), "channel \(ch) after a training batch")
        }
        #expect(updateBatchNorm(Sequential(Linear(3, 2)), batches: batches) == 0)
    }

    /// A compiled model that already ran in eval mode (batch norm folded into the convolution)
    /// uses the recomputed statistics afterwards, as the eager model does.
    @Test func compiledEvalSeesRecomputedStatistics() {
        Tensor.manualSeed(9)
        let model = Sequential(Conv2d(2, 4, kernelSize: 3, padding: 1), BatchNorm2d(4), ReLU())
        let fast = compile(model)
        let x = Tensor.randn([2, 2, 6, 6])
        _ = withNoGrad { fast(Tensor.randn([4, 2, 6, 6]) * 3 + 2) }   // training-mode statistics
        model.eval()
        _ = withNoGrad { fast(x) }
        let before = withNoGrad { fast(x) }
        updateBatchNorm(fast, batches: (0..<2).map { _ in Tensor.randn([4, 2, 6, 6]) * 0.5 - 1 })
        let eager = withNoGrad { model(x) }, after = withNoGrad { fast(x) }
        expectClose(after, eager, rtol: 1e-5, atol: 1e-5, "compiled after updateBatchNorm")
        #expect(zip(before.scalars, after.scalars).contains { abs($0 - $1) > 1e-3 }, "the statistics changed the output")
    }
}
