import ConvNetCore
import ConvNetNN
import Foundation

/// An ONNX model (a `.onnx` file, e.g. from `torch.onnx.export`) as a ConvNet `Module` for inference.
///
/// Its forward runs each node as the ConvNet operation of the same meaning (`conv2d`, `batchNorm`,
/// `relu`, `maxPool2d`, `linear`, `cat`, …), so `compile(model)` traces it and the engine's
/// kernels and fusions apply as to a native model. The initializers are its tensors: `stateDict()`
/// lists them under their ONNX names (PyTorch's state-dict keys for a PyTorch export).
///
/// Reading checks the whole file first: a malformed or truncated protobuf, an operator ConvNet does
/// not implement, a value nothing defines, shapes that do not fit the declared input, a cycle, an
/// operator-set version outside 9–22 and external weight files are each an ``ONNXError`` naming
/// the file and node; no tensor is allocated past `maxElements`.
public final class ONNXModel: Module {
    /// The file the model was read from.
    public let path: String
    let program: ONNXProgram
    private let lock = NSLock()
    private var checkedShapes = Set<[Int]>()

    /// The default bound on the elements of all the file's tensors together (2²⁸, 1 GiB of floats).
    public static let defaultMaxElements = 1 << 28

    /// Reads the ONNX model at `url`.
    public convenience init(contentsOf url: URL, maxElements: Int = ONNXModel.defaultMaxElements) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ONNXError(.invalidGraph, path: url.path, "cannot read the file (\(error.localizedDescription))")
        }
        try self.init(data: data, path: url.path, maxElements: maxElements)
    }

    /// Reads an ONNX model from its bytes; `path` names it in errors.
    public init(data: Data, path: String = "<memory>", maxElements: Int = ONNXModel.defaultMaxElements) throws {
        self.path = path
        program = try ONNXProgram(data: data, path: path, maxElements: maxElements)
    }

    /// The graph input's name.
    public var inputName: String { program.inputName }
    /// The graph output's name (the first output: the one `forward` returns).
    public var outputName: String { program.outputName }
    /// The input shape the file declares; nil marks a dynamic dimension (usually the batch).
    public var inputShape: [Int?] { program.declaredInput }
    /// The ONNX operator-set version the model uses.
    public var opsetVersion: Int { program.opset }
    /// The program that wrote the file (`pytorch 2.15.0`), if it says.
    public var producer: String { program.producer }
    /// How many nodes of each operator the forward runs (Identity, Dropout and Constant are resolved when reading).
    public var operatorCounts: [String: Int] { program.steps.reduce(into: [:]) { $0[$1.opType, default: 0] += 1 } }

    /// The output shape for an input of `shape`, or the ``ONNXError`` naming the node that cannot take it.
    public func outputShape(forInputShape shape: [Int]) throws -> [Int] {
        try program.shapes(for: shape, path: path)[program.outputSlot]!
    }

    /// Runs the graph on `x` (its shape must fit the declared input; the batch may differ).
    public func forward(_ x: Tensor) -> Tensor {
        lock.lock()
        let known = checkedShapes.contains(x.shape)
        lock.unlock()
        if !known {
            do { _ = try program.shapes(for: x.shape, path: path) } catch { checkArgument(false, "ONNXModel: \(error)") }
            lock.lock(); checkedShapes.insert(x.shape); lock.unlock()
        }
        var values = program.template
        values[0] = x
        for (s, step) in program.steps.enumerated() {
            values[step.output] = Profiler.measure("onnx " + step.opType) { ONNXModel.run(step.op, step.inputs.map { values[$0]! }) }
            for v in program.releases[s] { values[v] = nil }
        }
        return values[program.outputSlot]!
    }

    /// One node as ConvNet operations (its shapes were checked by `ONNXProgram.shapes`).
    static func run(_ op: ONNXOperation, _ v: [Tensor]) -> Tensor {
        let x = v[0]
        switch op {
        case .conv(let w, let b, let stride, let dilation, let padding, let groups):
            let ek = Size2(dilation.h * (w.shape[2] - 1) + 1, dilation.w * (w.shape[3] - 1) + 1)
            let p = padding.amounts(h: x.shape[2], w: x.shape[3], kernel: ek, stride: stride)
            if p.top == p.bottom && p.left == p.right {
                return conv2d(x, w, bias: b, stride: stride, padding: .explicit(Size2(p.top, p.left)), dilation: dilation, groups: groups)
            }
            return conv2d(x.pad([p.left, p.right, p.top, p.bottom]), w, bias: b, stride: stride, padding: 0, dilation: dilation, groups: groups)
        case .batchNorm(let scale, let bias, let mean, let variance, let eps):
            return batchNorm(x, runningMean: mean, runningVar: variance, weight: scale, bias: bias, training: false, eps: eps)
        case .relu: return x.relu()
        case .sigmoid: return x.sigmoid()
        case .tanh: return x.tanh()
        case .clip(let lo, let hi): return lo == 0 && hi == .infinity ? x.relu() : x.clamp(min: lo, max: hi)
        case .maxPool(let k, let s, let padding, let d, let ceil):
            let ek = Size2(d.h * (k.h - 1) + 1, d.w * (k.w - 1) + 1)
            let p = padding.amounts(h: x.shape[2], w: x.shape[3], kernel: ek, stride: s)
            if let inside = ONNXShapes.symmetricPadding(p, kernel: k) {
                return maxPool2d(x, kernelSize: k, stride: s, padding: inside, dilation: d, ceilMode: ceil)
            }
            return maxPool2d(x.pad([p.left, p.right, p.top, p.bottom], value: -.infinity), kernelSize: k, stride: s, dilation: d, ceilMode: ceil)
        case .averagePool(let k, let s, let padding, let ceil, let countIncludePad):
            let p = padding.amounts(h: x.shape[2], w: x.shape[3], kernel: k, stride: s)
            if let inside = ONNXShapes.symmetricPadding(p, kernel: k) {
                return avgPool2d(x, kernelSize: k, stride: s, padding: inside, ceilMode: ceil, countIncludePad: countIncludePad)
            }
            return avgPool2d(x.pad([p.left, p.right, p.top, p.bottom]), kernelSize: k, stride: s, ceilMode: ceil, countIncludePad: true)
        case .globalAveragePool: return adaptiveAvgPool2d(x, outputSize: Size2(1))
        case .linear(let w, let b, let addend):
            let y = linear(x, w, bias: b)
            return addend.map { y + $0 } ?? y
        case .gemm(let alpha, let beta, let transA, let transB):
            let a = transA ? x.transpose(0, 1).contiguous() : x, b = transB ? v[1].transpose(0, 1).contiguous() : v[1]
            var y = a.matmul(b)
            if alpha != 1 { y = y * Tensor(alpha) }
            if v.count > 2 { y = y + (beta == 1 ? v[2] : v[2] * Tensor(beta)) }
            return y
        case .matmul: return x.matmul(v[1])
        case .binary(let kind):
            switch kind {
            case .add: return x + v[1]
            case .sub: return x - v[1]
            case .mul: return x * v[1]
            case .div: return x / v[1]
            }
        case .concat(let axis): return cat(v, dim: axis < 0 ? axis + x.rank : axis)
        case .flatten(let axis):
            let a = axis < 0 ? axis + x.rank : axis
            return x.reshape([x.shape[..<a].reduce(1, *), x.shape[a...].reduce(1, *)])
        case .reshape(let shape, let allowZero):
            return x.reshape((try? ONNXShapes.resolveReshape(shape, input: x.shape, allowZero: allowZero)) ?? shape)
        case .softmax(let axis, let legacy):
            let a = axis < 0 ? axis + x.rank : axis
            if legacy && a != x.rank - 1 {
                return x.reshape([x.shape[..<a].reduce(1, *), x.shape[a...].reduce(1, *)]).softmax(dim: 1).reshape(x.shape)
            }
            return x.softmax(dim: a)
        }
    }

    /// None: the nodes are not modules.
    public func namedChildren() -> [(String, any Module)] { [] }
    /// The float initializers under their ONNX names: the model's state dict.
    public func namedOwnTensors() -> [(String, Tensor)] { program.initializers }
    /// `ONNXModel`.
    public var typeName: String { "ONNXModel" }
    /// The file's name, operator set, node count and input.
    public var extraRepr: String {
        "'\((path as NSString).lastPathComponent)', opset=\(opsetVersion), nodes=\(program.steps.count), input=\(inputName)"
            + "[" + inputShape.map { $0.map(String.init) ?? "N" }.joined(separator: ", ") + "]"
    }

    /// A table of the nodes the forward runs: name, operator, output shape for `inputShape` and the
    /// parameters each holds, then totals (what `convnet summary --onnx` prints).
    public func summary(inputShape shape: [Int]) throws -> String {
        let shapes = try program.shapes(for: shape, path: path)
        var rows: [(String, String, String, Int)] = []
        var total = 0
        for step in program.steps {
            var params = step.inputs.filter { program.template[$0] != nil }.map { program.template[$0]!.count }.reduce(0, +)
            switch step.op {
            case .conv(let w, let b, _, _, _, _): params += w.count + (b?.count ?? 0)
            case .batchNorm(let s, let b, let m, let v, _): params += s.count + b.count + m.count + v.count
            case .linear(let w, let b, let a): params += w.count + (b?.count ?? 0) + (a?.count ?? 0)
            default: break
            }
            total += params
            rows.append((step.name.isEmpty ? "(unnamed)" : step.name, step.opType, "\(shapes[step.output] ?? [])", params))
        }
        let w0 = max(4, rows.map(\.0.count).max() ?? 0), w1 = max(8, rows.map(\.1.count).max() ?? 0), w2 = max(12, rows.map(\.2.count).max() ?? 0)
        func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
        var lines = ["ONNX model \(path)" + (producer.isEmpty ? "" : " (\(producer))") + ", opset \(opsetVersion)",
                     "input '\(inputName)' \(shape), output '\(outputName)' \(shapes[program.outputSlot] ?? [])",
                     pad("node", w0) + "  " + pad("operator", w1) + "  " + pad("output shape", w2) + "  params"]
        for r in rows { lines.append(pad(r.0, w0) + "  " + pad(r.1, w1) + "  " + pad(r.2, w2) + "  \(r.3)") }
        lines.append("\(rows.count) nodes, \(total) parameters")
        return lines.joined(separator: "\n")
    }
}
