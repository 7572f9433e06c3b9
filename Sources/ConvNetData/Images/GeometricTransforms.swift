import ConvNetCore
import Foundation

/// torchvision's `Resize`: with one size, the shorter side becomes `size` and the longer keeps the
/// aspect ratio (truncated, as torchvision computes it); with two, exactly height × width. Bilinear
/// with antialiasing, as Pillow.
public struct Resize: ImageTransform {
    /// The requested size.
    public enum Size: Sendable {
        /// The shorter side becomes this length; the other keeps the aspect ratio (`Resize(int)`).
        case shorterSide(Int)
        /// Exactly height × width (`Resize((h, w))`).
        case exact(height: Int, width: Int)
    }
    /// The requested size.
    public let size: Size
    /// `Resize(side)`: the shorter side becomes `side`.
    public init(_ side: Int) { precondition(side > 0); size = .shorterSide(side) }
    /// `Resize((height, width))`.
    public init(height: Int, width: Int) { precondition(height > 0 && width > 0); size = .exact(height: height, width: width) }

    /// The output width and height for an input of `w` × `h`.
    public func outputSize(width w: Int, height h: Int) -> (width: Int, height: Int) {
        switch size {
        case let .exact(oh, ow): return (ow, oh)
        case .shorterSide(let s):
            if w <= h { return (s, Int(Double(s) * Double(h) / Double(w))) }
            return (Int(Double(s) * Double(w) / Double(h)), s)
        }
    }

    /// The image resized.
    public func apply(_ image: Image8, _ rng: Generator) -> Image8 {
        let (ow, oh) = outputSize(width: image.width, height: image.height)
        return image.resized(width: ow, height: oh)
    }

    /// torchvision's repr, e.g. `Resize(32)`.
    public var description: String {
        switch size {
        case .shorterSide(let s): return "Resize(\(s))"
        case let .exact(h, w): return "Resize((\(h), \(w)))"
        }
    }
}

/// torchvision's `CenterCrop`: offsets round((H − h)/2), round((W − w)/2) with Python's rounding;
/// a crop larger than the image is padded with zeros.
public struct CenterCrop: ImageTransform {
    /// The crop's size.
    public let height: Int, width: Int
    /// A square crop of `side`.
    public init(_ side: Int) { self.init(height: side, width: side) }
    /// A crop of height × width.
    public init(height: Int, width: Int) { precondition(height > 0 && width > 0); self.height = height; self.width = width }

    /// The central crop (padded with zeros where the image is smaller).
    public func apply(_ image: Image8, _ rng: Generator) -> Image8 {
        var img = image
        if width > img.width || height > img.height {
            // torchvision pads (left, top, right, bottom) = ((w−W)//2, (h−H)//2, (w−W+1)//2, (h−H+1)//2)
            let padW = Swift.max(width - img.width, 0), padH = Swift.max(height - img.height, 0)
            img = img.cropped(x: -(padW / 2), y: -(padH / 2), width: img.width + padW, height: img.height + padH)
        }
        let top = roundHalfEven(Double(img.height - height) / 2), left = roundHalfEven(Double(img.width - width) / 2)
        return img.cropped(x: left, y: top, width: width, height: height)
    }

    /// torchvision's repr.
    public var description: String { "CenterCrop((\(height), \(width)))" }
}

/// torchvision's `RandomResizedCrop`: a crop covering a random fraction of the area (`scale`)
/// with a random aspect ratio (log-uniform in `ratio`), found in up to 10 tries, else a central
/// crop clamped to the ratio range; then resized to height × width.
public struct RandomResizedCrop: ImageTransform {
    /// The output size.
    public let height: Int, width: Int
    /// The range of the crop's area as a fraction of the image's, and of its aspect ratio (w/h).
    public let scale: ClosedRange<Double>, ratio: ClosedRange<Double>

    /// torchvision's `RandomResizedCrop(side, scale, ratio)` with its defaults.
    public init(_ side: Int, scale: ClosedRange<Double> = 0.08...1, ratio: ClosedRange<Double> = (3.0 / 4)...(4.0 / 3)) {
        precondition(side > 0)
        height = side; width = side; self.scale = scale; self.ratio = ratio
    }

