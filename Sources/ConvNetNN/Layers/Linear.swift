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

/// Passes its input through unchanged.
public final class Identity: Module {
    /// An identity layer; PyTorch's `nn.Identity()`.
    public init() {}
    public func forward(_ x: Tensor) -> Tensor { x }
}

/// Flattens dimensions `startDim...endDim` (default: all but the batch).
public final class Flatten: Module {
    /// The first and last dimension flattened into one (negative counts from the end).
    public let startDim: Int, endDim: Int
    /// Flattens `startDim...endDim`; PyTorch's `nn.Flatten(start_dim, end_dim)`.
    public init(startDim: Int = 1, endDim: Int = -1) { self.startDim = startDim; self.endDim = endDim }
    public func forward(_ x: Tensor) -> Tensor { x.flatten(startDim: startDim, endDim: endDim) }
    public var extraRepr: String { "start_dim=\(startDim), end_dim=\(endDim)" }
}

/// Randomly zeroes elements in training, as `nn.Dropout`.
public final class Dropout: TrainingModeModule {
    /// The probability of zeroing an element in training.
    public let p: Float
    public var training = true
    /// Dropout with probability `p`; PyTorch's `nn.Dropout(p=0.5)`.
    public init(p: Float = 0.5) {
        checkArgument(p >= 0 && p <= 1, "dropout probability has to be between 0 and 1, but got \(p)")
        self.p = p
    }
    /// Dropout with probability `p`, unlabeled: `Dropout(0.5)` as PyTorch's `nn.Dropout(0.5)`.
    public convenience init(_ p: Float) { self.init(p: p) }
    public func forward(_ x: Tensor) -> Tensor { dropout(x, p: p, training: training) }
    public var extraRepr: String { "p=\(pythonFloat(p)), inplace=False" }
}
