import ConvNetCore
import ConvNetData
import ConvNetNN
import Foundation

extension Module {
    /// Writes the model as an ONNX file (operator set `opset`, default 17) that ONNX Runtime and
    /// other ONNX tools run: an eval-mode forward on an input of `inputShape` is traced by the
    /// engine and each operation written as its ONNX operator; the batch dimension is dynamic and
    /// the weights are initializers named by their state-dict keys. The file is written atomically.
    ///
    /// An operation without an ONNX form (or one the trace cannot follow, such as values read in
    /// Swift) is an ``ONNXError`` naming it; the model's training modes are restored afterwards.
    public func exportONNX(to url: URL, inputShape: [Int], opset: Int = 17) throws {
        var exporter = ONNXExporter(path: url.path)
        let proto = try exporter.modelProto(self, inputShape: inputShape, opset: opset)
        let data: Data
        do { data = try proto.serializedBytes() } catch {
            throw ONNXError(.unsupportedExport, path: url.path, "cannot serialise the model (\(error))")
        }
        try AtomicFile.write(data, to: url)
    }
}

/// Translates a traced forward (`OpTrace`) into an ONNX graph.
struct ONNXExporter {
    let path: String
    private var nodes: [Onnx_NodeProto] = []
    private var initializers: [Onnx_TensorProto] = []
    private var initializerNames: [ObjectIdentifier: String] = [:]
    private var usedNames = Set<String>()
    private var names: [Int: String] = [:]
    private var keys: [ObjectIdentifier: String] = [:]
    private var counter = 0

    init(path: String) { self.path = path }

    private func fail(_ reason: String) -> ONNXError { ONNXError(.unsupportedExport, path: path, reason) }

    mutating func modelProto(_ model: any Module, inputShape: [Int], opset: Int) throws -> Onnx_ModelProto {
        guard !inputShape.isEmpty, inputShape.allSatisfy({ $0 > 0 }),
              let n = ONNXTensorCoding.elementCount(inputShape), n <= ONNXModel.defaultMaxElements else {
            throw fail("the input shape \(inputShape) must be non-empty positive sizes")
        }
        guard ONNXProgram.supportedOpsets.contains(opset), opset >= 13 else { throw fail("opset \(opset) is not one ConvNet writes (13–22)") }
        // trace an eval-mode forward; every mode is put back as it was
        let modeLayers = model.modules().compactMap { $0 as? any TrainingModeModule }
        let modes = modeLayers.map(\.training)
        model.eval()
        defer { for (m, t) in zip(modeLayers, modes) { m.training = t } }
        // a fixed, non-random input: exporting must not move the global generator
        let x = Tensor(shape: inputShape, scalars: (0..<n).map { Float(($0 * 7919) % 1009) / 1009 - 0.5 })
        let (y, trace) = withNoGrad { OpTrace.record(input: x) { model($0) } }
        if let failure = trace.failure { throw fail("the forward cannot be exported: \(failure)") }
        guard let out = trace.value(of: y) else { throw fail("the forward's result was not computed by traced operations") }
        for (key, t) in model.namedTensors() { keys[ObjectIdentifier(t)] = key }
        usedNames = Set(keys.values)
        names[trace.inputValue] = "input"
        usedNames.insert("input"); usedNames.insert("output")
        if out != trace.inputValue { names[out] = "output" }

        for op in trace.operations { try emit(op, trace: trace, isOutput: op.output == out) }
        if out == trace.inputValue { nodes.append(node("Identity", ["input"], "output")) }

        var graph = Onnx_GraphProto()
        graph.name = model.typeName
        graph.node = nodes
        graph.initializer = initializers
        let batch = inputShape[0]
        graph.input = [valueInfo("input", inputShape, dynamicFirst: true)]
        graph.output = [valueInfo("output", trace.shape(of: out) ?? [], dynamicFirst: trace.shape(of: out)?.first == batch)]
        var proto = Onnx_ModelProto()
        proto.irVersion = 8
        proto.producerName = "ConvNet"
        var set = Onnx_OperatorSetIdProto()
        set.domain = ""
        set.version = Int64(opset)
        proto.opsetImport = [set]
        proto.graph = graph
        return proto
    }

    private func valueInfo(_ name: String, _ shape: [Int], dynamicFirst: Bool) -> Onnx_ValueInfoProto {
        var tt = Onnx_TypeProto.Tensor()
        tt.elemType = 1
        tt.shape.dim = shape.enumerated().map { i, d in
            var dim = Onnx_TensorShapeProto.Dimension()
            if i == 0 && dynamicFirst { dim.dimParam = "batch" } else { dim.dimValue = Int64(d) }
            return dim
        }
        var type = Onnx_TypeProto()
        type.tensorType = tt
        var v = Onnx_ValueInfoProto()
        v.name = name
        v.type = type
        return v
    }

