/// Models whose first Linear layer is sized for one input resolution (no global pooling).
let fixedInputSize: [String: Int] = ["lenet": 28, "lenet-d2l": 28, "bn-lenet": 28, "alexnet": 224, "vgg11": 224]

/// The smallest side a global-pooling zoo model runs on (every unpadded pooling stage still has a
/// pixel), found by tracing each model; the others run from 1×1. Output sizes grow with the input,
/// so any larger side works.
let minInputSide = ["nin": 67, "densenet": 29]

/// Refuses an input side the model cannot take (its layers would trap on an empty output), naming
/// the option that set it; checked before the model sees a tensor.
func checkModelInput(_ model: String, height h: Int, width w: Int, option: String) throws {
    if let fixed = fixedInputSize[model] {
        guard h == fixed, w == fixed else {
            throw CLIError(message: "\(model) takes \(fixed)×\(fixed) images (its classifier is sized for them), got \(h)×\(w) from \(option); "
                           + "use a model with global pooling (resnet18, googlenet, nin, densenet, regnetx32) for other sizes")
        }
        return
    }
    let least = minInputSide[model] ?? 1
    guard h >= least, w >= least else {
        throw CLIError(message: "\(option) \(h)×\(w) is too small for \(model); its downsampling needs at least \(least)×\(least)")
    }
}
