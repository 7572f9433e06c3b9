/// Elementwise comparisons giving Boolean tensors, as PyTorch's `x > 0` and `x == y`. Equality is
/// spelled `.==`/`.!=` (Swift's elementwise operators, as for SIMD vectors) because `==` on a
/// class means identity to Swift; the ordering operators keep their PyTorch spelling.
extension Tensor {
    private static func compare(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Bool) -> Tensor {
        let out = withNoGrad { broadcastZip(a, b) { f($0, $1) ? 1 : 0 } }
        out.dtype = .bool
        return out
    }

    /// Elementwise equality as a Boolean tensor (broadcast); PyTorch's `a == b`.
    public static func .== (a: Tensor, b: Tensor) -> Tensor { compare(a, b, ==) }
    /// Elementwise inequality as a Boolean tensor (broadcast); PyTorch's `a != b`.
    public static func .!= (a: Tensor, b: Tensor) -> Tensor { compare(a, b, !=) }
    /// Elementwise equality with a scalar as a Boolean tensor; PyTorch's `a == s`.
    public static func .== (a: Tensor, b: Float) -> Tensor { compare(a, Tensor(b), ==) }
    /// Elementwise inequality with a scalar as a Boolean tensor; PyTorch's `a != s`.
    public static func .!= (a: Tensor, b: Float) -> Tensor { compare(a, Tensor(b), !=) }
    /// Elementwise `a > b` as a Boolean tensor (broadcast), as in PyTorch.
    public static func > (a: Tensor, b: Tensor) -> Tensor { compare(a, b, >) }
    /// Elementwise `a < b` as a Boolean tensor (broadcast), as in PyTorch.
    public static func < (a: Tensor, b: Tensor) -> Tensor { compare(a, b, <) }
    /// Elementwise `a >= b` as a Boolean tensor (broadcast), as in PyTorch.
    public static func >= (a: Tensor, b: Tensor) -> Tensor { compare(a, b, >=) }
    /// Elementwise `a <= b` as a Boolean tensor (broadcast), as in PyTorch.
    public static func <= (a: Tensor, b: Tensor) -> Tensor { compare(a, b, <=) }
    /// Elementwise `a > s` as a Boolean tensor, as in PyTorch.
    public static func > (a: Tensor, b: Float) -> Tensor { compare(a, Tensor(b), >) }
    /// Elementwise `a < s` as a Boolean tensor, as in PyTorch.
    public static func < (a: Tensor, b: Float) -> Tensor { compare(a, Tensor(b), <) }
    /// Elementwise `a >= s` as a Boolean tensor, as in PyTorch.
    public static func >= (a: Tensor, b: Float) -> Tensor { compare(a, Tensor(b), >=) }
    /// Elementwise `a <= s` as a Boolean tensor, as in PyTorch.
    public static func <= (a: Tensor, b: Float) -> Tensor { compare(a, Tensor(b), <=) }

    /// Whether every element is nonzero (PyTorch's `all()`).
    public func all() -> Bool { scalars.allSatisfy { $0 != 0 } }
    /// Whether some element is nonzero (PyTorch's `any()`).
    public func any() -> Bool { scalars.contains { $0 != 0 } }
    /// Whether shapes and values are equal (PyTorch's `torch.equal`).
    public func equal(_ other: Tensor) -> Bool { shape == other.shape && scalars == other.scalars }
    /// Whether values agree within `atol + rtol·|other|` (PyTorch's `allclose`).
    public func allclose(_ other: Tensor, rtol: Float = 1e-5, atol: Float = 1e-8) -> Bool {
        guard Broadcast.shape(shape, other.shape) == shape || Broadcast.shape(shape, other.shape) == other.shape else { return false }
        return withNoGrad { Tensor.broadcastZip(self, other) { Swift.abs($0 - $1) <= atol + rtol * Swift.abs($1) ? 1 : 0 } }.all()
    }
}
