import ConvNetCore

/// D2L 8.6's residual block: two 3×3 convolutions with batch norm, and an optional 1×1
/// convolution on the shortcut when the shape changes.
public final class Residual: Module {
    /// The first 3×3 convolution (with the block's stride).
    public let conv1: Conv2d
    /// The second 3×3 convolution.
    public let conv2: Conv2d
    /// The 1×1 convolution on the shortcut, when `use1x1Conv`.
    public let conv3: Conv2d?
    /// Batch norm after `conv1`.
    public let bn1: BatchNorm2d
    /// Batch norm after `conv2`.
    public let bn2: BatchNorm2d

    /// D2L's `Residual(num_channels, use_1x1conv, strides)` from `inChannels` input channels.
    public init(_ inChannels: Int, _ numChannels: Int, use1x1Conv: Bool = false, strides: Int = 1) {
        conv1 = Conv2d(inChannels, numChannels, kernelSize: 3, stride: strides, padding: 1)
        conv2 = Conv2d(numChannels, numChannels, kernelSize: 3, padding: 1)
        conv3 = use1x1Conv ? Conv2d(inChannels, numChannels, kernelSize: 1, stride: strides) : nil
        bn1 = BatchNorm2d(numChannels)
        bn2 = BatchNorm2d(numChannels)
    }

    public func forward(_ x: Tensor) -> Tensor {
        let y = bn2(conv2(relu(bn1(conv1(x)))))
        let shortcut = conv3.map { $0(x) } ?? x
        return relu(y + shortcut)
    }
}

/// D2L 8.6.5's ResNeXt block: 1×1 → grouped 3×3 → 1×1 bottleneck with a residual connection.
public final class ResNeXtBlock: Module {
    /// The 1×1 reduction, the grouped 3×3 convolution and the 1×1 expansion.
    public let conv1: Conv2d, conv2: Conv2d, conv3: Conv2d
    /// Batch norms after `conv1`, `conv2` and `conv3`.
    public let bn1: BatchNorm2d, bn2: BatchNorm2d, bn3: BatchNorm2d
    /// The 1×1 convolution on the shortcut, when `use1x1Conv`.
    public let conv4: Conv2d?
    /// Batch norm on the shortcut, when `use1x1Conv`.
    public let bn4: BatchNorm2d?

    /// `groups` is the width of each group, as D2L passes it (`groups=bot_channels // groups`).
    public init(_ inChannels: Int, _ numChannels: Int, groups: Int, bottleneckMultiplier: Double,
                use1x1Conv: Bool = false, strides: Int = 1) {
        let bot = Int((Double(numChannels) * bottleneckMultiplier).rounded())
        conv1 = Conv2d(inChannels, bot, kernelSize: 1)
        conv2 = Conv2d(bot, bot, kernelSize: 3, stride: strides, padding: 1, groups: bot / groups)
        conv3 = Conv2d(bot, numChannels, kernelSize: 1)
        bn1 = BatchNorm2d(bot); bn2 = BatchNorm2d(bot); bn3 = BatchNorm2d(numChannels)
        conv4 = use1x1Conv ? Conv2d(inChannels, numChannels, kernelSize: 1, stride: strides) : nil
        bn4 = use1x1Conv ? BatchNorm2d(numChannels) : nil
    }

    public func forward(_ x: Tensor) -> Tensor {
        var y = relu(bn1(conv1(x)))
        y = relu(bn2(conv2(y)))
        y = bn3(conv3(y))
        var shortcut = x
        if let conv4, let bn4 { shortcut = bn4(conv4(x)) }
        return relu(y + shortcut)
    }
}

extension Models {
    /// ResNet-18's stages as (residual blocks, channels): D2L's `((2, 64), (2, 128), (2, 256), (2, 512))`.
    public static let resNet18Architecture = [(2, 64), (2, 128), (2, 256), (2, 512)]
    /// ResNet-34's stages as (residual blocks, channels).
    public static let resNet34Architecture = [(3, 64), (4, 128), (6, 256), (3, 512)]

    /// D2L 8.6's ResNet: a 7×7 stem, residual stages `b2`…, global pooling and a linear head,
    /// keyed like D2L's module (`net.b1.0.weight`, `net.b2.0.conv1.weight`, `net.last.2.weight`).
    public static func resNet(architecture: [(Int, Int)], inputChannels: Int = 1, numClasses: Int = 10) -> ResNet {
        ResNet(architecture: architecture, inputChannels: inputChannels, numClasses: numClasses)
    }

    /// D2L 8.6's ResNet-18; PyTorch's `d2l.ResNet18`.
    public static func resNet18(inputChannels: Int = 1, numClasses: Int = 10) -> ResNet {
        resNet(architecture: resNet18Architecture, inputChannels: inputChannels, numClasses: numClasses)
    }

    /// ResNet-34: the same stem and head with (3, 4, 6, 3) residual blocks per stage.
    public static func resNet34(inputChannels: Int = 1, numClasses: Int = 10) -> ResNet {
        resNet(architecture: resNet34Architecture, inputChannels: inputChannels, numClasses: numClasses)
    }
}

/// D2L's ResNet class: one `net` Sequential with named stages.
public final class ResNet: Module {
    /// The whole network: `b1` (stem), the residual stages `b2`…, and `last` (pooling, flatten, linear).
    public let net: Sequential

    /// A ResNet with `architecture`'s stages, as (residual blocks, channels) pairs.
    public init(architecture: [(Int, Int)], inputChannels: Int, numClasses: Int) {
        var stages: [(String, any Module)] = [("b1", Sequential(
            Conv2d(inputChannels, 64, kernelSize: 7, stride: 2, padding: 3), BatchNorm2d(64), ReLU(),
            MaxPool2d(kernelSize: 3, stride: 2, padding: 1)))]
        var c = 64
        for (i, (numResiduals, channels)) in architecture.enumerated() {
            var blocks: [any Module] = []
            for j in 0..<numResiduals {
                if j == 0 && i != 0 {
                    blocks.append(Residual(c, channels, use1x1Conv: true, strides: 2))
                } else {
                    blocks.append(Residual(c, channels))
                }
                c = channels
            }
            stages.append(("b\(i + 2)", Sequential(blocks)))
        }
        stages.append(("last", Sequential(AdaptiveAvgPool2d(outputSize: [1, 1]), Flatten(), Linear(c, numClasses))))
        net = Sequential(named: stages)
    }

    public func forward(_ x: Tensor) -> Tensor { net(x) }
}
