import ConvNet
import Foundation
import Testing

/// TensorBoard's own reader over a log folder: every tag EventAccumulator (its legacy reader,
/// keeping every event) sees, as JSON, with image pixels decoded by Pillow.
let eventAccumulatorScript = #"""
import base64, io, json, sys
from tensorboard.backend.event_processing import event_accumulator as ea
from PIL import Image
acc = ea.EventAccumulator(sys.argv[1], size_guidance={ea.SCALARS: 0, ea.IMAGES: 0, ea.HISTOGRAMS: 0, ea.TENSORS: 0})
acc.Reload()
tags = acc.Tags()
out = {"tags": {k: sorted(tags[k]) for k in ("scalars", "images", "histograms", "tensors")},
       "scalars": {}, "images": {}, "histograms": {}, "texts": {}, "plugins": {}}
for t in tags["scalars"]:
    out["scalars"][t] = [[e.step, e.value] for e in acc.Scalars(t)]
for t in tags["images"]:
    rows = []
    for e in acc.Images(t):
        img = Image.open(io.BytesIO(e.encoded_image_string))
        rows.append({"step": e.step, "width": e.width, "height": e.height, "mode": img.mode,
                     "pixels": base64.b64encode(img.tobytes()).decode(), "png": base64.b64encode(e.encoded_image_string).decode()})
    out["images"][t] = rows
for t in tags["histograms"]:
    out["histograms"][t] = [{"step": e.step, "min": e.histogram_value.min, "max": e.histogram_value.max,
                             "num": e.histogram_value.num, "sum": e.histogram_value.sum,
                             "sum_squares": e.histogram_value.sum_squares,
                             "bucket_limit": list(e.histogram_value.bucket_limit), "bucket": list(e.histogram_value.bucket)}
                            for e in acc.Histograms(t)]
for t in tags["tensors"]:
    out["texts"][t] = [[e.step, e.tensor_proto.string_val[0].decode("utf-8")] for e in acc.Tensors(t)]
    out["plugins"][t] = acc.SummaryMetadata(t).plugin_data.plugin_name
json.dump(out, sys.stdout)
"""#

/// TensorBoard's record reader over each event file's raw bytes: it checks both masked CRC-32Cs
/// of every record and raises DataLossError on a mismatch. Prints the record count per file, or
/// the error.
let recordReaderScript = #"""
import sys
from tensorboard.compat.tensorflow_stub import errors
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import PyRecordReader_New
from tensorboard.compat.proto import event_pb2
for path in sys.argv[1:]:
    r = PyRecordReader_New(path)
    n = 0
    try:
        while True:
            r.GetNext()
            e = event_pb2.Event.FromString(r.record())
            if n == 0 and e.file_version != "brain.Event:2":
                print("first record is not the version:", e); sys.exit(1)
            n += 1
    except errors.OutOfRangeError:
        print(n)
    except errors.DataLossError as e:
        print("DataLossError", e.message)
