import ConvNetCore

/// `y = x·Wᵀ + b`, as `nn.Linear`. `LazyLinear` infers `inFeatures` at the first call.
public final class Linear: Module {
    /// Input features; 0 for a lazy layer before its first forward.
    public var inFeatures: Int { weight.isUninitialized ? 0 : weight.shape[1] }
    /// Output features.
    public let outFeatures: Int
    /// [out, in]; for a lazy layer an uninitialized parameter until the first forward.
    public let weight: Tensor
    /// The bias `[out]`, or `nil` when built with `bias: false`.
    public let bias: Tensor?

    /// A fully connected layer from `inFeatures` to `outFeatures`; PyTorch's `nn.Linear(in, out, bias)`. `inFeatures` 0 makes it lazy.
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        checkArgument(inFeatures >= 0 && outFeatures > 0, "Linear(\(inFeatures), \(outFeatures)): feature counts must be positive")
        self.outFeatures = outFeatures
        if inFeatures > 0 {
            (weight, self.bias) = Linear.initialParameters(inFeatures, outFeatures, bias: bias)
        } else {
            weight = .uninitialized(requiresGrad: true)
            self.bias = bias ? .uninitialized(requiresGrad: true) : nil
        }
    }

    private static func initialParameters(_ n: Int, _ outFeatures: Int, bias: Bool) -> (Tensor, Tensor?) {
        let w = Tensor.zeros([outFeatures, n])
        let b: Tensor? = bias ? Tensor.zeros([outFeatures]) : nil
        Init.pytorchDefault(weight: w, bias: b)
        w.requiresGrad = true
        b?.requiresGrad = true
        return (w, b)
    }

    private func materialize(_ n: Int) {
        let (w, b) = Linear.initialParameters(n, outFeatures, bias: bias != nil)
        weight.materialize(with: w)
        if let b { bias?.materialize(with: b) }
    }

    /// Whether the input size is still to be inferred.
    public var isLazy: Bool { weight.isUninitialized }

    public func forward(_ x: Tensor) -> Tensor {
        if isLazy { materialize(x.shape.last ?? 0) }
        return linear(x, weight, bias: bias)
    }

    public var typeName: String { isLazy ? "LazyLinear" : "Linear" }
    public var extraRepr: String { "in_features=\(inFeatures), out_features=\(outFeatures), bias=\(bias != nil ? "True" : "False")" }
}

/// A Linear layer whose input size is inferred at the first call (D2L's `nn.LazyLinear`).
public func LazyLinear(_ outFeatures: Int, bias: Bool = true) -> Linear { Linear(0, outFeatures, bias: bias) }
