import ConvNetCore
import ConvNetData
import ConvNetNN
import Foundation

/// How fast images come out of an image folder, beside how fast libjpeg-turbo alone decodes the
/// same files, and whether the loader keeps a model's training fed (`convnet bench --loader DIR`).
public struct LoaderBenchmark {
    /// The images measured.
    public let folder: ImageFolder
    /// Threads for decoding (and for the training kernels in `feeding`).
    public let threads: Int
    /// The crop size of the decode + augment measurement.
    public let size: Int

    /// A benchmark of the image folder at `folder`.
    public init(folder: URL, threads: Int = 2, size: Int = 224) throws {
        self.folder = try ImageFolder(root: folder)
        self.threads = threads; self.size = size
    }

    func line(_ name: String, images: Int, seconds: Double) {
        print(name.padding(toLength: 58, withPad: " ", startingAt: 0) + String(format: "%8.0f img/s  (%d images, %.2f s)", Double(images) / seconds, images, seconds))
        fflush(nil) // all streams: `stdout` is a C global Swift 6 cannot prove race-free
    }

    /// Decoding only, the files' bytes already in memory: libjpeg-turbo's own speed on 1 and `threads` threads.
    public func decodeOnly() throws {
        let files = try folder.samples.map { try Data(contentsOf: $0.url) }
        for t in Set([1, threads]).sorted() {
            let seconds = medianSeconds(repeats: 3) {
                DispatchQueue.concurrentPerform(iterations: t) { w in
                    for i in Swift.stride(from: w, to: files.count, by: t) { _ = try? ImageDecoder.decode(files[i], path: "") }
                }
            }
            line("decode only (files in memory), \(t) thread\(t > 1 ? "s" : "")", images: files.count, seconds: seconds)
        }
    }

    /// The loader as training uses it: read, decode, RandomResizedCrop + flip, ToTensor, Normalize,
    /// into batches of 64 on `threads` workers, no cache.
    public func loader(augmented: Bool = true) throws {
        let pipeline = ImagePipeline.training(size: size, channels: 3, augmented: augmented,
                                              mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
        let loader = try ImageFolderLoader(folder, pipeline: pipeline, batchSize: 64, shuffle: true, generator: Generator(seed: 0),
                                           workers: threads, cacheBytes: 0)
        let seconds = medianSeconds(repeats: 3) { for _ in AnySequence({ loader.epoch() }) {} }
        line("loader: read + decode + \(augmented ? "random-resized crop + flip" : "resize + crop") → \(size)², \(threads) threads",
             images: loader.exampleCount, seconds: seconds)
    }

    /// Training steps of `model` fed by the loader (decoding on the fly) against the same number of
    /// steps on batches prepared beforehand: the loader keeps up when the ratio is near 1.
    public func feeding(model name: String, batch: Int, steps: Int) throws {
        let spec = try ModelZoo.spec(named: name)
        let pipeline = ImagePipeline.training(size: size, channels: 3, augmented: true, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])
        let loader = try ImageFolderLoader(folder, pipeline: pipeline, batchSize: batch, shuffle: true, dropLast: true,
                                           generator: Generator(seed: 0), workers: threads, cacheBytes: 0)
        precondition(loader.batchCount >= 1, "the folder has fewer than \(batch) images")
        let net = spec.make(inputChannels: 3, numClasses: folder.classNames.count)
        let opt = SGD(net.parameters(), lr: 0.01, momentum: 0.9)
        func step(_ b: Batch) {
            let loss = crossEntropy(net(b.images), b.labels)
            opt.zeroGrad(); loss.backward(); withNoGrad { opt.step() }
        }
        let saved = Threads.count
        Threads.count = threads
        defer { Threads.count = saved }
        // warm-up; then blocks of 4 steps alternate between batches prepared beforehand and batches
        // from the loader, so a change in the machine's load affects both sides alike
        let prepared = Array(AnySequence { loader.epoch() })
        step(prepared[0])
        var batches = loader.epoch()
        var preloaded = 0.0, streamed = 0.0, done = 0
        while done < steps {
            let block = Swift.min(4, steps - done)
            var t0 = Date()
            for s in 0..<block { step(prepared[(done + s) % prepared.count]) }
            preloaded += Date().timeIntervalSince(t0)
            t0 = Date()
            for _ in 0..<block {
                guard let b = batches.next() else { batches = loader.epoch(); step(batches.next()!); continue }
                step(b)
            }
            streamed += Date().timeIntervalSince(t0)
            done += block
        }
        line("\(name) training, batches preloaded as tensors", images: steps * batch, seconds: preloaded)
        line("\(name) training, fed by the loader (\(threads) workers)", images: steps * batch, seconds: streamed)
        print(String(format: "loader-fed / preloaded throughput: %.2f", preloaded / streamed))
    }
}
