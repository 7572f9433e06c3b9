import ConvNetCore
import Foundation

/// Freezing for transfer learning: a frozen parameter keeps its value (requiresGrad is cleared, so
/// autograd computes no gradient for it and optimisers skip it) but stays in the state dict.
///
/// ConvNet tells parameters from buffers by `requiresGrad`, so a frozen parameter would look like a
/// buffer; a registry remembers which tensors were frozen, so `unfreeze()` restores exactly those
/// and never turns batch-norm statistics into parameters.
extension Module {
    /// Freezes every parameter of this module and its descendants.
    public func freeze() {
        for (_, t) in namedParameters() { FrozenRegistry.freeze(t) }
    }

    /// Makes the parameters this module's `freeze()` (or `freeze(prefix:)`) froze trainable again.
    public func unfreeze() {
        for (_, t) in namedTensors() where FrozenRegistry.isFrozen(t) { FrozenRegistry.unfreeze(t) }
    }

    /// Freezes the parameters whose dotted key starts with `prefix` (a module path such as "net.0"
    /// or "conv1"; "" freezes all). Returns the keys frozen.
    @discardableResult
    public func freeze(prefix: String) -> [String] {
        let keys = namedParameters().filter { k, _ in prefix.isEmpty || k == prefix || k.hasPrefix(prefix + ".") }
        for (_, t) in keys { FrozenRegistry.freeze(t) }
        return keys.map(\.0)
    }

    /// Freezes everything except the final classifier (the last module holding parameters, e.g. the
    /// last Linear): PyTorch's usual "train only the new head". Returns the classifier's key prefix.
    @discardableResult
    public func freezeBackbone() -> String {
        let params = namedParameters()
        guard let lastKey = params.last?.0 else { return "" }
        let head = String(lastKey[..<(lastKey.lastIndex(of: ".") ?? lastKey.startIndex)])
        for (k, t) in params where !(head.isEmpty ? k == lastKey : k.hasPrefix(head + ".")) { FrozenRegistry.freeze(t) }
        return head
    }

    /// Keys of the parameters that are frozen now.
    public func frozenParameterKeys() -> [String] { namedTensors().filter { FrozenRegistry.isFrozen($0.1) }.map(\.0) }
}

/// The tensors frozen by `freeze`, held weakly.
enum FrozenRegistry {
    private final class Entry { weak var tensor: Tensor?; init(_ t: Tensor) { tensor = t } }
    nonisolated(unsafe) private static var entries: [ObjectIdentifier: Entry] = [:]
    private static let lock = NSLock()

    static func freeze(_ t: Tensor) {
        lock.lock(); defer { lock.unlock() }
        entries = entries.filter { $0.value.tensor != nil }
        entries[ObjectIdentifier(t)] = Entry(t)
        t.grad = nil
        t.requiresGrad = false
    }

    static func unfreeze(_ t: Tensor) {
        lock.lock(); defer { lock.unlock() }
        entries[ObjectIdentifier(t)] = nil
        t.requiresGrad = true
    }

    static func isFrozen(_ t: Tensor) -> Bool {
        lock.lock(); defer { lock.unlock() }
        return entries[ObjectIdentifier(t)]?.tensor === t
    }
}
