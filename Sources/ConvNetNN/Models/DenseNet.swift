import ConvNetCore

/// D2L 8.7's dense block: each convolution block's output is concatenated onto its input.
public final class DenseBlock: Module {
    /// The convolution blocks (BN, ReLU, 3×3 convolution), each adding `growthRate` channels.
    public let net: [Sequential]
    /// Channels of the output: `inChannels + numConvs · growthRate`.
    public let outChannels: Int

    /// D2L's `DenseBlock(num_convs, num_channels)`: `numConvs` blocks of `growthRate` channels on `inChannels` input channels.
    public init(numConvs: Int, inChannels: Int, growthRate: Int) {
        net = (0..<numConvs).map { i in
            Sequential(BatchNorm2d(inChannels + i * growthRate), ReLU(),
                       Conv2d(inChannels + i * growthRate, growthRate, kernelSize: 3, padding: 1))
        }
        outChannels = inChannels + numConvs * growthRate
    }

    public func forward(_ x: Tensor) -> Tensor {
        net.reduce(x) { x, block in cat([x, block(x)], dim: 1) }
    }
}

extension Models {
    /// D2L 8.7's transition block: batch norm, ReLU, 1×1 convolution, 2×2 average pooling.
    public static func transitionBlock(inChannels: Int, outChannels: Int) -> Sequential {
        Sequential(BatchNorm2d(inChannels), ReLU(), Conv2d(inChannels, outChannels, kernelSize: 1),
                   AvgPool2d(kernelSize: 2, stride: 2))
    }

    /// D2L 8.7's DenseNet for 96×96 input: four dense blocks (growth 32) with transitions halving channels.
    public static func denseNet(numChannels: Int = 64, growthRate: Int = 32, architecture: [Int] = [4, 4, 4, 4],
                                inputChannels: Int = 1, numClasses: Int = 10) -> Sequential {
        var layers: [any Module] = [Sequential(
            Conv2d(inputChannels, numChannels, kernelSize: 7, stride: 2, padding: 3), BatchNorm2d(numChannels), ReLU(),
            MaxPool2d(kernelSize: 3, stride: 2, padding: 1))]
        var c = numChannels
        for (i, numConvs) in architecture.enumerated() {
            let block = DenseBlock(numConvs: numConvs, inChannels: c, growthRate: growthRate)
            layers.append(block)
            c = block.outChannels
            if i != architecture.count - 1 {
                layers.append(transitionBlock(inChannels: c, outChannels: c / 2))
                c /= 2
            }
        }
        layers += [BatchNorm2d(c), ReLU(), AdaptiveAvgPool2d(outputSize: [1, 1]), Flatten(), Linear(c, numClasses)]
        return Sequential(layers)
    }
}