"""#

/// What `eventAccumulatorScript` prints.
struct AccumulatedEvents: Decodable {
    struct ImageEvent: Decodable { let step: Int; let width: Int; let height: Int; let mode: String; let pixels: String; let png: String }
    struct HistogramEvent: Decodable {
        let step: Int; let min: Double; let max: Double; let num: Double; let sum: Double
        let sum_squares: Double; let bucket_limit: [Double]; let bucket: [Double]
    }
    struct Text: Decodable {
        let step: Int, text: String
        init(from decoder: Decoder) throws {
            var c = try decoder.unkeyedContainer()
            step = try c.decode(Int.self); text = try c.decode(String.self)
        }
    }
    struct Scalar: Decodable {
        let step: Int, value: Double
        init(from decoder: Decoder) throws {
            var c = try decoder.unkeyedContainer()
            step = try c.decode(Int.self); value = try c.decode(Double.self)
        }
    }
    let tags: [String: [String]]
    let scalars: [String: [Scalar]]
    let images: [String: [ImageEvent]]
    let histograms: [String: [HistogramEvent]]
    let texts: [String: [Text]]
    let plugins: [String: String]
}

/// Reads `dir` with TensorBoard's EventAccumulator.
func accumulate(_ dir: URL) throws -> AccumulatedEvents {
    let r = try PythonTools.run(script: eventAccumulatorScript, [dir.path])
    try #require(r.status == 0, "EventAccumulator failed: \(r.err)")
    return try JSONDecoder().decode(AccumulatedEvents.self, from: Data(r.out.utf8))
}

/// The event files in `dir`, by name.
func eventFiles(_ dir: URL) throws -> [URL] {
    try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
        .filter { $0.lastPathComponent.hasPrefix("events.out.tfevents.") }.sorted { $0.path < $1.path }
}

/// The records of a TFRecord file, each checked against its two masked CRC-32Cs.
func tfRecords(_ data: Data) throws -> [[UInt8]] {
    let bytes = [UInt8](data)
    var records: [[UInt8]] = [], at = 0
    func u32(_ i: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[i + $1]) << (8 * $1) } }
    while at < bytes.count {
        try #require(at + 12 <= bytes.count, "truncated header at \(at)")
        let length = Int((0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * $1) })
        #expect(CRC32C.masked(bytes[at..<(at + 8)]) == u32(at + 8), "length CRC of the record at \(at)")
        try #require(at + 16 + length <= bytes.count, "truncated record at \(at)")
        let body = Array(bytes[(at + 12)..<(at + 12 + length)])
        #expect(CRC32C.masked(body) == u32(at + 12 + length), "data CRC of the record at \(at)")
        records.append(body)
        at += 16 + length
    }
    return records
}

@Suite struct TensorBoardTests {
    /// RFC 3720's CRC-32C check values (appendix B.4) and the catalogue's "123456789".
    @Test func crc32cMatchesKnownVectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }) == 0x113F_DB5C)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        // in pieces as in one go
        let text = Array("The quick brown fox jumps over the lazy dog".utf8)
        #expect(CRC32C.update(CRC32C.checksum(text[..<10]), text[10...]) == CRC32C.checksum(text))
        // masked as TensorFlow masks: ((c >> 15) | (c << 17)) + 0xa282ead8, values from tensorboard's masked_crc32c
        #expect(CRC32C.masked(Array("123456789".utf8)) == 0xC78A_B0E5)
        #expect(CRC32C.masked(Array("abc".utf8)) == 0x21F1_576E)
    }

    /// A record's bytes, laid out by hand: length, its masked CRC, data, its masked CRC (the CRCs
    /// as tensorboard's masked_crc32c computes them).
    @Test func tfRecordFraming() {
        #expect(TFRecord.frame(Array("abc".utf8)) == [3, 0, 0, 0, 0, 0, 0, 0, 0xB0, 0x99, 0x49, 0x0E,
                                                         0x61, 0x62, 0x63, 0x6E, 0x57, 0xF1, 0x21])
        #expect(TFRecord.frame([]).count == 16)
    }

    /// Buckets, limits and counts as PyTorch's `add_histogram` makes them (fixture from torch
    /// 2.15, Tests/Fixtures/make_tensorboard_fixtures.py): bit-identical edges, exact counts.
    @Test func histogramsMatchPyTorch() throws {
        struct Case: Decodable {
            let name: String; let values: [Double]; let min: Double; let max: Double; let num: Double
            let sum: Double; let sum_squares: Double; let bucket_limit: [Double]; let bucket: [Double]
        }
        struct File: Decodable { let cases: [Case] }
        let file = try JSONDecoder().decode(File.self, from: Data(contentsOf: resourceURL("tensorboard/histograms.json")))
        #expect(file.cases.count == 7)
        for c in file.cases {
            let h = try #require(HistogramSummary(values: c.values.map { Float($0) }), "\(c.name)")
            #expect(h.bucketLimits == c.bucket_limit, "\(c.name): bucket limits")
            #expect(h.bucketCounts == c.bucket, "\(c.name): bucket counts")
            #expect(h.min == c.min && h.max == c.max && h.count == c.num, "\(c.name)")
            #expect(abs(h.sum - c.sum) <= 1e-12 * Swift.max(1, abs(c.sum)), "\(c.name): sum \(h.sum) vs \(c.sum)")
            #expect(abs(h.sumOfSquares - c.sum_squares) <= 1e-12 * Swift.max(1, c.sum_squares), "\(c.name): sum of squares")
        }
        #expect(HistogramSummary(values: []) == nil)
        #expect(HistogramSummary(values: [1, .nan]) == nil)
        #expect(HistogramSummary.defaultBucketEdges.count == 1549)
    }

    /// Each value lands in the bucket `numpy.histogram` puts it in — the last edge ≤ the value,
    /// found here by a plain search — for values at and next to every edge (as Float32 rounds
    /// them), both signs, zero, and beyond the edges.
    @Test func histogramBucketOfEveryEdgeNeighbourhood() {
        let edges = HistogramSummary.defaultBucketEdges
        var values: [Float] = [0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, 3e38, -3e38, 1e20, -1e20, 9.9e19, -9.9e19]
        for e in edges {
            let f = Float(e)
            values += [f, f.nextUp, f.nextDown]
        }
        for v in values where v.isFinite {
            let d = Double(v)
            let h = HistogramSummary(values: [v])
            guard d >= edges[0], d <= edges[edges.count - 1] else {
                #expect(h == nil, "\(v) is outside the edges")
                continue
            }
            let left = Swift.min(edges.lastIndex { $0 <= d }!, edges.count - 2)
            #expect(h?.bucketLimits == [edges[left], edges[left + 1]] && h?.bucketCounts == [0, 1], "\(v)")
        }
    }

    @Test func writerRejectsBadValuesWithTypedErrors() throws {
        let dir = tempDir()
        let w = try SummaryWriter(logDir: dir)
        #expect(throws: SummaryWriterError.invalidValue(tag: "h", reason: "a histogram of no values")) {
            try w.addHistogram("h", [Float](), step: 0)
        }
        #expect(throws: SummaryWriterError.self) { try w.addImage("i", Tensor.zeros([2, 4, 4]), step: 0) }
        try w.close()
        #expect(throws: SummaryWriterError.closed(path: w.fileURL.path)) { try w.addScalar("s", 1.0, step: 0) }
        try w.close()
        // a folder where a file is: named, typed
        let file = dir.appendingPathComponent("plain")
        try Data().write(to: file)
        #expect(throws: SummaryWriterError.self) { _ = try SummaryWriter(logDir: file.appendingPathComponent("x")) }
        // two writers in one folder and second get two files
        let a = try SummaryWriter(logDir: dir), b = try SummaryWriter(logDir: dir)
        #expect(a.fileURL != b.fileURL)
        #expect(a.fileURL.lastPathComponent.hasPrefix("events.out.tfevents."))
        // TensorBoard reads a folder's files in name order: later writers' names sort later, also
        // within one second and past a counter's tenth file, and after a file of a larger pid
        let folder = dir.appendingPathComponent("order")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let now = Int(Date().timeIntervalSince1970)
        try Data().write(to: folder.appendingPathComponent(String(format: "events.out.tfevents.%010d.host.999999999.0", now)))
        var names: [String] = []
        for _ in 0..<12 { names.append(try SummaryWriter(logDir: folder).fileURL.lastPathComponent) }
        #expect(names == names.sorted())
        #expect(names.allSatisfy { $0 > String(format: "events.out.tfevents.%010d.host.999999999.0", now) })
    }

    /// Four threads logging at once into one writer: every record whole, every value there.
    @Test(.enabled(if: PythonTools.available("tensorboard", "PIL")))
    func threadsShareAWriter() throws {
        let dir = tempDir()
        let w = try SummaryWriter(logDir: dir)
        final class Failures: @unchecked Sendable { let lock = NSLock(); var errors: [String] = [] }
        let failures = Failures()
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            for i in 0..<100 {
                do {
                    try w.addScalar("thread\(t)", Float(i) / 8, step: i)
                    if i % 25 == 0 { try w.addHistogram("h\(t)", [Float(i), 1, 2], step: i) }
                } catch {
                    failures.lock.lock(); failures.errors.append("\(error)"); failures.lock.unlock()
                }
            }
        }
        try w.close()
        #expect(failures.errors.isEmpty, "\(failures.errors)")
        let events = try accumulate(dir)
        for t in 0..<4 {
            #expect(events.scalars["thread\(t)"]?.map(\.step) == Array(0..<100))
            #expect(events.scalars["thread\(t)"]?.map { Float($0.value) } == (0..<100).map { Float($0) / 8 })
            #expect(events.histograms["h\(t)"]?.map(\.step) == [0, 25, 50, 75])
        }
        let check = try PythonTools.run(script: recordReaderScript, [w.fileURL.path])
        #expect(check.out == "\(1 + 400 + 16)\n", "\(check.out) \(check.err)")
    }

    /// Every kind of value, read back by TensorBoard's EventAccumulator with exact steps and
    /// values; every record's CRCs checked by TensorBoard's record reader and here.
    @Test(.enabled(if: PythonTools.available("tensorboard", "PIL")))
    func eventAccumulatorReadsEverythingBack() throws {
        let dir = tempDir()
        let w = try SummaryWriter(logDir: dir, filenameSuffix: ".test")
        let losses: [Float] = [2.302585, 1.25, 0.5, 0.125000001, 1e-7]
        for (i, l) in losses.enumerated() {
            try w.addScalar("train/loss", l, step: i * 10)
            try w.addScalar("train/accuracy", Double(i) / 4, step: i * 10)
        }
        try w.addScalar("lr", 0.1, step: 7)
        // live: what was added is readable at once, before any flush or close (TensorBoard beside a running training)
        let live = try accumulate(dir)
        #expect(live.scalars["train/loss"]?.map(\.step) == [0, 10, 20, 30, 40])
        #expect(live.scalars["lr"]?.map(\.step) == [7])
        // an RGB tensor image [3, 2, 3]: values × 255, clipped, truncated as PyTorch does
        let rgb = Tensor(shape: [3, 2, 3], scalars: [0, 0.5, 1, 1.5, -1, 0.25,  0.1, 0.2, 0.3, 0.4, 0.5, 0.6,  1, 1, 1, 0, 0, 0.999])
        try w.addImage("images/rgb", rgb, step: 3)
        let grey = Image8(width: 4, height: 2, channels: 1, pixels: [0, 32, 64, 96, 128, 160, 192, 255])
        try w.addImage("images/grey", grey, step: 1)
        try w.addImage("images/grey", Image8(width: 1, height: 1, channels: 1, pixels: [7]), step: 2)
        let weights = Tensor(shape: [2, 3], scalars: [-0.5, 0, 0.25, 0.25, 3, -2e-6])
        try w.addHistogram("weights/fc", weights, step: 5)
        try w.addHistogram("weights/fc", [1, 2, 3], step: 6)
        let repr = "Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n)  — ünïcode ✓"
        try w.addText("model", repr, step: 0)
        try w.addText("model", "second", step: 4)
        try w.flush()
        try w.close()

        let events = try accumulate(dir)
        #expect(events.tags["scalars"] == ["lr", "train/accuracy", "train/loss"])
        #expect(events.tags["images"] == ["images/grey", "images/rgb"])
        #expect(events.tags["histograms"] == ["weights/fc"])
        #expect(events.tags["tensors"] == ["model/text_summary"])
        let loss = try #require(events.scalars["train/loss"])
        #expect(loss.map(\.step) == [0, 10, 20, 30, 40])
        #expect(loss.map { Float($0.value) } == losses)
        #expect(events.scalars["train/accuracy"]?.map(\.value) == [0, 0.25, 0.5, 0.75, 1])
        #expect(events.scalars["lr"]?.map(\.step) == [7])
        #expect(events.scalars["lr"].map { $0.map { Float($0.value) } } == [0.1])

        let rgbEvents = try #require(events.images["images/rgb"])
        #expect(rgbEvents.count == 1)
        let e = try #require(rgbEvents.first)
        #expect((e.step, e.width, e.height, e.mode) == (3, 3, 2, "RGB"))
        // pixel (y, x) channel c = trunc(clip(v × 255)); Pillow decodes interleaved RGB
        #expect([UInt8](Data(base64Encoded: e.pixels)!) == [0, 25, 255,  127, 51, 255,  255, 76, 255,
                                                            255, 102, 0,  0, 127, 0,  63, 153, 254])
        let greyEvents = try #require(events.images["images/grey"])
        #expect(greyEvents.map(\.step) == [1, 2])
        #expect(greyEvents.map(\.mode) == ["L", "L"])
        #expect([UInt8](Data(base64Encoded: greyEvents[0].pixels)!) == grey.pixels)
        #expect(Data(base64Encoded: greyEvents[0].png) == (try PNG.encode(grey)))

        let hist = try #require(events.histograms["weights/fc"])
        #expect(hist.map(\.step) == [5, 6])
        let expected = [HistogramSummary(values: weights.scalars)!, HistogramSummary(values: [1, 2, 3])!]
        for (got, want) in zip(hist, expected) {
            #expect(got.bucket_limit == want.bucketLimits && got.bucket == want.bucketCounts)
            #expect((got.min, got.max, got.num, got.sum, got.sum_squares) == (want.min, want.max, want.count, want.sum, want.sumOfSquares))
        }
        #expect(hist[0].num == 6 && hist[0].bucket.reduce(0, +) == 6 && hist[0].min == -0.5 && hist[0].max == 3)

        let texts = try #require(events.texts["model/text_summary"])
        #expect(texts.map(\.step) == [0, 4])
        #expect(texts.map(\.text) == [repr, "second"])
        #expect(events.plugins["model/text_summary"] == "text")

        // the CRCs: TensorBoard's reader over the raw bytes, then a flipped byte it must refuse
        let files = try eventFiles(dir)
        #expect(files.count == 1)
        #expect(files[0].lastPathComponent.hasSuffix(".test"))
        let check = try PythonTools.run(script: recordReaderScript, files.map(\.path))
        #expect(check.out == "19\n", "record reader: \(check.out) \(check.err)")
        #expect(try tfRecords(Data(contentsOf: files[0])).count == 19)
        var damaged = try Data(contentsOf: files[0])
        damaged[damaged.count - 6] ^= 0x01
        let copy = dir.appendingPathComponent("damaged.tfevents")
        try damaged.write(to: copy)
        let refused = try PythonTools.run(script: recordReaderScript, [copy.path])
        #expect(refused.out.hasPrefix("DataLossError") && refused.out.contains("failed event crc32 check"), "\(refused.out) \(refused.err)")
    }
}

/// The trainer's TensorBoard log (`TrainingConfig.tensorBoardDir`), read back by TensorBoard.
@Suite(.serialized) struct TrainerTensorBoardTests {
    let train = bandDataset(count: 320, seed: 1), test = bandDataset(count: 64, seed: 2)

    func run(_ dir: URL, epochs: Int, resume: Bool = false, batchSize: Int = 32) throws -> (Sequential, [EpochRecord]) {
        var c = TrainingConfig(epochs: epochs, batchSize: batchSize, lr: 0.05, optimizer: .sgd, momentum: 0.9)
        c.outDir = dir
        c.resume = resume
        c.tensorBoardDir = dir.appendingPathComponent("tb")
        c.tensorBoardEvery = 3
        c.commandLine = "convnet train small"
        Tensor.manualSeed(42)
        let net = smallNet()
        let trainer = Trainer(model: net, train: train, test: test, config: c)
        trainer.log = { _ in }
        return (net, try trainer.run())
    }

    /// 10 batches an epoch: epoch k ends at step 10k; batch points every 3 batches.
    @Test(.enabled(if: PythonTools.available("tensorboard", "PIL")))
    func everyTagWithExactStepsAndValues() throws {
        let dir = tempDir()
        let (net, history) = try run(dir, epochs: 2)
        let events = try accumulate(dir.appendingPathComponent("tb"))
        let epochTags = ["epoch/images_per_second", "epoch/lr", "epoch/seconds", "epoch/test_accuracy", "epoch/test_loss",
                         "epoch/train_accuracy", "epoch/train_loss"]
        #expect(events.tags["scalars"] == ["batch/images_per_second", "batch/lr", "batch/train_accuracy", "batch/train_loss"] + epochTags)
        func values(_ tag: String) -> [Float] { events.scalars[tag]?.map { Float($0.value) } ?? [] }
        #expect(history.map(\.globalStep) == [10, 20])
        for tag in epochTags { #expect(events.scalars[tag]?.map(\.step) == [10, 20], "\(tag)") }
        #expect(values("epoch/train_loss") == history.map { Float($0.trainLoss) })
        #expect(values("epoch/train_accuracy") == history.map { Float($0.trainAccuracy) })
        #expect(values("epoch/test_accuracy") == history.map { Float($0.testAccuracy) })
        #expect(values("epoch/test_loss") == history.map { Float($0.testLoss!) })
        #expect(values("epoch/lr") == [0.05, 0.05])
        #expect(values("epoch/seconds") == history.map { Float($0.seconds) })
        #expect(values("epoch/images_per_second") == history.map { Float($0.imagesPerSecond) })
        for tag in ["batch/train_loss", "batch/train_accuracy", "batch/lr", "batch/images_per_second"] {
            #expect(events.scalars[tag]?.map(\.step) == [3, 6, 9, 12, 15, 18], "\(tag)")
        }
        #expect(values("batch/lr") == Array(repeating: 0.05, count: 6))
        // a point's accuracy is a count of 96 or 64 (the epoch's last batch carried over) examples
        let accuracies = values("batch/train_accuracy")
        #expect(accuracies.allSatisfy { a in (0...96).contains { abs(Float($0) / 96 - a) < 1e-6 } || (0...128).contains { abs(Float($0) / 128 - a) < 1e-6 } })

        // histograms of every parameter: initial weights at 0, then weights and gradients at each epoch's end
        let names = net.namedParameters().map(\.0)
        #expect(events.tags["histograms"] == (names.map { "gradients/\($0)" } + names.map { "weights/\($0)" }).sorted())
        for (name, p) in net.namedParameters() {
            let w = try #require(events.histograms["weights/\(name)"])
            #expect(w.map(\.step) == [0, 10, 20])
            let final = try #require(HistogramSummary(values: p.scalars))
            #expect(w.last.map { ($0.bucket_limit, $0.bucket) } ?? ([], []) == (final.bucketLimits, final.bucketCounts), "\(name)")
            #expect(w.last?.num == Double(p.count) && w.last?.sum == final.sum)
            let g = try #require(events.histograms["gradients/\(name)"])
            #expect(g.map(\.step) == [10, 20])
            let gradient = try #require(p.grad)
            let grad = try #require(HistogramSummary(values: gradient.scalars))
            #expect(g.last?.bucket == grad.bucketCounts && g.last?.bucket_limit == grad.bucketLimits, "\(name) gradient")
        }

        // the first layer's kernels and feature maps at 0 and each epoch's end, the last as the model has them now
        #expect(events.tags["images"] == ["first_layer/feature_maps", "first_layer/kernels"])
        let kernels = try #require(events.images["first_layer/kernels"])
        #expect(kernels.map(\.step) == [0, 10, 20])
        let conv = try #require(FirstLayerImages.firstConvolution(of: net))
        let expected = FirstLayerImages.kernels(of: conv)
        #expect(kernels.last.map { [UInt8](Data(base64Encoded: $0.pixels)!) } == expected.pixels)
        #expect(kernels.last.map { ($0.width, $0.height) } ?? (0, 0) == (expected.width, expected.height))
        let maps = try #require(events.images["first_layer/feature_maps"])
        #expect(maps.map(\.step) == [0, 10, 20])
        // the first test image as the trainer's test loader gives it
        let sample = try #require(DataLoader(test, batchSize: 256).batchIterator(order: [0], from: 0).next()).images
        let expectedMaps = FirstLayerImages.featureMaps(of: conv, input: sample)
        #expect(maps.last.map { [UInt8](Data(base64Encoded: $0.pixels)!) } == expectedMaps.pixels)

        // the repr and the options, as text at the start
        #expect(events.tags["tensors"] == ["model/text_summary", "options/text_summary"])
        #expect(events.texts["model/text_summary"]?.map(\.step) == [0])
        #expect(events.texts["model/text_summary"]?.first?.text == "    " + net.description.replacingOccurrences(of: "\n", with: "\n    "))
        let options = try #require(events.texts["options/text_summary"]?.first?.text)
        for row in ["| command | `convnet train small` |", "| epochs | 2 |", "| batch size | 32 |", "| optimizer | sgd |", "| momentum | 0.9 |"] {
            #expect(options.contains(row), "\(options)")
        }
        #expect(events.plugins["options/text_summary"] == "text")
        let files = try eventFiles(dir.appendingPathComponent("tb"))
        // version, 2 texts, step 0's 6 histograms and 2 images, each epoch's 7 scalars, 12 histograms
        // and 2 images, 6 batch points of 4 scalars: every record passes TensorBoard's CRC checks
        #expect(names.count == 6)
        let records: Int = 1 + 2 + (6 + 2) + 2 * (7 + 12 + 2) + 6 * 4
        #expect(try PythonTools.run(script: recordReaderScript, files.map(\.path)).out == "\(records)\n")
    }

    /// A resumed run adds an event file and continues the steps; a run killed after logging an
    /// epoch but before its checkpoint is replaced, not doubled, in TensorBoard's view.
    @Test(.enabled(if: PythonTools.available("tensorboard", "PIL")))
    func resumeContinuesTheLog() throws {
        let dir = tempDir()
        _ = try run(dir, epochs: 1)
        let checkpoint = dir.appendingPathComponent("checkpoint.safetensors")
        let afterOne = try Data(contentsOf: checkpoint)
        _ = try run(dir, epochs: 2, resume: true)
        // as if killed between epoch 2's log and its checkpoint: back to epoch 1's checkpoint
        try afterOne.write(to: checkpoint)
        _ = try run(dir, epochs: 2, resume: true)
        let (_, history) = try run(dir, epochs: 3, resume: true)
        #expect(try eventFiles(dir.appendingPathComponent("tb")).count == 4)
        let events = try accumulate(dir.appendingPathComponent("tb"))
        #expect(events.scalars["epoch/test_accuracy"]?.map(\.step) == [10, 20, 30])
        #expect(events.scalars["epoch/test_accuracy"]?.map { Float($0.value) } == history.map { Float($0.testAccuracy) })
        #expect(events.scalars["batch/train_loss"]?.map(\.step) == [3, 6, 9, 12, 15, 18, 21, 24, 27, 30])
        #expect(events.histograms["weights/0.weight"]?.map(\.step) == [0, 10, 20, 30])
        // the options of each start: 0, 10 twice (both restarts from epoch 1's checkpoint; a restart
        // hides only the steps after its own, as the epoch-1 points at step 10 must stay) and 20
        #expect(events.texts["options/text_summary"]?.map(\.step) == [0, 10, 10, 20])
        #expect(events.texts["options/text_summary"]?.last?.text.contains("| epochs | 3 |") == true)
    }

    /// Lazy layers have no values before the first forward: nothing logged for them at step 0, no
    /// warning, and their histograms and kernels from the first epoch's end.
    @Test(.enabled(if: PythonTools.available("tensorboard", "PIL")))
    func lazyLayersStartAtTheFirstEpoch() throws {
        let dir = tempDir()
        var c = TrainingConfig(epochs: 1, batchSize: 32, lr: 0.05, optimizer: .sgd, momentum: 0.9)
        c.tensorBoardDir = dir
        Tensor.manualSeed(42)
        let net = Sequential(LazyConv2d(4, kernelSize: 3), ReLU(), MaxPool2d(kernelSize: 2), Flatten(), LazyLinear(4))
        let trainer = Trainer(model: net, train: train, test: test, config: c)
        var notes: [String] = []
        trainer.log = { notes.append($0) }
        try trainer.run()
        #expect(notes.isEmpty, "\(notes)")
        let events = try accumulate(dir)
        #expect(events.histograms["weights/0.weight"]?.map(\.step) == [10])
        #expect(events.histograms["weights/4.bias"]?.map(\.step) == [10])
        #expect(events.images["first_layer/kernels"]?.map(\.step) == [10])
    }

    /// A resume at an epoch boundary with another batch size (10 batches an epoch, then 5)
    /// continues from the step the history holds, hiding nothing of the first run.
    @Test(.enabled(if: PythonTools.available("tensorboard", "PIL")))
    func resumeWithAnotherBatchSizeKeepsTheSteps() throws {
        let dir = tempDir()
        _ = try run(dir, epochs: 1)
        let (_, history) = try run(dir, epochs: 3, resume: true, batchSize: 64)
        #expect(history.map(\.globalStep) == [10, 15, 20])
        let events = try accumulate(dir.appendingPathComponent("tb"))
        #expect(events.scalars["epoch/test_accuracy"]?.map(\.step) == [10, 15, 20])
        #expect(events.scalars["epoch/train_loss"]?.map { Float($0.value) } == history.map { Float($0.trainLoss) })
        #expect(events.scalars["batch/train_loss"]?.map(\.step) == [3, 6, 9, 12, 15, 18])
    }
}
