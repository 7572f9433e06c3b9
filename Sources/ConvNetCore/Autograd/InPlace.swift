/// In-place operations, as PyTorch's `add_`, `mul_`, `fill_`, `copy_`…: they write into this
/// tensor's elements (through a view, into the tensor it views) and keep autograd correct.
///
/// Without recording (inside `withNoGrad`, or when nothing involved requires a gradient) the new
/// values are simply written. With recording, the op is computed out of place from the old values
/// and written back; this tensor's history becomes that op (for a view, its base's history becomes
/// "the old base with the view's elements replaced", PyTorch's CopySlices). Every write bumps the
/// storage's version, so a backward that still needs the old values reports the change.
extension Tensor {
    @discardableResult
    func writeInPlace(_ name: String, operands: [Tensor], needsOldValue: Bool, traced: OpTrace.Kind? = nil,
                      _ compute: @escaping (Tensor) -> Tensor) -> Tensor {
        if OpTrace.activeCount > 0, let trace = OpTrace.current, trace.depth == 0 {
            // in a traced forward, an in-place op on a traced value is a new value of the same tensor
            guard trace.isTracedValue(self), viewBase == nil, !trace.storageIsViewed(self) else {
                // a write through a view, or into state kept outside the forward: a replay would miss it
                trace.fail("\(name) writes through a view or into a tensor from outside the forward")
                return writeInPlaceEagerly(name, operands: operands, needsOldValue: needsOldValue, compute)
            }
            let inputs = [self] + operands
            trace.depth += 1
            writeInPlaceEagerly(name, operands: operands, needsOldValue: needsOldValue, compute)
            trace.depth -= 1
            // an op's replay reads its operands from the graph: ops with operands say how (`traced`)
            if traced == nil && !operands.isEmpty { trace.fail("\(name) with a tensor operand has no replay form") }
            trace.append(traced ?? .other(name, { ins in compute(ins[0]) }), inputs: inputs, output: self)
            return self
        }
        return writeInPlaceEagerly(name, operands: operands, needsOldValue: needsOldValue, compute)
    }

    @discardableResult
    private func writeInPlaceEagerly(_ name: String, operands: [Tensor], needsOldValue: Bool, _ compute: (Tensor) -> Tensor) -> Tensor {
        checkArgument(!isUninitialized, "\(name): the tensor is an uninitialized parameter of a lazy layer; run a forward pass or load a state dict first")
        checkArgument(zip(shape, strides).allSatisfy { $0.0 <= 1 || $0.1 != 0 },
                      "unsupported operation: more than one element of the written-to tensor refers to a single memory location. Please clone() the tensor before performing the operation.")
        let root = viewBase ?? self
        let recording = GradMode.isEnabled && (requiresGrad || root.requiresGrad || operands.contains { $0.requiresGrad })
        guard recording else {
            let result = withNoGrad { compute(self) }
            write(result, op: name)
            return self
        }
        checkArgument(!(root.isLeaf && root.requiresGrad),
                      viewBase == nil ? "a leaf Variable that requires grad is being used in an in-place operation."
                                      : "a view of a leaf Variable that requires grad is being used in an in-place operation.")
        if let base = viewBase {
            checkArgument(base.isContiguous, "\(name): in-place autograd through a view of a non-contiguous detached tensor is not supported; call contiguous() on it first")
            let region = (shape: shape, strides: strides, offset: storageOffset - base.storageOffset)
            let priorBase = base.historyShell()
            let oldView = priorBase.regionView(region, name: "as_strided")
            let result = compute(needsOldValue ? oldView.clone() : oldView)
            write(result, op: name)
            // the base is now the old base with this region replaced by `result`
            base.gradFn = GradNode(name: "copy_slices", inputs: [priorBase, result], saving: []) { g in
                let gBase = g.copy()
                Tensor(shape: region.shape, storage: gBase.storage, strides: region.strides, offset: region.offset).fillRaw(0)
                let gRegion = Tensor(shape: region.shape, storage: g.storage, strides: region.strides, offset: region.offset + g.storageOffset)
                return [gBase, gRegion.copy()]
            }
            base._requiresGrad = true
            // and this view reads the new base
            gradFn = GradNode(name: "as_strided", inputs: [base], saving: []) { g in [Tensor.scatterRegion(g, region, into: base.shape)] }
            _requiresGrad = true
        } else {
            let prior = historyShell()
            let result = compute(needsOldValue ? prior.clone() : prior)
            write(result, op: name)
            if result.requiresGrad {
                gradFn = GradNode(name: name, inputs: [result], saving: []) { g in [g] }
                _requiresGrad = true
            } else {
                gradFn = nil
                _requiresGrad = false
            }
        }
        return self
    }

