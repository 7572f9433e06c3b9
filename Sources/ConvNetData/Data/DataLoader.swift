import ConvNetCore
import Foundation

/// One mini-batch: images [B, C, H, W] in [0, 1] (optionally normalised) and their labels.
public struct Batch: @unchecked Sendable {
    /// The images, `[B, 1, H, W]` float32 (D2L's `X`).
    public let images: Tensor
    /// The class of each image (D2L's `y`).
    public let labels: [Int]
}

/// Bilinear resampling weights for one axis, as `torchvision.transforms.Resize` on tensors
/// (half-pixel centres, `align_corners=False`; for downscaling the source is area-averaged).
struct ResizeAxis {
    let taps: [[(Int, Float)]]

    init(from n: Int, to m: Int) {
        let scale = Float(n) / Float(m)
        if m >= n {
            taps = (0..<m).map { i in
                let src = Swift.max((Float(i) + 0.5) * scale - 0.5, 0)
                let i0 = Swift.min(Int(src), n - 1), i1 = Swift.min(i0 + 1, n - 1)
                let w1 = src - Float(i0)
                return [(i0, 1 - w1), (i1, w1)]
            }
        } else {
            // antialiased (triangle filter widened by the scale), as torchvision's default antialias=True
            taps = (0..<m).map { i in
                let center = (Float(i) + 0.5) * scale
                let support = scale
                let lo = Swift.max(Int((center - support).rounded(.down)), 0), hi = Swift.min(Int((center + support).rounded(.up)), n)
                var ws: [(Int, Float)] = []
                for j in lo..<hi {
                    let w = Swift.max(0, 1 - Swift.abs((Float(j) + 0.5 - center) / support))
                    if w > 0 { ws.append((j, w)) }
                }
                let total = ws.reduce(0) { $0 + $1.1 }
                return ws.map { ($0.0, $0.1 / total) }
            }
        }
    }
}

/// Resizes [C, H, W] planes of floats to `size`×`size` bilinearly.
public func resizeBilinear(_ src: UnsafePointer<Float>, planes: Int, height: Int, width: Int, toHeight: Int, toWidth: Int,
                           into dst: UnsafeMutablePointer<Float>) {
    let ay = ResizeAxis(from: height, to: toHeight), ax = ResizeAxis(from: width, to: toWidth)
    var row = [Float](repeating: 0, count: width)
    for p in 0..<planes {
        let s = src + p * height * width, d = dst + p * toHeight * toWidth
        for i in 0..<toHeight {
            for j in 0..<width { row[j] = 0 }
            for (y, wy) in ay.taps[i] { for j in 0..<width { row[j] += wy * s[y * width + j] } }
            for j in 0..<toWidth {
                var v: Float = 0
                for (x, wx) in ax.taps[j] { v += wx * row[x] }
                d[i * toWidth + j] = v
            }
        }
    }
}

/// Batches a dataset: seeded shuffling per epoch, optional drop-last, resizing and normalisation,
/// with the next batch prepared on a background thread while the current one is used.
///
/// Unchecked Sendable: every stored property is a constant; the generator is advanced only by the
/// thread that starts an epoch, and the prefetch queue reads nothing but the immutable dataset.
public final class DataLoader: Sequence, @unchecked Sendable {
    /// The examples to batch.
    public let dataset: ImageDataset
    /// Examples per batch (PyTorch's `batch_size`).
    public let batchSize: Int
    /// Whether each epoch visits the examples in a new random order (PyTorch's `shuffle`).
    public let shuffle: Bool
    /// Whether a last, smaller batch is skipped (PyTorch's `drop_last`).
    public let dropLast: Bool
    /// The side length images are resized to (bilinear, as D2L's `transforms.Resize`), or `nil` to keep them.
    public let resize: Int?
    /// `(x - mean) / std` applied after scaling to [0, 1] (torchvision's `Normalize`), or `nil`.
    public let normalization: (mean: Float, std: Float)?
    /// The generator that shuffles (`Generator.global` unless given).
    public let generator: Generator

    /// A loader over `dataset`; PyTorch's `DataLoader(dataset, batch_size, shuffle, drop_last)` with D2L's resize.
    /// `for batch in loader` walks one epoch.
    public init(_ dataset: ImageDataset, batchSize: Int, shuffle: Bool = false, dropLast: Bool = false, resize: Int? = nil,
                normalization: (mean: Float, std: Float)? = nil, generator: Generator = .global) {
        checkArgument(batchSize > 0, "batch size must be positive, got \(batchSize)")
        self.dataset = dataset; self.batchSize = batchSize; self.shuffle = shuffle; self.dropLast = dropLast
        self.resize = resize; self.normalization = normalization; self.generator = generator
    }

