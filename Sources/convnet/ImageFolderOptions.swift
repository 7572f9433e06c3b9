import ArgumentParser
import ConvNet
import Foundation

/// Options for `--data` pointing at an image folder (root/<class>/<image>, or root/train and
/// root/val|test), shared by train, evaluate and predict.
struct ImageFolderOptions: ParsableArguments {
    @Option(help: "Image channels: 1 (Pillow's greyscale), 3 (RGB) or auto (1 when the images are greyscale).")
    var channels: String = "auto"
    @Option(help: "Without train/ and val/ subfolders: the fraction of each class held out for validation (seeded by --seed).")
    var valSplit: Double = 0.2
    @Flag(help: "Leave out images that cannot be decoded (and count them) instead of stopping at the first.")
    var skipBad = false
    @Option(help: "Refuse images with more pixels than this (Pillow's MAX_IMAGE_PIXELS by default).")
    var maxPixels: Int = ImageLimits.defaultMaxPixels
    @Option(help: "Background threads decoding and transforming images.")
    var workers: Int = 2
    @Option(help: "Keep decoded images in memory up to this many MB (0: decode every epoch).")
    var cacheMb: Int = 2048

    func validate() throws {
        try checkRange(valSplit, 0...1, "--val-split", upperOpen: true, lowerOpen: true)
        try checkRange(maxPixels, 1...(1 << 40), "--max-pixels")
        try checkRange(workers, 1...256, "--workers")
        try checkRange(cacheMb, 0...(1 << 30), "--cache-mb")
    }

    func validateValues() throws {
        guard ["auto", "1", "3"].contains(channels) else { throw CLIError(message: "--channels must be 1, 3 or auto, got '\(channels)'") }
        guard valSplit > 0 && valSplit < 1 else { throw CLIError(message: "--val-split must be between 0 and 1, got \(valSplit)") }
        guard maxPixels > 0 else { throw CLIError(message: "--max-pixels must be positive") }
        guard workers > 0 else { throw CLIError(message: "--workers must be positive") }
        guard cacheMb >= 0 else { throw CLIError(message: "--cache-mb must be 0 or more") }
        ImageLimits.maxPixels = maxPixels
    }

    /// 1 or 3: the option, or for auto 1 when the first images of every class decode as greyscale.
    func resolveChannels(_ folder: ImageFolder) -> Int {
        if let c = Int(channels) { return c }
        var firsts: [URL] = []
        var seen = Set<Int>()
        for s in folder.samples where seen.insert(s.label).inserted || firsts.count < 8 { firsts.append(s.url); if firsts.count >= 32 { break } }
        let grey = firsts.allSatisfy { url in (try? ImageDecoder.read(url, maxPixels: maxPixels)).map { $0.channels <= 2 } ?? true }
        return grey ? 1 : 3
    }

    func loader(_ folder: ImageFolder, pipeline: ImagePipeline, batchSize: Int, shuffle: Bool) throws -> ImageFolderLoader {
        try ImageFolderLoader(folder, pipeline: pipeline, batchSize: batchSize, shuffle: shuffle, generator: .global, workers: workers,
                              cacheBytes: cacheMb << 20, skipBad: skipBad, maxPixels: maxPixels)
    }
}

/// Whether `--data` names an image folder rather than IDX files.
func isImageFolder(_ data: String?) -> Bool {
    guard let data else { return false }
    return ImageFolder.looksLikeImageFolder(URL(fileURLWithPath: data))
}

/// What training stores in the weights file so evaluate and predict prepare images the same way.
struct ImageModelInfo {
    var classNames: [String]
    var channels: Int
    var imageSize: Int
    var mean: [Float]?, std: [Float]?
    /// Trained with augmentation, so evaluation resizes to size/0.875 and center-crops.
    var augmented = false

    var metadata: [String: String] {
        var m = ["convnet.classes": String(decoding: try! JSONEncoder().encode(classNames), as: UTF8.self),
                 "convnet.channels": "\(channels)", "convnet.image_size": "\(imageSize)", "convnet.augmented": augmented ? "1" : "0"]
        if let mean, let std {
            m["convnet.mean"] = mean.map { "\($0)" }.joined(separator: ",")
            m["convnet.std"] = std.map { "\($0)" }.joined(separator: ",")
        }
        return m
    }

    /// Reads the metadata of a weights file; nil when it has none (IDX-trained or PyTorch weights).
    static func read(from path: String) throws -> ImageModelInfo? {
        let url = try existingFile(path, what: "weights file")
        let meta: [String: String]
        do { meta = try SafeTensors.readEntries(from: url).metadata } catch let e as SafeTensorsError { throw CLIError(message: e.description) }
        guard let classes = meta["convnet.classes"], let names = try? JSONDecoder().decode([String].self, from: Data(classes.utf8)),
              let c = meta["convnet.channels"].flatMap(Int.init), let s = meta["convnet.image_size"].flatMap(Int.init) else { return nil }
        func floats(_ k: String) -> [Float]? { meta[k].map { $0.split(separator: ",").compactMap { Float($0) } } }
        return ImageModelInfo(classNames: names, channels: c, imageSize: s, mean: floats("convnet.mean"), std: floats("convnet.std"),
                              augmented: meta["convnet.augmented"] == "1")
    }

    var evaluationPipeline: ImagePipeline {
        ImagePipeline.evaluation(size: imageSize, channels: channels, augmented: augmented, mean: mean, std: std)
    }
}

/// "0.5,0.5,0.5" or "0.5" (repeated per channel) as floats.
func parseFloats(_ s: String, count: Int, what: String) throws -> [Float] {
    let v = s.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
    guard v.allSatisfy({ $0 != nil }), v.count == 1 || v.count == count else {
        throw CLIError(message: (count == 1 ? "\(what) must be one number (the images have 1 channel)"
                                              : "\(what) must be one number or \(count) comma-separated numbers, one per channel") + ", got '\(s)'")
    }
    return v.count == 1 ? Array(repeating: v[0]!, count: count) : v.map { $0! }
}
