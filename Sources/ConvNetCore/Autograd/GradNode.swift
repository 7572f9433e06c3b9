/// One recorded operation: its inputs and how to turn the output's gradient into theirs.
final class GradNode {
    let name: String
    let inputs: [Tensor]
    /// Given the gradient of the output, the gradient for each input (nil where none is needed).
    let backward: (Tensor) -> [Tensor?]

    init(name: String, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.backward = backward
    }
}

extension Tensor {
    /// Wraps an op's result, recording `backward` when any input needs a gradient.
    static func record(_ result: Tensor, _ name: String, _ inputs: [Tensor],
                       _ backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        guard GradMode.isEnabled, inputs.contains(where: { $0.requiresGrad }) else { return result }
        result.gradFn = GradNode(name: name, inputs: inputs, backward: backward)
        result.requiresGrad = true
        return result
    }

    /// Back-propagates from this tensor. For a scalar the seed gradient is 1; otherwise pass
    /// `gradient` with this tensor's shape. Leaf tensors that require a gradient accumulate
    /// into `.grad`; a tensor used twice receives both contributions.
    public func backward(_ gradient: Tensor? = nil) {
        checkArgument(requiresGrad, "element 0 of tensors does not require grad and does not have a grad_fn")
        let seed: Tensor
        if let g = gradient {
            checkArgument(g.shape == shape, "backward: gradient shape \(g.shape) does not match tensor shape \(shape)")
            seed = g
        } else {
            checkArgument(count == 1, "grad can be implicitly created only for scalar outputs (shape \(shape))")
            seed = Tensor(shape: shape, repeating: 1)
        }
        // Topological order by iterative depth-first search over recorded nodes.
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (t, expanded) = stack.popLast() {
            if expanded { order.append(t); continue }
            if !visited.insert(ObjectIdentifier(t)).inserted { continue }
            stack.append((t, true))
            if let node = t.gradFn {
                for input in node.inputs where input.requiresGrad && !visited.contains(ObjectIdentifier(input)) {
                    stack.append((input, false))
                }
            }
        }
        var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seed]
        withNoGrad {
            for t in order.reversed() {
                guard let g = grads.removeValue(forKey: ObjectIdentifier(t)) else { continue }
                guard let node = t.gradFn else {
                    if let existing = t.grad {
                        let sum = Tensor(uninitializedShape: existing.shape)
                        Elementwise.add(existing.data, g.data, sum.data, existing.count)
                        t.grad = sum
                    } else {
                        t.grad = g.storage === t.storage ? g.copy() : g
                    }
                    continue
                }
                let inputGrads = Profiler.measure("backward \(node.name)") { node.backward(g) }
                for (input, ig) in zip(node.inputs, inputGrads) {
                    guard let ig, input.requiresGrad else { continue }
                    checkArgument(ig.shape == input.shape, "internal: \(node.name) gradient shape \(ig.shape) for input \(input.shape)")
                    let key = ObjectIdentifier(input)
                    if let prev = grads[key] {
                        let sum = Tensor(uninitializedShape: prev.shape)
                        Elementwise.add(prev.data, ig.data, sum.data, prev.count)
                        grads[key] = sum
                    } else {
                        grads[key] = ig
                    }
                }
            }
        }
    }

    /// Clears the accumulated gradient.
    public func zeroGrad() { grad = nil }
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
