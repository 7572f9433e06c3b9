/// An n-dimensional array with reverse-mode autograd, in PyTorch's layout (row-major, NCHW).
///
/// `Tensor` is a class: a tensor has identity, as in PyTorch. Binding it to another name does not
/// copy it; in-place operations (`add_`, `x[0] = …`, `p -= lr * g`) change every holder's view
/// of it; `clone()` makes an independent copy. Views (`narrow`, `select`, subscripts, `transpose`,
/// `permute`, `view`/`reshape`, `expand`) share the elements of the tensor they view, as PyTorch's
/// do. Operations return new tensors; when gradient recording is on and an input requires a
/// gradient, the result remembers how to propagate one back (see `backward()`).
///
/// Elements are stored as Float32 whatever the ``dtype``: integer and Boolean tensors (class
/// labels, `argmax` results, comparisons) hold exact integers up to 2²⁴.
public final class Tensor: @unchecked Sendable {
    /// The size of each dimension (PyTorch's `shape`/`size()`).
    @exclusivity(unchecked) public internal(set) var shape: [Int]
    /// The step in elements between neighbours along each dimension (PyTorch's `stride()`).
    public var strides: [Int] { _strides ?? Tensor.contiguousStrides(shape) }
    /// Explicit strides of a view; nil for the row-major layout (most tensors: no array to allocate).
    @exclusivity(unchecked) private var _strides: [Int]?
    /// Where this tensor's first element lies in `storage` (PyTorch's `storage_offset()`).
    @exclusivity(unchecked) public internal(set) var storageOffset: Int
    /// The element buffer, shared by views of one tensor.
    @exclusivity(unchecked) public internal(set) var storage: TensorStorage
    /// What the elements mean: floating point, integer or Boolean (PyTorch's `dtype`).
    @exclusivity(unchecked) public internal(set) var dtype: DType
    /// Whether the elements lie in row-major order without gaps (PyTorch's `is_contiguous()`).
    @exclusivity(unchecked) public private(set) var isContiguous: Bool
    /// The gradient accumulated by `backward()` (leaves that require a gradient only).
    @exclusivity(unchecked) public var grad: Tensor?
    /// The recorded operation that produced this tensor, nil for leaves.
    @exclusivity(unchecked) var gradFn: GradNode?
    /// Hooks run after `backward()` has accumulated this leaf's gradient (see
    /// `registerPostAccumulateGradHook(_:)`); nil for almost every tensor.
    @exclusivity(unchecked) var postAccumulateGradHooks: [PostAccumulateGradHook]?
    /// For a view: the tensor it views (never itself a view), whose history an in-place write
    /// through the view rewrites.
    @exclusivity(unchecked) var viewBase: Tensor?
    /// A lazy layer's parameter before its first forward (PyTorch's `UninitializedParameter`).
    @exclusivity(unchecked) public internal(set) var isUninitialized = false
    @exclusivity(unchecked) var _requiresGrad = false

    /// Whether operations on this tensor are recorded so a gradient can flow back to it.
    /// Set it on leaves (parameters, inputs); results of recorded ops have it set automatically.
    public var requiresGrad: Bool {
        get { _requiresGrad }
        set {
            checkArgument(gradFn == nil || newValue,
                          "you can only change requires_grad flags of leaf variables. Use detach() to get a tensor without history")
            _requiresGrad = newValue
        }
    }

    /// Whether no recorded operation produced this tensor.
    public var isLeaf: Bool { gradFn == nil }

