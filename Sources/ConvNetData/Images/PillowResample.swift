/// Bilinear resizing of 8-bit images as Pillow's `Image.resize(size, BILINEAR, box)` computes it,
/// which is what torchvision's `Resize`/`RandomResizedCrop` do to a PIL image: a triangle filter
/// widened by the scale when shrinking (antialiasing), coefficients in 22-bit fixed point, a
/// horizontal pass then a vertical one, each rounded and clipped to 0…255.
enum PillowResample {
    static let precisionBits = 22

    /// Fixed-point taps of one axis: for each output index, the first input index, the tap count,
    /// and `kernelSize` weights (flattened, zero past the tap count).
    struct Axis {
        let first: [Int]
        let taps: [Int]
        let weights: [Int32]
        let kernelSize: Int

        /// `inSize` pixels of which [in0, in1) are resized to `outSize` (Pillow's precompute_coeffs).
        init(inSize: Int, in0: Double, in1: Double, outSize: Int) {
            let scale = (in1 - in0) / Double(outSize)
            let filterScale = Swift.max(scale, 1)
            let support = 1.0 * filterScale // bilinear: support 1
            let ksize = Int(support.rounded(.up)) * 2 + 1
            var first = [Int](repeating: 0, count: outSize), taps = [Int](repeating: 0, count: outSize)
            var weights = [Int32](repeating: 0, count: outSize * ksize)
            var k = [Double](repeating: 0, count: ksize)
            let scaleFixed = Double(1 << PillowResample.precisionBits)
            for xx in 0..<outSize {
                let center = in0 + (Double(xx) + 0.5) * scale
                let ss = 1 / filterScale
                let xmin = Swift.max(Int(center - support + 0.5), 0) // C's (int) truncation; the value is ≥ −0.5
                let xmax = Swift.min(Swift.max(Int(center + support + 0.5), 0), inSize) - xmin
                let n = Swift.max(0, Swift.min(xmax, ksize))
                var ww = 0.0
                for x in 0..<n {
                    let t = abs((Double(x + xmin) - center + 0.5) * ss)
                    let w = t < 1 ? 1 - t : 0
                    k[x] = w; ww += w
                }
                for x in 0..<n {
                    let v = ww != 0 ? k[x] / ww : k[x]
                    weights[xx * ksize + x] = Int32(v < 0 ? Int(-0.5 + v * scaleFixed) : Int(0.5 + v * scaleFixed))
                }
                first[xx] = xmin; taps[xx] = n
            }
            self.first = first; self.taps = taps; self.weights = weights; kernelSize = ksize
        }
    }

    @inline(__always)
    static func clip8(_ v: Int32) -> UInt8 {
        let s = v >> Int32(precisionBits)
        return s < 0 ? 0 : (s > 255 ? 255 : UInt8(s))
    }

    /// Resizes a whole image (torchvision crops first, then resizes the crop as a new image, so a
    /// filter never reads past the crop's edges).
    static func resize(_ image: Image8, outWidth: Int, outHeight: Int) -> Image8 {
        let w = image.width, h = image.height, c = image.channels
        if w == outWidth && h == outHeight { return image }
        let half = Int32(1 << (precisionBits - 1))
        var mid = image.pixels
        if w != outWidth {
            let ax = Axis(inSize: w, in0: 0, in1: Double(w), outSize: outWidth)
            mid = [UInt8](repeating: 0, count: outWidth * h * c)
            image.pixels.withUnsafeBufferPointer { src in
                mid.withUnsafeMutableBufferPointer { dst in
                    ax.first.withUnsafeBufferPointer { first in
                        ax.taps.withUnsafeBufferPointer { taps in
                            ax.weights.withUnsafeBufferPointer { wts in
                                for y in 0..<h {
                                    let row = src.baseAddress! + y * w * c, out = dst.baseAddress! + y * outWidth * c
                                    for xx in 0..<outWidth {
                                        let p = row + first[xx] * c, k = wts.baseAddress! + xx * ax.kernelSize, n = taps[xx]
                                        if c == 3 {
                                            var s0 = half, s1 = half, s2 = half
                                            for i in 0..<n {
                                                let kv = k[i], q = p + 3 * i
                                                s0 &+= Int32(q[0]) &* kv; s1 &+= Int32(q[1]) &* kv; s2 &+= Int32(q[2]) &* kv
                                            }
                                            out[3 * xx] = clip8(s0); out[3 * xx + 1] = clip8(s1); out[3 * xx + 2] = clip8(s2)
                                        } else {
                                            for ch in 0..<c {
                                                var s = half
                                                for i in 0..<n { s &+= Int32(p[i * c + ch]) &* k[i] }
                                                out[xx * c + ch] = clip8(s)
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        guard h != outHeight else { return Image8(width: outWidth, height: h, channels: c, pixels: mid) }
        // vertical pass: whole rows at a time
        let ay = Axis(inSize: h, in0: 0, in1: Double(h), outSize: outHeight)
        var out = [UInt8](repeating: 0, count: outWidth * outHeight * c)
        let rowLen = outWidth * c
        var acc = [Int32](repeating: 0, count: rowLen)
        mid.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                acc.withUnsafeMutableBufferPointer { acc in
                    for yy in 0..<outHeight {
                        let f = ay.first[yy], n = ay.taps[yy]
                        for j in 0..<rowLen { acc[j] = half }
                        for i in 0..<n {
                            let row = src.baseAddress! + (f + i) * rowLen, kv = ay.weights[yy * ay.kernelSize + i]
                            for j in 0..<rowLen { acc[j] &+= Int32(row[j]) &* kv }
                        }
                        let d = dst.baseAddress! + yy * rowLen
                        for j in 0..<rowLen { d[j] = clip8(acc[j]) }
                    }
                }
            }
        }
        return Image8(width: outWidth, height: outHeight, channels: c, pixels: out)
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
