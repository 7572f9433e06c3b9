/// Channel conversions as Pillow's `Image.convert` does them, which torchvision's `ImageFolder`
/// (`convert("RGB")`) and `Grayscale` (`convert("L")`) rely on.
extension Image8 {
    /// Pillow's luma: L = (19595·R + 38470·G + 7471·B + 2¹⁵) >> 16, i.e. ITU-R 601-2
    /// (299/1000, 587/1000, 114/1000) in 16-bit fixed point, rounded.
    @inline(__always)
    static func luma(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
        let r16: UInt32 = 19595 * UInt32(r), g16: UInt32 = 38470 * UInt32(g), b16: UInt32 = 7471 * UInt32(b)
        return UInt8(truncatingIfNeeded: (r16 + g16 + b16 + 0x8000) >> 16)
    }

    /// The image with 1 (grey, "L") or 3 (RGB) channels. Alpha is dropped, not composited, as Pillow does.
    public func converted(toChannels target: Int) -> Image8 {
        precondition(target == 1 || target == 3, "images convert to 1 or 3 channels, not \(target)")
        if channels == target { return self }
        let n = width * height, c = channels
        var out = [UInt8](repeating: 0, count: n * target)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                if target == 1 {
                    if c <= 2 { for i in 0..<n { dst[i] = src[i * c] } }
                    else { for i in 0..<n { dst[i] = Image8.luma(src[i * c], src[i * c + 1], src[i * c + 2]) } }
                } else if c <= 2 {
                    for i in 0..<n { let v = src[i * c]; dst[3 * i] = v; dst[3 * i + 1] = v; dst[3 * i + 2] = v }
                } else {
                    for i in 0..<n { dst[3 * i] = src[i * c]; dst[3 * i + 1] = src[i * c + 1]; dst[3 * i + 2] = src[i * c + 2] }
                }
            }
        }
        return Image8(width: width, height: height, channels: target, pixels: out)
    }
}
