import ConvNetCore
import ConvNetData
import Foundation
import Glibc
import SwiftProtobuf

/// Writes TensorBoard event files, as PyTorch's `torch.utils.tensorboard.SummaryWriter`:
/// scalars, images, histograms and text, each under a tag at a step.
///
/// ```swift
/// let writer = try SummaryWriter(logDir: URL(fileURLWithPath: "runs/exp1"))
/// for step in 0..<100 { try writer.addScalar("train/loss", loss.item(), step: step) }
/// try writer.close()
/// ```
/// then `tensorboard --logdir runs`. Each writer makes a new file,
/// `events.out.tfevents.<seconds>.<host>.<pid>.<n>`, so writers (and resumed runs) never collide
/// in one folder; TensorBoard merges the files of a folder into one run, reading them in name
/// order, so a new file's name sorts after those already there (its seconds field may run ahead
/// of the clock for that).
///
/// Every value reaches the file when it is added (one `write(2)` per record; no buffer), so a
/// TensorBoard started beside a running training shows it live; ``flush()`` also forces the file
/// to disk. The file is appended to, not written atomically: TensorBoard tails it while it grows,
/// and a record cut short by a crash is ignored by its reader. The methods are safe to call from
/// several threads. Errors are ``SummaryWriterError``: a failed write throws and leaves the
/// records already written readable; the caller decides whether to go on without the log (the
/// trainer does, with a warning).
public final class SummaryWriter: @unchecked Sendable {
    // @unchecked Sendable: the descriptor and `isClosed` are only touched with `lock` held
    /// The version string of the first record, which TensorBoard checks.
    public static let fileVersion = "brain.Event:2"

    /// The folder the event file is in.
    public let logDir: URL
    /// The event file this writer appends to.
    public let fileURL: URL

    private let lock = NSLock()
    private var fd: Int32
    private var isClosed = false

    /// The per-process sequence number in file names: two writers opened in the same second
    /// still get different files.
    private static let counter = FileCounter()
    private final class FileCounter: @unchecked Sendable {
        // @unchecked Sendable: `next` is only touched with `lock` held
        private let lock = NSLock()
        private var next = 0
        func take() -> Int { lock.lock(); defer { lock.unlock() }; next += 1; return next - 1 }
    }

