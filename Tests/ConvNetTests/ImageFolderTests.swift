import ConvNet
import Foundation
import Testing

/// Writes a PNG whose every sample is `value` (grey or RGB).
func writeSolidPNG(_ url: URL, value: UInt8, width: Int = 6, height: Int = 5, channels: Int = 1) throws {
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try PNG.write(Image8(width: width, height: height, channels: channels, pixels: Array(repeating: value, count: width * height * channels)), to: url)
}

/// A folder root/<class>/<file> of solid grey PNGs; the value of each image says its class and index.
func makeImageFolder(_ root: URL, classes: [String: Int]) throws {
    for (c, n) in classes {
        for i in 0..<n {
            let label = classes.keys.sorted().firstIndex(of: c)!
            try writeSolidPNG(root.appendingPathComponent(c).appendingPathComponent(String(format: "img%02d.png", i)), value: UInt8(label * 50 + i))
        }
    }
}

@Suite struct ImageFolderTests {
    @Test func scanLayoutAndIgnoredFiles() throws {
        let root = tempDir()
        // classes sort by code point ("Zebra" < "apple" < "banana"); extensions in any case; nested folders count
        try writeSolidPNG(root.appendingPathComponent("banana/b1.PNG"), value: 1)
        try writeSolidPNG(root.appendingPathComponent("apple/a2.png"), value: 2)
        try writeSolidPNG(root.appendingPathComponent("apple/a1.png"), value: 3)
        try writeSolidPNG(root.appendingPathComponent("apple/deeper/a0.png"), value: 4)
        try writeSolidPNG(root.appendingPathComponent("Zebra/z.png"), value: 5)
        try FileManager.default.moveItem(at: root.appendingPathComponent("Zebra/z.png"), to: root.appendingPathComponent("Zebra/z.JPeG"))
        try Data("notes".utf8).write(to: root.appendingPathComponent("apple/readme.txt"))
        try Data("x".utf8).write(to: root.appendingPathComponent("LICENSE"))
        try Data("x".utf8).write(to: root.appendingPathComponent(".DS_Store"))
        let f = try ImageFolder(root: root)
        #expect(f.classNames == ["Zebra", "apple", "banana"])
        #expect(f.samples.map { $0.url.path.replacingOccurrences(of: root.path + "/", with: "") }
                == ["Zebra/z.JPeG", "apple/a1.png", "apple/a2.png", "apple/deeper/a0.png", "banana/b1.PNG"])
        #expect(f.samples.map(\.label) == [0, 1, 1, 1, 2])
        #expect(f.ignoredFiles.count == 3)
    }

    @Test func emptyClassAndNoClassFolders() throws {
        let root = tempDir()
        try makeImageFolder(root, classes: ["cat": 2])
        try FileManager.default.createDirectory(at: root.appendingPathComponent("dog"), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: root.appendingPathComponent("dog/notes.txt"))
        #expect(throws: DataError(path: root.appendingPathComponent("dog").path,
                                  reason: "class folder 'dog' has no images (.png, .jpg, .jpeg); it holds 1 other file(s)")) { try ImageFolder(root: root) }
        let flat = tempDir()
        try writeSolidPNG(flat.appendingPathComponent("a.png"), value: 1)
        do { _ = try ImageFolder(root: flat); Issue.record("a flat folder was accepted") } catch let e as DataError {
            #expect(e.path == flat.path && e.reason.hasPrefix("no class folders: put the 1 images"))
        }
        let empty = tempDir()
        #expect(throws: DataError.self) { try ImageFolder(root: empty) }
    }

    @Test func trainValSubfoldersAndSeededSplit() throws {
        let root = tempDir()
        try makeImageFolder(root.appendingPathComponent("train"), classes: ["a": 3, "b": 2])
        try makeImageFolder(root.appendingPathComponent("val"), classes: ["a": 1, "b": 1])
        let s = try ImageFolderSplits(root: root)
        #expect(s.train.count == 5 && s.val.count == 2 && s.layout == "train/ and val/")

        let flat = tempDir()
        try makeImageFolder(flat, classes: ["a": 10, "b": 20])
        let s1 = try ImageFolderSplits(root: flat, valFraction: 0.2, seed: 7)
        let s2 = try ImageFolderSplits(root: flat, valFraction: 0.2, seed: 7)
        let s3 = try ImageFolderSplits(root: flat, valFraction: 0.2, seed: 8)
        #expect(s1.val.samples == s2.val.samples && s1.train.samples == s2.train.samples)
        #expect(s1.val.samples != s3.val.samples)
        // stratified: 2 of a's 10 and 4 of b's 20 held out, none in both parts
        #expect(s1.val.samples.filter { $0.label == 0 }.count == 2 && s1.val.samples.filter { $0.label == 1 }.count == 4)
        #expect(Set(s1.val.samples.map(\.url)).isDisjoint(with: s1.train.samples.map(\.url)))
        #expect(s1.train.count == 24)
    }

    @Test func loaderBatchesValuesAndLabels() throws {
        let root = tempDir()
        try makeImageFolder(root, classes: ["a": 3, "b": 2])
        let folder = try ImageFolder(root: root)
        let pipeline = ImagePipeline.evaluation(size: 4, channels: 1, augmented: false)
        for cache in [1 << 20, 0] {
            let loader = try ImageFolderLoader(folder, pipeline: pipeline, batchSize: 2, cacheBytes: cache)
            #expect(loader.isCached == (cache > 0))
            let batches = Array(AnySequence { loader.epoch() })
            #expect(batches.map(\.labels) == [[0, 0], [0, 1], [1]])
            #expect(batches[0].images.shape == [2, 1, 4, 4])
            // solid images stay solid through resize and crop: value / 255
            let firstOfB = batches[1].images.scalars[16..<32]
            #expect(firstOfB.allSatisfy { abs($0 - 50 / 255) < 1e-6 })
        }
    }

    @Test func augmentationIsSeededAndThreadIndependent() throws {
        let root = tempDir()
        for c in 0..<2 { for i in 0..<6 {
            let px = (0..<(20 * 16 * 3)).map { UInt8(truncatingIfNeeded: $0 * (c + 3) + i * 17) }
            try PNG.write(Image8(width: 20, height: 16, channels: 3, pixels: px), to: root.appendingPathComponent("c\(c)/\(i).png"))
        } }
        let folder = try ImageFolder(root: root)
        func run(workers: Int, seed: UInt64) throws -> [[Float]] {
            let loader = try ImageFolderLoader(folder, pipeline: .training(size: 8, channels: 3, augmented: true, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]),
                                               batchSize: 5, shuffle: true, generator: Generator(seed: seed), workers: workers, prefetch: 3)
            return (0..<2).flatMap { _ in AnySequence { loader.epoch() }.map { $0.images.scalars + $0.labels.map(Float.init) } }
        }
        let a = try run(workers: 1, seed: 5), b = try run(workers: 3, seed: 5), c = try run(workers: 2, seed: 6)
        #expect(a == b, "the same seed gives the same batches on 1 and 3 threads")
        #expect(a != c)
        #expect(a.count == 6 && a[0].count == 5 * 3 * 64 + 5)
    }

    @Test func badImageStopsOrIsSkipped() throws {
        let root = tempDir()
        try makeImageFolder(root, classes: ["a": 2, "b": 2])
        let bad = root.appendingPathComponent("b/broken.jpg")
        try Data("not really a jpeg".utf8).write(to: bad)
        let folder = try ImageFolder(root: root)
        let pipeline = ImagePipeline.evaluation(size: 4, channels: 1, augmented: false)
        #expect(throws: ImageDecodingError(path: bad.path, .notAnImage)) {
            try ImageFolderLoader(folder, pipeline: pipeline, batchSize: 2)
        }
        let loader = try ImageFolderLoader(folder, pipeline: pipeline, batchSize: 2, skipBad: true)
        #expect(loader.exampleCount == 4 && loader.skipped == [ImageDecodingError(path: bad.path, .notAnImage)])
    }

    @Test func channelStatistics() throws {
        let root = tempDir()
        try writeSolidPNG(root.appendingPathComponent("a/0.png"), value: 0, channels: 3)
        try writeSolidPNG(root.appendingPathComponent("a/1.png"), value: 255, channels: 3)
        let loader = try ImageFolderLoader(try ImageFolder(root: root), pipeline: .evaluation(size: 4, channels: 3, augmented: false), batchSize: 2)
        let s = loader.channelStatistics()
        expectClose(s.mean, [0.5, 0.5, 0.5], tol: 1e-6)
        expectClose(s.std, [0.5, 0.5, 0.5], tol: 1e-6)
    }

    /// Training from an augmenting image-folder loader, stopped after one epoch and resumed from the
    /// checkpoint, ends with exactly the weights of an uninterrupted run: the epoch's augmentation
    /// seed comes from the checkpointed generator.
    @Test func resumeWithAugmentationEqualsUninterrupted() throws {
        let root = tempDir()
        for c in 0..<2 { for i in 0..<8 {
            let px = (0..<(20 * 16 * 3)).map { UInt8(truncatingIfNeeded: ($0 / 3 % 20) * (c * 9 + 3) + i * 13) }
            try PNG.write(Image8(width: 20, height: 16, channels: 3, pixels: px), to: root.appendingPathComponent("c\(c)/\(i).png"))
        } }
        let folder = try ImageFolder(root: root)
        func run(epochs: Int, dir: URL, resume: Bool) throws -> [Float] {
            Tensor.manualSeed(7)
            let net = Sequential(Conv2d(3, 4, kernelSize: 3), ReLU(), Flatten(), Linear(4 * 6 * 6, 2))
            let train = try ImageFolderLoader(folder, pipeline: .training(size: 8, channels: 3, augmented: true), batchSize: 4, shuffle: true)
            let test = try ImageFolderLoader(folder, pipeline: .evaluation(size: 8, channels: 3, augmented: true), batchSize: 8)
            var c = TrainingConfig(epochs: epochs, batchSize: 4, lr: 0.05, optimizer: .sgd, momentum: 0.9)
            c.outDir = dir
            c.resume = resume
            let trainer = Trainer(model: net, trainLoader: train, testLoader: test, config: c)
            trainer.log = { _ in }
            try trainer.run()
            return net.parameters().flatMap(\.scalars)
        }
        let full = try run(epochs: 3, dir: tempDir(), resume: false)
        let dir = tempDir()
        _ = try run(epochs: 1, dir: dir, resume: false)
        let resumed = try run(epochs: 3, dir: dir, resume: true)
        #expect(full == resumed)
    }
}
