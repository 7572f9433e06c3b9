import ConvNet
import Foundation
import Testing

/// Issue 15's silent traps, each now working as in PyTorch or refused with a message naming the way out.
@Suite struct PyTorchHabitsTests {
    // MARK: 1. views share storage

    @Test func slicesAreViews() {
        let x = Tensor.arange(12).reshape(3, 4)
        x.narrow(dim: 1, start: 2, length: 2).fill(0)
        #expect(x.scalars == [0, 1, 0, 0, 4, 5, 0, 0, 8, 9, 0, 0])
        x[0].fill(7)
        #expect(x.scalars == [7, 7, 7, 7, 4, 5, 0, 0, 8, 9, 0, 0])
        let row = x[1]
        #expect(row.storage === x.storage && row.storageOffset == 4 && row.isContiguous)
        let col = x[.all, 1]
        #expect(col.shape == [3] && col.strides == [4] && !col.isContiguous && col.scalars == [7, 5, 9])
        let t = x.t()
        #expect(t.shape == [4, 3] && t.strides == [1, 4] && t.storage === x.storage)
        #expect(t.contiguous().scalars == [7, 4, 8, 7, 5, 9, 7, 0, 0, 7, 0, 0])
        // a write through a transposed view lands in the original
        t[3, 0] = -1
        #expect(x[0, 3].item() == -1)
        #expect(x.view(12).storage === x.storage && x.reshape(2, 6).storage === x.storage)
        let e = Tensor([1, 2, 3]).expand([2, 3])
        #expect(e.strides == [0, 1] && e.scalars == [1, 2, 3, 1, 2, 3])
    }

    @Test func sliceAssignment() {
        // D2L 7.2.3: X = torch.ones((6, 8)); X[:, 2:6] = 0
        let X = Tensor.ones(6, 8)
        X[.all, 2..<6] = 0
        #expect(X[0].scalars == [1, 1, 0, 0, 0, 0, 1, 1] && X.sum().item() == 24)
        // from a tensor, broadcast
        X[1..., 0..<2] = Tensor([5, 6])
        #expect(X[2].scalars == [5, 6, 0, 0, 0, 0, 1, 1] && X[0].scalars == [1, 1, 0, 0, 0, 0, 1, 1])
        // strided positions, and a scalar read back as Float
        let v = Tensor.zeros(8)
        v[stride(from: 0, to: 8, by: 3)] = 1
        #expect(v.scalars == [1, 0, 0, 1, 0, 0, 1, 0])
        let f: Float = X[2, 1]
        #expect(f == 6)
    }

    @Test func gradientsFlowThroughViewsAndSliceAssignment() {
        let w = Tensor([1, 2, 3, 4]); w.requiresGrad = true
        // y = w * 2, then y[1..<3] = w[0..<2] * 10 (CopySlices), loss = Σ y·[1, 2, 3, 4]
        let y = w * 2
        y[1..<3] = w[0..<2] * 10
        #expect(y.scalars == [2, 10, 20, 8])
        (y * Tensor([1, 2, 3, 4])).sum().backward()
        // d/dw0 = 2·1 (y0) + 10·2 (y1); d/dw1 = 10·3 (y2; the overwritten y1 gives none); w2: overwritten; w3: 2·4
        #expect(w.grad!.scalars == [22, 30, 0, 8])
        // the gradient of a transposed view's reduction
        let a = Tensor([[1, 2, 3], [4, 5, 6]]); a.requiresGrad = true
        (a.t()[0] * Tensor([1, 10])).sum().backward()
        #expect(a.grad!.scalars == [1, 0, 0, 10, 0, 0])
    }

