import ConvNetCore

public final class ReLU: Module {
    public init() {}
    public func forward(_ x: Tensor) -> Tensor { x.relu() }
}

public final class Sigmoid: Module {
    public init() {}
    public func forward(_ x: Tensor) -> Tensor { x.sigmoid() }
}

public final class Tanh: Module {
    public init() {}
    public func forward(_ x: Tensor) -> Tensor { x.tanh() }
}

/// Softmax along `dim`.
public final class Softmax: Module {
    public let dim: Int
    public init(dim: Int = 1) { self.dim = dim }
    public func forward(_ x: Tensor) -> Tensor { x.softmax(dim: dim) }
    public var extraRepr: String { "dim=\(dim)" }
}