    private mutating func unique(_ base: String) -> String {
        var name = base, k = 1
        while usedNames.contains(name) { name = "\(base)_\(k)"; k += 1 }
        usedNames.insert(name)
        return name
    }

    /// The initializer holding `t` (added on first use), named by its state-dict key when it has one.
    private mutating func initializer(_ t: Tensor, _ fallback: String) -> String {
        if let n = initializerNames[ObjectIdentifier(t)] { return n }
        let name = keys[ObjectIdentifier(t)] ?? unique(fallback)
        initializers.append(ONNXTensorCoding.encode(t, name: name))
        initializerNames[ObjectIdentifier(t)] = name
        return name
    }

    private mutating func intsInitializer(_ values: [Int], _ base: String) -> String {
        let name = unique(base)
        initializers.append(ONNXTensorCoding.encode(ints: values, name: name))
        return name
    }

    private mutating func floatInitializer(_ value: Float, _ base: String) -> String {
        let name = unique(base)
        initializers.append(ONNXTensorCoding.encode(Tensor(value), name: name))
        return name
    }

    private mutating func value(_ id: Int, _ trace: OpTrace) -> String {
        if let n = names[id] { return n }
        if let c = trace.constant(id) { return initializer(c, "constant_\(id)") }
        return "v\(id)"
    }

