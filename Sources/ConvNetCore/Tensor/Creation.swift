extension Tensor {
    /// A float32 tensor of zeros with the given shape; PyTorch's `torch.zeros(shape)`.
    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 0) }
    /// A float32 tensor of ones with the given shape; PyTorch's `torch.ones(shape)`.
    public static func ones(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 1) }
    /// A float32 tensor filled with `value`; PyTorch's `torch.full(shape, value)`.
    public static func full(_ shape: [Int], _ value: Float) -> Tensor { Tensor(shape: shape, repeating: value) }
    /// Zeros with the shape of `t`; PyTorch's `torch.zeros_like(t)`.
    public static func zeros(like t: Tensor) -> Tensor { zeros(t.shape) }
    /// Ones with the shape of `t`; PyTorch's `torch.ones_like(t)`.
    public static func ones(like t: Tensor) -> Tensor { ones(t.shape) }

    /// 0, step, 2·step, … below `end` (PyTorch's `arange(start, end, step)`).
    public static func arange(_ start: Float = 0, _ end: Float, step: Float = 1) -> Tensor {
        checkArgument(step != 0 && (end - start) / step >= 0, "arange: upper bound and step are inconsistent")
        let n = Int(((end - start) / step).rounded(.up))
        return Tensor(shape: [n], scalars: (0..<n).map { start + Float($0) * step })
    }

    /// `arange(n)`: 0 ..< n.
    public static func arange(_ n: Int) -> Tensor { arange(0, Float(n)) }

    /// Uniform in [0, 1), from `generator` (the global one by default).
    public static func rand(_ shape: [Int], generator: ConvNetCore.Generator = .global) -> Tensor {
        OpTrace.noteRandom()
        let t = Tensor(uninitializedShape: shape)
        generator.fillUniform(t.elementPointer, count: t.count)
        return t
    }

    /// Uniform in [low, high).
    public static func uniform(_ shape: [Int], low: Float, high: Float, generator: ConvNetCore.Generator = .global) -> Tensor {
        OpTrace.noteRandom()
        let t = Tensor(uninitializedShape: shape)
        generator.fillUniform(t.elementPointer, count: t.count, low: low, high: high)
        return t
    }

    /// Standard normal.
    public static func randn(_ shape: [Int], generator: ConvNetCore.Generator = .global) -> Tensor {
        OpTrace.noteRandom()
        let t = Tensor(uninitializedShape: shape)
        generator.fillNormal(t.elementPointer, count: t.count)
        return t
    }

    /// Normal with the given mean and standard deviation.
    public static func normal(_ shape: [Int], mean: Float = 0, std: Float = 1, generator: ConvNetCore.Generator = .global) -> Tensor {
        OpTrace.noteRandom()
        let t = Tensor(uninitializedShape: shape)
        generator.fillNormal(t.elementPointer, count: t.count, mean: mean, std: std)
        return t
    }

    /// Reseeds the global generator: the same seed gives the same random tensors and initial weights.
    public static func manualSeed(_ seed: UInt64) { ConvNetCore.Generator.global.reseed(seed) }
}
