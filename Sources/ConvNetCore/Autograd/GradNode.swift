/// One recorded operation: its inputs, the tensors its backward reads, and how to turn the
/// output's gradient into theirs.
final class GradNode {
    let name: String
    let inputs: [Tensor]
    /// Given the gradient of the output, the gradient for each input (nil where none is needed).
    /// Dropped once it has run (the graph is freed), unless the backward retained the graph.
    private(set) var backward: ((Tensor) -> [Tensor?])?
    /// The storages whose values `backward` reads, with their versions when recorded.
    private let saved: [(storage: TensorStorage, version: Int, shape: [Int])]

    init(name: String, inputs: [Tensor], saving: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.saved = saving.map { ($0.storage, $0.storage.version, $0.shape) }
        self.backward = backward
    }

    /// PyTorch's name for the node (`ReluBackward0`).
    var displayName: String {
        name.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined() + "Backward0"
    }

    /// Runs the recorded backward, checking first that nothing it reads was changed in place.
    func run(_ gradient: Tensor, retainGraph: Bool) -> [Tensor?] {
        guard let backward else {
            checkArgument(false, "Trying to backward through the graph a second time (or directly access saved tensors after they have already been freed). Saved intermediate values of the graph are freed when you call backward(). Specify backward(retainGraph: true) if you need to backward through the graph a second time.")
            return []
        }
        for (i, s) in saved.enumerated() where s.storage.version != s.version {
            checkArgument(false, "one of the variables needed for gradient computation has been modified by an inplace operation: [FloatTensor \(s.shape)], which is saved tensor \(i) of \(displayName), is at version \(s.storage.version); expected version \(s.version) instead.")
        }
        if !retainGraph { self.backward = nil }
        return backward(gradient)
    }
}

extension Tensor {
    /// Wraps an op's result, recording `backward` when any input needs a gradient. `saving` lists
    /// the tensors whose values `backward` reads (by default the inputs); an in-place change to
    /// one of them before the backward runs is reported instead of giving a wrong gradient.
    static func record(_ result: Tensor, _ name: String, _ inputs: [Tensor], saving: [Tensor]? = nil,
                       _ backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        OpTrace.noteUntraced(name, inputs)
        guard GradMode.isEnabled, inputs.contains(where: { $0.requiresGrad }) else { return result }
        result.gradFn = GradNode(name: name, inputs: inputs, saving: saving ?? inputs, backward: backward)
        result._requiresGrad = true
        return result
    }

    /// Back-propagates from this tensor, as PyTorch's `backward()`. For a scalar the seed gradient
    /// is 1; otherwise pass `gradient` with this tensor's shape. Leaf tensors that require a
    /// gradient accumulate into `.grad`; a tensor used twice receives both contributions. The
    /// graph is freed as it goes: a second backward through it is an error unless the first
    /// passed `retainGraph: true`.
    public func backward(_ gradient: Tensor? = nil, retainGraph: Bool = false) {
        checkArgument(requiresGrad, "element 0 of tensors does not require grad and does not have a grad_fn")
        let seed: Tensor
        if let g = gradient {
            checkArgument(g.shape == shape, "backward: gradient shape \(g.shape) does not match tensor shape \(shape)")
            seed = g.contiguous()
        } else {
            checkArgument(count == 1, "grad can be implicitly created only for scalar outputs (shape \(shape))")
            seed = Tensor(shape: shape, repeating: 1)
        }
        // Dependency counts (consumers of each tensor within this graph), then Kahn's order: a
        // tensor is processed once every consumer has passed its gradient on. A leaf's gradient is
        // therefore final (and its hooks run) as soon as the last layer using it is done — the fc
        // weights early, the first convolution's last — so a data-parallel all-reduce can start
        // while the backward goes on; a post-order of one depth-first search would put every leaf
        // at the very end.
        var pending: [ObjectIdentifier: Int] = [:]
        var visited: Set<ObjectIdentifier> = [ObjectIdentifier(self)]
        var stack: [Tensor] = [self]
        while let t = stack.popLast() {
            guard let node = t.gradFn else { continue }
            for input in node.inputs where input.requiresGrad {
                let key = ObjectIdentifier(input)
                pending[key, default: 0] += 1
                if visited.insert(key).inserted { stack.append(input) }
            }
        }
        var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seed]
        var ready: [Tensor] = [self]
        withNoGrad {
            while let t = ready.popLast() {
                let g = grads.removeValue(forKey: ObjectIdentifier(t))
                guard let node = t.gradFn else {
                    guard let g else { continue }
                    if let existing = t.grad {
                        let sum = Tensor(uninitializedShape: existing.shape)
                        Elementwise.add(existing.elementPointer, g.elementPointer, sum.elementPointer, existing.count)
                        t.grad = sum
                    } else {
                        t.grad = g.storage === t.storage ? g.copy() : g
                    }
                    // every contribution has arrived: the leaf's gradient is final
                    if let hooks = t.postAccumulateGradHooks { for h in hooks { h.run(t) } }
                    continue
                }
                // a tensor no gradient reached still releases its inputs
                let inputGrads: [Tensor?] = g.map { g in Profiler.measure("backward \(node.name)") { node.run(g, retainGraph: retainGraph) } } ?? []
                for (i, input) in node.inputs.enumerated() where input.requiresGrad {
                    let key = ObjectIdentifier(input)
                    if i < inputGrads.count, let ig = inputGrads[i] {
                        checkArgument(ig.shape == input.shape, "internal: \(node.name) gradient shape \(ig.shape) for input \(input.shape)")
                        let igc = ig.contiguous()
                        if let prev = grads[key] {
                            let sum = Tensor(uninitializedShape: prev.shape)
                            Elementwise.add(prev.elementPointer, igc.elementPointer, sum.elementPointer, prev.count)
                            grads[key] = sum
                        } else {
                            grads[key] = igc
                        }
                    }
                    let left = pending[key, default: 1] - 1
                    pending[key] = left
                    if left == 0 { ready.append(input) }
                }
            }
        }
    }

    /// PyTorch's `backward(gradient=…, retain_graph=…)` with labels, for non-scalar outputs.
    public func backward(gradient: Tensor, retainGraph: Bool = false) { backward(gradient, retainGraph: retainGraph) }

    /// Clears the accumulated gradient.
    public func zeroGrad() { grad = nil }

    /// The name of the recorded operation that produced this tensor (`"ReluBackward0"`), nil for leaves.
    public var gradFnName: String? { gradFn?.displayName }
}

extension Tensor {
    /// Records a custom differentiable operation (as `torch.autograd.Function`): `result` was
    /// computed from `inputs`, and `backward` maps the result's gradient to one per input.
    public static func recordOp(_ result: Tensor, _ name: String, _ inputs: [Tensor],
                                _ backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        record(result, name, inputs, backward)
    }

    /// A tensor of `shape` whose contents are unspecified (for code that writes every element).
    public static func empty(_ shape: [Int]) -> Tensor { Tensor(uninitializedShape: shape) }
}
