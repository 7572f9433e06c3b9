import ConvNetCore

/// The homework's LeNet: ReLU and max pooling, 5×5 convolutions without padding (44,426 parameters).
public final class LeNet: Module {
    /// 5×5 convolution to 6 channels.
    public let conv1: Conv2d
    /// 5×5 convolution from 6 to 16 channels.
    public let conv2: Conv2d
    /// Fully connected 16·4·4 → 120.
    public let fc1: Linear
    /// Fully connected 120 → 84.
    public let fc2: Linear
    /// Fully connected 84 → `numClasses`.
    public let fc3: Linear

    /// The homework's LeNet for `inputChannels`×28×28 images and `numClasses` classes.
    public init(inputChannels: Int = 1, numClasses: Int = 10) {
        conv1 = Conv2d(inputChannels, 6, kernelSize: 5)
        conv2 = Conv2d(6, 16, kernelSize: 5)
        fc1 = Linear(16 * 4 * 4, 120)
        fc2 = Linear(120, 84)
        fc3 = Linear(84, numClasses)
    }

    public func forward(_ x: Tensor) -> Tensor {
        var x = maxPool2d(relu(conv1(x)), kernelSize: 2)
        x = maxPool2d(relu(conv2(x)), kernelSize: 2)
        x = x.view(-1, 16 * 4 * 4)
        x = relu(fc1(x))
        x = relu(fc2(x))
        return fc3(x)
    }
}

extension Models {
    /// The homework's LeNet (ReLU, max pooling).
    public static func leNet(inputChannels: Int = 1, numClasses: Int = 10) -> LeNet {
        LeNet(inputChannels: inputChannels, numClasses: numClasses)
    }

    /// D2L 7.6's original LeNet-5: sigmoid activations and average pooling (61,706 parameters).
    public static func leNetD2L(inputChannels: Int = 1, numClasses: Int = 10) -> Sequential {
        Sequential(
            Conv2d(inputChannels, 6, kernelSize: 5, padding: 2), Sigmoid(),
            AvgPool2d(kernelSize: 2, stride: 2),
            Conv2d(6, 16, kernelSize: 5), Sigmoid(),
            AvgPool2d(kernelSize: 2, stride: 2),
            Flatten(),
            Linear(16 * 5 * 5, 120), Sigmoid(),
            Linear(120, 84), Sigmoid(),
            Linear(84, numClasses))
    }
}
