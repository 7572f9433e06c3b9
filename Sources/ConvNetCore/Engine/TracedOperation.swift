/// An option of a traced operation (a kernel size, an axis, a flag), as an exporter reads it.
public enum TracedAttribute: Equatable, Sendable {
    /// One integer (an axis, a group count).
    case int(Int)
    /// Integers (a kernel size, strides, pads, a shape).
    case ints([Int])
    /// A number (epsilon, a clamp bound).
    case float(Float)
    /// A flag (ceil mode, training).
    case bool(Bool)
}

/// One operation of an `OpTrace`, in the form a model exporter (ONNX) reads: the op's name, the
/// value ids it reads and writes, the tensors it holds (a convolution's weight), and its options.
///
/// Names are the ops' PyTorch names: `conv2d`, `batch_norm`, `relu`, `add`, `sub`, `mul`, `sigmoid`,
/// `tanh`, `clamp`, `softmax`, `max_pool2d`, `avg_pool2d`, `adaptive_avg_pool2d`, `reshape`, `cat`,
/// `linear`, `matmul`, `dropout`; in-place ops end in `_`.
public struct TracedOperation {
    /// The op's name (PyTorch's spelling).
    public let name: String
    /// The value ids it reads, in order; a value may be a constant (`OpTrace.constant(_:)`).
    public let inputs: [Int]
    /// The value id it writes.
    public let output: Int
    /// Tensors the op holds rather than reads as values: `weight` and `bias` of `conv2d`;
    /// `running_mean`, `running_var`, `weight` and `bias` of `batch_norm` (each only when present).
    public let tensors: [String: Tensor]
    /// The op's options: `conv2d` has `stride`, `dilation`, `groups` and `pads` (top, left, bottom,
    /// right, resolved from `same`/`valid`); `batch_norm` has `eps`, `training`, `relu`; pools have
    /// `kernel`, `stride`, `padding`, `ceil` (+ `dilation`, `count_include_pad`); `cat` and
    /// `softmax` have `dim`; `clamp` has `min`/`max`; `dropout` has `p` and `training`.
    public let attributes: [String: TracedAttribute]
}

extension OpTrace {
    /// The traced forward's input value id.
    public var inputValue: Int { 0 }

    /// The value id of the forward's result `t`, if the trace computed it.
    public func value(of t: Tensor) -> Int? { outputId(of: t) }

    /// The tensor behind value `id` when it came from outside the forward (a parameter, a buffer,
    /// a constant made in the forward), else nil.
    public func constant(_ id: Int) -> Tensor? { constants[id] }

    /// The shape value `id` had when traced.
    public func shape(of id: Int) -> [Int]? { shapes[id] }

    /// The operations in the order they ran (side effects such as batch-norm counters left out).
    public var operations: [TracedOperation] {
        nodes.compactMap { node in
            let described = OpTrace.describe(node.kind)
            return described.map {
                TracedOperation(name: $0.name, inputs: node.inputs, output: node.output, tensors: $0.tensors, attributes: $0.attributes)
            }
        }
    }

    private static func describe(_ kind: Kind) -> (name: String, tensors: [String: Tensor], attributes: [String: TracedAttribute])? {
        func pair(_ s: Size2) -> TracedAttribute { .ints([s.h, s.w]) }
        switch kind {
        case .conv2d(let weight, let bias, let stride, let padding, let dilation, let groups):
            var tensors = ["weight": weight]
            tensors["bias"] = bias
            let pads: [Int]
            switch padding {
            case .explicit(let p): pads = [p.h, p.w, p.h, p.w]
            case .valid: pads = [0, 0, 0, 0]
            case .same:
                // the extra row or column goes after, as the convolution itself pads
                let th = dilation.h * (weight.shape[2] - 1), tw = dilation.w * (weight.shape[3] - 1)
                pads = [th / 2, tw / 2, th - th / 2, tw - tw / 2]
            }
            return ("conv2d", tensors, ["stride": pair(stride), "dilation": pair(dilation), "groups": .int(groups), "pads": .ints(pads)])
        case .batchNorm(let p):
            var tensors: [String: Tensor] = [:]
            tensors["running_mean"] = p.runningMean
            tensors["running_var"] = p.runningVar
            tensors["weight"] = p.weight
            tensors["bias"] = p.bias
            return ("batch_norm", tensors, ["eps": .float(p.eps), "momentum": .float(p.momentum), "training": .bool(p.training),
                                            "relu": .bool(p.relu)])
        case .relu: return ("relu", [:], [:])
        case .add: return ("add", [:], [:])
        case .maxPool2d(let kernel, let stride, let padding, let dilation, let ceil):
            return ("max_pool2d", [:], ["kernel": pair(kernel), "stride": pair(stride), "padding": pair(padding),
                                        "dilation": pair(dilation), "ceil": .bool(ceil)])
        case .other(let name, _, let attributes): return (name, [:], attributes)
        case .effect: return nil
        }
    }
}
