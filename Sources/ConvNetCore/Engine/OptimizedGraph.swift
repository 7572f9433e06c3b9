import Foundation

/// A traced forward pass, rewritten for speed and replayed on new inputs of the same shape.
///
/// The rewrites are the engine's, for any model: a batch norm followed by a ReLU runs as one
/// `batchNormReLU`; without gradient recording a convolution followed by an eval-mode batch norm,
/// a residual addition and/or a ReLU or a clamp (ReLU6) runs as one `conv2dAffineReLU` (its
/// kernels apply them while writing the output), and MobileNet's inverted residual (such a 1×1
/// convolution read only by a depthwise one, and/or a 1×1 one alone reading the depthwise output)
/// runs as one `conv2dInvertedResidual` (the intermediate maps made and consumed band by band, in
/// cache); with recording, `maxPool(relu(conv))` with non-overlapping windows pools
/// first and rectifies a quarter of the elements (max and ReLU commute, values and gradients alike).
/// A rewrite applies only where the intermediate values have no other use.
public final class OptimizedGraph {
    enum Step {
        case node(OpTrace.Node)
        /// clamp?(relu?(conv(x)·scale + shift + residual?)), the scale and shift from an eval batch
        /// norm's current statistics (read at every run, so they follow loaded weights).
        case fusedConv(input: Int, conv: OpTrace.Kind, norm: OpTrace.BatchNormParameters?, residual: Int?, relu: Bool,
                       clamp: (lower: Float, upper: Float)?, output: Int)
        /// relu(maxPool(x)).
        case poolReLU(input: Int, pool: OpTrace.Kind, output: Int)
        /// An inverted residual (`conv2dInvertedResidual`): a fused depthwise convolution, after a
        /// fused 1×1 one whose output only it reads and/or before one that alone reads its output
        /// (that one's residual kept).
        case invertedResidual(input: Int, expand: FusedConv?, depthwise: FusedConv, project: FusedConv?, residual: Int?, output: Int)
    }

    /// A `fusedConv` step's layer, without its values.
    struct FusedConv {
        let conv: OpTrace.Kind
        let norm: OpTrace.BatchNormParameters?
        let relu: Bool
        let clamp: (lower: Float, upper: Float)?

        /// The layer with the batch norm's current statistics as its scale and shift (nil: not a convolution).
        var layer: AffineConv? {
            guard case .conv2d(let w, let b, let stride, let padding, let dilation, let groups) = conv else { return nil }
            var scale: Tensor? = nil, shift: Tensor? = nil
            if let norm, let mean = norm.runningMean, let variance = norm.runningVar {
                let map = batchNormInferenceAffine(runningMean: mean, runningVar: variance, weight: norm.weight, bias: norm.bias, eps: norm.eps)
                scale = Tensor(shape: [map.scale.count], scalars: map.scale)
                shift = Tensor(shape: [map.shift.count], scalars: map.shift)
            }
            return AffineConv(weight: w, bias: b, stride: stride, padding: padding, dilation: dilation, groups: groups, scale: scale,
                              shift: shift, relu: relu, clamp: clamp)
        }

        /// `layer`, made once per batch norm statistics: a replay reuses it until one of the batch
        /// norm's tensors is written (or handed out as a raw pointer, which could be written unseen).
        final class CachedLayer: @unchecked Sendable {
            let fused: FusedConv
            private let lock = NSLock()
            private var key = SIMD8<Int>(repeating: -1)
            private var value: AffineConv?
            /// The storages the key names, held so that none of their addresses can be reused by another.
            private var keyStorages: [TensorStorage] = []

            init(_ fused: FusedConv) { self.fused = fused }

            /// The write epoch at which `value` was last found valid (-1: never).
            private var validAt = -1