    private func node(_ op: String, _ inputs: [String], _ output: String, _ attributes: [Onnx_AttributeProto] = [], name: String? = nil) -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op
        n.name = name ?? "/\(op)_\(nodes.count)"
        n.input = inputs
        n.output = [output]
        n.attribute = attributes
        return n
    }

    private func attribute(_ name: String, ints: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .ints; a.ints = ints.map { Int64($0) }; return a
    }
    private func attribute(_ name: String, int: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .int; a.i = Int64(int); return a
    }
    private func attribute(_ name: String, float: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .float; a.f = float; return a
    }

    private mutating func emit(_ op: TracedOperation, trace: OpTrace, isOutput: Bool) throws {
        func ints(_ k: String) -> [Int] { if case .ints(let v)? = op.attributes[k] { return v }; return [] }
        func int(_ k: String) -> Int { if case .int(let v)? = op.attributes[k] { return v }; return 0 }
        func float(_ k: String) -> Float { if case .float(let v)? = op.attributes[k] { return v }; return 0 }
        func bool(_ k: String) -> Bool { if case .bool(let v)? = op.attributes[k] { return v }; return false }
        let inputShape = op.inputs.first.flatMap { trace.shape(of: $0) } ?? []
        let outName = isOutput ? "output" : "v\(op.output)"
        var ins: [String] = []
        for i in op.inputs { ins.append(value(i, trace)) }
        func alias() {
            if isOutput { nodes.append(node("Identity", [ins[0]], outName)) } else { names[op.output] = ins[0] }
        }
        func add(_ type: String, _ inputs: [String], _ attributes: [Onnx_AttributeProto] = []) {
            nodes.append(node(type, inputs, outName, attributes))
        }
        switch op.name {
        case "conv2d":
            let w = op.tensors["weight"]!
            var inputs = [ins[0], initializer(w, "conv\(counter).weight")]
            if let b = op.tensors["bias"] { inputs.append(initializer(b, "conv\(counter).bias")) }
            counter += 1
            add("Conv", inputs, [attribute("kernel_shape", ints: Array(w.shape[2...])), attribute("strides", ints: ints("stride")),
                                 attribute("pads", ints: ints("pads")), attribute("dilations", ints: ints("dilation")),
                                 attribute("group", int: int("groups"))])
        case "batch_norm":
            guard !bool("training") else { throw fail("batch_norm runs in training mode (batch statistics); ONNX export needs eval mode") }
            guard let mean = op.tensors["running_mean"], let variance = op.tensors["running_var"] else {
                throw fail("batch_norm without running statistics (track_running_stats=False) has no ONNX form")
            }
            let c = mean.count
            let scale = op.tensors["weight"].map { initializer($0, "bn\(counter).weight") } ?? initializer(Tensor(shape: [c], repeating: 1), "bn\(counter).weight")
            let shift = op.tensors["bias"].map { initializer($0, "bn\(counter).bias") } ?? initializer(Tensor(shape: [c], repeating: 0), "bn\(counter).bias")
            let inputs = [ins[0], scale, shift, initializer(mean, "bn\(counter).running_mean"), initializer(variance, "bn\(counter).running_var")]
            counter += 1
            let attrs = [attribute("epsilon", float: float("eps")), attribute("momentum", float: 1 - float("momentum"))]
            if bool("relu") {
                let mid = "v\(op.output)_bn"
                nodes.append(node("BatchNormalization", inputs, mid, attrs))
                add("Relu", [mid])
            } else {
                add("BatchNormalization", inputs, attrs)
            }
        case "relu", "relu_": add("Relu", [ins[0]])
        case "sigmoid": add("Sigmoid", [ins[0]])
        case "tanh": add("Tanh", [ins[0]])
        case "add": add("Add", ins)
        case "sub": add("Sub", ins)
        case "mul": add("Mul", ins)
        case "div": add("Div", ins)
        case "matmul": add("MatMul", ins)
        case "clamp":
            let lo = float("min"), hi = float("max")
            if lo == 0 && hi == .infinity { add("Relu", [ins[0]]); break }
            add("Clip", [ins[0], lo == -.infinity ? "" : floatInitializer(lo, "clip_min"), hi == .infinity ? "" : floatInitializer(hi, "clip_max")])
        case "softmax":
            let d = int("dim")
            add("Softmax", [ins[0]], [attribute("axis", int: d < 0 ? d + inputShape.count : d)])
        case "max_pool2d":
            let p = ints("padding")
            add("MaxPool", [ins[0]], [attribute("kernel_shape", ints: ints("kernel")), attribute("strides", ints: ints("stride")),
                                      attribute("pads", ints: p + p), attribute("dilations", ints: ints("dilation")),
                                      attribute("ceil_mode", int: bool("ceil") ? 1 : 0)])
        case "avg_pool2d":
            let p = ints("padding")
            add("AveragePool", [ins[0]], [attribute("kernel_shape", ints: ints("kernel")), attribute("strides", ints: ints("stride")),
                                          attribute("pads", ints: p + p), attribute("ceil_mode", int: bool("ceil") ? 1 : 0),
                                          attribute("count_include_pad", int: bool("count_include_pad") ? 1 : 0)])
        case "adaptive_avg_pool2d":
            let o = ints("output_size")
            guard inputShape.count == 4 else { throw fail("adaptive_avg_pool2d on \(inputShape.count)-D input has no ONNX form in ConvNet's exporter") }
            let (h, w) = (inputShape[2], inputShape[3])
            if o == [1, 1] { add("GlobalAveragePool", [ins[0]]); break }
            guard h % o[0] == 0 && w % o[1] == 0 else {
                throw fail("adaptive_avg_pool2d from \(h)×\(w) to \(o[0])×\(o[1]) has no ONNX form (the output size must divide the input's)")
            }
            let k = [h / o[0], w / o[1]]
            add("AveragePool", [ins[0]], [attribute("kernel_shape", ints: k), attribute("strides", ints: k)])
        case "reshape":
            let outShape = trace.shape(of: op.output) ?? []
            if inputShape.count >= 2, outShape == [inputShape[0], inputShape[1...].reduce(1, *)] {
                add("Flatten", [ins[0]], [attribute("axis", int: 1)])
                break
            }
            // the batch dimension is copied from the input (ONNX's 0), so it stays dynamic
            var target = outShape
            if let first = inputShape.first, target.first == first { target[0] = 0 }
            add("Reshape", [ins[0], intsInitializer(target, "shape")])
        case "cat":
            let d = int("dim")
            add("Concat", ins, [attribute("axis", int: d < 0 ? d + inputShape.count : d)])
        case "linear":
            if inputShape.count == 2 {
                add("Gemm", ins, [attribute("transB", int: 1)])
            } else {
                let w = trace.constant(op.inputs[1])
                guard let w else { throw fail("linear with a computed weight on \(inputShape.count)-D input has no ONNX form in ConvNet's exporter") }
                let wt = initializer(w.transpose(0, 1).contiguous(), "\(ins[1])_transposed")
                if ins.count > 2 {
                    let mid = "v\(op.output)_matmul"
                    nodes.append(node("MatMul", [ins[0], wt], mid))
                    add("Add", [mid, ins[2]])
                } else {
                    add("MatMul", [ins[0], wt])
                }
            }
        case "dropout":
            guard !bool("training") || float("p") == 0 else { throw fail("dropout in training mode has no ONNX form (export runs eval mode)") }
            alias()
        case "pad":
            let p = ints("pads"), r = inputShape.count
            var begin = [Int](repeating: 0, count: r), end = begin
            for k in 0..<(p.count / 2) { begin[r - 1 - k] = p[2 * k]; end[r - 1 - k] = p[2 * k + 1] }
            guard (begin + end).allSatisfy({ $0 >= 0 }) else { throw fail("pad with negative amounts (a crop) has no ONNX form in ConvNet's exporter") }
            add("Pad", [ins[0], intsInitializer(begin + end, "pads"), floatInitializer(float("value"), "pad_value")])
        default:
            throw fail("operation '\(op.name)' has no ONNX form in ConvNet's exporter")
        }
    }
}
