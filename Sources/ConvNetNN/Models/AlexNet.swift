import ConvNetCore

extension Models {
    /// D2L 8.1's AlexNet for 224×224 input.
    public static func alexNet(inputChannels: Int = 1, numClasses: Int = 10) -> Sequential {
        Sequential(
            Conv2d(inputChannels, 96, kernelSize: 11, stride: 4, padding: 1), ReLU(),
            MaxPool2d(kernelSize: 3, stride: 2),
            Conv2d(96, 256, kernelSize: 5, padding: 2), ReLU(),
            MaxPool2d(kernelSize: 3, stride: 2),
            Conv2d(256, 384, kernelSize: 3, padding: 1), ReLU(),
            Conv2d(384, 384, kernelSize: 3, padding: 1), ReLU(),
            Conv2d(384, 256, kernelSize: 3, padding: 1), ReLU(),
            MaxPool2d(kernelSize: 3, stride: 2),
            Flatten(),
            Linear(6400, 4096), ReLU(), Dropout(p: 0.5),
            Linear(4096, 4096), ReLU(), Dropout(p: 0.5),
            Linear(4096, numClasses))
    }
}
