// swift-tools-version:6.0
// libFuzzer harnesses, one executable per parser of outside bytes, each linking the whole ConvNet
// library as users get it. Built and run by fuzz/run.sh (`swift build --sanitize fuzzer …`); a
// plain build of the main package never sees this folder.
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name, which is the clone's name (not always "main").
let root = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent()
let convNet = Target.Dependency.product(name: "ConvNet", package: root.lastPathComponent)

let package = Package(
    name: "ConvNetFuzz",
    dependencies: [.package(path: root.path)],
    targets: ["SafeTensorsFuzzer", "IDXFuzzer", "ImageDecoderFuzzer"].map {
        .executableTarget(name: $0, dependencies: [convNet], swiftSettings: [.unsafeFlags(["-parse-as-library"])])
    },
    swiftLanguageModes: [.v6]
)
