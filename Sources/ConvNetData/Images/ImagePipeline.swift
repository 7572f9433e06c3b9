import ConvNetCore
import Foundation

/// From a decoded image to a model's input: transforms on 8-bit pixels, then torchvision's
/// `ToTensor` (CHW floats in [0, 1]) and optionally `Normalize(mean, std)` per channel.
public struct ImagePipeline: Sendable, CustomStringConvertible {
    /// The transforms on 8-bit pixels.
    public let transform: Compose
    /// The channels of the output (1 or 3).
    public let channels: Int
    /// The output size.
    public let height: Int, width: Int
    /// `Normalize`'s per-channel mean and standard deviation (nil: no normalisation).
    public let mean: [Float]?, std: [Float]?

    /// `transform` must produce `channels` × `height` × `width` images.
    public init(_ transform: Compose, channels: Int, height: Int, width: Int, mean: [Float]? = nil, std: [Float]? = nil) {
        precondition(mean?.count ?? channels == channels && std?.count ?? channels == channels, "mean/std need one value per channel")
        self.transform = transform; self.channels = channels; self.height = height; self.width = width
        self.mean = mean; self.std = std
    }

    /// Evaluation: Resize(size / 0.875) + CenterCrop(size) with augmentation (the ImageNet recipe),
    /// or Resize + CenterCrop(size) without (the whole image, as training saw it).
    public static func evaluation(size: Int, channels: Int, augmented: Bool, mean: [Float]? = nil, std: [Float]? = nil) -> ImagePipeline {
        let resize = augmented ? Int((Double(size) / 0.875).rounded()) : size
        return ImagePipeline(Compose([ConvertChannels(channels), Resize(resize), CenterCrop(size)]), channels: channels,
                             height: size, width: size, mean: mean, std: std)
    }

    /// Training: RandomResizedCrop + RandomHorizontalFlip with augmentation; else as evaluation.
    public static func training(size: Int, channels: Int, augmented: Bool, mean: [Float]? = nil, std: [Float]? = nil) -> ImagePipeline {
        guard augmented else { return evaluation(size: size, channels: channels, augmented: false, mean: mean, std: std) }
        return ImagePipeline(Compose([ConvertChannels(channels), RandomResizedCrop(size), RandomHorizontalFlip()]), channels: channels,
                             height: size, width: size, mean: mean, std: std)
    }

    /// Whether a transform draws random numbers.
    public var isRandom: Bool { transform.isRandom }

    /// Transforms `image` and writes channels × height × width floats at `out`.
    public func process(_ image: Image8, _ rng: Generator, into out: UnsafeMutablePointer<Float>) {
        let img = transform.apply(image, rng)
        precondition(img.width == width && img.height == height && img.channels == channels,
                     "the pipeline produced \(img.channels)×\(img.height)×\(img.width), expected \(channels)×\(height)×\(width)")
        ImagePipeline.toTensor(img, mean: mean, std: std, into: out)
    }

    /// ToTensor (+ Normalize): HWC bytes → CHW floats.
    public static func toTensor(_ img: Image8, mean: [Float]?, std: [Float]?, into out: UnsafeMutablePointer<Float>) {
        let c = img.channels, plane = img.width * img.height
        img.pixels.withUnsafeBufferPointer { px in
            for ch in 0..<c {
                let m = mean?[ch] ?? 0, s = 1 / (std?[ch] ?? 1)
                let d = out + ch * plane
                for i in 0..<plane { d[i] = (Float(px[i * c + ch]) * (1 / 255) - m) * s }
            }
        }
    }

    /// torchvision's repr of the whole pipeline.
    public var description: String {
        var parts = transform.transforms.map(\.description) + ["ToTensor()"]
        if let mean, let std { parts.append("Normalize(mean=\(mean), std=\(std))") }
        return "Compose(" + parts.joined(separator: ", ") + ")"
    }
}
