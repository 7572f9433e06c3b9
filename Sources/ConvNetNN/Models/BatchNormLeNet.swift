import ConvNetCore

extension Models {
    /// D2L 8.5's LeNet with batch normalisation after every convolution and hidden linear layer.
    public static func bnLeNet(inputChannels: Int = 1, numClasses: Int = 10) -> Sequential {
        Sequential(
            Conv2d(inputChannels, 6, kernelSize: 5), BatchNorm2d(6), Sigmoid(),
            AvgPool2d(kernelSize: 2, stride: 2),
            Conv2d(6, 16, kernelSize: 5), BatchNorm2d(16), Sigmoid(),
            AvgPool2d(kernelSize: 2, stride: 2),
            Flatten(),
            Linear(16 * 4 * 4, 120), BatchNorm1d(120), Sigmoid(),
            Linear(120, 84), BatchNorm1d(84), Sigmoid(),
            Linear(84, numClasses))
    }
}
