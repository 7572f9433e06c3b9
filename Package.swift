// swift-tools-version:6.0
import PackageDescription

// Layers, each depending only on earlier ones:
//   CKernels (C micro-kernels) → ConvNetCore (tensor, autograd, ops) → ConvNetNN (modules, layers,
//   losses, optimisers, model zoo) → ConvNetData (IDX, image folders, PNG/JPEG, transforms, loader, safetensors, SVG) →
//   ConvNetTensorBoard (event files, on SwiftProtobuf), ConvNetONNX (ONNX export and import),
//   ConvNetDistributed (data-parallel training on Open MPI, loaded at run time) →
//   ConvNet (re-exports everything, trainer) → convnet (CLI), convnet-bench.
let package = Package(
    name: "ConvNet",
    products: [
        .library(name: "ConvNet", targets: ["ConvNet"]),
        .executable(name: "convnet", targets: ["convnet"]),
        .executable(name: "convnet-bench", targets: ["convnet-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // The runtime of the generated ONNX and TensorBoard message code (scripts/generate-protos).
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        // Only for `swift package generate-documentation` / `preview-documentation` (DocC).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .target(name: "CKernels", cSettings: [.define("NDEBUG")]),
        .target(name: "CZlib", linkerSettings: [.linkedLibrary("z")]),
        // libjpeg-turbo, opened with dlopen at run time: the build needs no JPEG library
        .target(name: "CTurboJPEG", linkerSettings: [.linkedLibrary("dl")]),
        // Open MPI, opened with dlopen at run time: the build needs no MPI headers or library
        .target(name: "CMPI", linkerSettings: [.linkedLibrary("dl")]),
        .target(name: "ConvNetCore", dependencies: ["CKernels"]),
        .target(name: "ConvNetNN", dependencies: ["ConvNetCore"]),
        .target(name: "ConvNetData", dependencies: ["ConvNetCore", "CZlib", "CTurboJPEG"]),
        .target(name: "ConvNetDistributed", dependencies: ["ConvNetCore", "ConvNetNN", "ConvNetData", "CMPI"]),
        .target(name: "ConvNetTensorBoard", dependencies: [
            "ConvNetCore", "ConvNetData", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        // ONNX export and import (the generated message code needs swift-protobuf's runtime)
        .target(name: "ConvNetONNX", dependencies: ["ConvNetCore", "ConvNetNN", "ConvNetData",
                                                     .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .target(name: "ConvNet", dependencies: ["ConvNetCore", "ConvNetNN", "ConvNetData", "ConvNetTensorBoard", "ConvNetONNX",
                                            "ConvNetDistributed"]),
        .executableTarget(name: "convnet", dependencies: [
            "ConvNet", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "convnet-bench", dependencies: ["ConvNet", "CMPI"]),
        .executableTarget(name: "homework", dependencies: ["ConvNet"], path: "Examples/Homework"),
        .executableTarget(name: "d2l-by-hand", dependencies: ["ConvNet"], path: "Examples/D2LByHand"),
        .executableTarget(name: "data-parallel", dependencies: ["ConvNet"], path: "Examples/DataParallel"),
        .testTarget(name: "ConvNetTests", dependencies: ["ConvNet"], resources: [.copy("Resources")]),
    ],
    swiftLanguageModes: [.v6]
)
