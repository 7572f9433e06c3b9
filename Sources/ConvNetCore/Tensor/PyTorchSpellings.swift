import Foundation

precedencegroup ExponentiationPrecedence {
    higherThan: MultiplicationPrecedence
    associativity: right
}
/// Elementwise power, as Python's `**`: `x ** 2`.
infix operator ** : ExponentiationPrecedence

extension Tensor {
    /// `x ** p`, PyTorch's `x ** p` (`pow`).
    public static func ** (x: Tensor, p: Float) -> Tensor { x.pow(p) }

    /// The number of elements (PyTorch's `numel()`).
    public func numel() -> Int { count }
    /// The number of dimensions (PyTorch's `dim()`).
    public func dim() -> Int { rank }

    /// Zeros of the given sizes: `Tensor.zeros(2, 3)` (PyTorch's `torch.zeros(2, 3)`).
    public static func zeros(_ dims: Int...) -> Tensor { zeros(dims) }
    /// Ones of the given sizes (PyTorch's `torch.ones(2, 3)`).
    public static func ones(_ dims: Int...) -> Tensor { ones(dims) }
    /// Uniform in [0, 1) (PyTorch's `torch.rand(2, 3)`).
    public static func rand(_ dims: Int...) -> Tensor { rand(dims) }
    /// Standard normal (PyTorch's `torch.randn(2, 3)`).
    public static func randn(_ dims: Int...) -> Tensor { randn(dims) }

    /// The identity matrix, n × m (PyTorch's `torch.eye`).
    public static func eye(_ n: Int, _ m: Int? = nil) -> Tensor {
        let cols = m ?? n
        let t = zeros([n, cols])
        for i in 0..<Swift.min(n, cols) { t.elementPointer[i * cols + i] = 1 }
        return t
    }

    /// Variance over all elements with Bessel's correction by default (PyTorch's `var()`).
    public func `var`(correction: Int = 1) -> Tensor {
        checkFloating("var")
        let d = self - mean()
        return (d * d).sum() / Float(Swift.max(count - correction, 0))
    }

    /// Variance along `dim` (PyTorch's `var(dim)`).
    public func `var`(dim: Int, correction: Int = 1, keepDim: Bool = false) -> Tensor {
        checkFloating("var")
        let n = shape[normalizeDim(dim, rank: rank)]
        let d = self - mean(dim: dim, keepDim: true)
        return (d * d).sum(dim: dim, keepDim: keepDim) / Float(Swift.max(n - correction, 0))
    }

    /// Standard deviation over all elements, with Bessel's correction by default (PyTorch's `std()`).
    public func std(correction: Int = 1) -> Tensor { `var`(correction: correction).sqrt() }
    /// Standard deviation along `dim` (PyTorch's `std(dim)`).
    public func std(dim: Int, correction: Int = 1, keepDim: Bool = false) -> Tensor {
        `var`(dim: dim, correction: correction, keepDim: keepDim).sqrt()
    }

    /// Tiles the tensor `repeats[i]` times along dimension i (PyTorch's `repeat`); extra leading
    /// counts add dimensions.
    public func `repeat`(_ repeats: [Int]) -> Tensor {
        checkArgument(repeats.count >= rank, "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor")
        checkArgument(repeats.allSatisfy { $0 >= 0 }, "repeat: counts must be non-negative, got \(repeats)")
        let src = Array(repeating: 1, count: repeats.count - rank) + shape
        let interleaved = zip(repeats, src).flatMap { [1, $0.1] }
        let expanded = zip(repeats, src).flatMap { [$0.0, $0.1] }
        return reshape(interleaved).expand(expanded).reshape(zip(repeats, src).map { $0.0 * $0.1 })
    }
    /// Variadic spelling: `x.repeat(2, 3)` tiles `x` twice along dim 0 and three times along dim 1, as in PyTorch.
    public func `repeat`(_ repeats: Int...) -> Tensor { self.repeat(repeats) }
}
