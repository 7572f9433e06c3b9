import ConvNetCore
import Foundation

/// A data file that cannot be used, naming the file and the problem.
public struct DataError: Error, CustomStringConvertible, Equatable {
    /// The file (or `<memory>`) that failed.
    public let path: String
    /// What is wrong with it.
    public let reason: String
    /// An error naming `path` and `reason`.
    public init(path: String, reason: String) { self.path = path; self.reason = reason }
    /// `path: reason`.
    public var description: String { "\(path): \(reason)" }
}

/// An IDX array (LeCun's MNIST format) of unsigned bytes: dimensions and values.
public struct IDXArray: Sendable {
    /// The sizes of the dimensions (`[60000, 28, 28]` for the training images).
    public let dims: [Int]
    /// The values, row-major.
    public let bytes: [UInt8]

    /// The largest IDX array read by default (2 GiB of values; Fashion-MNIST's training images are 47 MB).
    public static let defaultMaxBytes = 1 << 31

    /// Reads an IDX file, gzip-compressed (`.gz`) or plain, validating magic number, dimensions and
    /// length. An array larger than `maxBytes` is refused from its header, before it is inflated.
    public init(contentsOf url: URL, maxBytes: Int = IDXArray.defaultMaxBytes) throws {
        let raw: Data
        do { raw = try Data(contentsOf: url) } catch {
            throw DataError(path: url.path, reason: "cannot read the file (\(error.localizedDescription))")
        }
        try self.init(fileBytes: raw, path: url.path, maxBytes: maxBytes)
    }

    /// Parses the bytes of an IDX file, gzip-compressed or plain; `path` only names it in errors.
    /// A gzip stream is inflated in two bounded steps, the header and then exactly the bytes its
    /// dimensions declare, so a small hostile file cannot expand into gigabytes.
    public init(fileBytes raw: Data, path: String = "<memory>", maxBytes: Int = IDXArray.defaultMaxBytes) throws {
        guard raw.count >= 2 && raw[raw.startIndex] == 0x1F && raw[raw.startIndex + 1] == 0x8B else {
            try self.init(data: raw, path: path, maxBytes: maxBytes)
            return
        }
        func inflated(limit: Int) throws -> [UInt8] {
            do { return try raw.withUnsafeBytes { try Zlib.inflate($0, limit: limit, acceptGzip: true) } } catch {
                throw DataError(path: path, reason: "gzip data is damaged: \(error)")
            }
        }
        let head = try inflated(limit: 4 + 4 * 4)
        let (dims, count) = try IDXArray.header(head, path: path, maxBytes: maxBytes)
        // one byte past the declared size tells trailing bytes from an exact fit
        let all = try inflated(limit: 4 + 4 * dims.count + count + 1)
        try self.init(data: Data(all), path: path, maxBytes: maxBytes)
    }

    /// The dimensions and value count of the header at the start of `b`.
    private static func header(_ b: [UInt8], path: String, maxBytes: Int) throws -> (dims: [Int], count: Int) {
        guard b.count >= 4 else { throw DataError(path: path, reason: "file is \(b.count) bytes, too short for an IDX header") }
        guard b[0] == 0, b[1] == 0 else {
            throw DataError(path: path, reason: String(format: "wrong magic number 0x%02X%02X%02X%02X (not an IDX file)", b[0], b[1], b[2], b[3]))
        }
        guard b[2] == 0x08 else {
            throw DataError(path: path, reason: String(format: "IDX element type 0x%02X is not unsigned byte (0x08)", b[2]))
        }
        let nd = Int(b[3])
        guard nd >= 1 && nd <= 4 else { throw DataError(path: path, reason: "IDX file declares \(nd) dimensions") }
        guard b.count >= 4 + 4 * nd else { throw DataError(path: path, reason: "file ends inside the IDX header") }
        var dims: [Int] = []
        for i in 0..<nd {
            let o = 4 + 4 * i
            dims.append(Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3]))
        }
        var count = 1
        for d in dims {
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, p <= maxBytes else {
                throw DataError(path: path, reason: "dimensions \(dims) declare more than the \(maxBytes)-byte limit for an IDX array (maxBytes raises it)")
            }
            count = p
        }
        return (dims, count)
    }

    /// Parses an IDX array from uncompressed bytes; `path` only names it in errors.
    public init(data: Data, path: String = "<memory>", maxBytes: Int = IDXArray.defaultMaxBytes) throws {
        let b = [UInt8](data)
        let (dims, count) = try IDXArray.header(b, path: path, maxBytes: maxBytes)
        let body = b.count - 4 - 4 * dims.count
        guard body == count else {
            throw DataError(path: path, reason: body < count
                ? "truncated: dimensions \(dims) need \(count) bytes of data but the file has \(body)"
                : "dimensions \(dims) need \(count) bytes of data but the file has \(body) (trailing bytes)")
        }
        self.dims = dims
        bytes = Array(b[(4 + 4 * dims.count)...])
    }
}

