/// One accumulator per thread for a reduction split over threads (weight gradients over images or
/// tiles): each thread adds its blocks into its own part, and the parts are summed in thread order
/// afterwards, so the result does not depend on scheduling (same inputs, same bits).
///
/// Parts start either zeroed, or unwritten with a first-block flag (`accumulates`), so a kernel
/// that can overwrite skips a clearing pass (ResNet's last stage would otherwise clear 19 MB per call).
final class PerThreadPartials {
    /// Floats per part.
    let count: Int
    /// Parts (at most one per thread that runs).
    let slots: Int
    private let store: Tensor
    private let started: UnsafeMutablePointer<Bool>

    /// `slots` parts of `count` floats; `zeroed` floats at the end of each part start at zero (all
    /// of it when nil), the rest is left for each thread's first block to write.
    init(slots: Int, count: Int, zeroed: Int? = nil) {
        self.slots = slots
        self.count = count
        store = Tensor(uninitializedShape: [slots * count])
        started = UnsafeMutablePointer<Bool>.allocate(capacity: slots)
        started.initialize(repeating: false, count: slots)
        let tail = zeroed ?? count
        for t in 0..<slots { (store.elementPointer + t * count + count - tail).update(repeating: 0, count: tail) }
    }

    deinit { started.deallocate() }

    /// Thread `t`'s part.
    func part(_ t: Int) -> UnsafeMutablePointer<Float> { store.elementPointer + t * count }

    /// Whether thread `t`'s part already holds a block (so the next one adds); marks it as holding one.
    func accumulates(_ t: Int) -> Bool {
        defer { started[t] = true }
        return started[t]
    }

    /// Adds parts 1..<used into part 0 (in order) and returns it; `floats` limits the sum to a prefix.
    @discardableResult
    func sum(used: Int, range: Range<Int>? = nil) -> UnsafeMutablePointer<Float> {
        let r = range ?? 0..<count
        let total = store.elementPointer
        for t in 1..<Swift.max(used, 1) { Elementwise.axpy(1, total + t * count + r.lowerBound, total + r.lowerBound, r.count) }
        return total
    }
}
