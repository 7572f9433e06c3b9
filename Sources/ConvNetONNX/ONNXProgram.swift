import ConvNetCore
import Foundation
import SwiftProtobuf

/// An ONNX graph checked and translated for running: its nodes in dependency order as ConvNet
/// operations over numbered value slots, the constants already decoded in their slots.
struct ONNXProgram {
    struct Step {
        /// `'name' (OpType)`, for messages.
        let label: String
        let name: String
        let opType: String
        let op: ONNXOperation
        let inputs: [Int]
        let output: Int
    }

    var steps: [Step] = []
    /// The value table a run starts from: constants in their slots, everything else empty.
    var template: [Tensor?] = []
    var inputSlot = 0
    var outputSlot = 0
    var inputName = ""
    var outputName = ""
    /// The graph input's declared shape; nil for a symbolic (dynamic) dimension.
    var declaredInput: [Int?] = []
    /// The float initializers in file order: the model's state dict.
    var initializers: [(String, Tensor)] = []
    var opset = 0
    var producer = ""
    /// For each step, the slots whose last use it is.
    var releases: [[Int]] = []

    /// The operators ConvNet reads, as ONNX names them.
    static let supportedOperators = ["Add", "AveragePool", "BatchNormalization", "Clip", "Concat", "Constant", "Conv", "Div", "Dropout",
                                     "Flatten", "Gemm", "GlobalAveragePool", "Identity", "MatMul", "MaxPool", "Mul", "Relu", "Reshape",
                                     "Sigmoid", "Softmax", "Sub", "Tanh"]
    /// The default-domain operator-set versions whose semantics ConvNet implements for those operators.
    static let supportedOpsets = 9...22
    /// The largest intermediate value (elements) a graph may compute for its declared input.
    static let activationLimit = 1 << 31

