import ArgumentParser
import ConvNet
import Foundation

struct ExportImages: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-images",
        abstract: "Write an IDX dataset as an image folder (out/train/<class>/…, out/test/<class>/…) of PNG or JPEG files.")

    @Option(help: "Output folder.") var out: String
    @Option(help: "File format: png or jpeg.") var format: String = "png"
    @Option(help: "JPEG quality (1–100).") var quality: Int = 95
    @Option(help: "Only these labels, e.g. 0-4 or 0,2,5 (default: all).") var classes: String?
    @Option(help: "At most this many images per split (quick folders).") var limit: Int?
    @OptionGroup var dataOptions: DataOptions

    func validate() throws {
        try checkRange(quality, 1...100, "--quality")
        try checkRange(limit, 1...Int.max, "--limit")
    }

    func run() throws {
        try dataOptions.apply()
        guard ["png", "jpeg", "jpg"].contains(format) else { throw CLIError(message: "--format must be png or jpeg, got '\(format)'") }
        guard (1...100).contains(quality) else { throw CLIError(message: "--quality must be between 1 and 100") }
        let jpeg = format != "png"
        if jpeg && !JPEGDecoder.isAvailable { throw CLIError(message: "JPEG support needs libjpeg-turbo (\(JPEGDecoder.unavailableReason)); run scripts/setup") }
        let kind = try dataOptions.kind()
        let wanted = try classes.map(parseLabels) ?? Set(0..<kind.classNames.count)
        let root = URL(fileURLWithPath: out)
        // "<label>-<name>" keeps the dataset's label order when ImageFolder sorts the folders by name
        let folderNames = kind.classNames.enumerated().map { "\($0.offset)-" + $0.element.replacingOccurrences(of: " ", with: "-") }
        for split in [Split.train, .test] {
            let ds = try dataOptions.load(split)
            var written = 0
            for i in 0..<ds.count where wanted.contains(ds.labels[i]) {
                if let limit, written >= limit { break }
                let plane = ds.height * ds.width
                let img = Image8(width: ds.width, height: ds.height, channels: 1, pixels: Array(ds.images[(i * plane)..<((i + 1) * plane)]))
                let dir = root.appendingPathComponent(split.rawValue).appendingPathComponent(folderNames[ds.labels[i]])
                let file = dir.appendingPathComponent(String(format: "%05d.", i) + (jpeg ? "jpg" : "png"))
                try AtomicFile.write(jpeg ? try JPEGEncoder.encode(img, quality: quality, path: file.path) : try PNG.encode(img), to: file)
                written += 1
            }
            print("\(split.rawValue): \(written) images in \(root.appendingPathComponent(split.rawValue).path)")
        }
    }

    func parseLabels(_ s: String) throws -> Set<Int> {
        var out = Set<Int>()
        for part in s.split(separator: ",") {
            let ends = part.split(separator: "-").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard ends.allSatisfy({ $0 != nil }), (1...2).contains(ends.count), ends.first!! <= ends.last!! else {
                throw CLIError(message: "--classes must look like 0-4 or 0,2,5, got '\(s)'")
            }
            out.formUnion(ends.first!!...ends.last!!)
        }
        return out
    }
}
