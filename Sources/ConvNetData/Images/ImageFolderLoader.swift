import ConvNetCore
import Foundation

/// Batches of an image folder through an `ImagePipeline`: files are decoded and transformed on
/// `workers` background threads, `prefetch` batches ahead of the one in use, so training waits
/// only when decoding is slower than a step.
///
/// Opening the loader decodes every file once, in parallel, so that a bad file is reported (or,
/// with `skipBad`, left out and counted) before training starts rather than in the middle of it;
/// the decoded images are kept as a cache when they fit in `cacheBytes`.
///
/// Unchecked Sendable: its settings and the epoch's seed change only between epochs, on the thread
/// that drives the loader; background batch assembly reads them, and the decoded-image cache and
/// samples are constants.
public final class ImageFolderLoader: BatchSource, @unchecked Sendable {
    /// The images and their classes.
    public let folder: ImageFolder
    /// What each image goes through on its way to the batch.
    public let pipeline: ImagePipeline
    /// Images per batch.
    public let batchSize: Int
    /// Whether each epoch draws a new order from `generator`.
    public let shuffle: Bool
    /// Whether a last, smaller batch is left out.
    public let dropLast: Bool
    /// The source of the epoch order and of the augmentation seeds.
    public let generator: Generator
    /// Threads decoding and transforming.
    public let workers: Int
    /// Batches prepared ahead of the one in use.
    public let prefetch: Int
    /// The decoders' pixel limit.
    public let maxPixels: Int
    /// The samples that decoded (all of them unless `skipBad`).
    public let samples: [ImageFolder.Sample]
    /// The files left out with `skipBad`, with why.
    public let skipped: [ImageDecodingError]
    /// Decoded images (already in the pipeline's channel count), when cached.
    public let cache: [Image8]?
    /// The seed of the current epoch's random transforms, drawn by `epochOrder()`.
    private var epochSeed: UInt64 = 0

    /// The folder's class names.
    public var classNames: [String] { folder.classNames }
    /// Images per epoch (those that decoded).
    public var exampleCount: Int { samples.count }
    /// Batches per epoch.
    public var batchCount: Int { DataLoader.countBatches(samples.count, batchSize: batchSize, dropLast: dropLast) }
    /// Whether every decoded image is kept in memory.
    public var isCached: Bool { cache != nil }

