import ConvNet
import Testing

/// The worked examples of D2L chapter 7, with the values the book prints.
@Suite struct D2LGoldenTests {
    let X = Tensor(shape: [1, 1, 3, 3], scalars: (0..<9).map(Float.init))

    @Test func corr2d() {
        let K = Tensor(shape: [1, 1, 2, 2], scalars: [0, 1, 2, 3])
        #expect(conv2d(X, K).scalars == [19, 25, 37, 43])
        #expect(conv2d(X, K).shape == [1, 1, 2, 2])
    }

    @Test func multipleInputChannels() {
        let X2 = Tensor(shape: [1, 2, 3, 3], scalars: (0..<9).map(Float.init) + (1..<10).map(Float.init))
        let K2 = Tensor(shape: [1, 2, 2, 2], scalars: [0, 1, 2, 3, 1, 2, 3, 4])
        #expect(conv2d(X2, K2).scalars == [56, 72, 104, 120])
    }

    @Test func multipleOutputChannels() {
        // D2L 7.4.2: stack K, K+1, K+2 → three output channels
        let X2 = Tensor(shape: [1, 2, 3, 3], scalars: (0..<9).map(Float.init) + (1..<10).map(Float.init))
        let k: [Float] = [0, 1, 2, 3, 1, 2, 3, 4]
        let K3 = Tensor(shape: [3, 2, 2, 2], scalars: k + k.map { $0 + 1 } + k.map { $0 + 2 })
        #expect(conv2d(X2, K3).scalars == [56, 72, 104, 120, 76, 100, 148, 172, 96, 128, 192, 224])
    }

    @Test func pooling() {
        #expect(maxPool2d(X, kernelSize: 2, stride: 1).scalars == [4, 5, 7, 8])
        #expect(avgPool2d(X, kernelSize: 2, stride: 1).scalars == [2, 3, 5, 6])
        let X16 = Tensor.arange(16).reshape(1, 1, 4, 4)
        #expect(maxPool2d(X16, kernelSize: 3).scalars == [10])
        #expect(maxPool2d(X16, kernelSize: 3, stride: 2, padding: 1).scalars == [5, 7, 13, 15])
        #expect(maxPool2d(X16, kernelSize: [2, 3], stride: [2, 3], padding: [0, 1]).scalars == [5, 7, 13, 15])
        // two channels pool independently
        let two = cat([X16, X16 + 1], dim: 1)
        #expect(maxPool2d(two, kernelSize: 3, stride: 2, padding: 1).scalars == [5, 7, 13, 15, 6, 8, 14, 16])
    }

    @Test func paddingAndStrideShapes() {
        let x = Tensor.rand([1, 1, 8, 8])
        #expect(conv2d(x, Tensor.rand([1, 1, 3, 3]), padding: 1).shape == [1, 1, 8, 8])
        #expect(conv2d(x, Tensor.rand([1, 1, 5, 3]), padding: [2, 1]).shape == [1, 1, 8, 8])
        #expect(conv2d(x, Tensor.rand([1, 1, 3, 3]), stride: 2, padding: 1).shape == [1, 1, 4, 4])
        #expect(conv2d(x, Tensor.rand([1, 1, 3, 5]), stride: [3, 4], padding: [0, 1]).shape == [1, 1, 2, 2])
        #expect(conv2d(x, Tensor.rand([1, 1, 3, 3]), padding: .same).shape == [1, 1, 8, 8])
        #expect(conv2d(x, Tensor.rand([1, 1, 4, 4]), padding: .same).shape == [1, 1, 8, 8])
        #expect(conv2d(x, Tensor.rand([1, 1, 3, 3]), padding: .valid).shape == [1, 1, 6, 6])
    }

    @Test func edgeDetection() {
        // D2L 7.2.3: a vertical edge detector finds the 1 → 0 and 0 → 1 transitions
        var row: [Float] = [1, 1, 0, 0, 0, 0, 1, 1]
        row = Array(repeating: row, count: 6).flatMap { $0 }
        let x = Tensor(shape: [1, 1, 6, 8], scalars: row)
        let k = Tensor(shape: [1, 1, 1, 2], scalars: [1, -1])
        let y = conv2d(x, k)
        #expect(y.shape == [1, 1, 6, 7])
        #expect(Array(y.scalars[0..<7]) == [0, 1, 0, 0, 0, -1, 0])
    }

    @Test func outputSizeFormula() {
        #expect(convOutputSize(28, kernel: 5, stride: 1, padding: 2) == 28)
        #expect(convOutputSize(7, kernel: 2, stride: 2, padding: 0, ceilMode: false) == 3)
        #expect(convOutputSize(7, kernel: 2, stride: 2, padding: 0, ceilMode: true) == 4)
        // ceil mode never starts a window in the right padding
        #expect(convOutputSize(5, kernel: 2, stride: 2, padding: 1, ceilMode: true) == 3)
        #expect(convOutputSize(8, kernel: 3, stride: 1, padding: 2, dilation: 2) == 8)
    }
}
