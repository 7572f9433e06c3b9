import ConvNet
import Foundation
import Testing

/// An image whose sample at (x, y, c) is (10·y + x)·channels + c, so crops can be checked by hand.
private func ramp(width: Int, height: Int, channels: Int = 1) -> Image8 {
    Image8(width: width, height: height, channels: channels,
           pixels: (0..<(width * height * channels)).map { UInt8(truncatingIfNeeded: ($0 / channels / width * 10 + $0 / channels % width) * channels + $0 % channels) })
}

@Suite struct TransformTests {
    /// Resize matches Pillow's BILINEAR resize exactly (fixtures from make_images.py).
    @Test(arguments: [(17, 13), (70, 50), (23, 40)])
    func resizeMatchesPillow(_ w: Int, _ h: Int) throws {
        let src = try ImageDecoder.read(resourceURL("images/chelsea_palette.png")).converted(toChannels: 3)
        let expected = [UInt8](try Data(contentsOf: resourceURL("images/chelsea_palette.resize_\(w)x\(h).rgb")))
        let ours = Resize(height: h, width: w).apply(src, Generator(seed: 0))
        #expect(ours.width == w && ours.height == h)
        #expect(ours.pixels == expected, "max difference \(maxByteDiff(ours.pixels, expected))")
    }

    @Test func resizeShorterSideKeepsAspect() {
        let r = Resize(32)
        #expect(r.outputSize(width: 100, height: 50) == (64, 32))
        #expect(r.outputSize(width: 50, height: 75) == (32, 48))
        #expect(r.outputSize(width: 33, height: 100) == (32, 96)) // int(32·100/33) = 96
        // equal size: unchanged; halving a 2×2 block averages it
        let img = ramp(width: 4, height: 2)
        #expect(Resize(height: 2, width: 4).apply(img, Generator(seed: 0)) == img)
        let half = Image8(width: 2, height: 2, channels: 1, pixels: [0, 100, 50, 150]).resized(width: 1, height: 1)
        #expect(half.pixels == [75])
    }

    @Test func centerCropUsesPythonRounding() {
        let img = ramp(width: 5, height: 4)
        // top = round((4−2)/2) = 1, left = round((5−2)/2) = round(1.5) = 2
        let c = CenterCrop(2).apply(img, Generator(seed: 0))
        #expect(c.pixels == [12, 13, 22, 23])
        // larger than the image: zero padding (left (6−5)//2 = 0, top (6−4)//2 = 1)
        let p = CenterCrop(6).apply(img, Generator(seed: 0))
        #expect(p.width == 6 && p.height == 6)
        #expect(Array(p.pixels[0..<6]) == [0, 0, 0, 0, 0, 0])
        #expect(Array(p.pixels[6..<12]) == [0, 1, 2, 3, 4, 0])
        #expect(Array(p.pixels[30..<36]) == [0, 0, 0, 0, 0, 0])
    }

    @Test func randomCropWithPadding() {
        let img = ramp(width: 6, height: 6, channels: 3)
        let t = RandomCrop(6, padding: 2)
        var offsets = Set<[Int]>()
        for seed in 0..<200 {
            let a = t.apply(img, Generator(seed: UInt64(seed)))
            #expect(a == t.apply(img, Generator(seed: UInt64(seed))), "same seed, same crop")
            // find the offset: the crop must equal the padded image at some (dx, dy) in −2…2
            let match = (-2...2).flatMap { dy in (-2...2).map { [$0, dy] } }.first { d in img.cropped(x: d[0], y: d[1], width: 6, height: 6) == a }
            #expect(match != nil)
            if let match { offsets.insert(match) }
        }
        #expect(offsets.count == 25, "every offset of the 5×5 range occurs")
    }

    @Test func randomResizedCropBoxes() {
        let t = RandomResizedCrop(16)
        for seed in 0..<300 {
            let b = t.cropBox(width: 60, height: 40, Generator(seed: UInt64(seed)))
            #expect(b.x >= 0 && b.y >= 0 && b.x + b.width <= 60 && b.y + b.height <= 40)
            let area = Double(b.width * b.height) / 2400, ratio = Double(b.width) / Double(b.height)
            // rounding the sides moves area and ratio a little beyond the ranges
            #expect(area > 0.06 && area <= 1.0 && ratio > 0.7 && ratio < 1.45, "\(b)")
        }
        // a strip far outside the ratio range falls back to the central crop clamped to 4:3
        let strip = RandomResizedCrop(8, scale: 0.9...1, ratio: 1...1.0001)
        let b = strip.cropBox(width: 100, height: 10, Generator(seed: 1))
        #expect(b.width == 10 && b.height == 10 && b.x == 45 && b.y == 0)
        let out = t.apply(ramp(width: 60, height: 40, channels: 3), Generator(seed: 3))
        #expect(out.width == 16 && out.height == 16 && out.channels == 3)
    }

    @Test func flipAndProbability() {
        let img = ramp(width: 3, height: 2, channels: 2)
        let f = img.flippedHorizontally()
        #expect(f.pixels == [4, 5, 2, 3, 0, 1, 24, 25, 22, 23, 20, 21])
        #expect(f.flippedHorizontally() == img)
        let flips = (0..<1000).filter { RandomHorizontalFlip().apply(img, Generator(seed: UInt64($0))) != img }.count
        #expect(flips > 430 && flips < 570)
        #expect(RandomHorizontalFlip(p: 0).apply(img, Generator(seed: 1)) == img)
    }

    @Test func toTensorAndNormalize() {
        let img = Image8(width: 2, height: 1, channels: 3, pixels: [0, 51, 255, 255, 102, 0])
        let p = ImagePipeline(Compose([]), channels: 3, height: 1, width: 2, mean: [0.5, 0.2, 0], std: [0.5, 0.1, 2])
        var out = [Float](repeating: .nan, count: 6)
        out.withUnsafeMutableBufferPointer { p.process(img, Generator(seed: 0), into: $0.baseAddress!) }
        // CHW: channel 0 (0, 255) → (−1, 1); channel 1 (51, 102) → (0, 2); channel 2 (255, 0) → (0.5, 0)
        expectClose(out, [-1, 1, 0, 2, 0.5, 0], tol: 1e-5)
        #expect(p.description == "Compose(ToTensor(), Normalize(mean=[0.5, 0.2, 0.0], std=[0.5, 0.1, 2.0]))")
    }

    @Test func defaultPipelines() {
        let train = ImagePipeline.training(size: 32, channels: 3, augmented: true)
        #expect(train.isRandom)
        #expect(train.description.contains("RandomResizedCrop((32, 32)") && train.description.contains("RandomHorizontalFlip(p=0.5)"))
        let eval = ImagePipeline.evaluation(size: 32, channels: 1, augmented: true)
        #expect(!eval.isRandom)
        #expect(eval.description == "Compose(Grayscale(), Resize(37), CenterCrop((32, 32)), ToTensor())")
        // an RGB 50×40 photo through the evaluation pipeline: 1×32×32 floats in [0, 1]
        var out = [Float](repeating: .nan, count: 32 * 32)
        out.withUnsafeMutableBufferPointer { eval.process(ramp(width: 50, height: 40, channels: 3), Generator(seed: 0), into: $0.baseAddress!) }
        #expect(out.allSatisfy { $0 >= 0 && $0 <= 1 })
    }
}