    /// A tensor sharing this one's elements and carrying its current history (the "before" of an
    /// in-place write, so the graph has no cycle once this tensor's history is replaced).
    private func historyShell() -> Tensor {
        let t = Tensor(shape: shape, storage: storage, strides: strides, offset: storageOffset, dtype: dtype)
        t.gradFn = gradFn
        t._requiresGrad = _requiresGrad
        return t
    }

    /// Writes `result` (broadcast to this shape) into the elements and bumps the version.
    private func write(_ result: Tensor, op: String) {
        checkArgument(Broadcast.shape(result.shape, shape) == shape,
                      "\(op): output with shape \(shape) doesn't match the broadcast shape \(Broadcast.shape(result.shape, shape))")
        var src = result.shape == shape ? result : result.detached().expand(shape)
        if !src.isContiguous || src.storage === storage { src = src.copy() }
        scatter(from: src.elementPointer)
        if dtype.isInteger && !result.dtype.isInteger {
            // an integer tensor keeps integers: PyTorch truncates the written values toward zero
            forEachOffset { storage.pointer[$0].round(.towardZero) }
        }
        storage.version &+= 1
    }

    /// Sets every element of this (possibly strided) tensor, unrecorded, without bumping the version.
    func fillRaw(_ value: Float) {
        if isContiguous { (storage.pointer + storageOffset).update(repeating: value, count: count); return }
        let p = storage.pointer
        forEachOffset { p[$0] = value }
    }

    /// A recorded view of this (contiguous) tensor's elements at `region` (offset relative to its start).
    func regionView(_ region: (shape: [Int], strides: [Int], offset: Int), name: String) -> Tensor {
        let baseShape = shape
        return makeView(shape: region.shape, strides: region.strides, offset: storageOffset + region.offset, name) { g in
            [Tensor.scatterRegion(g, region, into: baseShape)]
        }
    }

    /// Zeros of `shape` with `g` written at `region` (added where the region repeats elements).
    static func scatterRegion(_ g: Tensor, _ region: (shape: [Int], strides: [Int], offset: Int), into shape: [Int]) -> Tensor {
        let out = Tensor(shape: shape, repeating: 0)
        let view = Tensor(shape: region.shape, storage: out.storage, strides: region.strides, offset: region.offset)
        let gc = g.contiguous(), src = gc.elementPointer, p = out.storage.pointer
        var i = 0
        view.forEachOffset { p[$0] += src[i]; i += 1 }
        return out
    }

    // MARK: PyTorch's in-place spellings

