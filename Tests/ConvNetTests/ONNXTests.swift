import ConvNet
import Foundation
import Testing

/// ONNX import (against PyTorch's exports and outputs, Tests/Fixtures/make_onnx_fixtures.py) and
/// export (against onnx's full checker and ONNX Runtime, through PythonTools).
@Suite(.serialized) struct ONNXTests {
    static func fixture(_ name: String) -> URL { resourceURL("onnx/\(name).onnx") }

    static func io(_ name: String) throws -> (input: Tensor, output: Tensor) {
        let t = try SafeTensors.read(from: resourceURL("onnx/\(name).io.safetensors"))
        return (t["input"]!, t["output"]!)
    }

    /// The error an ONNX read throws, or nil (recorded) when it throws none or another type.
    static func onnxError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> ONNXError? {
        do { try body() } catch let e as ONNXError { return e } catch {
            Issue.record("expected an ONNXError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
            return nil
        }
        Issue.record("expected an ONNXError, nothing was thrown", sourceLocation: sourceLocation)
        return nil
    }

    // MARK: import

    @Test("PyTorch exports run and match PyTorch's outputs, eagerly and compiled",
          arguments: ["lenet", "resnet18_narrow", "inception", "mobilenet_v2_narrow"])
    func importMatchesPyTorch(name: String) throws {
        let model = try ONNXModel(contentsOf: Self.fixture(name))
        let (x, expected) = try Self.io(name)
        let eager = withNoGrad { model(x) }
        #expect(maxAbsDiff(eager, expected) <= 1e-4, "\(name): eager")
        let compiled = compile(model)
        let fast = withNoGrad { compiled(x) }
        #expect(compiled.fallbackReason == nil, "\(name): \(compiled.fallbackReason ?? "")")
        #expect(maxAbsDiff(fast, expected) <= 1e-4, "\(name): compiled")
        // the dynamic batch: one example alone gives that example's row
        let one = withNoGrad { model(x.narrow(dim: 0, start: 1, length: 1).contiguous()) }
        #expect(maxAbsDiff(one, expected.narrow(dim: 0, start: 1, length: 1).contiguous()) <= 1e-4, "\(name): batch of one")
    }

    /// A Python with PyTorch, torchvision and onnx for the fixtures too big to commit
    /// (`$CONVNET_TORCH_PYTHON`, else /work/venv-torch); never in CI, so those tests skip there, visibly.
    static let torchPython: String? = {
        let candidates = [ProcessInfo.processInfo.environment["CONVNET_TORCH_PYTHON"], "/work/venv-torch/bin/python"]
        guard let python = candidates.compactMap({ $0 }).first(where: { !$0.isEmpty && FileManager.default.isExecutableFile(atPath: $0) }) else { return nil }
        return (try? Subprocess.run(python, ["-c", "import torch, torchvision, onnx"]))?.status == 0 ? python : nil
    }()

    /// The test command's reruns (capped ISA, ThreadSanitizer) skip the minute of PyTorch exports.
    static let isRerun = ProcessInfo.processInfo.environment["CONVNET_ISA"] != nil || ProcessInfo.processInfo.environment["TSAN_OPTIONS"] != nil

    @Test("torchvision's resnet18, mobilenet_v2, squeezenet1_1, googlenet and densenet121, exported by PyTorch, match it",
          .enabled(if: torchPython != nil, "needs PyTorch with torchvision and onnx ($CONVNET_TORCH_PYTHON or /work/venv-torch)"),
          .enabled(if: !isRerun, "runs in the test command's first pass only (not with CONVNET_ISA or under TSan)"))
    func torchvisionModelsMatchPyTorch() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("convnet-torchvision-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        var names = ["tv_resnet18", "tv_mobilenet_v2", "tv_squeezenet1_1", "tv_googlenet", "tv_densenet121"]
        // AlexNet and VGG-11 are 240 and 530 MB files: only on request
        if ProcessInfo.processInfo.environment["CONVNET_ONNX_BIG"] == "1" { names += ["tv_alexnet", "tv_vgg11"] }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/make_onnx_fixtures.py")
        let made = try Subprocess.run(Self.torchPython!, [script.path, "--large", "--out", dir.path, "--only", names.joined(separator: ",")])
        try #require(made.status == 0, "make_onnx_fixtures.py --large failed: \(made.stderr)")
        for name in names {
            let model = try ONNXModel(contentsOf: dir.appendingPathComponent("\(name).onnx"))
            let io = try SafeTensors.read(from: dir.appendingPathComponent("\(name).io.safetensors"))
            let x = io["input"]!, expected = io["output"]!
            let compiled = compile(model)
            let y = withNoGrad { compiled(x) }
            #expect(compiled.fallbackReason == nil, "\(name): \(compiled.fallbackReason ?? "")")
            #expect(maxAbsDiff(y, expected) <= 1e-4, "\(name)")
        }
    }

    @Test func importedGraphGetsTheEnginesFusions() throws {
        // ResNet's Conv → BatchNormalization → Relu (→ Add) chains replay as single fused convolutions
        let model = try ONNXModel(contentsOf: Self.fixture("resnet18_narrow"))
        let counts = model.operatorCounts
        #expect(counts["Conv"] == 20 && counts["BatchNormalization"] == 17 && counts["Add"] == 8)
        let compiled = compile(model)
        let (x, _) = try Self.io("resnet18_narrow")
        _ = withNoGrad { compiled(x) }
        let steps = try #require(withNoGrad { compiled.replaySteps(forInputShape: x.shape) })
        let nodes = counts.values.reduce(0, +)
        // every BN folds into its conv, every ReLU after a BN or an Add into the conv before it
        #expect(steps <= nodes - 17 - 17, "replay runs \(steps) steps for \(nodes) nodes")
    }

    @Test func initializersAreTheStateDictOfTheSameZooModel() throws {
        // PyTorch names LeNet's initializers by its state-dict keys, which are ConvNet's LeNet's keys
        let onnx = try ONNXModel(contentsOf: Self.fixture("lenet"))
        let state = onnx.stateDict()
        #expect(Set(state.keys) == Set(["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias",
                                        "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"]))
        let native = Models.leNet()
        try native.loadStateDict(state)
        native.eval()
        let (x, expected) = try Self.io("lenet")
        #expect(maxAbsDiff(withNoGrad { native(x) }, expected) <= 1e-4)
        #expect(onnx.inputName == "input" && onnx.outputName == "output" && onnx.opsetVersion == 17)
        #expect(onnx.inputShape == [nil, 1, 28, 28])
        #expect(try onnx.outputShape(forInputShape: [5, 1, 28, 28]) == [5, 10])
    }

    @Test func summaryListsNodesShapesAndParameters() throws {
        let model = try ONNXModel(contentsOf: Self.fixture("lenet"))
        let text = try model.summary(inputShape: [1, 1, 28, 28])
        // conv1: 6·1·5·5 + 6 = 156 parameters, output [1, 6, 24, 24]; LeNet has 44,426 in all
        #expect(text.contains("[1, 6, 24, 24]") && text.contains(" 156"))
        #expect(text.contains("44426 parameters"))
    }

    // MARK: bad input

    @Test func badGraphsGetTypedErrorsNamingTheNode() throws {
        let cases: [(String, ONNXError.Kind, [String])] = [
            ("bad_unknown_op", .unsupportedOperator, ["FancyActivation", "'fancy'"]),
            ("bad_missing_initializer", .missingValue, ["conv.weight", "'conv' (Conv)"]),
            ("bad_shape", .shapeMismatch, ["'conv' (Conv)", "3 channels"]),
            ("bad_cycle", .cycle, ["cycle"]),
            ("bad_opset", .unsupportedOpset, ["99"]),
            ("bad_external_data", .externalData, ["conv.weight", "weights.bin"]),
        ]
        for (name, kind, words) in cases {
            let e = Self.onnxError { _ = try ONNXModel(contentsOf: Self.fixture(name)) }
            #expect(e?.kind == kind, "\(name): \(String(describing: e))")
            let text = e?.description ?? ""
            #expect(text.hasPrefix(Self.fixture(name).path + ": "), "\(name): \(text)")
            for w in words { #expect(text.contains(w), "\(name): '\(w)' not in \(text)") }
        }
        // the good twin of those files loads and runs: a 3×3 convolution of ones with padding 1
        let good = try ONNXModel(contentsOf: Self.fixture("good_tiny"))
        let y = withNoGrad { good(Tensor.ones([1, 3, 8, 8])) }
        #expect(y.shape == [1, 4, 8, 8])
        #expect(y.scalars[0] == 12 && y.scalars[9] == 27) // corner: 2·2·3 ones; inside: 3·3·3
    }

    @Test func truncatedMalformedAndOversizedFiles() throws {
        let bytes = try Data(contentsOf: Self.fixture("lenet"))
        let cut = Self.onnxError { _ = try ONNXModel(data: bytes.prefix(bytes.count / 2), path: "half.onnx") }
        #expect(cut?.kind == .truncated && cut?.description.hasPrefix("half.onnx: ") == true)
        let junk = Self.onnxError { _ = try ONNXModel(data: Data([0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x01]), path: "junk.onnx") }
        #expect(junk?.kind == .malformed)
        let empty = Self.onnxError { _ = try ONNXModel(data: Data(), path: "empty.onnx") }
        #expect(empty?.kind == .unsupportedOpset)
        // LeNet's file holds 44,428 elements (44,426 parameters and Reshape's 2-element target):
        // one fewer allowed stops at the tensor that goes over, before allocating it
        let big = Self.onnxError { _ = try ONNXModel(contentsOf: Self.fixture("lenet"), maxElements: 44_427) }
        #expect(big?.kind == .tooLarge && big?.description.contains("over the limit") == true, "\(String(describing: big))")
        #expect((try? ONNXModel(contentsOf: Self.fixture("lenet"), maxElements: 44_428)) != nil)
    }

    @Test func fuzzedFilesFailCleanlyOrRun() throws {
        // random edits of real files: each read either throws an ONNXError or gives a model that
        // runs on its declared input (its shapes were all checked when it was read)
        let rng = Generator(seed: 12)
        let seeds = try ["good_tiny", "inception", "lenet"].map { [UInt8](try Data(contentsOf: Self.fixture($0))) }
        var loaded = 0, refused = 0
        for i in 0..<600 {
            let input = mutate(seeds[i % seeds.count], rng)
            do {
                let model = try ONNXModel(data: Data(input), path: "fuzz", maxElements: 1 << 20)
                loaded += 1
                let shape = model.inputShape
                guard !shape.isEmpty, shape.dropFirst().allSatisfy({ $0 != nil }) else { continue }
                let x = Tensor(shape: [1] + shape.dropFirst().map { $0! }, repeating: 0.5)
                guard x.count <= 1 << 16 else { continue }
                let y = withNoGrad { model(x) }
                #expect(y.rank >= 0)
            } catch is ONNXError {
                refused += 1
            }
        }
        #expect(loaded > 0 && refused > 0, "loaded \(loaded), refused \(refused)")
    }

    // MARK: export

    /// Zoo models with their input sizes, BatchNorm statistics and affine parameters made random so
    /// exporting them wrongly would show.
    static func zooModel(_ spec: ModelSpec, seed: UInt64) -> any Module {
        Tensor.manualSeed(seed)
        let model = spec.make()
        let g = Generator(seed: seed + 1)
        for case let bn as BatchNorm in model.modules() {
            if let w = bn.weight { Init.uniform(w, low: 0.5, high: 1.5, generator: g) }
            if let b = bn.bias { Init.uniform(b, low: -0.2, high: 0.2, generator: g) }
            if let m = bn.runningMean { Init.uniform(m, low: -0.2, high: 0.2, generator: g) }
            if let v = bn.runningVar { Init.uniform(v, low: 0.5, high: 1.5, generator: g) }
        }
        return model.eval()
    }

    @Test("every zoo model exports, and reading the file back gives the model's outputs")
    func zooRoundTrip() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("convnet-onnx-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        for (k, spec) in ModelZoo.all.enumerated() where spec.name != "alexnet" && spec.name != "resnet34" {
            let model = Self.zooModel(spec, seed: UInt64(100 + k))
            let side = spec.defaults.resize
            let url = dir.appendingPathComponent("\(spec.name).onnx")
            try model.exportONNX(to: url, inputShape: [1, 1, side, side])
            let back = try ONNXModel(contentsOf: url)
            // a batch of 2 through a graph traced at batch 1: the batch dimension is dynamic
            let x = Tensor(shape: [2, 1, side, side], scalars: (0..<(2 * side * side)).map { Float(($0 * 37) % 101) / 50 - 1 })
            let expected = withNoGrad { model(x) }
            #expect(maxAbsDiff(withNoGrad { back(x) }, expected) <= 1e-4, "\(spec.name)")
            // initializers are named by state-dict keys
            let keys = Set(model.namedTensors().map(\.0)), written = Set(back.stateDict().keys)
            #expect(written.isSubset(of: keys) && written.contains { $0.hasSuffix("weight") }, "\(spec.name): \(written.subtracting(keys))")
        }
    }

    @Test("exported zoo models pass onnx.checker (full_check) and ONNX Runtime matches ConvNet",
          .enabled(if: PythonTools.available("onnx", "onnxruntime", "numpy")))
    func zooAgainstONNXRuntime() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("convnet-onnx-ort-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var lines: [String] = []
        for (k, spec) in ModelZoo.all.enumerated() {
            let model = Self.zooModel(spec, seed: UInt64(200 + k))
            let side = spec.defaults.resize
            let url = dir.appendingPathComponent("\(spec.name).onnx")
            try model.exportONNX(to: url, inputShape: [1, 1, side, side])
            let x = Tensor(shape: [2, 1, side, side], scalars: (0..<(2 * side * side)).map { Float(($0 * 53) % 97) / 48 - 1 })
            let y = withNoGrad { model(x) }
            try x.scalars.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: dir.appendingPathComponent("\(spec.name).in"))
            try y.scalars.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: dir.appendingPathComponent("\(spec.name).out"))
            lines.append("\(spec.name) \(x.shape.map(String.init).joined(separator: ",")) \(y.shape.map(String.init).joined(separator: ","))")
        }
        try lines.joined(separator: "\n").write(to: dir.appendingPathComponent("cases.txt"), atomically: true, encoding: .utf8)
        let script = """
        import sys, os, numpy as np, onnx, onnxruntime as ort
        d = sys.argv[1]
        bad = 0
        for line in open(os.path.join(d, "cases.txt")).read().split("\\n"):
            name, xs, ys = line.split()
            path = os.path.join(d, name + ".onnx")
            m = onnx.load(path)
            onnx.checker.check_model(m, full_check=True)
            o = ort.SessionOptions(); o.intra_op_num_threads = 2
            s = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
            x = np.fromfile(os.path.join(d, name + ".in"), np.float32).reshape([int(v) for v in xs.split(",")])
            want = np.fromfile(os.path.join(d, name + ".out"), np.float32).reshape([int(v) for v in ys.split(",")])
            got = s.run(None, {"input": x})[0]
            err = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
            print(name, got.shape, "max abs diff", err)
            if not err <= 1e-4: bad += 1
        sys.exit(1 if bad else 0)
        """
        let r = try PythonTools.run(script: script, [dir.path])
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
        #expect(r.out.split(separator: "\n").count == ModelZoo.all.count, "\(r.out)")
    }

    @Test func cliExportSummaryAndPredict() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("convnet-onnx-cli-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        Tensor.manualSeed(3)
        let net = Models.leNet()
        let weights = dir.appendingPathComponent("lenet.safetensors"), onnx = dir.appendingPathComponent("lenet.onnx")
        try net.save(to: weights)
        let export = try runConvnet(["export", "lenet", "--weights", weights.path, "--onnx", onnx.path])
        #expect(export.status == 0, "\(export.err)")
        // the exported file computes what the weights' model computes
        let back = try ONNXModel(contentsOf: onnx)
        let x = Tensor(shape: [3, 1, 28, 28], scalars: (0..<(3 * 784)).map { Float($0 % 29) / 29 })
        #expect(maxAbsDiff(withNoGrad { back(x) }, withNoGrad { net.eval()(x) }) <= 1e-5)
        let summary = try runConvnet(["summary", "--onnx", onnx.path])
        #expect(summary.status == 0 && summary.out.contains("44426 parameters") && summary.out.contains("Gemm"), "\(summary.out)\(summary.err)")
        let image = resourceURL("images").appendingPathComponent("astronaut_420.jpg").path
        let predict = try runConvnet(["predict", "--onnx", onnx.path, "--image", image, "--top", "2"])
        #expect(predict.status == 0 && predict.out.split(separator: "\n").count == 2, "\(predict.out)\(predict.err)")
        // bad input: one line, exit 1 for a file it cannot use, 64 for options
        let bad = try runConvnet(["summary", "--onnx", Self.fixture("bad_cycle").path])
        #expect(bad.status == 1 && bad.err.contains("cycle") && bad.err.split(separator: "\n").count == 1, "\(bad.err)")
        let both = try runConvnet(["predict", "lenet", "--onnx", onnx.path, "--image", image])
        #expect(both.status == 64)
        let noSuffix = try runConvnet(["export", "lenet", "--weights", weights.path, "--onnx", dir.appendingPathComponent("x.bin").path])
        #expect(noSuffix.status == 64)
    }

    @Test func unsupportedOperationsAreNamed() throws {
        final class Permuting: Module {
            let conv = Conv2d(1, 2, kernelSize: 3)
            func forward(_ x: Tensor) -> Tensor { conv(x).permute(0, 2, 3, 1) }
        }
        final class Reading: Module {
            func forward(_ x: Tensor) -> Tensor { x.relu() * Tensor(x.relu().sum().item()) }
        }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("convnet-unsupported-\(getpid()).onnx")
        let e = Self.onnxError { try Permuting().exportONNX(to: url, inputShape: [1, 1, 8, 8]) }
        #expect(e?.kind == .unsupportedExport && e?.description.contains("permute") == true, "\(String(describing: e))")
        let r = Self.onnxError { try Reading().exportONNX(to: url, inputShape: [1, 1, 4, 4]) }
        #expect(r?.description.contains("reads tensor values") == true, "\(String(describing: r))")
        #expect(!FileManager.default.fileExists(atPath: url.path))
    }

    @Test func exportRestoresTrainingModeAndLeavesTheGeneratorAlone() throws {
        let model = Models.bnLeNet()
        Tensor.manualSeed(5)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("convnet-modes-\(getpid()).onnx")
        defer { try? FileManager.default.removeItem(at: url) }
        try model.exportONNX(to: url, inputShape: [1, 1, 28, 28])
        #expect(model.training)
        let after = Tensor.randn([4]).scalars
        Tensor.manualSeed(5)
        #expect(Tensor.randn([4]).scalars == after)
    }
}
