import ConvNetCore
import Foundation

/// One step of an image pipeline, as a torchvision transform on a PIL image: 8-bit pixels in,
/// 8-bit pixels out. Random transforms draw only from the generator they are given, so the same
/// seed gives the same images on any number of threads.
public protocol ImageTransform: Sendable, CustomStringConvertible {
    /// The transformed image; random choices are drawn from `rng`.
    func apply(_ image: Image8, _ rng: Generator) -> Image8
    /// Whether `apply` draws random numbers (a pipeline without any needs no seed per epoch).
    var isRandom: Bool { get }
}

extension ImageTransform {
    /// Deterministic unless a transform says otherwise.
    public var isRandom: Bool { false }
}

/// Transforms applied in order (torchvision's `Compose`).
public struct Compose: ImageTransform {
    /// The transforms, applied first to last.
    public let transforms: [any ImageTransform]
    /// `Compose([...])`.
    public init(_ transforms: [any ImageTransform]) { self.transforms = transforms }
    /// The image through every transform in order.
    public func apply(_ image: Image8, _ rng: Generator) -> Image8 { transforms.reduce(image) { $1.apply($0, rng) } }
    /// Whether any transform is random.
    public var isRandom: Bool { transforms.contains { $0.isRandom } }
    /// torchvision's repr.
    public var description: String { "Compose(" + transforms.map(\.description).joined(separator: ", ") + ")" }
}

extension Generator {
    /// Uniform in [low, high) with 53 random bits (Python's `random.uniform`).
    public func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Uniform integer in low...high (torch.randint(low, high + 1)).
    public func integer(in range: ClosedRange<Int>) -> Int { range.lowerBound + nextInt(below: range.count) }
}

/// Python's round(): halves go to the even neighbour (torchvision's center crop uses it).
func roundHalfEven(_ v: Double) -> Int { Int(v.rounded(.toNearestOrEven)) }
