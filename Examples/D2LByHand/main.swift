// D2L chapter 7 written by hand, as a reader types it from the book: slice assignment (7.2.3),
// a kernel learnt with a manual `-=` update (7.2.4), pooling (7.5) and LeNet trained with a
// hand-written loop and the book's `accuracy` (7.6). `swift run d2l-by-hand [epochs]` (10 by default, as the book).
import ConvNet
import Foundation

Tensor.manualSeed(0)

// 7.2.1 The cross-correlation operation
func corr2d(_ X: Tensor, _ K: Tensor) -> Tensor {
    let (h, w) = (K.shape[0], K.shape[1])
    let Y = Tensor.zeros(X.shape[0] - h + 1, X.shape[1] - w + 1)
    for i in 0..<Y.shape[0] {
        for j in 0..<Y.shape[1] {
            Y[i, j] = (X[i..<(i + h), j..<(j + w)] * K).sum()
        }
    }
    return Y
}
print("7.2.1 corr2d:")
print(corr2d(Tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]]), Tensor([[0, 1], [2, 3]])))

// 7.2.3 Object edge detection in images
let X = Tensor.ones(6, 8)
X[.all, 2..<6] = 0
print("7.2.3 X:")
print(X)
let K = Tensor([[1.0, -1.0]])
let Y = corr2d(X, K)
print("7.2.3 Y:")
print(Y)
print("7.2.3 corr2d(X.t(), K):")
print(corr2d(X.t(), K))

// 7.2.4 Learning a kernel
let conv = LazyConv2d(1, kernelSize: [1, 2], bias: false)
let Xb = X.reshape(1, 1, 6, 8), Yb = Y.reshape(1, 1, 6, 7)
let lr: Float = 3e-2
for i in 0..<10 {
    let yHat = conv(Xb)
    let l = (yHat - Yb) ** 2
    conv.zeroGrad()
    l.sum().backward()
    withNoGrad {
        for p in conv.parameters() { p -= lr * p.grad! }
    }
    if (i + 1) % 2 == 0 { print(String(format: "epoch %d, loss %.3f", i + 1, l.sum().item())) }
}
print("7.2.4 learned kernel:", conv.weight.reshape(1, 2).scalars)

// 7.5 Pooling
func pool2d(_ X: Tensor, _ poolSize: (Int, Int), mode: String = "max") -> Tensor {
    let (h, w) = poolSize
    let Y = Tensor.zeros(X.shape[0] - h + 1, X.shape[1] - w + 1)
    for i in 0..<Y.shape[0] {
        for j in 0..<Y.shape[1] {
            let window = X[i..<(i + h), j..<(j + w)]
            Y[i, j] = mode == "max" ? window.max() : window.mean()
        }
    }
    return Y
}
let P = Tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
print("7.5 max:"); print(pool2d(P, (2, 2)))
print("7.5 avg:"); print(pool2d(P, (2, 2), mode: "avg"))
let X16 = Tensor.arange(16).reshape(1, 1, 4, 4)
print("7.5 MaxPool2d(3):"); print(MaxPool2d(3)(X16))
print("7.5 MaxPool2d(3, padding: 1, stride: 2):"); print(MaxPool2d(3, stride: 2, padding: 1)(X16))
let X2 = cat([X16, X16 + 1], dim: 1)
print("7.5 two channels:"); print(MaxPool2d(3, stride: 2, padding: 1)(X2))

// 7.6 LeNet, trained with a hand-written loop
func accuracy(_ yHat: Tensor, _ y: Tensor) -> Float {
    let cmp = yHat.argmax(dim: 1) .== y
    return cmp.float().sum().item()
}

let arguments = CommandLine.arguments
let epochs = arguments.count > 1 ? Int(arguments[1]) ?? 10 : 10
guard let dataDir = DatasetKind.fashionMNIST.locate(explicit: nil) else {
    print("7.6 skipped: Fashion-MNIST not found (bash scripts/setup installs it)")
    exit(0)
}
let train = try DatasetKind.fashionMNIST.load(split: .train, from: dataDir)
let test = try DatasetKind.fashionMNIST.load(split: .test, from: dataDir)
let net = Sequential(
    Conv2d(1, 6, 5, padding: 2), Sigmoid(), AvgPool2d(2, stride: 2),
    Conv2d(6, 16, 5), Sigmoid(), AvgPool2d(2, stride: 2),
    Flatten(), Linear(16 * 5 * 5, 120), Sigmoid(), Linear(120, 84), Sigmoid(), Linear(84, 10))
net.initWeights { Init.xavierUniform($0) }
let optimizer = SGD(net.parameters(), lr: 0.9)
for epoch in 0..<epochs {
    net.train()
    var (lossSum, correct, seen): (Float, Float, Int) = (0, 0, 0)
    for batch in DataLoader(train, batchSize: 256, shuffle: true) {
        let (x, y) = (batch.images, batch.targets)
        let yHat = net(x)
        let l = crossEntropy(yHat, y)
        optimizer.zeroGrad()
        l.backward()
        optimizer.step()
        lossSum += l.item() * Float(y.numel())
        correct += accuracy(yHat, y)
        seen += y.numel()
    }
    net.eval()
    var testCorrect: Float = 0
    withNoGrad {
        for batch in DataLoader(test, batchSize: 256) { testCorrect += accuracy(net(batch.images), batch.targets) }
    }
    print(String(format: "7.6 epoch %d: loss %.3f, train acc %.3f, test acc %.3f", epoch + 1, lossSum / Float(seen),
                 correct / Float(seen), testCorrect / Float(test.count)))
}
