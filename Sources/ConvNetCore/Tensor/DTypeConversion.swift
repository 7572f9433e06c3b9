extension Tensor {
    /// An int64 tensor (PyTorch's `torch.tensor([1, 2, 3])`): `Tensor([1, 2, 3] as [Int])`.
    /// Plain literals still build Float32 tensors (`Tensor([1, 2, 3])`), as Swift infers `[Float]`.
    @_disfavoredOverload
    public convenience init(_ values: [Int]) { self.init(indices: values, shape: [values.count]) }

    /// An int64 tensor of `shape` from row-major values.
    public convenience init(shape: [Int], integers: [Int]) {
        checkArgument(shape.reduce(1, *) == integers.count, "shape \(shape) needs \(shape.reduce(1, *)) values, got \(integers.count)")
        self.init(indices: integers, shape: shape)
    }

    /// A Boolean tensor (PyTorch's `torch.tensor([True, False])`).
    public convenience init(_ values: [Bool]) {
        self.init(shape: [values.count], storage: TensorStorage(values.map { $0 ? 1 : 0 }), dtype: .bool)
    }

    convenience init(indices: [Int], shape: [Int]) {
        checkArgument(indices.allSatisfy { Swift.abs($0) <= 1 << 24 }, "integer tensors hold values up to 2^24 exactly (Float32 storage)")
        self.init(shape: shape, storage: TensorStorage(indices.map(Float.init)), dtype: .int64)
    }

    /// The values as integers (int64 and bool tensors; floats are truncated toward zero).
    public var integers: [Int] { scalars.map { Int($0) } }

    /// PyTorch's `tolist()` for a flat view: the values in row-major order.
    public func tolist() -> [Float] { scalars }

    /// This tensor as `dtype` (PyTorch's `to(dtype)`): itself when it already is; otherwise a copy,
    /// integers truncated toward zero, Booleans as nonzero. Not differentiable into integers.
    public func to(_ dtype: DType) -> Tensor {
        if dtype == self.dtype { return self }
        switch dtype {
        case .float32:
            let out = copy(); out.dtype = .float32
            return out
        case .int64:
            let out = withNoGrad { mapValues { $0.rounded(.towardZero) } }; out.dtype = .int64
            return out
        case .bool:
            let out = withNoGrad { mapValues { $0 != 0 ? 1 : 0 } }; out.dtype = .bool
            return out
        }
    }

    /// PyTorch's `float()`.
    public func float() -> Tensor {
        guard dtype != .float32 else { return self }
        return to(.float32)
    }
    /// PyTorch's `long()`.
    public func long() -> Tensor { to(.int64) }
    /// PyTorch's `bool()`.
    public func bool() -> Tensor { to(.bool) }
}