            var layer: AffineConv? {
                // no tensor anywhere written, exposed or replaced since the last check: still valid
                let epoch = TensorStorage.currentWriteEpoch
                lock.lock()
                if epoch == validAt, let value { lock.unlock(); return value }
                lock.unlock()
                // each statistic's storage and version (zeros where there is none)
                var key = SIMD8<Int>(repeating: 0)
                if let norm = fused.norm {
                    func note(_ i: Int, _ t: Tensor?) -> Bool {
                        guard let t else { return true }
                        (key[2 * i], key[2 * i + 1]) = (Int(bitPattern: UInt(bitPattern: ObjectIdentifier(t.storage))), t.storage.version)
                        return !t.storage.isExposed
                    }
                    guard note(0, norm.runningMean), note(1, norm.runningVar), note(2, norm.weight), note(3, norm.bias) else {
                        return fused.layer
                    }
                }
                lock.lock()
                if let value, key == self.key { validAt = epoch; lock.unlock(); return value }
                lock.unlock()
                let made = fused.layer
                let storages = fused.norm.map { [$0.runningMean, $0.runningVar, $0.weight, $0.bias].compactMap { $0?.storage } } ?? []
                lock.lock()
                (self.key, self.value, self.keyStorages, self.validAt) = (key, made, storages, epoch)
                lock.unlock()
                return made
            }
        }

        /// Whether this is a 1×1 convolution without stride, padding or groups.
        var isPointwise: Bool {
            guard case .conv2d(let w, _, let stride, let padding, let dilation, let groups) = conv, w.rank == 4 else { return false }
            let unpadded: Bool
            switch padding {
            case .explicit(let p): unpadded = p == Size2(0)
            case .valid, .same: unpadded = true
            }
            return w.shape[2] == 1 && w.shape[3] == 1 && stride == Size2(1) && dilation == Size2(1) && groups == 1 && unpadded
        }

        /// Whether this convolution has one filter per channel (`groups` = channels in = channels out).
        var isDepthwise: Bool {
            guard case .conv2d(let w, _, _, _, _, let groups) = conv, w.rank == 4 else { return false }
            return groups > 1 && w.shape[0] == groups && w.shape[1] == 1
        }
    }

    private let program: [(inout [Tensor?]) -> Void]
    /// The value table a run starts from: the constants in place, everything else empty.
    private let template: [Tensor?]
    private let outputId: Int
    /// For each step, the values whose last use it is (freed after it runs).
    private let releases: [[Int]]

