import ConvNetCore

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
