// Networks written the way a D2L reader writes them, outside the library: the homework's LeNet
// and D2L 8.6's ResNet-18 built from a hand-written `Residual` (with the book's in-place `Y += X`).
// The benchmark runs each beside the zoo model it reproduces: the engine, not the model file,
// makes them fast.
import ConvNet

final class HomeworkLeNet: Module {
    let conv1 = Conv2d(1, 6, kernelSize: 5)
    let conv2 = Conv2d(6, 16, kernelSize: 5)
    let fc1 = Linear(16 * 4 * 4, 120)
    let fc2 = Linear(120, 84)
    let fc3 = Linear(84, 10)

    func forward(_ x: Tensor) -> Tensor {
        var x = maxPool2d(relu(conv1(x)), kernelSize: 2)
        x = maxPool2d(relu(conv2(x)), kernelSize: 2)
        x = x.view(-1, 16 * 4 * 4)
        x = relu(fc1(x))
        x = relu(fc2(x))
        return fc3(x)
    }
}

final class UserResidual: Module {
    let conv1: Conv2d, conv2: Conv2d, conv3: Conv2d?
    let bn1: BatchNorm2d, bn2: BatchNorm2d

    init(_ inputChannels: Int, _ numChannels: Int, use1x1conv: Bool = false, strides: Int = 1) {
        conv1 = Conv2d(inputChannels, numChannels, kernelSize: 3, stride: strides, padding: 1)
        conv2 = Conv2d(numChannels, numChannels, kernelSize: 3, padding: 1)
        conv3 = use1x1conv ? Conv2d(inputChannels, numChannels, kernelSize: 1, stride: strides) : nil
        bn1 = BatchNorm2d(numChannels)
        bn2 = BatchNorm2d(numChannels)
    }

    func forward(_ x: Tensor) -> Tensor {
        var Y = relu(bn1(conv1(x)))
        Y = bn2(conv2(Y))
        var X = x
        if let conv3 { X = conv3(X) }
        Y += X
        return relu(Y)
    }
}

final class UserResNet18: Module {
    let net: Sequential

    init(numClasses: Int = 10) {
        func block(_ inputChannels: Int, _ numChannels: Int, _ numResiduals: Int, firstBlock: Bool = false) -> Sequential {
            var blk: [any Module] = []
            for i in 0..<numResiduals {
                if i == 0 && !firstBlock {
                    blk.append(UserResidual(inputChannels, numChannels, use1x1conv: true, strides: 2))
                } else {
                    blk.append(UserResidual(numChannels, numChannels))
                }
            }
            return Sequential(blk)
        }
        net = Sequential(
            Sequential(Conv2d(1, 64, kernelSize: 7, stride: 2, padding: 3), BatchNorm2d(64), ReLU(),
                       MaxPool2d(kernelSize: 3, stride: 2, padding: 1)),
            block(64, 64, 2, firstBlock: true), block(64, 128, 2), block(128, 256, 2), block(256, 512, 2),
            Sequential(AdaptiveAvgPool2d(outputSize: [1, 1]), Flatten(), Linear(512, numClasses)))
    }

    func forward(_ x: Tensor) -> Tensor { net(x) }
}

/// The user-written rows, each beside its zoo twin.
let userWrittenModels: [(name: String, twin: String, make: @Sendable () -> any Module)] = [
    ("lenet (user-written)", "lenet", { HomeworkLeNet() }),
    ("resnet18 (user-written Residual)", "resnet18", { UserResNet18() }),
]