    @Test func inPlaceOperations() {
        let x = Tensor([1, 2, 3])
        let alias = x
        x.add_(Tensor([1, 1, 1])).mul_(2).sub_(1)
        #expect(alias.scalars == [3, 5, 7])
        x.clamp_(min: 4, max: 6)
        #expect(x.scalars == [4, 5, 6])
        x.copy_(Tensor(9))
        #expect(x.scalars == [9, 9, 9])
        x.zero_()
        #expect(x.scalars == [0, 0, 0])
        var y = x
        y += 1   // in place, as PyTorch's y += 1: x changes too
        #expect(x.scalars == [1, 1, 1] && y === x)
        // out += identity on a recorded non-leaf keeps the graph right (the contract's residual block)
        let w = Tensor([2, 3]); w.requiresGrad = true
        let out = w * 3
        out += w
        out.sum().backward()
        #expect(w.grad!.scalars == [4, 4])
        let r = Tensor([-1, 2]); r.requiresGrad = true
        let z = r * 1
        z.relu_()
        z.sum().backward()
        #expect(z.scalars == [0, 2] && r.grad!.scalars == [0, 1])
    }

    @Test func inPlaceChangeOfSavedValueIsAnError() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let x = Tensor([1, 2]); x.requiresGrad = true
            let y = x.relu()
            y.add_(1)
            y.sum().backward()
        }
        expectStderr(result, contains: "one of the variables needed for gradient computation has been modified by an inplace operation",
                     "ReluBackward0", "is at version 1; expected version 0 instead")
    }

    /// An optimiser step between the forward and the backward changes saved weights: PyTorch's error.
    @Test func optimizerStepBeforeBackwardIsAnError() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let layer = Linear(3, 2)
            let opt = SGD(layer.parameters(), lr: 0.1)
            let x = Tensor.randn(4, 3); x.requiresGrad = true
            let first = layer(x).sum()
            first.backward(retainGraph: true)
            opt.step()
            first.backward()
        }
        expectStderr(result, contains: "modified by an inplace operation")
    }

    @Test func inPlaceOnLeafOutsideNoGradIsAnError() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let p = Tensor([1, 2]); p.requiresGrad = true
            p -= Tensor([1, 1])
        }
        expectStderr(result, contains: "a leaf Variable that requires grad is being used in an in-place operation.")
    }

    @Test func writingIntoAnExpandedViewIsAnError() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            Tensor([1, 2]).expand([3, 2]).fill_(0)
        }
        expectStderr(result, contains: "more than one element of the written-to tensor refers to a single memory location")
    }

    @Test func viewOfNonContiguousIsRefusedWithReshapeNamed() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros(2, 3).t().view(6)
        }
        expectStderr(result, contains: "Use .reshape(...) instead.")
        #expect(Tensor([[1, 2, 3], [4, 5, 6]]).t().reshape(6).scalars == [1, 4, 2, 5, 3, 6])
    }

    // MARK: 2. D2L's manual SGD

    @Test func manualSGDUpdatesParametersInPlace() {
        // D2L 7.2.4: learn the edge kernel with `p -= lr * p.grad` inside no_grad
        let X = Tensor.ones(6, 8)
        X[.all, 2..<6] = 0
        let Y = conv2d(X.reshape(1, 1, 6, 8), Tensor([1, -1]).reshape(1, 1, 1, 2))
        Tensor.manualSeed(0)
        let conv = Conv2d(1, 1, kernelSize: [1, 2], bias: false)
        var losses: [Float] = []
        for _ in 0..<10 {
            let l = ((conv(X.reshape(1, 1, 6, 8)) - Y) ** 2).sum()
            losses.append(l.item())
            conv.zeroGrad()
            l.backward()
            withNoGrad { for p in conv.parameters() { p -= 3e-2 * p.grad! } }
        }
        #expect(losses.last! < losses.first! / 10)
        let k = conv.weight.scalars
        #expect(abs(k[0] - 1) < 0.1 && abs(k[1] + 1) < 0.1)
        // the `var` form updates the same parameter object
        let before = conv.weight.scalars
        withNoGrad { for p in conv.parameters() { var q = p; q -= Tensor(1); _ = q } }
        #expect(conv.weight.scalars == before.map { $0 - 1 })
    }

    // MARK: 3. a graph is freed after backward

    @Test func secondBackwardIsAnError() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let x = Tensor([1, 2, 3]); x.requiresGrad = true
            let y = (x * x).sum()
            y.backward()
            y.backward()
        }
        expectStderr(result, contains: "Trying to backward through the graph a second time", "retainGraph: true")
    }

    @Test func retainGraphAllowsASecondBackward() {
        let x = Tensor([1, 2, 3]); x.requiresGrad = true
        let y = (x * x).sum()
        y.backward(retainGraph: true)
        #expect(x.grad!.scalars == [2, 4, 6])
        y.backward()
        #expect(x.grad!.scalars == [4, 8, 12])
        // a non-scalar output with an explicit gradient
        let z = Tensor([1, 2]); z.requiresGrad = true
        (z * 3).backward(gradient: Tensor([1, 10]))
        #expect(z.grad!.scalars == [3, 30])
    }

    // MARK: 4. lazy layers

    @Test func optimizerBuiltBeforeFirstForwardTrainsLazyLayers() {
        Tensor.manualSeed(1)
        let net = Sequential(LazyConv2d(4, kernelSize: 3), ReLU(), Flatten(), LazyLinear(3))
        let opt = SGD(net.parameters(), lr: 0.1)
        #expect(opt.parameters.count == 4 && opt.parameters.allSatisfy(\.isUninitialized))
        let x = Tensor.randn(2, 1, 5, 5)
        let l0 = crossEntropy(net(x), [0, 2])
        let w0 = net.parameters()[0].scalars
        opt.zeroGrad(); l0.backward(); opt.step()
        #expect(net.parameters()[0].scalars != w0)
        #expect(crossEntropy(net(x), [0, 2]).item() < l0.item())
    }

    @Test func loadStateDictMaterializesLazyLayers() throws {
        let source = Sequential(Conv2d(2, 4, kernelSize: 3), BatchNorm2d(4), Flatten(), Linear(16, 3))
        let lazy = Sequential(LazyConv2d(4, kernelSize: 3), LazyBatchNorm2d(), Flatten(), LazyLinear(3))
        try lazy.loadStateDict(source.stateDict())
        #expect(lazy.description == source.description)
        let x = Tensor.randn(2, 2, 4, 4)
        #expect(lazy(x).scalars == source(x).scalars)
    }

    @Test func uninitializedParameterUsedIsAClearError() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = LazyLinear(3).weight.scalars.count + Int(LazyLinear(3).weight.sum().item())
        }
        expectStderr(result, contains: "uninitialized parameter of a lazy layer")
    }

    // MARK: 5. tensor-valued results

    @Test func tensorValuedResults() {
        let labels = Tensor([2, 0, 1] as [Int])
        #expect(labels.dtype == .int64 && labels.description == "tensor([2, 0, 1])")
        let logits = Tensor([[0.1, 0.2, 3.0], [2.0, 0.1, 0.0], [0.0, 0.5, 0.2]])
        let pred = logits.argmax(dim: 1)
        #expect(pred.dtype == .int64 && pred.integers == [2, 0, 1])
        let cmp = pred .== labels
        #expect(cmp.dtype == .bool && cmp.description == "tensor([True, True, True])")
        // D2L's accuracy: (pred == y).float().mean()
        #expect((pred .== Tensor([2, 1, 1] as [Int])).float().mean().item() == Float(2) / 3)
        #expect((logits > 1).integers == [0, 0, 1, 1, 0, 0, 0, 0, 0])
        #expect(crossEntropy(logits, labels).item() == crossEntropy(logits, [2, 0, 1]).item())
        // a float target of class probabilities, as F.cross_entropy
        let soft = Tensor([[0, 0, 1], [1, 0, 0], [0, 1, 0]])
        #expect(abs(crossEntropy(logits, soft).item() - crossEntropy(logits, [2, 0, 1]).item()) < 1e-6)
        #expect(Tensor([true, false]).dtype == .bool && Tensor([1.7, -1.7]).long().integers == [1, -1])
    }

    @Test func meanOfIntegersNamesFloat() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor([1, 2] as [Int]).mean()
        }
        expectStderr(result, contains: "mean(): could not infer output dtype", ".float()")
    }

    // MARK: PyTorch spellings

    @Test func pytorchSpellings() {
        let x = Tensor([[1, 2], [3, 4]])
        let c = x.clone(), d = x.detach()
        c.fill_(0)
        #expect(x.scalars == [1, 2, 3, 4] && d.storage === x.storage)
        #expect(x.numel() == 4 && x.dim() == 2 && x.t().scalars == [1, 3, 2, 4] && x.tolist() == [1, 2, 3, 4])
        #expect(Tensor.eye(2, 3).scalars == [1, 0, 0, 0, 1, 0])
        // var([1, 2, 3, 4]) = 5/3 with Bessel's correction; std its root
        let v = Tensor([1, 2, 3, 4])
        #expect(abs(v.var().item() - 5.0 / 3) < 1e-6 && abs(v.std().item() - (5.0 / 3).squareRoot()) < 1e-6)
        #expect(v.var(correction: 0).item() == 1.25 && x.var(dim: 0).scalars == [2, 2])
        #expect(Tensor([1, 2]).repeat(2, 2).scalars == [1, 2, 1, 2, 1, 2, 1, 2] && Tensor([1, 2]).repeat(2, 2).shape == [2, 4])
        #expect((v ** 2).scalars == [1, 4, 9, 16] && (2 * v ** 2).scalars == [2, 8, 18, 32])
        #expect(Tensor.zeros(2, 3).shape == [2, 3] && Tensor.randn(2, 3).shape == [2, 3] && Tensor.ones(4).scalars == [1, 1, 1, 1])
        #expect(x.map { $0.sum().item() } == [3, 7])
        #expect(Conv2d(1, 6, 5).description == "Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))")
        #expect(MaxPool2d(3).description == "MaxPool2d(kernel_size=3, stride=3, padding=0, dilation=1, ceil_mode=False)")
        let net = Sequential(Conv2d(1, 6, 5), ReLU(), Flatten())
        #expect(net.map(\.typeName) == ["Conv2d", "ReLU", "Flatten"])
        #expect(net[0, as: Conv2d.self].outChannels == 6)
    }

    // MARK: the hand-written D2L program

    @Test func d2lByHandPrintsTheBooksValues() throws {
        let exe = try #require(builtExecutable("d2l-by-hand"), "the d2l-by-hand executable was not found next to the test bundle")
        let run = try Subprocess.run(exe, ["3"])
        let text = run.stdout
        #expect(run.status == 0, "\(run.stderr)")
        // 7.2.1, 7.2.3 and 7.5 as the book prints them
        for golden in ["tensor([[19., 25.],\n        [37., 43.]])",
                       "tensor([[1., 1., 0., 0., 0., 0., 1., 1.],",
                       "tensor([[ 0.,  1.,  0.,  0.,  0., -1.,  0.],",
                       "7.5 max:\ntensor([[4., 5.],\n        [7., 8.]])",
                       "7.5 avg:\ntensor([[2., 3.],\n        [5., 6.]])",
                       "7.5 MaxPool2d(3):\ntensor([[[[10.]]]])",
                       "tensor([[[[ 5.,  7.],\n          [13., 15.]],\n\n         [[ 6.,  8.],\n          [14., 16.]]]])"] {
            #expect(text.contains(golden), "missing: \(golden)")
        }
        // 7.2.4: the learned kernel within 0.1 of [1, −1]
        let line = try #require(text.components(separatedBy: "\n").first { $0.hasPrefix("7.2.4 learned kernel:") })
        let k = line.drop { $0 != "[" }.dropFirst().dropLast().split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
        #expect(k.count == 2 && abs(k[0] - 1) < 0.1 && abs(k[1] + 1) < 0.1)
        // 7.6: three epochs of the book's LeNet reach the book's early-epoch accuracy (when Fashion-MNIST is present)
        if let last = text.components(separatedBy: "\n").last(where: { $0.hasPrefix("7.6 epoch 3") }) {
            let acc = Float(last.components(separatedBy: "test acc ").last!)!
            #expect(acc > 0.6)
        } else {
            #expect(text.contains("7.6 skipped"))
        }
    }
}
