import Foundation

/// An 8-bit image, row-major with interleaved channels: grey (1), grey + alpha (2), RGB (3) or
/// RGBA (4) — what the decoders produce and the transforms work on (as a PIL image).
public struct Image8: Sendable, Equatable {
    /// The size in pixels and the channels per pixel (1, 2, 3 or 4).
    public let width: Int, height: Int, channels: Int
    /// The samples, row-major, `channels` per pixel.
    public var pixels: [UInt8]
    /// An image; `pixels` must hold `width`×`height`×`channels` bytes.
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        // checked here rather than with ConvNetCore's checkArgument, so the decoders do not need the
        // tensor library (fuzz/ builds them on their own)
        if pixels.count != width * height * channels { fatalError("pixel buffer does not match \(width)×\(height)×\(channels)") }
        self.width = width; self.height = height; self.channels = channels; self.pixels = pixels
    }
}