    /// Parses and checks `data` (the contents of `path`); no tensor larger than `maxElements`
    /// elements in total is allocated.
    init(data: Data, path: String, maxElements: Int) throws {
        let model: Onnx_ModelProto
        do {
            model = try Onnx_ModelProto(serializedBytes: data)
        } catch let e as BinaryDecodingError {
            if case .truncated = e { throw ONNXError(.truncated, path: path, "truncated protobuf: the file ends inside a message (\(data.count) bytes)") }
            throw ONNXError(.malformed, path: path, "not an ONNX model: malformed protobuf (\(e))")
        } catch {
            throw ONNXError(.malformed, path: path, "not an ONNX model: \(error)")
        }
        producer = [model.producerName, model.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
        guard let opsetEntry = model.opsetImport.first(where: { $0.domain.isEmpty || $0.domain == "ai.onnx" }) else {
            throw ONNXError(.unsupportedOpset, path: path, "the model imports no version of the ONNX operator set")
        }
        guard Self.supportedOpsets.contains(Int(clamping: opsetEntry.version)) else {
            throw ONNXError(.unsupportedOpset, path: path,
                            "operator set version \(opsetEntry.version) is not supported (ConvNet reads \(Self.supportedOpsets.lowerBound)–\(Self.supportedOpsets.upperBound))")
        }
        opset = Int(opsetEntry.version)
        guard model.hasGraph else { throw ONNXError(.invalidGraph, path: path, "the model has no graph") }
        try build(model.graph, path: path, maxElements: maxElements)
    }

    private mutating func build(_ graph: Onnx_GraphProto, path: String, maxElements: Int) throws {
        // constants: initializers first, decoded within the element budget
        var budget = maxElements
        var constants: [String: ONNXConstant] = [:]
        for t in graph.initializer {
            guard !t.name.isEmpty else { throw ONNXError(.invalidGraph, path: path, "an initializer has no name") }
            guard constants[t.name] == nil else { throw ONNXError(.invalidGraph, path: path, "initializer '\(t.name)' is defined twice") }
            let c = try ONNXTensorCoding.decode(t, what: "initializer '\(t.name)'", path: path, budget: &budget)
            constants[t.name] = c
            if c.ints == nil { initializers.append((t.name, c.tensor)) }
        }
        // the one real input (older exporters also list the initializers as inputs)
        let inputs = graph.input.filter { constants[$0.name] == nil }
        guard inputs.count == 1 else {
            throw ONNXError(.invalidGraph, path: path,
                            "ONNXModel runs graphs with one input; this one has \(inputs.count)" + (inputs.isEmpty ? "" : ": " + inputs.map(\.name).joined(separator: ", ")))
        }
        let input = inputs[0]
        inputName = input.name
        if case .tensorType(let tt)? = input.type.value {
            guard tt.elemType == 1 || tt.elemType == 0 else {
                throw ONNXError(.unsupportedType, path: path, "input '\(input.name)' has element type \(ONNXTensorCoding.typeName(tt.elemType)); ConvNet runs FLOAT inputs")
            }
            declaredInput = tt.shape.dim.map { d -> Int? in
                if case .dimValue(let v)? = d.value, v >= 0 { return Int(v) }
                return nil
            }
            guard declaredInput.allSatisfy({ ($0 ?? 0) <= 1 << 24 }),
                  ONNXTensorCoding.extent(declaredInput.map { $0 ?? 1 }).map({ $0 <= maxElements }) == true else {
                throw ONNXError(.tooLarge, path: path, "input '\(input.name)' declares shape \(declaredInput.map { $0.map(String.init) ?? "?" }), over the element limit")
            }
        }
        guard let output = graph.output.first else { throw ONNXError(.invalidGraph, path: path, "the graph has no output") }
        outputName = output.name

        // who defines each value
        var producerOf: [String: Int] = [:]
        for (k, node) in graph.node.enumerated() {
            for o in node.output where !o.isEmpty {
                let r = ONNXNodeReader(node: node, path: path, opset: opset)
                guard o != inputName, constants[o] == nil, producerOf[o] == nil else {
                    throw r.error(.invalidGraph, "output '\(o)' is already defined elsewhere in the graph")
                }
                producerOf[o] = k
            }
        }
        for node in graph.node {
            for i in node.input where !i.isEmpty && i != inputName && constants[i] == nil && producerOf[i] == nil {
                throw ONNXNodeReader(node: node, path: path, opset: opset)
                    .error(.missingValue, "input '\(i)' is not defined: no initializer, graph input or node output has that name")
            }
        }
        guard outputName == inputName || constants[outputName] == nil else {
            throw ONNXError(.invalidGraph, path: path, "the graph output '\(outputName)' is a constant")
        }
        guard outputName == inputName || producerOf[outputName] != nil else {
            throw ONNXError(.missingValue, path: path, "the graph output '\(outputName)' is not computed by any node")
        }

        // dependency order (Kahn); what is left over depends on itself
        let order = try Self.topologicalOrder(graph.node, producerOf: producerOf, path: path, opset: opset)

        // slots, then steps
        var slots: [String: Int] = [inputName: 0]
        template = [nil]
        func slot(_ name: String) -> Int {
            if let s = slots[name] { return s }
            let s = template.count
            slots[name] = s
            template.append(constants[name]?.tensor)
            return s
        }
        for k in order {
            let r = ONNXNodeReader(node: graph.node[k], path: path, opset: opset)
            let node = r.node
            if !node.domain.isEmpty && node.domain != "ai.onnx" {
                throw r.error(.unsupportedOperator, "operator '\(node.opType)' of domain '\(node.domain)' is not supported")
            }
            guard let first = node.output.first, !first.isEmpty else { throw r.error(.invalidGraph, "the node has no output") }
            switch node.opType {
            case "Constant":
                constants[first] = try Self.constantValue(r, budget: &budget)
                continue
            case "Identity", "Dropout":
                try r.requireInputs(1, at: node.opType == "Dropout" ? 3 : 1)
                if node.output.count > 1 && !node.output[1].isEmpty { throw r.error(.unsupportedOperator, "the dropout mask output is not supported") }
                if let c = constants[node.input[0]] { constants[first] = c } else { slots[first] = slot(node.input[0]) }
                continue
            default: break
            }
            let (op, operandNames) = try Self.operation(r, constants: constants)
            if node.output.count > 1, node.output.dropFirst().contains(where: { !$0.isEmpty }) {
                throw r.error(.unsupportedOperator, "only the first output is supported (the node asks for \(node.output.count))")
            }
            let ins = operandNames.map { slot($0) }
            steps.append(Step(label: r.label, name: node.name, opType: node.opType, op: op, inputs: ins, output: slot(first)))
        }
        outputSlot = slot(outputName)
        guard outputSlot == 0 || template[outputSlot] == nil else {
            throw ONNXError(.invalidGraph, path: path, "the graph output '\(outputName)' is a constant")
        }
        // free each value after its last use (inference would otherwise hold every activation)
        var lastUse: [Int: Int] = [:]
        for (s, step) in steps.enumerated() { for i in step.inputs { lastUse[i] = s } }
        releases = [[Int]](repeating: [], count: steps.count)
        for (v, s) in lastUse where v != outputSlot && template[v] == nil { releases[s].append(v) }

        // check the graph against its declared input, when its sizes are known (a dynamic batch counts as 1)
        if !declaredInput.isEmpty, declaredInput.dropFirst().allSatisfy({ $0 != nil }) {
            _ = try shapes(for: [declaredInput[0] ?? 1] + declaredInput.dropFirst().map { $0! }, path: path)
        }
    }

    /// Every slot's shape for an input of `inputShape`, or the first node that cannot take its inputs.
    func shapes(for inputShape: [Int], path: String) throws -> [[Int]?] {
        var shapes: [[Int]?] = template.map { $0?.shape }
        shapes[0] = inputShape
        if !declaredInput.isEmpty {
            let fits = declaredInput.count == inputShape.count && zip(declaredInput, inputShape).dropFirst().allSatisfy { $0.0 == nil || $0.0 == $0.1 }
            guard fits else {
                throw ONNXError(.shapeMismatch, path: path, "input '\(inputName)' has shape \(inputShape); the graph declares \(declaredInput.map { $0.map(String.init) ?? "N" })")
            }
        }
        for step in steps {
            let ins = step.inputs.map { shapes[$0] }
            guard ins.allSatisfy({ $0 != nil }) else { throw ONNXError(.invalidGraph, path: path, node: step.label, "an input has no value") }
            do {
                let out = try ONNXShapes.output(step.op, ins.map { $0! })
                guard let n = ONNXTensorCoding.extent(out), n <= Self.activationLimit else {
                    throw ShapeProblem(reason: "the output \(out) would be over the limit of \(Self.activationLimit) elements")
                }
                shapes[step.output] = out
            } catch let p as ShapeProblem {
                throw ONNXError(.shapeMismatch, path: path, node: step.label, p.reason)
            }
        }
        return shapes
    }

    private static func topologicalOrder(_ nodes: [Onnx_NodeProto], producerOf: [String: Int], path: String, opset: Int) throws -> [Int] {
        var pending = [Int](repeating: 0, count: nodes.count)
        var consumers = [[Int]](repeating: [], count: nodes.count)
        for (k, node) in nodes.enumerated() {
            for p in Set(node.input.compactMap({ producerOf[$0] })) { pending[k] += 1; consumers[p].append(k) }
        }
        var ready = (0..<nodes.count).filter { pending[$0] == 0 }
        var order: [Int] = []
        order.reserveCapacity(nodes.count)
        var i = 0
        while i < ready.count {
            let k = ready[i]; i += 1
            order.append(k)
            for c in consumers[k] { pending[c] -= 1; if pending[c] == 0 { ready.append(c) } }
        }
        if order.count < nodes.count, let stuck = (0..<nodes.count).first(where: { pending[$0] > 0 }) {
            throw ONNXNodeReader(node: nodes[stuck], path: path, opset: opset)
                .error(.cycle, "the graph has a cycle: this node depends, through \(nodes.count - order.count) nodes, on its own output")
        }
        return order
    }

    private static func constantValue(_ r: ONNXNodeReader, budget: inout Int) throws -> ONNXConstant {
        guard let a = r.node.attribute.first else { throw r.error(.invalidGraph, "Constant has no value attribute") }
        switch a.name {
        case "value": return try ONNXTensorCoding.decode(a.t, what: "the value of Constant \(r.label)", path: r.path, budget: &budget)
        case "value_float": return ONNXConstant(shape: [], tensor: Tensor(a.f), ints: nil)
        case "value_floats":
            guard a.floats.count <= budget else { throw r.error(.tooLarge, "the constant has too many elements") }
            return ONNXConstant(shape: [a.floats.count], tensor: Tensor(a.floats), ints: nil)
        case "value_int": return ONNXConstant(shape: [], tensor: Tensor(Float(a.i)), ints: [Int(a.i)])
        case "value_ints":
            guard a.ints.count <= budget else { throw r.error(.tooLarge, "the constant has too many elements") }
            return ONNXConstant(shape: [a.ints.count], tensor: Tensor(a.ints.map { Float($0) }), ints: a.ints.map { Int($0) })
        default: throw r.error(.unsupportedOperator, "Constant's '\(a.name)' form is not supported")
        }
    }

    /// The operation a node runs and the names of the values it reads at run time.
    private static func operation(_ r: ONNXNodeReader, constants: [String: ONNXConstant]) throws -> (ONNXOperation, [String]) {
        let node = r.node
        func const(_ i: Int, _ what: String) throws -> ONNXConstant {
            guard i < node.input.count, let c = constants[node.input[i]] else {
                throw r.error(.unsupportedOperator, "\(what) must be a constant (an initializer or Constant), not a computed value")
            }
            return c
        }
        func optionalConst(_ i: Int, _ what: String) throws -> ONNXConstant? {
            guard i < node.input.count, !node.input[i].isEmpty else { return nil }
            return try const(i, what)
        }
        func floatTensor(_ c: ONNXConstant, _ what: String) throws -> Tensor {
            guard c.ints == nil else { throw r.error(.unsupportedType, "\(what) must be a FLOAT tensor") }
            return c.tensor
        }
        func scalar(_ c: ONNXConstant?, _ what: String) throws -> Float? {
            guard let c else { return nil }
            guard c.tensor.count == 1 else { throw r.error(.shapeMismatch, "\(what) must have one element, has shape \(c.shape)") }
            return c.tensor.item()
        }
        let x = node.input.first ?? ""
        switch node.opType {
        case "Conv":
            try r.requireInputs(2, at: 3)
            let w = try floatTensor(try const(1, "the weight W"), "the weight W")
            let b = try optionalConst(2, "the bias B").map { try floatTensor($0, "the bias B") }
            guard w.rank == 4 else { throw r.error(.unsupportedOperator, "weight of shape \(w.shape): ConvNet runs 2-D convolutions only") }
            if let k = try r.ints("kernel_shape"), k != Array(w.shape[2...]) {
                throw r.error(.shapeMismatch, "kernel_shape \(k) does not match the weight's \(Array(w.shape[2...]))")
            }
            let groups = try r.int("group", 1)
            guard groups >= 1 else { throw r.error(.unsupportedOperator, "group must be positive, got \(groups)") }
            return (.conv(weight: w, bias: b, stride: try r.pair("strides", default: 1, minimum: 1),
                          dilation: try r.pair("dilations", default: 1, minimum: 1), padding: try r.padding(), groups: groups), [x])
        case "BatchNormalization":
            try r.requireInputs(5, at: 5)
            if try r.int("training_mode", 0) != 0 { throw r.error(.unsupportedOperator, "training_mode=1: ONNXModel runs inference only") }
            if r.opset < 9, try r.int("spatial", 1) != 1 { throw r.error(.unsupportedOperator, "spatial=0 is not supported") }
            let p = try (1...4).map { try floatTensor(try const($0, "input \($0)"), "input \($0)") }
            return (.batchNorm(scale: p[0], bias: p[1], mean: p[2], variance: p[3], eps: try r.float("epsilon", 1e-5)), [x])
        case "Relu": try r.requireInputs(1, at: 1); return (.relu, [x])
        case "Sigmoid": try r.requireInputs(1, at: 1); return (.sigmoid, [x])
        case "Tanh": try r.requireInputs(1, at: 1); return (.tanh, [x])
        case "Clip":
            if r.opset < 11 {
                try r.requireInputs(1, at: 1)
                return (.clip(min: try r.float("min", -.greatestFiniteMagnitude), max: try r.float("max", .greatestFiniteMagnitude)), [x])
            }
            try r.requireInputs(1, at: 3)
            let lo = try scalar(try optionalConst(1, "min"), "min") ?? -.infinity, hi = try scalar(try optionalConst(2, "max"), "max") ?? .infinity
            return (.clip(min: lo, max: hi), [x])
        case "MaxPool":
            try r.requireInputs(1, at: 1)
            if try r.int("storage_order", 0) != 0 { throw r.error(.unsupportedOperator, "storage_order=1 is not supported") }
            return (.maxPool(kernel: try r.pair("kernel_shape", default: nil, minimum: 1), stride: try r.pair("strides", default: 1, minimum: 1),
                             padding: try r.padding(), dilation: try r.pair("dilations", default: 1, minimum: 1), ceil: try r.int("ceil_mode", 0) != 0), [x])
        case "AveragePool":
            try r.requireInputs(1, at: 1)
            guard try r.pair("dilations", default: 1, minimum: 1) == Size2(1) else { throw r.error(.unsupportedOperator, "dilated average pooling is not supported") }
            return (.averagePool(kernel: try r.pair("kernel_shape", default: nil, minimum: 1), stride: try r.pair("strides", default: 1, minimum: 1),
                                 padding: try r.padding(), ceil: try r.int("ceil_mode", 0) != 0,
                                 countIncludePad: try r.int("count_include_pad", 0) != 0), [x])
        case "GlobalAveragePool": try r.requireInputs(1, at: 1); return (.globalAveragePool, [x])
        case "Gemm":
            try r.requireInputs(2, at: 3)
            let alpha = try r.float("alpha", 1), beta = try r.float("beta", 1)
            let transA = try r.int("transA", 0) != 0, transB = try r.int("transB", 0) != 0
            let cConst = node.input.count > 2 && !node.input[2].isEmpty ? constants[node.input[2]] : nil
            let hasC = node.input.count > 2 && !node.input[2].isEmpty
            if let bc = constants[node.input[1]], !transA, !hasC || cConst != nil {
                var w = try floatTensor(bc, "B")
                guard w.rank == 2 else { throw r.error(.shapeMismatch, "B must be 2-D, has shape \(w.shape)") }
                if !transB { w = w.transpose(0, 1).contiguous() }
                if alpha != 1 { w = w * Tensor(alpha) }
                var bias: Tensor? = nil, addend: Tensor? = nil
                if let cConst {
                    var c = try floatTensor(cConst, "C")
                    if beta != 1 { c = c * Tensor(beta) }
                    if c.count == w.shape[0] && (c.rank == 1 || (c.rank == 2 && c.shape[0] == 1)) { bias = c.reshape([w.shape[0]]) } else { addend = c }
                }
                return (.linear(weight: w, bias: bias, addend: addend), [x])
            }
            return (.gemm(alpha: alpha, beta: beta, transA: transA, transB: transB), Array(node.input.prefix(hasC ? 3 : 2)))
        case "MatMul": try r.requireInputs(2, at: 2); return (.matmul, Array(node.input))
        case "Add", "Sub", "Mul", "Div":
            try r.requireInputs(2, at: 2)
            return (.binary(ONNXBinary(rawValue: node.opType)!), Array(node.input))
        case "Concat":
            guard !node.input.isEmpty, node.input.allSatisfy({ !$0.isEmpty }) else { throw r.error(.invalidGraph, "Concat needs at least one input") }
            let axis = try r.int("axis", Int.min)
            guard axis != Int.min else { throw r.error(.invalidGraph, "attribute 'axis' is required") }
            return (.concat(axis: axis), Array(node.input))
        case "Flatten": try r.requireInputs(1, at: 1); return (.flatten(axis: try r.int("axis", 1)), [x])
        case "Reshape":
            try r.requireInputs(2, at: 2)
            guard let shape = try const(1, "the target shape").ints, shape.count <= 16 else {
                throw r.error(.unsupportedType, "the target shape must be an INT64 tensor of at most 16 values")
            }
            return (.reshape(shape: shape, allowZero: try r.int("allowzero", 0) != 0), [x])
        case "Softmax":
            try r.requireInputs(1, at: 1)
            return (.softmax(axis: try r.int("axis", r.opset < 13 ? 1 : -1), legacy: r.opset < 13), [x])
        default:
            throw r.error(.unsupportedOperator, "operator '\(node.opType)' is not supported; ConvNet reads \(supportedOperators.joined(separator: ", "))")
        }
    }
}
