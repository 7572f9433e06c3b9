import CKernels
import Foundation
import Synchronization

/// Reuses freed tensor buffers of the same size. A training step allocates the same large
/// activations and gradients every iteration; fresh memory costs a page fault per 4 KiB page,
/// which measured here as a third of a LeNet step. Small blocks go straight to malloc.
final class BufferPool: @unchecked Sendable {
    static let shared = BufferPool()
    private var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private var cachedBytes = 0
    private let lock = NSLock()
    /// The most freed memory kept for reuse.
    var limitBytes = 4 << 30
    static let minPooled = 4096 // floats (16 KiB)

    static func capacity(for count: Int) -> Int {
        count < minPooled ? Swift.max(count, 1) : (count + 1023) & ~1023
    }

    func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        let cap = BufferPool.capacity(for: count)
        if cap >= BufferPool.minPooled {
            lock.lock()
            if let p = free[cap]?.popLast() {
                cachedBytes -= cap * 4
                lock.unlock()
                return p
            }
            lock.unlock()
        }
        // on a 64-byte line, so a plane's rows start on lines where its width allows (the kernels'
        // aligned loads run at twice the rate of unaligned ones)
        return UnsafeMutableRawPointer.allocate(byteCount: cap * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: cap)
    }

    func release(_ p: UnsafeMutablePointer<Float>, count: Int) {
        let cap = BufferPool.capacity(for: count)
        if cap >= BufferPool.minPooled {
            lock.lock()
            if cachedBytes + cap * 4 > limitBytes && cap * 4 <= limitBytes {
                // the workload changed (another model, another batch size): give back buffers of
                // other sizes, largest first, rather than turning every new buffer away
                for size in free.keys.sorted(by: >) where size != cap {
                    while cachedBytes + cap * 4 > limitBytes, let q = free[size]?.popLast() {
                        UnsafeMutableRawPointer(q).deallocate()
                        cachedBytes -= size * 4
                    }
                    if free[size]?.isEmpty == true { free[size] = nil }
                    if cachedBytes + cap * 4 <= limitBytes { break }
                }
            }
            if cachedBytes + cap * 4 <= limitBytes {
                free[cap, default: []].append(p)
                cachedBytes += cap * 4
                lock.unlock()
                return
            }
            lock.unlock()
        }
        UnsafeMutableRawPointer(p).deallocate()
    }

    /// Returns every cached buffer to the system.
    func drain() {
        lock.lock(); defer { lock.unlock() }
        for (_, ps) in free { for p in ps { UnsafeMutableRawPointer(p).deallocate() } }
        free = [:]
        cachedBytes = 0
    }
}

/// A reference-counted block of Float32s that one or more tensors (views, reshapes) share.
public final class TensorStorage: @unchecked Sendable {
    /// The first float of the block (the library's own; users reach it through `Tensor.data`).
    package let pointer: UnsafeMutablePointer<Float>
    /// The number of floats in the block.
    public let count: Int
    /// Bumped by every in-place write (PyTorch's version counter): autograd compares it with the
    /// version a recorded operation saved, so a value changed after it was saved is an error.
    public internal(set) var version = 0 { didSet { TensorStorage.bumpWriteEpoch() } }
    /// Set once `Tensor.data` has handed the block's address to code outside the library, whose
    /// writes the version may not record (see ``PackedWeightCache``).
    private let exposed = Atomic<Bool>(false)
    package var isExposed: Bool { exposed.load(ordering: .relaxed) }
    package func noteExposed() {
        exposed.store(true, ordering: .relaxed)
        TensorStorage.bumpWriteEpoch()
    }

    /// Counts every version bump, exposure and storage replacement of any block: a cache of values
    /// derived from some tensors that saw the same count at its last check needs no other check.
    private static let writeEpoch = Atomic<Int>(0)
    package static var currentWriteEpoch: Int { writeEpoch.load(ordering: .acquiring) }
    package static func bumpWriteEpoch() { writeEpoch.add(1, ordering: .releasing) }
    /// The ``PackedWeightCache`` entry this block was last found in, and whether the cache has
    /// entries of it (both read and written under the cache's lock).
    var packedHint: PackedWeightCache.Entry?
    var hasPackedEntries = false

    init(count: Int) {
        self.count = count
        pointer = BufferPool.shared.allocate(count)
    }

    convenience init(repeating value: Float, count: Int) {
        self.init(count: count)
        pointer.initialize(repeating: value, count: count)
    }

    convenience init(_ scalars: [Float]) {
        self.init(count: scalars.count)
        scalars.withUnsafeBufferPointer { pointer.initialize(from: $0.baseAddress!, count: scalars.count) }
    }

    deinit {
        if hasPackedEntries { PackedWeightCache.shared.forget(ObjectIdentifier(self)) }
        BufferPool.shared.release(pointer, count: count)
    }
}

/// Memory held for reuse by freed tensors.
public enum TensorMemory {
    /// Frees every cached buffer and every weight kept packed for inference (after a large model
    /// is dropped, say).
    public static func releaseCached() {
        PackedWeightCache.shared.removeAll()
        BufferPool.shared.drain()
    }

    /// Bytes held by weights kept in the convolution kernels' layouts between inference calls
    /// (bounded; an entry goes when its weight is freed or changed, or the bound needs the room).
    public static var packedWeightBytes: Int { PackedWeightCache.shared.usage.bytes }
}
