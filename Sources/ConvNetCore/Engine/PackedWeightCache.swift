import CKernels
import Foundation

/// A kernel's layout of a weight: its name and up to four numbers of its geometry (a key built
/// per call, so no text is formatted for it).
struct PackedLayout: Hashable {
    let kind: String
    let a: Int, b: Int, c: Int, d: Int

    init(_ kind: String, _ a: Int = 0, _ b: Int = 0, _ c: Int = 0, _ d: Int = 0) {
        (self.kind, self.a, self.b, self.c, self.d) = (kind, a, b, c, d)
    }
}

/// Weights in the layouts the convolution kernels read (GEMM panels, Winograd-transformed
/// matrices, direct-kernel blocks), kept between calls while the weight is unchanged, as ONNX
/// Runtime pre-packs its initializers. Inference repacks the same weights on every call otherwise:
/// at batch 1 that repacking costs as much as the multiplication it feeds.
///
/// An entry is valid while its weight's storage is alive and has the version it had when the entry
/// was made; every in-place write through the tensor API (optimiser steps, `copy_`,
/// `loadStateDict`, initialisers) bumps that version. Writes through a raw pointer are invisible,
/// so a weight whose `Tensor.data` has been handed out is packed afresh on every call.
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

    private final class Entry {
        weak var storage: TensorStorage?
        let version: Int
        let value: AnyObject
        let bytes: Int
        var lastUse: UInt64
        init(storage: TensorStorage, version: Int, value: AnyObject, bytes: Int, lastUse: UInt64) {
            self.storage = storage; self.version = version; self.value = value; self.bytes = bytes; self.lastUse = lastUse
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
        if let e = entries[key], e.storage === storage, e.version == storage.version, let v = e.value as? T {
            clock &+= 1
            e.lastUse = clock
            lock.unlock()
            return v
        }
        lock.unlock()
        let (value, size) = make()
        lock.lock()
        defer { lock.unlock() }
        if let old = entries.removeValue(forKey: key) { bytes -= old.bytes }
        guard size <= limitBytes else { return value }
        // entries of freed weights first, then the least recently used
        for (k, e) in entries where e.storage == nil {
            bytes -= e.bytes
            entries[k] = nil
        }
        while bytes + size > limitBytes, let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
            bytes -= oldest.value.bytes
            entries[oldest.key] = nil
        }
        clock &+= 1
        entries[key] = Entry(storage: storage, version: storage.version, value: value, bytes: size, lastUse: clock)
        bytes += size
        return value
    }

    /// Drops every entry.
    func removeAll() {
        lock.lock(); defer { lock.unlock() }
        entries = [:]
        bytes = 0
    }

    /// The number of entries and the bytes they hold (for tests).
    var usage: (entries: Int, bytes: Int) {
        lock.lock(); defer { lock.unlock() }
        return (entries.count, bytes)
    }
}
