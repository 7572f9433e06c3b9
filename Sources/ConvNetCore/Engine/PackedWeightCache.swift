import CKernels
import Foundation

/// A kernel's layout of a weight: which layout and up to four numbers of its geometry (a key built
/// per call, so nothing in it is text).
struct PackedLayout: Hashable {
    enum Kind: UInt8 { case gemm, gemmTransposed, winograd, winogradChannels, direct16, direct32 }
    let kind: Kind
    let a: Int, b: Int, c: Int, d: Int

    init(_ kind: Kind, _ a: Int = 0, _ b: Int = 0, _ c: Int = 0, _ d: Int = 0) {
        (self.kind, self.a, self.b, self.c, self.d) = (kind, a, b, c, d)
    }
}

/// Weights in the layouts the convolution kernels read (GEMM panels, Winograd-transformed
/// matrices, direct-kernel blocks), kept between calls while the weight is unchanged, as ONNX
/// Runtime pre-packs its initializers. Inference repacks the same weights on every call otherwise:
/// at batch 1 that repacking costs as much as the multiplication it feeds.
///
/// An entry is valid while its weight's storage has the version it had when the entry was made;
/// every in-place write through the tensor API (optimiser steps, `copy_`, `loadStateDict`,
/// initialisers) bumps that version. Writes through a raw pointer are invisible, so a weight whose
/// `Tensor.data` has been handed out is packed afresh on every call. A storage's entries leave
/// when it is freed (its deinit calls `forget`): no weak reference, which would move every retain
/// and release of the weight's storage onto the runtime's slow path.
final class PackedWeightCache: @unchecked Sendable {
    static let shared = PackedWeightCache()

    /// Which layout of which weight: the layout and its geometry are part of the key, so one weight
    /// used by convolutions of different shapes (or ISAs) gets one entry per layout.
    struct Key: Hashable {
        let storage: ObjectIdentifier
        let offset: Int
        let count: Int
        let layout: PackedLayout
        let isa: Int32
    }

    final class Entry {
        let key: Key
        /// The weight's storage, alive while the entry is in the table (its deinit takes the entry out).
        unowned(unsafe) let owner: TensorStorage
        let version: Int
        let value: AnyObject
        let bytes: Int
        var lastUse: UInt64
        /// Set when the entry leaves the table (a storage's hint may still name it).
        var dropped = false
        init(key: Key, owner: TensorStorage, version: Int, value: AnyObject, bytes: Int, lastUse: UInt64) {
            self.key = key; self.owner = owner; self.version = version; self.value = value; self.bytes = bytes; self.lastUse = lastUse
        }
    }

    private let lock = NSLock()
    private var entries: [Key: Entry] = [:]
    private var bytes = 0
    private var clock: UInt64 = 0
    /// The most memory packed weights may hold; the least recently used go first beyond it.
    var limitBytes = 256 << 20

    /// The packed form of `weight` in `layout`, made by `make` (returning the object and its size in
    /// bytes) when there is no valid entry. Only weights that cannot change during the call should
    /// come here (see ``ConvKernels``' callers): the entry is checked when it is looked up.
    func value<T: AnyObject>(for weight: Tensor, layout: PackedLayout, make: () -> (T, Int)) -> T {
        let storage = weight.storage
        // a raw pointer handed out may have been written through without a version bump
        if storage.isExposed { return make().0 }
        let key = Key(storage: ObjectIdentifier(storage), offset: weight.storageOffset, count: weight.count, layout: layout,
                      isa: ck_gemm_isa())
        lock.lock()
        // the entry this storage was last found in, then the table (a weight used in one layout,
        // as most are, is found without hashing its key)
        let hinted = storage.packedHint.flatMap { $0.key == key && !$0.dropped ? $0 : nil }
        if let e = hinted ?? entries[key], e.version == storage.version, let v = e.value as? T {
            clock &+= 1
            e.lastUse = clock
            storage.packedHint = e
            lock.unlock()
            return v
        }
        lock.unlock()
        let (value, size) = make()
        lock.lock()
        defer { lock.unlock() }
        if let old = entries.removeValue(forKey: key) { drop(old) }
        guard size <= limitBytes else { return value }
        // the least recently used first
        while bytes + size > limitBytes, let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
            drop(oldest.value)
            entries[oldest.key] = nil
        }
        clock &+= 1
        let entry = Entry(key: key, owner: storage, version: storage.version, value: value, bytes: size, lastUse: clock)
        entries[key] = entry
        storage.packedHint = entry
        storage.hasPackedEntries = true
        bytes += size
        return value
    }

    /// Accounts for an entry leaving the table, and takes it from its storage's hint (unless the
    /// storage is being freed) so that its value goes now.
    private func drop(_ e: Entry, ownerAlive: Bool = true) {
        bytes -= e.bytes
        e.dropped = true
        if ownerAlive, e.owner.packedHint === e { e.owner.packedHint = nil }
    }

    /// Drops the entries of a storage being freed (from its deinit).
    func forget(_ storage: ObjectIdentifier) {
        lock.lock(); defer { lock.unlock() }
        for (k, e) in entries where k.storage == storage {
            drop(e, ownerAlive: false)
            entries[k] = nil
        }
    }

    /// Drops every entry.
    func removeAll() {
        lock.lock(); defer { lock.unlock() }
        for e in entries.values { drop(e) }
        entries = [:]
        bytes = 0
    }

    /// The number of entries and the bytes they hold (for tests).
    var usage: (entries: Int, bytes: Int) {
        lock.lock(); defer { lock.unlock() }
        return (entries.count, bytes)
    }
}
