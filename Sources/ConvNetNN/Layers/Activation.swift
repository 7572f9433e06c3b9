import ConvNetCore

/// The rectified linear unit max(x, 0) as a layer; PyTorch's `torch.nn.ReLU`.
public final class ReLU: Module {
    /// A ReLU layer (it has no parameters).
    public init() {}
    public func forward(_ x: Tensor) -> Tensor { x.relu() }
}

/// The logistic sigmoid 1 / (1 + e^-x) as a layer; PyTorch's `torch.nn.Sigmoid`.
public final class Sigmoid: Module {
    /// A sigmoid layer (it has no parameters).
    public init() {}
    public func forward(_ x: Tensor) -> Tensor { x.sigmoid() }
}

/// The hyperbolic tangent as a layer; PyTorch's `torch.nn.Tanh`.
public final class Tanh: Module {
    /// A tanh layer (it has no parameters).
    public init() {}
    public func forward(_ x: Tensor) -> Tensor { x.tanh() }
}

/// Softmax along `dim`.
public final class Softmax: Module {
    /// The dimension the softmax normalises over.
    public let dim: Int
    /// A softmax over `dim` (1: the classes of a batch of logits); PyTorch's `nn.Softmax(dim=1)`.
    public init(dim: Int = 1) { self.dim = dim }
    public func forward(_ x: Tensor) -> Tensor { x.softmax(dim: dim) }
    public var extraRepr: String { "dim=\(dim)" }
}