    /// The optimised graph of `trace`, or nil when the trace cannot be replayed.
    public init?(_ trace: OpTrace, output: Tensor, recording: Bool) {
        guard trace.failure == nil, let out = trace.outputId(of: output) else { return nil }
        var nodes = trace.nodes.map { Optional($0) }
        var uses = [Int](repeating: 0, count: trace.valueCount)
        for n in trace.nodes { for i in n.inputs { uses[i] += 1 } }
        uses[out] += 1
        // the consumer of a value that has exactly one use
        var consumer = [Int: Int]()
        for (k, n) in trace.nodes.enumerated() { for i in n.inputs where uses[i] == 1 { consumer[i] = k } }
        func soleConsumer(_ value: Int) -> Int? { uses[value] == 1 ? consumer[value] : nil }

        var fused: [Int: Step] = [:]   // node index → the step that replaces it (at the chain's last node)
        for (k, n) in trace.nodes.enumerated() {
            guard let node = nodes[k] else { continue }
            switch node.kind {
            case .batchNorm(var p) where !p.relu:
                if let c = soleConsumer(node.output), let next = nodes[c], case .relu = next.kind {
                    p.relu = true
                    nodes[k] = nil
                    nodes[c] = OpTrace.Node(kind: .batchNorm(p), inputs: node.inputs, output: next.output)
                }
            case .conv2d where !recording:
                var last = k, value = n.output
                var norm: OpTrace.BatchNormParameters? = nil, residual: Int? = nil, relu = false
                if let c = soleConsumer(value), let next = nodes[c], case .batchNorm(let p) = next.kind, !p.training, p.runningMean != nil {
                    norm = p; relu = p.relu; last = c; value = next.output
                }
                if !relu, let c = soleConsumer(value), let next = nodes[c], case .add = next.kind, next.inputs.count == 2,
                   next.inputs[0] != next.inputs[1] {
                    residual = next.inputs[0] == value ? next.inputs[1] : next.inputs[0]
                    last = c; value = next.output
                }
                if !relu, let c = soleConsumer(value), let next = nodes[c], case .relu = next.kind {
                    relu = true; last = c; value = next.output
                }
                var clamp: (lower: Float, upper: Float)? = nil
                if !relu, let c = soleConsumer(value), let next = nodes[c], case .other("clamp", _, let attributes) = next.kind,
                   case .float(let lo)? = attributes["min"], case .float(let hi)? = attributes["max"] {
                    clamp = (lo, hi); last = c; value = next.output
                }
                if last != k {
                    var c = k
                    while c != last {   // drop the chain's inner nodes
                        let v = nodes[c]!.output
                        nodes[c] = nil
                        c = consumer[v]!
                    }
                    fused[last] = .fusedConv(input: node.inputs[0], conv: node.kind, norm: norm, residual: residual, relu: relu,
                                             clamp: clamp, output: value)
                    nodes[last] = nil
                }
            case .relu where recording:
                if let c = soleConsumer(node.output), let next = nodes[c], case .maxPool2d(let kern, let stride, let pad, let dil, let ceil) = next.kind,
                   kern == stride, pad == Size2(0), dil == Size2(1), !ceil {
                    nodes[k] = nil
                    fused[c] = .poolReLU(input: node.inputs[0], pool: next.kind, output: next.output)
                    nodes[c] = nil
                }
            default: break
            }
        }
        var steps: [Step] = []
        for k in trace.nodes.indices {
            if let f = fused[k] { steps.append(f) } else if let n = nodes[k] { steps.append(.node(n)) }
        }
        // MobileNet's inverted residual: a widening 1×1 layer whose output only the depthwise layer
        // after it reads, and/or a narrowing 1×1 layer that alone reads the depthwise output: one step
        var k = 0
        while k + 1 < steps.count {
            if case .fusedConv(let input, let conv1, let norm1, .none, let relu1, let clamp1, let hidden) = steps[k],
               case .fusedConv(hidden, let conv2, let norm2, .none, let relu2, let clamp2, let output) = steps[k + 1], uses[hidden] == 1 {
                let expand = FusedConv(conv: conv1, norm: norm1, relu: relu1, clamp: clamp1)
                let depthwise = FusedConv(conv: conv2, norm: norm2, relu: relu2, clamp: clamp2)
                if expand.isPointwise && depthwise.isDepthwise {
                    steps[k] = .invertedResidual(input: input, expand: expand, depthwise: depthwise, project: nil, residual: nil, output: output)
                    steps.remove(at: k + 1)
                }
            }
            if k + 1 < steps.count, let (input, expand, depthwise, hidden) = OptimizedGraph.depthwiseHead(steps[k]),
               let (projectInput, project, residual, output) = OptimizedGraph.convolution(steps[k + 1]),
               projectInput == hidden, uses[hidden] == 1, residual != hidden {
                if project.isPointwise {
                    steps[k] = .invertedResidual(input: input, expand: expand, depthwise: depthwise, project: project, residual: residual,
                                               output: output)
                    steps.remove(at: k + 1)
                }
            }
            k += 1
        }
        // free each value after its last use (inference would otherwise hold every activation)
        var lastUse = [Int: Int]()
        for (s, step) in steps.enumerated() { for i in OptimizedGraph.inputs(of: step) { lastUse[i] = s } }
        var releases = [[Int]](repeating: [], count: steps.count)
        for (v, s) in lastUse where v != out && trace.constants[v] == nil && v != 0 { releases[s].append(v) }
        self.program = steps.map(OptimizedGraph.compileStep)
        self.releases = releases
        var template = [Tensor?](repeating: nil, count: trace.valueCount)
        for (i, t) in trace.constants { template[i] = t }
        self.template = template
        self.outputId = out
    }

    /// A step ending in a depthwise layer that a projection could follow: (input, expansion,
    /// depthwise layer, output), or nil.
    private static func depthwiseHead(_ step: Step) -> (Int, FusedConv?, FusedConv, Int)? {
        switch step {
        case .invertedResidual(let input, let expand, let depthwise, .none, .none, let output): return (input, expand, depthwise, output)
        case .fusedConv(let input, let conv, let norm, .none, let relu, let clamp, let output):
            let layer = FusedConv(conv: conv, norm: norm, relu: relu, clamp: clamp)
            return layer.isDepthwise ? (input, nil, layer, output) : nil
        default: return nil
        }
    }

