import ConvNetCore

/// Flattens dimensions `startDim...endDim` (default: all but the batch).
public final class Flatten: Module {
    /// The first and last dimension flattened into one (negative counts from the end).
    public let startDim: Int, endDim: Int
    /// Flattens `startDim...endDim`; PyTorch's `nn.Flatten(start_dim, end_dim)`.
    public init(startDim: Int = 1, endDim: Int = -1) { self.startDim = startDim; self.endDim = endDim }
    public func forward(_ x: Tensor) -> Tensor { x.flatten(startDim: startDim, endDim: endDim) }
    public var extraRepr: String { "start_dim=\(startDim), end_dim=\(endDim)" }
}
