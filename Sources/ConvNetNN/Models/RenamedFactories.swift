import ConvNetCore

// The zoo's factories are named after the book's classes with a lowercase first letter (`leNet`,
// `bnLeNet`, `resNet18`, `denseNet`, `regNetX32`); the earlier spellings still compile, with a
// deprecation warning naming the new one.
extension Models {
    /// Renamed ``leNet(inputChannels:numClasses:)``.
    @available(*, deprecated, renamed: "leNet")
    public static func lenet(inputChannels: Int = 1, numClasses: Int = 10) -> LeNet { leNet(inputChannels: inputChannels, numClasses: numClasses) }

    /// Renamed ``leNetD2L(inputChannels:numClasses:)``.
    @available(*, deprecated, renamed: "leNetD2L")
    public static func lenetD2L(inputChannels: Int = 1, numClasses: Int = 10) -> Sequential {
        leNetD2L(inputChannels: inputChannels, numClasses: numClasses)
    }

    /// Renamed ``resNet18(inputChannels:numClasses:)``.
    @available(*, deprecated, renamed: "resNet18")
    public static func resnet18(inputChannels: Int = 1, numClasses: Int = 10) -> ResNet {
        resNet18(inputChannels: inputChannels, numClasses: numClasses)
    }

    /// Renamed ``resNet34(inputChannels:numClasses:)``.
    @available(*, deprecated, renamed: "resNet34")
    public static func resnet34(inputChannels: Int = 1, numClasses: Int = 10) -> ResNet {
        resNet34(inputChannels: inputChannels, numClasses: numClasses)
    }
}
