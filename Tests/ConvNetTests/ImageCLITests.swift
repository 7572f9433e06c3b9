import ConvNet
import Foundation
import Testing

/// A small image folder of 10×9 PNGs in 3 classes; returns the root.
private func smallFolder(perClass: Int = 4) throws -> URL {
    let root = tempDir().appendingPathComponent("pics")
    for (c, name) in ["cat", "dog", "owl"].enumerated() {
        for i in 0..<perClass {
            let px = (0..<90).map { UInt8(truncatingIfNeeded: c * 80 + ($0 % 10 < 5 ? 0 : 60) + i) }
            try PNG.write(Image8(width: 10, height: 9, channels: 1, pixels: px), to: root.appendingPathComponent("\(name)/\(i).png"))
        }
    }
    return root
}

/// `convnet train lenet` on `root` for one short epoch.
private func trainOn(_ root: URL, _ extra: [String] = []) throws -> (status: Int32, out: String, err: String) {
    try runConvnet(["train", "lenet", "--data", root.path, "--epochs", "1", "--batch-size", "4", "--out", tempDir().path] + extra)
}

private func expectOneLine(_ r: (status: Int32, out: String, err: String), _ parts: [String], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(r.status == 1, "exit \(r.status)", sourceLocation: sourceLocation)
    #expect(r.err.split(separator: "\n").count == 1, "stderr: \(r.err)", sourceLocation: sourceLocation)
    #expect(r.err.hasPrefix("convnet: error: "), "stderr: \(r.err)", sourceLocation: sourceLocation)
    for p in parts { #expect(r.err.contains(p), "stderr lacks '\(p)': \(r.err)", sourceLocation: sourceLocation) }
}

@Suite struct ImageCLITests {
    @Test func corruptPNG() throws {
        let root = try smallFolder()
        let file = root.appendingPathComponent("dog/1.png")
        var b = [UInt8](try Data(contentsOf: file))
        b[b.count - 20] ^= 0xFF
        try Data(b).write(to: file)
        expectOneLine(try trainOn(root), [file.path, "damaged image: CRC mismatch in IDAT chunk"])
        // --skip-bad trains on the rest and counts it
        let r = try trainOn(root, ["--skip-bad"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("1 bad images skipped (first: \(file.path): damaged image"), "\(r.out)")
    }

    @Test(.enabled(if: JPEGDecoder.isAvailable, "libjpeg-turbo is not installed"))
    func truncatedJPEG() throws {
        let root = try smallFolder()
        let file = root.appendingPathComponent("owl/x.jpg")
        let jpeg = try JPEGEncoder.encode(Image8(width: 40, height: 40, channels: 3, pixels: (0..<4800).map { UInt8($0 % 251) }))
        try jpeg.prefix(jpeg.count / 2).write(to: file)
        expectOneLine(try trainOn(root), [file.path, "truncated file"])
    }

    @Test func truncatedPNG() throws {
        let root = try smallFolder()
        let file = root.appendingPathComponent("cat/2.png")
        let b = try Data(contentsOf: file)
        try b.prefix(b.count - 15).write(to: file)
        expectOneLine(try trainOn(root), [file.path, "truncated file"])
    }

    @Test func nonImageNamedJPG() throws {
        let root = try smallFolder()
        let file = root.appendingPathComponent("cat/notes.jpg")
        try Data("shopping list: milk, eggs\n".utf8).write(to: file)
        expectOneLine(try trainOn(root), [file.path, "not a PNG or JPEG file"])
    }

    @Test func unreadableFile() throws {
        let root = try smallFolder()
        let file = root.appendingPathComponent("dog/gone.png")
        try FileManager.default.createSymbolicLink(atPath: file.path, withDestinationPath: "/no/such/target.png")
        expectOneLine(try trainOn(root), [file.path, "cannot read the file"])
    }

    @Test func emptyClassFolder() throws {
        let root = try smallFolder()
        try FileManager.default.createDirectory(at: root.appendingPathComponent("empty"), withIntermediateDirectories: true)
        expectOneLine(try trainOn(root), [root.appendingPathComponent("empty").path, "class folder 'empty' has no images"])
    }

    @Test func folderWithoutImages() throws {
        let root = tempDir().appendingPathComponent("nothing")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: root.appendingPathComponent("readme.txt"))
        expectOneLine(try trainOn(root), [root.path, "no class folders with images"])
    }

    @Test func imageOverThePixelLimit() throws {
        let root = try smallFolder()
        expectOneLine(try trainOn(root, ["--max-pixels", "89"]), [root.appendingPathComponent("cat/0.png").path, "10×9 = 90 pixels, above the limit of 89"])
    }

    /// Train with class names, evaluate and predict by name, then fine-tune a 2-class model from it.
    @Test func trainEvaluatePredictTransfer() throws {
        let root = try smallFolder()
        let out = tempDir()
        let train = try runConvnet(["train", "lenet", "--data", root.path, "--epochs", "2", "--batch-size", "4", "--val-split", "0.25",
                                    "--image-size", "28", "--out", out.path])
        #expect(train.status == 0, "\(train.err)")
        #expect(train.out.contains("3 classes; 9 training / 3 validation images (a seeded 75/25 split (seed 0)) at 1×28×28"), "\(train.out)")
        let weights = out.appendingPathComponent("model.safetensors")
        let meta = try SafeTensors.readEntries(from: weights).metadata
        #expect(meta["convnet.classes"] == #"["cat","dog","owl"]"# && meta["convnet.channels"] == "1" && meta["convnet.image_size"] == "28")

        let eval = try runConvnet(["evaluate", "lenet", "--weights", weights.path, "--data", root.path])
        #expect(eval.status == 0, "\(eval.err)")
        #expect(eval.out.contains("(12 images)") && eval.out.contains("cat") && eval.out.contains("owl"), "\(eval.out)")

        let csv = out.appendingPathComponent("pred.csv")
        let pred = try runConvnet(["predict", "lenet", "--weights", weights.path, "--image", root.path, "--top", "2", "--csv", csv.path])
        #expect(pred.status == 0, "\(pred.err)")
        #expect(pred.out.contains("\(root.path)/dog/3.png: ") && pred.out.contains("12 images"), "\(pred.out)")
        let rows = try String(contentsOf: csv, encoding: .utf8).split(separator: "\n")
        #expect(rows.count == 13 && rows[0] == "file,top1,p1,top2,p2")
        let cells = rows[1].split(separator: ",")
        #expect(cells.count == 5 && cells[0] == "\(root.path)/cat/0.png" && ["cat", "dog", "owl"].contains(String(cells[1])))
        let p1 = Double(cells[2])!, p2 = Double(cells[4])!
        #expect(p1 >= p2 && p1 <= 1 && p2 >= 0)
        let one = try runConvnet(["predict", "lenet", "--weights", weights.path, "--image", "\(root.path)/owl/1.png"])
        #expect(one.status == 0 && one.out.split(separator: "\n").count == 3, "\(one.out) \(one.err)")

        // fine-tune on two classes from the 3-class weights: all but the classifier loads
        let two = tempDir().appendingPathComponent("two")
        for name in ["dog", "owl"] {
            try FileManager.default.copyItem(at: root.appendingPathComponent(name), to: two.appendingPathComponent(name))
        }
        let tune = try runConvnet(["train", "lenet", "--data", two.path, "--epochs", "1", "--batch-size", "4", "--out", tempDir().path,
                                   "--init-from", weights.path, "--freeze", "backbone"])
        #expect(tune.status == 0, "\(tune.err)")
        let n = Models.leNet().namedTensors().count
        #expect(tune.out.contains("loaded \(n - 2) tensors, skipped 2, missing 0, unused 0"), "\(tune.out)")
        #expect(tune.out.contains("frozen: everything except the classifier") && tune.out.contains("trainable parameters: 170 of"), "\(tune.out)")
        let bad = try runConvnet(["train", "lenet", "--data", two.path, "--epochs", "1", "--out", tempDir().path, "--freeze", "nope"])
        expectOneLine(bad, ["--freeze nope: no parameter name starts with it"])
    }

    /// --augment and --mean auto: the pipeline printed, the statistics stored, and the same seed
    /// gives byte-identical weights (augmentation runs on worker threads).
    @Test func augmentationAndDataStatisticsAreSeeded() throws {
        let root = try smallFolder()
        var weights: [Data] = []
        for _ in 0..<2 {
            let out = tempDir()
            let r = try runConvnet(["train", "lenet", "--data", root.path, "--epochs", "2", "--batch-size", "4", "--seed", "3",
                                    "--augment", "--mean", "auto", "--out", out.path])
            #expect(r.status == 0, "\(r.err)")
            #expect(r.out.contains("train transform: Compose(Grayscale(), RandomResizedCrop((28, 28), scale=0.08...1.0"), "\(r.out)")
            #expect(r.out.contains("RandomHorizontalFlip(p=0.5), ToTensor(), Normalize(mean=["), "\(r.out)")
            let url = out.appendingPathComponent("model.safetensors")
            let meta = try SafeTensors.readEntries(from: url).metadata
            #expect(meta["convnet.augmented"] == "1" && meta["convnet.mean"] != nil && meta["convnet.std"] != nil)
            weights.append(try Data(contentsOf: url))
        }
        #expect(weights[0] == weights[1])
    }

    /// A model from the zoo adapts to the folder: 3 channels for colour images, the folder's class count.
    @Test func modelAdaptsToColourImages() throws {
        let root = tempDir().appendingPathComponent("colour")
        for (c, name) in ["red", "green"].enumerated() {
            for i in 0..<3 {
                let px = (0..<(12 * 10 * 3)).map { UInt8(truncatingIfNeeded: $0 % 3 == c ? 200 + i : 30) }
                try PNG.write(Image8(width: 12, height: 10, channels: 3, pixels: px), to: root.appendingPathComponent("\(name)/\(i).png"))
            }
        }
        let out = tempDir()
        let r = try runConvnet(["train", "resnet18", "--data", root.path, "--image-size", "32", "--epochs", "1", "--batch-size", "4",
                                "--val-split", "0.34", "--out", out.path])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("2 classes; 4 training / 2 validation images") && r.out.contains("at 3×32×32"), "\(r.out)")
        let state = try SafeTensors.read(from: out.appendingPathComponent("model.safetensors"))
        #expect(state.values.contains { $0.shape == [64, 3, 7, 7] }, "a 3-channel stem")
        #expect(state.values.contains { $0.shape == [2, 512] }, "a 2-class classifier")
    }

    /// Explicit --mean/--std (one value repeated per channel), --channels 3 on grey images, and the
    /// options' own errors.
    @Test func normalisationAndChannelOptions() throws {
        let root = try smallFolder()
        let r = try trainOn(root, ["--channels", "3", "--mean", "0.5", "--std", "0.25"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("at 3×28×28") && r.out.contains("ConvertRGB()")
                && r.out.contains("Normalize(mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])"), "\(r.out)")
        expectOneLine(try trainOn(root, ["--mean", "0.5", "--std", "0"]), ["--std values must be positive"])
        expectOneLine(try trainOn(root, ["--mean", "0.1,0.2", "--std", "0.3"]), ["--mean must be one number (the images have 1 channel), got '0.1,0.2'"])
        expectOneLine(try trainOn(root, ["--channels", "2"]), ["--channels must be 1, 3 or auto"])
        expectOneLine(try trainOn(root, ["--image-size", "96"]), ["lenet takes 28×28 images"])
    }
}