    init(shape: [Int], storage: TensorStorage, strides: [Int]? = nil, offset: Int = 0, dtype: DType = .float32) {
        checkArgument(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        self.shape = shape
        self.storageOffset = offset
        self.storage = storage
        self.dtype = dtype
        if let strides {
            let extent = shape.contains(0) ? 0 : zip(shape, strides).reduce(1) { $0 + ($1.0 - 1) * $1.1 }
            checkArgument(offset >= 0 && storage.count >= offset + extent,
                          "storage of \(storage.count) elements is too small for shape \(shape) at offset \(offset)")
            let contiguous = Tensor.isContiguous(shape: shape, strides: strides)
            self._strides = contiguous ? nil : strides
            self.isContiguous = contiguous
        } else {
            checkArgument(offset >= 0 && storage.count >= offset + shape.reduce(1, *),
                          "storage of \(storage.count) elements is too small for shape \(shape) at offset \(offset)")
            self._strides = nil
            self.isContiguous = true
        }
    }

    /// A tensor with the given shape and uninitialised contents (for kernels that fill every element).
    convenience init(uninitializedShape shape: [Int], dtype: DType = .float32) {
        self.init(shape: shape, storage: TensorStorage(count: shape.reduce(1, *)), dtype: dtype)
    }

    /// A tensor from row-major scalars; `scalars.count` must equal the product of `shape`.
    public convenience init(shape: [Int], scalars: [Float]) {
        checkArgument(shape.reduce(1, *) == scalars.count,
                     "shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
        self.init(shape: shape, storage: TensorStorage(scalars))
    }

    /// A tensor filled with one value.
    public convenience init(shape: [Int], repeating value: Float) {
        self.init(shape: shape, storage: TensorStorage(repeating: value, count: shape.reduce(1, *)))
    }

    /// A 0-dimensional tensor holding one scalar.
    public convenience init(_ value: Float) { self.init(shape: [], scalars: [value]) }

    /// A 1-dimensional tensor.
    public convenience init(_ scalars: [Float]) { self.init(shape: [scalars.count], scalars: scalars) }

    /// A 2-dimensional tensor from rows of equal length.
    public convenience init(_ rows: [[Float]]) {
        let cols = rows.first?.count ?? 0
        checkArgument(rows.allSatisfy { $0.count == cols }, "rows of a 2-D tensor must have equal lengths")
        self.init(shape: [rows.count, cols], scalars: rows.flatMap { $0 })
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// The elements in row-major order (PyTorch's `flatten().tolist()`).
    public var scalars: [Float] {
        OpTrace.noteRead(self)
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let base = buffer.baseAddress { gather(into: base) }
            initialized = count
        }
    }

    /// Pointer to the elements of a contiguous tensor, valid while the tensor lives; reaching it
    /// with a non-contiguous view is an error (call `contiguous()` first). Code that writes through
    /// it must call `markModifiedInPlace()` afterwards, as autograd goes by the tensor's version.
    /// The engine cannot see writes through the pointer, so once it has been handed out the
    /// elements are never kept in a kernel's packed layout between inference calls.
    public var data: UnsafeMutablePointer<Float> {
        let p = elementPointer
        storage.noteExposed()
        return p
    }

    /// `data` for the library's own kernels, layers and optimisers, which report their writes
    /// through the version (`markModifiedInPlace()`, `copy_`, `assign`).
    package var elementPointer: UnsafeMutablePointer<Float> {
        checkArgument(!isUninitialized, "an uninitialized parameter of a lazy layer was used before the layer's first forward (or a loadStateDict) gave it a shape")
        OpTrace.noteRead(self)
        checkArgument(isContiguous, "internal: raw data of a non-contiguous view of shape \(shape), strides \(strides); call contiguous() first")
        return storage.pointer + storageOffset
    }

    /// The single value of a one-element tensor (PyTorch's `item()`).
    public func item() -> Float {
        OpTrace.noteRead(self)
        checkArgument(count == 1, "item() needs a one-element tensor, got shape \(shape) (a Tensor with \(count) elements cannot be converted to Scalar)")
        return storage.pointer[storageOffset]
    }

    /// Size of dimension `dim` (negative counts from the end).
    public func size(_ dim: Int) -> Int { shape[normalizeDim(dim, rank: rank)] }

    /// The same elements, cut off from the autograd graph (PyTorch's `detach()`): it shares storage,
    /// so an in-place change to either shows in both.
    public func detached() -> Tensor {
        Tensor(shape: shape, storage: storage, strides: strides, offset: storageOffset, dtype: dtype)
    }

    /// PyTorch's `detach()`; the same as `detached()`.
    public func detach() -> Tensor { detached() }

    /// An independent contiguous copy of the values, without autograd history.
    public func copy() -> Tensor {
        let out = Tensor(uninitializedShape: shape, dtype: dtype)
        gather(into: out.storage.pointer)
        return out
    }

    /// Overwrites this tensor's elements in place with `other`'s (equal element counts; not recorded).
    public func assign(_ other: Tensor) {
        checkArgument(other.count == count, "cannot assign a tensor of shape \(other.shape) to one of shape \(shape)")
        let src = other.isContiguous ? other : other.copy()
        scatter(from: src.elementPointer)
        storage.version &+= 1
    }

    /// Fills this tensor (or the part of a tensor it views) with one value in place, as `fill_`.
    public func fill(_ value: Float) { fill_(value) }

    /// How many in-place writes the elements have had (PyTorch's `_version`); autograd compares it
    /// with the version a recorded operation saved.
    public var version: Int { storage.version }

    /// Records an in-place write made through `data` (optimisers, initialisers), so a backward that
    /// saved the old values reports the change instead of using the new ones.
    public func markModifiedInPlace() { storage.version &+= 1 }

    // MARK: lazy parameters

    /// A parameter (or buffer) whose shape is not known yet, as PyTorch's `UninitializedParameter`:
    /// a lazy layer holds one from the start, so `parameters()` lists it and an optimiser built
    /// before the first forward updates it once `materialize(with:)` has given it values.
    public static func uninitialized(requiresGrad: Bool) -> Tensor {
        let t = Tensor(shape: [0], storage: TensorStorage(count: 0))
        t.isUninitialized = true
        t._requiresGrad = requiresGrad
        return t
    }

    /// Gives an uninitialized tensor the shape and values of `values`, in place (PyTorch's
    /// `materialize`): every holder of this tensor sees them.
    public func materialize(with values: Tensor) {
        checkArgument(isUninitialized, "materialize(with:) is for uninitialized parameters; use copy_ to overwrite values")
        let c = values.copy()
        shape = c.shape; _strides = nil; storageOffset = 0; storage = c.storage
        TensorStorage.bumpWriteEpoch()
        isContiguous = true
        isUninitialized = false
    }

    // MARK: layout

    /// Row-major strides for `shape`.
    static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var st = [Int](repeating: 1, count: shape.count)
        var s = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) { st[i] = s; s *= Swift.max(shape[i], 1) }
        return st
    }