/// Grayscale images with integer labels, as bytes (the MNIST family).
public struct ImageDataset: Sendable {
    /// A name for messages (`fashion-mnist train`).
    public let name: String
    /// The pixels, `count`×`height`×`width` bytes, row-major.
    public let images: [UInt8]
    /// The class of each image.
    public let labels: [Int]
    /// The image size in pixels.
    public let height: Int, width: Int
    /// The label names of the classes, in label order.
    public let classNames: [String]

    /// The number of examples (PyTorch's `len(dataset)`).
    public var count: Int { labels.count }

    /// A dataset from raw bytes; `images` must hold `labels.count` images of `height`×`width` bytes.
    public init(name: String, images: [UInt8], labels: [Int], height: Int, width: Int, classNames: [String]) {
        checkArgument(images.count == labels.count * height * width, "image bytes do not match \(labels.count) images of \(height)×\(width)")
        self.name = name; self.images = images; self.labels = labels
        self.height = height; self.width = width; self.classNames = classNames
    }

    /// Reads an IDX image file and label file pair, checking that they agree.
    public init(name: String, images imagesURL: URL, labels labelsURL: URL, classNames: [String]) throws {
        let imgs = try IDXArray(contentsOf: imagesURL)
        let labs = try IDXArray(contentsOf: labelsURL)
        guard imgs.dims.count == 3 else {
            throw DataError(path: imagesURL.path, reason: "expected 3 dimensions (count, rows, columns), found \(imgs.dims)")
        }
        guard labs.dims.count == 1 else {
            throw DataError(path: labelsURL.path, reason: "expected 1 dimension (count), found \(labs.dims)")
        }
        guard imgs.dims[0] == labs.dims[0] else {
            throw DataError(path: labelsURL.path, reason: "has \(labs.dims[0]) labels but \(imagesURL.lastPathComponent) has \(imgs.dims[0]) images")
        }
        // a 0×0 image passes the size arithmetic but breaks resizing and every model later
        guard imgs.dims[1] > 0, imgs.dims[2] > 0 else {
            throw DataError(path: imagesURL.path, reason: "images are \(imgs.dims[1])×\(imgs.dims[2]) pixels; both sides must be positive")
        }
        if let bad = labs.bytes.first(where: { Int($0) >= classNames.count }) {
            throw DataError(path: labelsURL.path, reason: "label \(bad) is out of range for \(classNames.count) classes")
        }
        self.init(name: name, images: imgs.bytes, labels: labs.bytes.map(Int.init), height: imgs.dims[1], width: imgs.dims[2],
                  classNames: classNames)
    }

    /// The first `n` examples (for quick runs); a negative `n` keeps none.
    public func prefix(_ n: Int) -> ImageDataset {
        let k = Swift.max(0, Swift.min(n, count))
        return ImageDataset(name: name, images: Array(images[0..<(k * height * width)]), labels: Array(labels[0..<k]),
                            height: height, width: width, classNames: classNames)
    }

    /// One image as a [1, H, W] tensor scaled to [0, 1].
    public func image(_ i: Int) -> Tensor {
        checkArgument(i >= 0 && i < count, "index \(i) is out of range for \(count) images")
        let plane = height * width
        return Tensor(shape: [1, height, width], scalars: images[(i * plane)..<((i + 1) * plane)].map { Float($0) / 255 })
    }

    /// Image `i` resized (bilinear, as the loader does) to `side` × `side`, as a batch of one: [1, 1, side, side].
    public func image(_ i: Int, resizedTo side: Int) -> Tensor {
        let x = Tensor.empty([1, 1, side, side])
        image(i).scalars.withUnsafeBufferPointer {
            resizeBilinear($0.baseAddress!, planes: 1, height: height, width: width, toHeight: side, toWidth: side, into: x.elementPointer)
        }
        return x
    }
}