    /// `self += alpha · other` in place (PyTorch's `add_`).
    @discardableResult
    public func add_(_ other: Tensor, alpha: Float = 1) -> Tensor {
        writeInPlace("add_", operands: [other], needsOldValue: false, traced: alpha == 1 ? .add : nil) { $0 + (alpha == 1 ? other : other * alpha) }
    }
    /// Adds a scalar in place (PyTorch's `add_`).
    @discardableResult
    public func add_(_ value: Float) -> Tensor { writeInPlace("add_", operands: [], needsOldValue: false) { $0 + value } }
    /// `self -= alpha · other` in place (PyTorch's `sub_`).
    @discardableResult
    public func sub_(_ other: Tensor, alpha: Float = 1) -> Tensor {
        writeInPlace("sub_", operands: [other], needsOldValue: false, traced: .other("sub_", { $0[0] - $0[1] * alpha })) { $0 - (alpha == 1 ? other : other * alpha) }
    }
    /// Subtracts a scalar in place (PyTorch's `sub_`).
    @discardableResult
    public func sub_(_ value: Float) -> Tensor { writeInPlace("sub_", operands: [], needsOldValue: false) { $0 - value } }
    /// Multiplies in place (PyTorch's `mul_`).
    @discardableResult
    public func mul_(_ other: Tensor) -> Tensor {
        writeInPlace("mul_", operands: [other], needsOldValue: true, traced: .other("mul_", { $0[0] * $0[1] })) { $0 * other }
    }
    /// Multiplies by a scalar in place (PyTorch's `mul_`).
    @discardableResult
    public func mul_(_ value: Float) -> Tensor { writeInPlace("mul_", operands: [], needsOldValue: true) { $0 * value } }
    /// Divides in place (PyTorch's `div_`).
    @discardableResult
    public func div_(_ other: Tensor) -> Tensor {
        writeInPlace("div_", operands: [other], needsOldValue: true, traced: .other("div_", { $0[0] / $0[1] })) { $0 / other }
    }
    /// Divides by a scalar in place (PyTorch's `div_`).
    @discardableResult
    public func div_(_ value: Float) -> Tensor { writeInPlace("div_", operands: [], needsOldValue: true) { $0 / value } }
    /// Sets every element to `value` (PyTorch's `fill_`).
    @discardableResult
    public func fill_(_ value: Float) -> Tensor {
        writeInPlace("fill_", operands: [], needsOldValue: false) { Tensor(shape: $0.shape, repeating: value) }
    }
    /// Sets every element to zero (PyTorch's `zero_`).
    @discardableResult
    public func zero_() -> Tensor { fill_(0) }
    /// Copies `source` (broadcast to this shape) into the elements (PyTorch's `copy_`).
    @discardableResult
    public func copy_(_ source: Tensor) -> Tensor {
        writeInPlace("copy_", operands: [source], needsOldValue: false,
                     traced: .other("copy_", { $0[1].expand($0[0].shape).contiguous() })) { _ in source }
    }
    /// Limits the elements to [min, max] in place (PyTorch's `clamp_`).
    @discardableResult
    public func clamp_(min lo: Float = -.infinity, max hi: Float = .infinity) -> Tensor {
        writeInPlace("clamp_", operands: [], needsOldValue: true) { $0.clamp(min: lo, max: hi) }
    }
    /// Rectifies in place (PyTorch's `relu_`).
    @discardableResult
    public func relu_() -> Tensor { writeInPlace("relu_", operands: [], needsOldValue: true) { $0.relu() } }

    // Compound assignment changes the tensor in place, as in PyTorch: every holder of this tensor
    // (an optimiser, a model) sees the new values. `let`-bound tensors work too, so D2L's
    // `for p in params { p -= lr * p.grad! }` updates the parameters (inside `withNoGrad`).
    /// Adds `b` (broadcast) to `a` in place, as `a.add_(b)`; PyTorch's `a += b`.
    public static func += (a: Tensor, b: Tensor) { a.add_(b) }
    /// Subtracts `b` (broadcast) from `a` in place, as `a.sub_(b)`; PyTorch's `a -= b`.
    public static func -= (a: Tensor, b: Tensor) { a.sub_(b) }
    /// Multiplies `a` by `b` (broadcast) in place, as `a.mul_(b)`; PyTorch's `a *= b`.
    public static func *= (a: Tensor, b: Tensor) { a.mul_(b) }
    /// Divides `a` by `b` (broadcast) in place, as `a.div_(b)`; PyTorch's `a /= b`.
    public static func /= (a: Tensor, b: Tensor) { a.div_(b) }
    /// Adds the scalar `s` to every element of `a` in place; PyTorch's `a += s`.
    public static func += (a: Tensor, s: Float) { a.add_(s) }
    /// Subtracts the scalar `s` from every element of `a` in place; PyTorch's `a -= s`.
    public static func -= (a: Tensor, s: Float) { a.sub_(s) }
    /// Multiplies every element of `a` by `s` in place; PyTorch's `a *= s`.
    public static func *= (a: Tensor, s: Float) { a.mul_(s) }
    /// Divides every element of `a` by `s` in place; PyTorch's `a /= s`.
    public static func /= (a: Tensor, s: Float) { a.div_(s) }
}
