import ConvNetCore

extension Models {
    /// D2L 8.2's VGG block: `numConvs` 3×3 convolutions with ReLU, then 2×2 max pooling.
    public static func vggBlock(_ numConvs: Int, inChannels: Int, outChannels: Int) -> Sequential {
        var layers: [any Module] = []
        var c = inChannels
        for _ in 0..<numConvs {
            layers.append(Conv2d(c, outChannels, kernelSize: 3, padding: 1))
            layers.append(ReLU())
            c = outChannels
        }
        layers.append(MaxPool2d(kernelSize: 2, stride: 2))
        return Sequential(layers)
    }

    /// VGG-11's architecture: (convolutions, channels) per block.
    public static let vgg11Architecture = [(1, 64), (1, 128), (2, 256), (2, 512), (2, 512)]

    /// D2L 8.2's VGG for 224×224 input; `channelRatio` divides every width (D2L trains with 4).
    public static func vgg(architecture: [(Int, Int)] = vgg11Architecture, channelRatio: Int = 1,
                           inputChannels: Int = 1, numClasses: Int = 10, inputSize: Int = 224) -> Sequential {
        var blocks: [any Module] = []
        var c = inputChannels
        for (n, width) in architecture {
            blocks.append(vggBlock(n, inChannels: c, outChannels: width / channelRatio))
            c = width / channelRatio
        }
        let side = inputSize >> architecture.count
        return Sequential(blocks + [
            Flatten(),
            Linear(c * side * side, 4096), ReLU(), Dropout(p: 0.5),
            Linear(4096, 4096), ReLU(), Dropout(p: 0.5),
            Linear(4096, numClasses),
        ])
    }
}
