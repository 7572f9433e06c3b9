import ConvNetCore

/// Passes its input through unchanged.
public final class Identity: Module {
    /// An identity layer; PyTorch's `nn.Identity()`.
    public init() {}
    public func forward(_ x: Tensor) -> Tensor { x }
}