    /// Checks (decodes) every image of `folder` on `workers` threads, keeping them while they fit in
    /// `cacheBytes`; throws the first bad file's error unless `skipBad`.
    public init(_ folder: ImageFolder, pipeline: ImagePipeline, batchSize: Int, shuffle: Bool = false, dropLast: Bool = false,
                generator: Generator = .global, workers: Int = 2, prefetch: Int = 2, cacheBytes: Int = 1 << 30,
                skipBad: Bool = false, maxPixels: Int = ImageLimits.maxPixels) throws {
        precondition(batchSize > 0 && workers > 0 && prefetch > 0)
        self.folder = folder; self.pipeline = pipeline; self.batchSize = batchSize; self.shuffle = shuffle
        self.dropLast = dropLast; self.generator = generator; self.workers = workers; self.prefetch = prefetch
        self.maxPixels = maxPixels
        // decode everything once: errors now, not mid-epoch; keep the pixels while they fit
        let n = folder.samples.count
        let slots = ResultSlots(count: n)
        let channels = pipeline.channels
        let budget = CacheBudget(bytes: cacheBytes)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for i in Swift.stride(from: w, to: n, by: workers) {
                do {
                    let img = try ImageDecoder.read(folder.samples[i].url, maxPixels: maxPixels).converted(toChannels: channels)
                    slots.set(i, .success(budget.take(img.pixels.count) ? img : nil))
                } catch let e as ImageDecodingError {
                    slots.set(i, .failure(e))
                } catch {
                    slots.set(i, .failure(ImageDecodingError(path: folder.samples[i].url.path, .unreadable("\(error)"))))
                }
            }
        }
        var kept: [ImageFolder.Sample] = [], bad: [ImageDecodingError] = [], images: [Image8] = []
        var complete = !budget.exhausted
        for i in 0..<n {
            switch slots.results[i]! {
            case .failure(let e):
                if !skipBad { throw e }
                bad.append(e)
            case .success(let img):
                kept.append(folder.samples[i])
                if complete, let img { images.append(img) } else { complete = false }
            }
        }
        guard !kept.isEmpty else { throw DataError(path: folder.root.path, reason: "none of the \(n) images could be decoded") }
        samples = kept; skipped = bad
        cache = complete ? images : nil
    }

    private init(sharing other: ImageFolderLoader, pipeline: ImagePipeline, batchSize: Int, shuffle: Bool) {
        folder = other.folder; self.pipeline = pipeline; self.batchSize = batchSize; self.shuffle = shuffle
        dropLast = other.dropLast; generator = other.generator; workers = other.workers; prefetch = other.prefetch
        maxPixels = other.maxPixels; samples = other.samples; skipped = other.skipped; cache = other.cache
    }

    /// The same checked (and cached) images through another pipeline with the same channel count,
    /// e.g. with normalisation added once the statistics are known; nothing is decoded again.
    public func with(pipeline: ImagePipeline, batchSize: Int? = nil, shuffle: Bool? = nil) -> ImageFolderLoader {
        precondition(pipeline.channels == self.pipeline.channels, "the cache holds \(self.pipeline.channels)-channel images")
        return ImageFolderLoader(sharing: self, pipeline: pipeline, batchSize: batchSize ?? self.batchSize, shuffle: shuffle ?? self.shuffle)
    }

    /// The decoded image of sample `i` (from the cache or the file); nil if it cannot be read now.
    func image(_ i: Int) -> Image8? {
        if let cache { return cache[i] }
        return try? ImageDecoder.read(samples[i].url, maxPixels: maxPixels).converted(toChannels: pipeline.channels)
    }

    /// The next epoch's order (a permutation when shuffling); draws the epoch's augmentation seed
    /// when the pipeline is random.
    public func epochOrder() -> [Int] {
        let order = shuffle ? generator.permutation(samples.count) : Array(0..<samples.count)
        if pipeline.isRandom { epochSeed = generator.next() }
        return order
    }

    /// The batch of the examples at `positions` of `order`: each example's random transforms are
    /// seeded by the epoch seed and its position, so threads and resumption do not change them.
    public func makeBatch(order: [Int], positions: Range<Int>, threads: Int? = nil) -> Batch {
        let (c, h, w) = (pipeline.channels, pipeline.height, pipeline.width)
        let images = Tensor.empty([positions.count, c, h, w])
        let out = images.elementPointer, size = c * h * w
        let seed = epochSeed, pipeline = pipeline
        let jobs = Swift.max(1, Swift.min(threads ?? workers, positions.count))
        // nonisolated(unsafe): the jobs write disjoint images of `out`, and the call returns after all end
        nonisolated(unsafe) let work = { (j: Int) in
            for k in Swift.stride(from: j, to: positions.count, by: jobs) {
                let p = positions.lowerBound + k
                guard let img = self.image(order[p]) else {
                    // the file changed since it was checked: a black image rather than a crash mid-training
                    (out + k * size).update(repeating: 0, count: size)
                    continue
                }
                let rng = Generator(seed: seed ^ (UInt64(p) &* 0x9E37_79B9_7F4A_7C15))
                pipeline.process(img, rng, into: out + k * size)
            }
        }
        if jobs == 1 { work(0) } else { DispatchQueue.concurrentPerform(iterations: jobs) { work($0) } }
        return Batch(images: images, labels: positions.map { samples[order[$0]].label })
    }

    /// Batch assembly faster than this (seconds, measured on an epoch's first batch) stays on the
    /// calling thread: waking background threads for it costs more than it saves, as it stalls the
    /// compute kernels' own threads on a machine with few cores (cached Fashion-MNIST takes ~0.1 ms).
    public var backgroundThreshold = 0.002

    /// The batches of `order` from batch `first`, prepared `prefetch` ahead on background threads
    /// (or on the calling thread when that is faster).
    public func batchIterator(order: [Int], from first: Int) -> AnyIterator<Batch> {
        let total = DataLoader.countBatches(order.count, batchSize: batchSize, dropLast: dropLast)
        var next = Swift.max(first, 0)
        var pending: [(DispatchGroup, BatchBox)] = []
        var inline = false, measured = false
        func range(_ b: Int) -> Range<Int> { (b * batchSize)..<(b * batchSize + Swift.min(batchSize, order.count - b * batchSize)) } // no overflow near Int.max
        func schedule() {
            while !inline && pending.count < prefetch && next < total {
                let r = range(next)
                next += 1
                let group = DispatchGroup(), box = BatchBox()
                DispatchQueue.global().async(group: group) { [self] in box.batch = makeBatch(order: order, positions: r) }
                pending.append((group, box))
            }
        }
        return AnyIterator { [self] in
            if !measured {
                // the first batch on this thread, timed: it decides between inline and background assembly
                measured = true
                guard next < total else { return nil }
                let t0 = DispatchTime.now().uptimeNanoseconds
                let b = makeBatch(order: order, positions: range(next), threads: 1)
                next += 1
                inline = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 < backgroundThreshold
                schedule()
                return b
            }
            if inline {
                guard next < total else { return nil }
                next += 1
                return makeBatch(order: order, positions: range(next - 1), threads: 1)
            }
            guard !pending.isEmpty else { return nil }
            let (group, box) = pending.removeFirst()
            group.wait()
            schedule()
            return box.batch
        }
    }

    /// Per-channel mean and standard deviation of the pipeline's output (without normalisation)
    /// over up to `limit` evenly spaced images: the values for `Normalize`.
    public func channelStatistics(limit: Int = 10_000) -> (mean: [Float], std: [Float]) {
        let plain = ImagePipeline(pipeline.transform, channels: pipeline.channels, height: pipeline.height, width: pipeline.width)
        let step = Swift.max(1, samples.count / limit)
        let picks = Array(Swift.stride(from: 0, to: samples.count, by: step))
        let c = plain.channels, plane = plain.height * plain.width
        var sum = [Double](repeating: 0, count: c), sq = [Double](repeating: 0, count: c)
        var buf = [Float](repeating: 0, count: c * plane)
        let rng = Generator(seed: 0)
        for i in picks {
            guard let img = image(i) else { continue }
            buf.withUnsafeMutableBufferPointer { plain.process(img, rng, into: $0.baseAddress!) }
            for ch in 0..<c { for v in buf[(ch * plane)..<((ch + 1) * plane)] { sum[ch] += Double(v); sq[ch] += Double(v) * Double(v) } }
        }
        let n = Double(picks.count * plane)
        let mean = sum.map { $0 / n }
        return (mean.map(Float.init), zip(sq, mean).map { Float(Swift.max($0 / n - $1 * $1, 1e-12).squareRoot()) })
    }
}

/// A batch handed from a background thread.
final class BatchBox: @unchecked Sendable { var batch: Batch? }

/// Per-sample decode results written from several threads (each index by one thread).
final class ResultSlots: @unchecked Sendable {
    private(set) var results: [Result<Image8?, ImageDecodingError>?]
    private let lock = NSLock()
    init(count: Int) { results = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: Result<Image8?, ImageDecodingError>) { lock.lock(); results[i] = r; lock.unlock() }
}

/// The bytes left for cached images; once a request does not fit, caching stops for good.
final class CacheBudget: @unchecked Sendable {
    private var left: Int
    private(set) var exhausted = false
    private let lock = NSLock()
    init(bytes: Int) { left = bytes; exhausted = bytes <= 0 }
    func take(_ n: Int) -> Bool {
        lock.lock(); defer { lock.unlock() }
        if exhausted { return false }
        if n > left { exhausted = true; return false }
        left -= n
        return true
    }
}
