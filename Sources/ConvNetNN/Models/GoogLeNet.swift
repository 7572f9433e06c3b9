import ConvNetCore

/// D2L 8.4's Inception block: four parallel paths concatenated on channels.
public final class Inception: Module {
    /// Path 1: a 1×1 convolution.
    public let b1_1: Conv2d
    /// Path 2: a 1×1 convolution, then a 3×3 one (padding 1).
    public let b2_1: Conv2d, b2_2: Conv2d
    /// Path 3: a 1×1 convolution, then a 5×5 one (padding 2).
    public let b3_1: Conv2d, b3_2: Conv2d
    /// Path 4: 3×3 max pooling (stride 1), then a 1×1 convolution.
    public let b4_1: MaxPool2d, b4_2: Conv2d
    /// Channels of the output: `c1 + c2.1 + c3.1 + c4`.
    public let outChannels: Int

    /// D2L's `Inception(c1, c2, c3, c4)` on `inChannels` input channels; `c2` and `c3` are (1×1, second convolution) channel pairs.
    public init(_ inChannels: Int, _ c1: Int, _ c2: (Int, Int), _ c3: (Int, Int), _ c4: Int) {
        b1_1 = Conv2d(inChannels, c1, kernelSize: 1)
        b2_1 = Conv2d(inChannels, c2.0, kernelSize: 1)
        b2_2 = Conv2d(c2.0, c2.1, kernelSize: 3, padding: 1)
        b3_1 = Conv2d(inChannels, c3.0, kernelSize: 1)
        b3_2 = Conv2d(c3.0, c3.1, kernelSize: 5, padding: 2)
        b4_1 = MaxPool2d(kernelSize: 3, stride: 1, padding: 1)
        b4_2 = Conv2d(inChannels, c4, kernelSize: 1)
        outChannels = c1 + c2.1 + c3.1 + c4
    }

    public func forward(_ x: Tensor) -> Tensor {
        let b1 = relu(b1_1(x))
        let b2 = relu(b2_2(relu(b2_1(x))))
        let b3 = relu(b3_2(relu(b3_1(x))))
        let b4 = relu(b4_2(b4_1(x)))
        return cat([b1, b2, b3, b4], dim: 1)
    }
}

extension Models {
    /// D2L 8.4's GoogLeNet for 96×96 input.
    public static func googLeNet(inputChannels: Int = 1, numClasses: Int = 10) -> Sequential {
        let b1 = Sequential(Conv2d(inputChannels, 64, kernelSize: 7, stride: 2, padding: 3), ReLU(),
                            MaxPool2d(kernelSize: 3, stride: 2, padding: 1))
        let b2 = Sequential(Conv2d(64, 64, kernelSize: 1), ReLU(), Conv2d(64, 192, kernelSize: 3, padding: 1), ReLU(),
                            MaxPool2d(kernelSize: 3, stride: 2, padding: 1))
        let b3 = Sequential(Inception(192, 64, (96, 128), (16, 32), 32), Inception(256, 128, (128, 192), (32, 96), 64),
                            MaxPool2d(kernelSize: 3, stride: 2, padding: 1))
        let b4 = Sequential(Inception(480, 192, (96, 208), (16, 48), 64), Inception(512, 160, (112, 224), (24, 64), 64),
                            Inception(512, 128, (128, 256), (24, 64), 64), Inception(512, 112, (144, 288), (32, 64), 64),
                            Inception(528, 256, (160, 320), (32, 128), 128), MaxPool2d(kernelSize: 3, stride: 2, padding: 1))
        let b5 = Sequential(Inception(832, 256, (160, 320), (32, 128), 128), Inception(832, 384, (192, 384), (48, 128), 128),
                            AdaptiveAvgPool2d(outputSize: [1, 1]), Flatten())
        return Sequential(b1, b2, b3, b4, b5, Linear(1024, numClasses))
    }
}
