import ConvNetCore

extension Batch {
    /// The labels as an int64 tensor, as a PyTorch `DataLoader` yields them (`crossEntropy(yHat, y)`,
    /// D2L's `accuracy`).
    public var targets: Tensor { Tensor(labels) }
}
