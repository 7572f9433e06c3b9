import ConvNetCore

extension Models {
    /// D2L 8.3's NiN block: one spatial convolution and two 1×1 convolutions, each with ReLU.
    public static func ninBlock(inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int, padding: Int) -> Sequential {
        Sequential(
            Conv2d(inChannels, outChannels, kernelSize: kernelSize, stride: stride, padding: padding), ReLU(),
            Conv2d(outChannels, outChannels, kernelSize: 1), ReLU(),
            Conv2d(outChannels, outChannels, kernelSize: 1), ReLU())
    }

    /// D2L 8.3's Network in Network for 224×224 input: global average pooling instead of dense layers.
    public static func nin(inputChannels: Int = 1, numClasses: Int = 10) -> Sequential {
        Sequential(
            ninBlock(inChannels: inputChannels, outChannels: 96, kernelSize: 11, stride: 4, padding: 0),
            MaxPool2d(kernelSize: 3, stride: 2),
            ninBlock(inChannels: 96, outChannels: 256, kernelSize: 5, stride: 1, padding: 2),
            MaxPool2d(kernelSize: 3, stride: 2),
            ninBlock(inChannels: 256, outChannels: 384, kernelSize: 3, stride: 1, padding: 1),
            MaxPool2d(kernelSize: 3, stride: 2),
            Dropout(p: 0.5),
            ninBlock(inChannels: 384, outChannels: numClasses, kernelSize: 3, stride: 1, padding: 1),
            AdaptiveAvgPool2d(outputSize: [1, 1]),
            Flatten())
    }
}
