/// Bilinear resizing of 8-bit images as Pillow's `Image.resize(size, BILINEAR, box)` computes it,
/// which is what torchvision's `Resize`/`RandomResizedCrop` do to a PIL image: a triangle filter
/// widened by the scale when shrinking (antialiasing), coefficients in 22-bit fixed point, a
/// horizontal pass then a vertical one, each rounded and clipped to 0…255.
enum PillowResample {
    static let precisionBits = 22

    /// Fixed-point taps of one axis: for each output index, the first input index and its weights.
    struct Axis {
        let first: [Int]
        let weights: [[Int32]]

        /// `inSize` pixels of which [in0, in1) are resized to `outSize` (Pillow's precompute_coeffs).
        init(inSize: Int, in0: Double, in1: Double, outSize: Int) {
            let scale = (in1 - in0) / Double(outSize)
            let filterScale = Swift.max(scale, 1)
            let support = 1.0 * filterScale // bilinear: support 1
            var first: [Int] = [], weights: [[Int32]] = []
            first.reserveCapacity(outSize); weights.reserveCapacity(outSize)
            for xx in 0..<outSize {
                let center = in0 + (Double(xx) + 0.5) * scale
                let ss = 1 / filterScale
                let xmin = Swift.max(Int(center - support + 0.5), 0) // C's (int) truncation; the value is ≥ −0.5
                let xmax = Swift.min(Int(center + support + 0.5), inSize) - xmin
                var k = [Double](repeating: 0, count: Swift.max(xmax, 0))
                var ww = 0.0
                for x in 0..<Swift.max(xmax, 0) {
                    let t = abs((Double(x + xmin) - center + 0.5) * ss)
                    let w = t < 1 ? 1 - t : 0
                    k[x] = w; ww += w
                }
                let scaleFixed = Double(1 << PillowResample.precisionBits)
                weights.append(k.map { v in
                    let n = ww != 0 ? v / ww : v
                    return Int32(n < 0 ? Int(-0.5 + n * scaleFixed) : Int(0.5 + n * scaleFixed))
                })
                first.append(xmin)
            }
            self.first = first; self.weights = weights
        }
    }

    @inline(__always)
    static func clip8(_ v: Int) -> UInt8 {
        let s = v >> precisionBits
        return s < 0 ? 0 : (s > 255 ? 255 : UInt8(s))
    }

    /// Resizes a whole image (torchvision crops first, then resizes the crop as a new image, so a
    /// filter never reads past the crop's edges).
    static func resize(_ image: Image8, outWidth: Int, outHeight: Int) -> Image8 {
        let w = image.width, h = image.height, c = image.channels
        if w == outWidth && h == outHeight { return image }
        let half = 1 << (precisionBits - 1)
        var mid = image.pixels
        let midWidth = outWidth
        if w != outWidth {
            let ax = Axis(inSize: w, in0: 0, in1: Double(w), outSize: outWidth)
            mid = [UInt8](repeating: 0, count: outWidth * h * c)
            image.pixels.withUnsafeBufferPointer { src in
                mid.withUnsafeMutableBufferPointer { dst in
                    for y in 0..<h {
                        let row = src.baseAddress! + y * w * c
                        for xx in 0..<outWidth {
                            let f = ax.first[xx], k = ax.weights[xx]
                            for ch in 0..<c {
                                var s = half
                                for (i, kw) in k.enumerated() { s += Int(row[(f + i) * c + ch]) * Int(kw) }
                                dst[(y * outWidth + xx) * c + ch] = clip8(s)
                            }
                        }
                    }
                }
            }
        }
        // vertical pass
        let ay = Axis(inSize: h, in0: 0, in1: Double(h), outSize: outHeight)
        var out = [UInt8](repeating: 0, count: midWidth * outHeight * c)
        let rowLen = midWidth * c
        mid.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                var acc = [Int](repeating: 0, count: rowLen)
                for yy in 0..<outHeight {
                    let f = ay.first[yy], k = ay.weights[yy]
                    for j in 0..<rowLen { acc[j] = half }
                    for (i, kw) in k.enumerated() {
                        let row = src.baseAddress! + (f + i) * rowLen, kv = Int(kw)
                        for j in 0..<rowLen { acc[j] += Int(row[j]) * kv }
                    }
                    let d = dst.baseAddress! + yy * rowLen
                    for j in 0..<rowLen { d[j] = clip8(acc[j]) }
                }
            }
        }
        return Image8(width: midWidth, height: outHeight, channels: c, pixels: out)
    }
}

extension Image8 {
    /// The region (x, y, width, height); parts outside the image are filled with zeros (as
    /// torchvision pads a crop larger than the image).
    public func cropped(x: Int, y: Int, width w: Int, height h: Int) -> Image8 {
        if x == 0 && y == 0 && w == width && h == height { return self }
        let c = channels
        var out = [UInt8](repeating: 0, count: w * h * c)
        let xs = Swift.max(x, 0), xe = Swift.min(x + w, width)
        if xe > xs {
            pixels.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    for row in Swift.max(y, 0)..<Swift.max(Swift.max(y, 0), Swift.min(y + h, height)) {
                        let s = src.baseAddress! + (row * width + xs) * c
                        let d = dst.baseAddress! + ((row - y) * w + (xs - x)) * c
                        d.update(from: s, count: (xe - xs) * c)
                    }
                }
            }
        }
        return Image8(width: w, height: h, channels: c, pixels: out)
    }

    /// Bilinear resize to `width` × `height` as Pillow does it (see `PillowResample`).
    public func resized(width: Int, height: Int) -> Image8 {
        PillowResample.resize(self, outWidth: width, outHeight: height)
    }

    /// The image mirrored left to right.
    public func flippedHorizontally() -> Image8 {
        let c = channels
        var out = pixels
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    for x in 0..<width {
                        for ch in 0..<c { dst[(y * width + x) * c + ch] = src[(y * width + width - 1 - x) * c + ch] }
                    }
                }
            }
        }
        return Image8(width: width, height: height, channels: c, pixels: out)
    }
}