    /// A convolution step, fused or plain: (input, layer, residual, output), or nil.
    private static func convolution(_ step: Step) -> (Int, FusedConv, Int?, Int)? {
        switch step {
        case .fusedConv(let input, let conv, let norm, let residual, let relu, let clamp, let output):
            return (input, FusedConv(conv: conv, norm: norm, relu: relu, clamp: clamp), residual, output)
        case .node(let n):
            guard case .conv2d = n.kind, n.inputs.count == 1 else { return nil }
            return (n.inputs[0], FusedConv(conv: n.kind, norm: nil, relu: false, clamp: nil), nil, n.output)
        default: return nil
        }
    }

    private static func inputs(of step: Step) -> [Int] {
        switch step {
        case .node(let n): return n.inputs
        case .fusedConv(let input, _, _, let residual, _, _, _): return [input] + (residual.map { [$0] } ?? [])
        case .poolReLU(let input, _, _): return [input]
        case .invertedResidual(let input, _, _, _, let residual, _): return [input] + (residual.map { [$0] } ?? [])
        }
    }

    /// How many operations a replay runs (after fusion).
    public var stepCount: Int { program.count }

    /// Runs the graph on `input` (the traced input's shape).
    public func run(_ input: Tensor) -> Tensor {
        var values = template
        values[0] = input
        for (s, step) in program.enumerated() {
            step(&values)
            for v in releases[s] { values[v] = nil }
        }
        return values[outputId]!
    }

    /// Each step as a closure over the value table, built once (a replay then copies no step's
    /// payload: for a small model, per-step overhead is most of the time).
    private static func compileStep(_ step: Step) -> (inout [Tensor?]) -> Void {
        switch step {
        case .node(let n):
            let kind = n.kind, inputs = n.inputs, output = n.output
            return { values in
                let y = OptimizedGraph.execute(kind, inputs, &values)
                if output >= 0, let y { values[output] = y }
            }
        case .fusedConv(let input, let conv, let norm, let residual, let relu, let clamp, let output):
            let layer = FusedConv.CachedLayer(FusedConv(conv: conv, norm: norm, relu: relu, clamp: clamp))
            return { values in
                guard let conv = layer.layer else { return }
                values[output] = conv(values[input]!, residual: residual.map { values[$0]! })
            }
        case .invertedResidual(let input, let expand, let depthwise, let project, let residual, let output):
            let (expand, depthwise, project) = (expand.map(FusedConv.CachedLayer.init), FusedConv.CachedLayer(depthwise),
                                                project.map(FusedConv.CachedLayer.init))
            return { values in
                guard let dw = depthwise.layer else { return }
                values[output] = conv2dInvertedResidual(values[input]!, expand?.layer, dw, project: project?.layer,
                                                       residual: residual.map { values[$0]! })
            }
        case .poolReLU(let input, let pool, let output):
            return { values in values[output] = OptimizedGraph.execute(pool, [input], &values)!.relu() }
        }
    }

    /// Runs one op on the values at `inputs` (read in place: a replay of a small model is dominated
    /// by per-op overhead, so only generic ops build an argument array).
    private static func execute(_ kind: OpTrace.Kind, _ inputs: [Int], _ values: inout [Tensor?]) -> Tensor? {
        switch kind {
        case .conv2d(let w, let b, let stride, let padding, let dilation, let groups):
            return conv2d(values[inputs[0]]!, w, bias: b, stride: stride, padding: padding, dilation: dilation, groups: groups)
        case .batchNorm(let p):
            return normalize(values[inputs[0]]!, runningMean: p.runningMean, runningVar: p.runningVar, weight: p.weight, bias: p.bias,
                             training: p.training, momentum: p.momentum, eps: p.eps, relu: p.relu)
        case .relu: return values[inputs[0]]!.relu()
        case .add: return values[inputs[0]]! + values[inputs[1]]!
        case .maxPool2d(let kern, let stride, let padding, let dilation, let ceil):
            return maxPool2d(values[inputs[0]]!, kernelSize: kern, stride: stride, padding: padding, dilation: dilation, ceilMode: ceil)
        case .other(_, let f, _): return f(inputs.map { values[$0]! })
        case .effect(let f): f(); return nil
        }
    }
}
