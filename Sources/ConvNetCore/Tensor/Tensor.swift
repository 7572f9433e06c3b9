/// An n-dimensional array of Float32 in row-major (C, NCHW) order, with reverse-mode autograd.
///
/// A `Tensor` is a reference, as in PyTorch: layers hold their parameters as tensors, optimisers
/// update them in place, and every model sees the update. Operations return new tensors; when
/// gradient recording is on and an input requires a gradient, the result remembers how to
/// propagate one back (see `backward()`).
public final class Tensor: @unchecked Sendable {
    /// The size of each dimension.
    public let shape: [Int]
    /// The shared element buffer; `shape` reads `count` elements of it from the start.
    public let storage: TensorStorage
    /// The gradient accumulated by `backward()` (leaves that require a gradient only).
    public var grad: Tensor?
    /// The recorded operation that produced this tensor, nil for leaves.
    var gradFn: GradNode?
    private var _requiresGrad = false

    /// Whether operations on this tensor are recorded so a gradient can flow back to it.
    /// Set it on leaves (parameters, inputs); results of recorded ops have it set automatically.
    public var requiresGrad: Bool {
        get { _requiresGrad }
        set {
            checkArgument(gradFn == nil || newValue, "requiresGrad can only be cleared on a leaf tensor; use detached()")
            _requiresGrad = newValue
        }
    }

    /// Whether no recorded operation produced this tensor.
    public var isLeaf: Bool { gradFn == nil }

    init(shape: [Int], storage: TensorStorage) {
        checkArgument(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        checkArgument(storage.count >= shape.reduce(1, *), "storage of \(storage.count) elements is too small for shape \(shape)")
        self.shape = shape
        self.storage = storage
    }

    /// A tensor with the given shape and uninitialised contents (for kernels that fill every element).
    convenience init(uninitializedShape shape: [Int]) {
        self.init(shape: shape, storage: TensorStorage(count: shape.reduce(1, *)))
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
    /// The elements in row-major order.
    public var scalars: [Float] { Array(UnsafeBufferPointer(start: storage.pointer, count: count)) }
    /// Read-only pointer to the elements (valid while the tensor lives).
    public var data: UnsafeMutablePointer<Float> { storage.pointer }

    /// The single value of a one-element tensor.
    public func item() -> Float {
        checkArgument(count == 1, "item() needs a one-element tensor, got shape \(shape)")
        return storage.pointer[0]
    }

    /// Size of dimension `dim` (negative counts from the end).
    public func size(_ dim: Int) -> Int { shape[normalizeDim(dim, rank: rank)] }

    /// The same values, cut off from the autograd graph.
    public func detached() -> Tensor { Tensor(shape: shape, storage: storage) }

    /// An independent copy of the values (no autograd history).
    public func copy() -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        out.storage.pointer.update(from: storage.pointer, count: count)
        return out
    }

    /// Overwrites this tensor's values in place (shapes must have equal element counts). Not recorded.
    public func assign(_ other: Tensor) {
        checkArgument(other.count == count, "cannot assign a tensor of shape \(other.shape) to one of shape \(shape)")
        storage.pointer.update(from: other.storage.pointer, count: count)
    }

    /// Fills this tensor with one value in place. Not recorded.
    public func fill(_ value: Float) { storage.pointer.update(repeating: value, count: count) }
}

/// Maps a possibly negative dimension index into 0..<rank, failing with a PyTorch-style message.
@inline(__always)
public func normalizeDim(_ dim: Int, rank: Int) -> Int {
    let r = Swift.max(rank, 1)
    checkArgument(dim >= -r && dim < r, "Dimension out of range (expected to be in range of [\(-r), \(r - 1)], but got \(dim))")
    return dim < 0 ? dim + r : dim
}