    /// Opens a new event file in `logDir` (created if missing) and writes its version record.
    /// `filenameSuffix` is appended to the file name (PyTorch's `filename_suffix`). A run that
    /// restarts from a checkpoint at step T passes `purgeStep: T + 1` (PyTorch's `purge_step`):
    /// TensorBoard then hides the events of this folder's earlier files at steps from T + 1 on,
    /// which a crash left behind and this run logs again (a `SessionLog` START record).
    public init(logDir: URL, filenameSuffix: String = "", purgeStep: Int? = nil) throws {
        self.logDir = logDir
        do { try FileManager.default.createDirectory(at: logDir, withIntermediateDirectories: true) } catch {
            throw SummaryWriterError.cannotCreate(path: logDir.path, reason: "cannot create the folder: \(error.localizedDescription)")
        }
        var host = [CChar](repeating: 0, count: 256)
        let hostName = gethostname(&host, host.count - 1) == 0
            ? String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "localhost"
        let prefix = "events.out.tfevents."
        // TensorBoard reads a folder's event files in name order, so a new file must sort after
        // every file already there: one made in the same second by an earlier writer of this
        // process (a larger counter is not enough: "10" < "9") or by a process with a larger pid
        // moves this one's seconds field on (the events keep their real wall times)
        let latest = ((try? FileManager.default.contentsOfDirectory(atPath: logDir.path)) ?? []).filter { $0.hasPrefix(prefix) }.max()
        var seconds = Int(Date().timeIntervalSince1970)
        if let latest, let theirs = Int(latest.dropFirst(prefix.count).prefix { $0.isNumber }) { seconds = Swift.max(seconds, theirs) }
        var url: URL, descriptor: Int32
        while true {
            let name = String(format: "\(prefix)%010d.", seconds) + "\(hostName).\(getpid()).\(Self.counter.take())\(filenameSuffix)"
            if let latest, name <= latest, seconds < Int(Date().timeIntervalSince1970) + 1_000_000 { seconds += 1; continue }
            url = logDir.appendingPathComponent(name)
            // O_EXCL: an existing file (another process's, with a reused pid) is never appended to
            descriptor = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o644)
            if descriptor >= 0 || errno != EEXIST { break }
        }
        guard descriptor >= 0 else {
            throw SummaryWriterError.cannotCreate(path: url.path, reason: String(cString: strerror(errno)))
        }
        fileURL = url
        fd = descriptor
        var first = TBEvent()
        first.wallTime = Date().timeIntervalSince1970
        first.fileVersion = Self.fileVersion
        try write(first)
        if let purgeStep {
            var restart = TBEvent()
            restart.wallTime = first.wallTime
            restart.step = Int64(purgeStep)
            restart.sessionLog.status = .start
            try write(restart)
        }
    }

    deinit { if !isClosed { _ = Glibc.close(fd) } }

    /// Logs `value` under `tag` at `step` (PyTorch's `add_scalar`).
    public func addScalar<Value: BinaryFloatingPoint>(_ tag: String, _ value: Value, step: Int, wallTime: Date = Date()) throws {
        var v = TBSummary.Value()
        v.tag = tag
        v.simpleValue = Float(value)
        try write(v, step: step, wallTime: wallTime)
    }

    /// Logs an image (PNG-encoded) under `tag` at `step`.
    public func addImage(_ tag: String, _ image: Image8, step: Int, wallTime: Date = Date()) throws {
        // PNG has no grey + alpha encoder here; TensorBoard shows grey the same
        let img = image.channels == 2 ? image.converted(toChannels: 1) : image
        guard img.width > 0, img.height > 0 else { throw SummaryWriterError.invalidValue(tag: tag, reason: "the image is empty") }
        var picture = TBSummary.Image()
        picture.height = Int32(img.height)
        picture.width = Int32(img.width)
        picture.colorspace = Int32(img.channels)
        do { picture.encodedImageString = try PNG.encode(img) } catch {
            throw SummaryWriterError.invalidValue(tag: tag, reason: "cannot encode the image as PNG: \(error)")
        }
        var v = TBSummary.Value()
        v.tag = tag
        v.image = picture
        try write(v, step: step, wallTime: wallTime)
    }

    /// Logs an image tensor under `tag` at `step`, as PyTorch's `add_image` with its default
    /// `dataformats="CHW"`: shape [C, H, W] with 1 (grey), 3 (RGB) or 4 (RGBA) channels, or
    /// [H, W]; values in [0, 1] are scaled by 255, clipped and truncated to bytes.
    public func addImage(_ tag: String, _ image: Tensor, step: Int, wallTime: Date = Date()) throws {
        let shape = image.rank == 2 ? [1] + image.shape : image.shape
        guard shape.count == 3, [1, 3, 4].contains(shape[0]), shape[1] > 0, shape[2] > 0 else {
            throw SummaryWriterError.invalidValue(tag: tag, reason: "an image tensor is [C, H, W] with 1, 3 or 4 channels, or [H, W]; got \(image.shape)")
        }
        let (c, h, w) = (shape[0], shape[1], shape[2])
        let values = image.scalars
        var pixels = [UInt8](repeating: 0, count: c * h * w)
        for ch in 0..<c { for i in 0..<(h * w) {
            let v = values[ch * h * w + i] * 255
            pixels[i * c + ch] = v.isNaN ? 0 : UInt8(Swift.max(0, Swift.min(255, v)).rounded(.towardZero))
        } }
        try addImage(tag, Image8(width: w, height: h, channels: c, pixels: pixels), step: step, wallTime: wallTime)
    }

    /// Logs the histogram of `values`' elements under `tag` at `step` (PyTorch's `add_histogram`
    /// with its default buckets; see ``HistogramSummary``).
    public func addHistogram(_ tag: String, _ values: Tensor, step: Int, wallTime: Date = Date()) throws {
        try addHistogram(tag, values.scalars, step: step, wallTime: wallTime)
    }

    /// Logs the histogram of `values` under `tag` at `step`.
    public func addHistogram(_ tag: String, _ values: [Float], step: Int, wallTime: Date = Date()) throws {
        guard let histogram = HistogramSummary(values: values) else {
            throw SummaryWriterError.invalidValue(tag: tag, reason: values.isEmpty ? "a histogram of no values"
                                                  : "a histogram of values that are NaN, infinite or beyond ±1e20")
        }
        try addHistogram(tag, histogram, step: step, wallTime: wallTime)
    }

    /// Logs a histogram made elsewhere under `tag` at `step`.
    public func addHistogram(_ tag: String, _ histogram: HistogramSummary, step: Int, wallTime: Date = Date()) throws {
        var h = TBHistogramProto()
        h.min = histogram.min; h.max = histogram.max; h.num = histogram.count
        h.sum = histogram.sum; h.sumSquares = histogram.sumOfSquares
        h.bucketLimit = histogram.bucketLimits; h.bucket = histogram.bucketCounts
        var v = TBSummary.Value()
        v.tag = tag
        v.histo = h
        try write(v, step: step, wallTime: wallTime)
    }

    /// Logs `text` (Markdown, as TensorBoard's Text page renders it) at `step`, under
    /// `tag + "/text_summary"` as PyTorch's `add_text` does.
    public func addText(_ tag: String, _ text: String, step: Int, wallTime: Date = Date()) throws {
        var tensor = TBTensorProto()
        tensor.dtype = .dtString
        var dim = TBTensorShapeProto.Dim()
        dim.size = 1
        tensor.tensorShape.dim = [dim]
        tensor.stringVal = [Data(text.utf8)]
        var v = TBSummary.Value()
        v.tag = tag + "/text_summary"
        // the text plugin claims tensors by this name; its PluginData (version 0) encodes as no bytes
        v.metadata.pluginData.pluginName = "text"
        v.tensor = tensor
        try write(v, step: step, wallTime: wallTime)
    }

    /// Forces what was written to disk (`fsync`); every added value is already in the file.
    public func flush() throws {
        lock.lock(); defer { lock.unlock() }
        guard !isClosed else { throw SummaryWriterError.closed(path: fileURL.path) }
        guard fsync(fd) == 0 else { throw SummaryWriterError.writeFailed(path: fileURL.path, reason: String(cString: strerror(errno))) }
    }

    /// Flushes and closes the file; later calls to the `add` methods throw
    /// ``SummaryWriterError/closed(path:)``. Closing twice does nothing.
    public func close() throws {
        lock.lock(); defer { lock.unlock() }
        guard !isClosed else { return }
        isClosed = true
        let synced = fsync(fd) == 0
        let reason = synced ? "" : String(cString: strerror(errno))
        _ = Glibc.close(fd)
        guard synced else { throw SummaryWriterError.writeFailed(path: fileURL.path, reason: reason) }
    }

    private func write(_ value: TBSummary.Value, step: Int, wallTime: Date) throws {
        var event = TBEvent()
        event.wallTime = wallTime.timeIntervalSince1970
        event.step = Int64(step)
        event.summary.value = [value]
        try write(event)
    }

    private func write(_ event: TBEvent) throws {
        let bytes: [UInt8]
        do { bytes = try event.serializedBytes() } catch {
            throw SummaryWriterError.writeFailed(path: fileURL.path, reason: "cannot encode the event: \(error)")
        }
        let record = TFRecord.frame(bytes)
        lock.lock(); defer { lock.unlock() }
        guard !isClosed else { throw SummaryWriterError.closed(path: fileURL.path) }
        let start = lseek(fd, 0, SEEK_END)
        try record.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    let reason = String(cString: strerror(errno))
                    // a record cut short would hide every later one from the reader: cut it off
                    if start >= 0 { _ = ftruncate(fd, start) }
                    throw SummaryWriterError.writeFailed(path: fileURL.path, reason: reason)
                }
                done += n
            }
        }
    }
}