    /// The crop (x, y, width, height) for an image of `w` × `h`.
    public func cropBox(width w: Int, height h: Int, _ rng: Generator) -> (x: Int, y: Int, width: Int, height: Int) {
        let area = Double(w * h)
        let logRatio = (Foundation.log(ratio.lowerBound), Foundation.log(ratio.upperBound))
        for _ in 0..<10 {
            let target = area * rng.uniform(scale.lowerBound, scale.upperBound)
            let aspect = Foundation.exp(rng.uniform(logRatio.0, logRatio.1))
            let cw = roundHalfEven((target * aspect).squareRoot()), ch = roundHalfEven((target / aspect).squareRoot())
            if cw > 0 && cw <= w && ch > 0 && ch <= h {
                let y = rng.integer(in: 0...(h - ch)), x = rng.integer(in: 0...(w - cw))
                return (x, y, cw, ch)
            }
        }
        let inRatio = Double(w) / Double(h)
        var cw = w, ch = h
        if inRatio < ratio.lowerBound { cw = w; ch = roundHalfEven(Double(cw) / ratio.lowerBound) }
        else if inRatio > ratio.upperBound { ch = h; cw = roundHalfEven(Double(ch) * ratio.upperBound) }
        return ((w - cw) / 2, (h - ch) / 2, cw, ch)
    }

    /// A random crop resized to height × width.
    public func apply(_ image: Image8, _ rng: Generator) -> Image8 {
        let b = cropBox(width: image.width, height: image.height, rng)
        return image.cropped(x: b.x, y: b.y, width: b.width, height: b.height).resized(width: width, height: height)
    }

    /// Always random.
    public var isRandom: Bool { true }
    /// torchvision's repr.
    public var description: String { "RandomResizedCrop((\(height), \(width)), scale=\(scale), ratio=\(ratio))" }
}

/// torchvision's `RandomCrop(size, padding)`: zero padding on every side, then a crop at a uniform
/// random position.
public struct RandomCrop: ImageTransform {
    /// The crop's size and the zero padding added on every side first.
    public let height: Int, width: Int, padding: Int
    /// torchvision's `RandomCrop(side, padding=padding)`.
    public init(_ side: Int, padding: Int = 0) { precondition(side > 0 && padding >= 0); height = side; width = side; self.padding = padding }

    /// A crop of the padded image at a uniform random position.
    public func apply(_ image: Image8, _ rng: Generator) -> Image8 {
        let ph = image.height + 2 * padding, pw = image.width + 2 * padding
        // a crop larger than the padded image is padded further, as torchvision's pad_if_needed
        let ey = Swift.max(height - ph, 0), ex = Swift.max(width - pw, 0)
        let y = rng.integer(in: 0...(ph + ey - height)) - padding - ey / 2
        let x = rng.integer(in: 0...(pw + ex - width)) - padding - ex / 2
        return image.cropped(x: x, y: y, width: width, height: height)
    }

    /// Always random.
    public var isRandom: Bool { true }
    /// torchvision's repr.
    public var description: String { "RandomCrop((\(height), \(width)), padding=\(padding))" }
}

/// torchvision's `RandomHorizontalFlip(p)`.
public struct RandomHorizontalFlip: ImageTransform {
    /// The probability of a flip.
    public let p: Double
    /// torchvision's `RandomHorizontalFlip(p)`.
    public init(p: Double = 0.5) { self.p = p }
    /// The image mirrored with probability `p`.
    public func apply(_ image: Image8, _ rng: Generator) -> Image8 {
        rng.uniform(0, 1) < p ? image.flippedHorizontally() : image
    }
    /// Always random.
    public var isRandom: Bool { true }
    /// torchvision's repr.
    public var description: String { "RandomHorizontalFlip(p=\(p))" }
}

/// torchvision's `Grayscale` / `convert("RGB")`: 1 or 3 channels with Pillow's conversion.
public struct ConvertChannels: ImageTransform {
    /// 1 (greyscale) or 3 (RGB).
    public let channels: Int
    /// Converts to `channels` (1 or 3).
    public init(_ channels: Int) { precondition(channels == 1 || channels == 3); self.channels = channels }
    /// The image with `channels` channels, as Pillow's `convert`.
    public func apply(_ image: Image8, _ rng: Generator) -> Image8 { image.converted(toChannels: channels) }
    /// `Grayscale()` or `ConvertRGB()`.
    public var description: String { channels == 1 ? "Grayscale()" : "ConvertRGB()" }
}
