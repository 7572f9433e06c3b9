import ConvNetCore

extension Models {
    /// D2L 8.8's AnyNet with RegNetX-32's design: a 32-channel stride-2 stem, stages of ResNeXt
    /// blocks (depths 4 and 6, widths 32 and 80, group width 16, bottleneck ratio 1).
    public static func regNetX32(inputChannels: Int = 1, numClasses: Int = 10) -> Sequential {
        anyNet(stemChannels: 32, stages: [(4, 32, 16, 1.0), (6, 80, 16, 1.0)], inputChannels: inputChannels, numClasses: numClasses)
    }

    /// D2L 8.8's AnyNet: stem, stages of (depth, channels, group width, bottleneck ratio), head.
    public static func anyNet(stemChannels: Int, stages: [(Int, Int, Int, Double)], inputChannels: Int = 1,
                              numClasses: Int = 10) -> Sequential {
        var layers: [any Module] = [Sequential(
            Conv2d(inputChannels, stemChannels, kernelSize: 3, stride: 2, padding: 1), BatchNorm2d(stemChannels), ReLU())]
        var c = stemChannels
        for (depth, channels, groups, bot) in stages {
            var blocks: [any Module] = []
            for i in 0..<depth {
                blocks.append(ResNeXtBlock(c, channels, groups: groups, bottleneckMultiplier: bot,
                                           use1x1Conv: i == 0, strides: i == 0 ? 2 : 1))
                c = channels
            }
            layers.append(Sequential(blocks))
        }
        layers.append(Sequential(AdaptiveAvgPool2d(outputSize: [1, 1]), Flatten(), Linear(c, numClasses)))
        return Sequential(layers)
    }
}
