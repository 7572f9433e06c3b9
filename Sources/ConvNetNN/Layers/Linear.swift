import ConvNetCore

/// `y = x·Wᵀ + b`, as `nn.Linear`. `LazyLinear` infers `inFeatures` at the first call.
public final class Linear: Module {
    public private(set) var inFeatures: Int
    public let outFeatures: Int
    public private(set) var weight: Tensor
    public private(set) var bias: Tensor?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        checkArgument(inFeatures >= 0 && outFeatures > 0, "Linear(\(inFeatures), \(outFeatures)): feature counts must be positive")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = Tensor.zeros([outFeatures, inFeatures])
        self.bias = bias ? Tensor.zeros([outFeatures]) : nil
        if inFeatures > 0 { materialize(inFeatures) }
    }

    private func materialize(_ n: Int) {
        inFeatures = n
        weight = Tensor.zeros([outFeatures, n])
        if bias != nil { bias = Tensor.zeros([outFeatures]) }
        Init.pytorchDefault(weight: weight, bias: bias)
        weight.requiresGrad = true
        bias?.requiresGrad = true
    }

    /// Whether the input size is still to be inferred.
    public var isLazy: Bool { inFeatures == 0 }

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
    public init() {}
    public func forward(_ x: Tensor) -> Tensor { x }
}

/// Flattens dimensions `startDim...endDim` (default: all but the batch).
public final class Flatten: Module {
    public let startDim: Int, endDim: Int
    public init(startDim: Int = 1, endDim: Int = -1) { self.startDim = startDim; self.endDim = endDim }
    public func forward(_ x: Tensor) -> Tensor { x.flatten(startDim: startDim, endDim: endDim) }
    public var extraRepr: String { "start_dim=\(startDim), end_dim=\(endDim)" }
}

/// Randomly zeroes elements in training, as `nn.Dropout`.
public final class Dropout: TrainingModeModule {
    public let p: Float
    public var training = true
    public init(p: Float = 0.5) {
        checkArgument(p >= 0 && p <= 1, "dropout probability has to be between 0 and 1, but got \(p)")
        self.p = p
    }
    public convenience init(_ p: Float) { self.init(p: p) }
    public func forward(_ x: Tensor) -> Tensor { dropout(x, p: p, training: training) }
    public var extraRepr: String { "p=\(pythonFloat(p)), inplace=False" }
}
