import ConvNetCore

/// What the trainer and `evaluate` draw batches from: the IDX `DataLoader` or an
/// `ImageFolderLoader`. An epoch is an example order (drawn from the loader's generator when it
/// shuffles or augments, so a checkpoint that saves the generator replays it) and its batches.
public protocol BatchSource: AnyObject {
    /// Batches per epoch.
    var batchCount: Int { get }
    /// Examples per epoch.
    var exampleCount: Int { get }
    /// The class names, indexed by label.
    var classNames: [String] { get }
    /// The next epoch's example order; draws from the generator when shuffling or augmenting.
    func epochOrder() -> [Int]
    /// The batches of `order` (from the latest `epochOrder()` call), starting at batch `first`.
    func batchIterator(order: [Int], from first: Int) -> AnyIterator<Batch>
}

extension BatchSource {
    /// One pass in the loader's own order (for evaluation).
    public func epoch() -> AnyIterator<Batch> { batchIterator(order: epochOrder(), from: 0) }
}

extension DataLoader: BatchSource {
    /// Batches per epoch (`count`).
    public var batchCount: Int { count }
    /// The dataset's size.
    public var exampleCount: Int { dataset.count }
    /// The dataset's class names.
    public var classNames: [String] { dataset.classNames }
    /// `batches(order:from:)` as a type-erased iterator.
    public func batchIterator(order: [Int], from first: Int) -> AnyIterator<Batch> { AnyIterator(batches(order: order, from: first)) }
}