    /// Batches per epoch.
    public var count: Int { DataLoader.countBatches(dataset.count, batchSize: batchSize, dropLast: dropLast) }

    /// Batches of `examples` in `batchSize` (no overflow for a huge batch size, where `n + b - 1` would).
    static func countBatches(_ examples: Int, batchSize: Int, dropLast: Bool) -> Int {
        examples / batchSize + (dropLast || examples % batchSize == 0 ? 0 : 1)
    }

    /// The side length of produced images.
    public var imageSize: (Int, Int) { resize.map { ($0, $0) } ?? (dataset.height, dataset.width) }

    /// Builds the batch of the given example indices.
    public func makeBatch(_ indices: ArraySlice<Int>) -> Batch {
        let h = dataset.height, w = dataset.width, plane = h * w
        let (oh, ow) = imageSize
        let images = Tensor.empty([indices.count, 1, oh, ow])
        let out = images.elementPointer
        dataset.images.withUnsafeBufferPointer { bytes in
            var tmp = [Float](repeating: 0, count: plane)
            for (k, i) in indices.enumerated() {
                let src = bytes.baseAddress! + i * plane
                if oh == h && ow == w {
                    let d = out + k * plane
                    for j in 0..<plane { d[j] = Float(src[j]) * (1 / 255) }
                } else {
                    for j in 0..<plane { tmp[j] = Float(src[j]) * (1 / 255) }
                    tmp.withUnsafeBufferPointer { resizeBilinear($0.baseAddress!, planes: 1, height: h, width: w, toHeight: oh, toWidth: ow, into: out + k * oh * ow) }
                }
            }
        }
        if let (mean, std) = normalization {
            let n = images.count, inv = 1 / std
            for j in 0..<n { out[j] = (out[j] - mean) * inv }
        }
        return Batch(images: images, labels: indices.map { dataset.labels[$0] })
    }

    /// The example order of the next epoch (draws from the generator when shuffling).
    public func epochOrder() -> [Int] { shuffle ? generator.permutation(dataset.count) : Array(0..<dataset.count) }

    /// The batches of one epoch (`for batch in loader`), shuffled anew when `shuffle` is set.
    public func makeIterator() -> Iterator { Iterator(loader: self, order: epochOrder(), from: 0) }

    /// The batches of a given example order, starting at batch `first` (a resumed epoch).
    public func batches(order: [Int], from first: Int = 0) -> Iterator { Iterator(loader: self, order: order, from: first) }

    /// Yields batches in order; when images are resized, the next batch is assembled on another
    /// thread while the current one is used (without resizing a batch is a cheap copy, and a third
    /// thread on two cores costs more than it saves).
    public final class Iterator: IteratorProtocol, Sequence {
        let loader: DataLoader
        let order: [Int]
        var nextIndex: Int
        var pending: (DispatchGroup, Box)?
        final class Box: @unchecked Sendable { var batch: Batch? }
        private static let queue = DispatchQueue(label: "convnet.dataloader.prefetch")

        init(loader: DataLoader, order: [Int], from first: Int) {
            self.loader = loader
            self.order = order
            nextIndex = first
            pending = schedule()
        }

        private func schedule() -> (DispatchGroup, Box)? {
            let total = DataLoader.countBatches(order.count, batchSize: loader.batchSize, dropLast: loader.dropLast)
            guard nextIndex >= 0, nextIndex < total else { return nil }
            // lo < order.count here, so only the upper end can overflow (batch size near Int.max)
            let lo = nextIndex * loader.batchSize, hi = lo + Swift.min(loader.batchSize, order.count - lo)
            nextIndex += 1
            let group = DispatchGroup(), box = Box()
            let slice = order[lo..<hi], loader = loader
            if loader.resize == nil {
                box.batch = loader.makeBatch(slice)
            } else {
                Iterator.queue.async(group: group) { box.batch = loader.makeBatch(slice) }
            }
            return (group, box)
        }

        /// The next batch, or `nil` at the end of the epoch.
        public func next() -> Batch? {
            guard let (group, box) = pending else { return nil }
            group.wait()
            pending = schedule()
            return box.batch
        }
    }
}