    static func isContiguous(shape: [Int], strides: [Int]) -> Bool {
        var expected = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) where shape[i] != 1 {
            if strides[i] != expected { return false }
            expected *= shape[i]
        }
        return true
    }

    /// Calls `body` with the storage index of every element, in row-major order.
    func forEachOffset(_ body: (Int) -> Void) {
        let n = count
        if n == 0 { return }
        if rank == 0 { body(storageOffset); return }
        let st = strides
        let r = rank, inner = shape[r - 1], innerStride = st[r - 1]
        var idx = [Int](repeating: 0, count: r)
        var base = storageOffset
        for _ in 0..<(n / inner) {
            for j in 0..<inner { body(base + j * innerStride) }
            var k = r - 2
            while k >= 0 {
                idx[k] += 1; base += st[k]
                if idx[k] < shape[k] { break }
                base -= st[k] * idx[k]; idx[k] = 0; k -= 1
            }
        }
    }

    /// Copies the elements, row-major, to `dst`.
    func gather(into dst: UnsafeMutablePointer<Float>) {
        if isContiguous { dst.update(from: storage.pointer + storageOffset, count: count); return }
        let p = storage.pointer
        var i = 0
        forEachOffset { dst[i] = p[$0]; i += 1 }
    }

    /// Writes row-major values from `src` into the elements.
    func scatter(from src: UnsafePointer<Float>) {
        if isContiguous { (storage.pointer + storageOffset).update(from: src, count: count); return }
        let p = storage.pointer
        var i = 0
        forEachOffset { p[$0] = src[i]; i += 1 }
    }

    /// A contiguous tensor with these values: this tensor itself when it already is (PyTorch's
    /// `contiguous()`); otherwise a recorded copy.
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        let out = copy()
        return Tensor.record(out, "clone", [self], saving: []) { g in [g] }
    }

    /// An independent copy with the same values that gradients flow through (PyTorch's `clone()`).
    public func clone() -> Tensor {
        Tensor.record(copy(), "clone", [self], saving: []) { g in [g] }
    }
}

/// The element type a tensor stands for (all are stored as Float32; see ``Tensor``).
public enum DType: String, Sendable, CustomStringConvertible {
    /// `torch.float32`.
    case float32
    /// `torch.int64`: class labels and indices.
    case int64
    /// `torch.bool`: comparison results.
    case bool

    /// Whether values are whole numbers (int64 or bool).
    public var isInteger: Bool { self != .float32 }
    /// PyTorch's name: `torch.float32`, `torch.int64` or `torch.bool`.
    public var description: String { "torch." + rawValue }

    /// PyTorch's type promotion for a binary op: floating point wins, then integers, then Booleans.
    static func promote(_ a: DType, _ b: DType) -> DType {
        if a == .float32 || b == .float32 { return .float32 }
        if a == .int64 || b == .int64 { return .int64 }
        return .bool
    }
}

/// Maps a possibly negative dimension index into 0..<rank, failing with a PyTorch-style message.
@inline(__always)
public func normalizeDim(_ dim: Int, rank: Int) -> Int {
    let r = Swift.max(rank, 1)
    checkArgument(dim >= -r && dim < r, "Dimension out of range (expected to be in range of [\(-r), \(r - 1)], but got \(dim))")
    return dim < 0 ? dim + r : dim
}
