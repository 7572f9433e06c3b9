import ConvNetCore
import ConvNetNN
import Foundation

/// Data-parallel training of any `Module` across the ranks of a ``ProcessGroup``, as PyTorch's
/// `DistributedDataParallel`:
///
/// - on creation, rank 0's parameters and buffers are sent to every rank, so all start equal;
/// - before each forward (by default), rank 0's buffers (BatchNorm's running statistics) are sent
///   again, so the model every rank evaluates and saves is rank 0's (DDP's `broadcast_buffers`);
/// - during `backward()`, gradients are gathered into buckets of about ``bucketCapBytes`` (25 MB by
///   default), in reverse registration order (the order the backward produces them); each bucket
///   is all-reduced, non-blocking, as soon as all its gradients are final, so communication
///   overlaps the rest of the backward pass;
/// - ``synchronizeGradients()`` waits for the buckets and writes the average into each parameter's
///   `grad`, ready for the optimiser.
///
/// One training step on each rank:
///
/// ```swift
/// let ddp = DistributedDataParallel(model, group: group)
/// let loss = crossEntropy(ddp(localImages), localLabels)
/// optimizer.zeroGrad()
/// loss.backward()
/// ddp.synchronizeGradients()
/// optimizer.step()
/// ```
///
/// Every rank must run the same steps with the same model; the buckets are started in the same
/// order on every rank (a bucket that completes early waits for the ones before it).
public final class DistributedDataParallel: Module {
    /// The wrapped model (its parameters are the ones trained).
    public let module: any Module
    /// The ranks that train together.
    public let group: ProcessGroup
    /// The target size of one gradient bucket, in bytes.
    public let bucketCapBytes: Int
    /// Whether rank 0's buffers are sent to every rank before each forward (DDP's default).
    public var broadcastBuffers = true
    /// The buckets, in the order they are reduced.
    private var buckets: [GradientBucket] = []
    /// The next bucket to start (buckets start strictly in order).
    private var nextBucket = 0
    private var hooks: [GradHookHandle] = []
    /// Communication time accounting since the last ``resetTimings()``.
    public private(set) var timings = CommunicationTimings()
    private var firstLaunch: Date?

    /// Wraps `module` for data-parallel training on `group`: sends rank 0's parameters and buffers
    /// to every rank and hooks the parameters' gradient accumulation. `bucketCapMB` is in
    /// megabytes (10⁶ bytes), as DDP's `bucket_cap_mb`. Lazy layers must have run once (their
    /// parameters need a shape) before wrapping.
    public init(_ module: any Module, group: ProcessGroup, bucketCapMB: Double = 25) {
        self.module = module
        self.group = group
        bucketCapBytes = Swift.max(4, Int((bucketCapMB * 1_000_000).rounded()))
        for (name, t) in module.namedTensors() {
            checkArgument(!t.isUninitialized, "DistributedDataParallel: '\(name)' belongs to a lazy layer that has not run yet; call the model once before wrapping it")
        }
        synchronizeState()
        buildBuckets()
    }

    /// Sends rank 0's parameters and buffers to every rank (done at creation; call it again after
    /// loading weights on rank 0 only).
    public func synchronizeState() {
        guard group.isDistributed else { return }
        for (_, t) in module.namedTensors() { group.broadcast(t) }
    }

    /// Sends rank 0's buffers to every rank.
    public func synchronizeBuffers() {
        guard group.isDistributed else { return }
        for (_, t) in module.namedBuffers() { group.broadcast(t) }
    }

    private func buildBuckets() {
        let params = module.parameters().reversed()
        var current: [Tensor] = []
        var bytes = 0
        for p in params {
            if !current.isEmpty && bytes + p.count * 4 > bucketCapBytes {
                buckets.append(GradientBucket(current)); current = []; bytes = 0
            }
            current.append(p); bytes += p.count * 4
        }
        if !current.isEmpty { buckets.append(GradientBucket(current)) }
        guard group.isDistributed else { return }
        for (index, bucket) in buckets.enumerated() {
            for p in bucket.parameters {
                hooks.append(p.registerPostAccumulateGradHook { [unowned self] _ in self.gradientReady(bucket: index) })
            }
        }
    }

    /// The number of buckets and each one's size in bytes, in reduction order.
    public var bucketSizes: [Int] { buckets.map { $0.count * 4 } }

    private func gradientReady(bucket index: Int) {
        let bucket = buckets[index]
        bucket.ready += 1
        guard bucket.ready == bucket.parameters.count else { return }
        // start every complete bucket from the next in order (the same order on every rank)
        while nextBucket < buckets.count, buckets[nextBucket].ready == buckets[nextBucket].parameters.count {
            launch(buckets[nextBucket])
            nextBucket += 1
        }
    }

    private func launch(_ bucket: GradientBucket) {
        bucket.pack()
        if firstLaunch == nil { firstLaunch = Date() }
        bucket.pending = group.startAllReduce(bucket.buffer, count: bucket.count)
    }

    /// Waits for every bucket's all-reduce and sets each parameter's `grad` to the average over the
    /// ranks. Buckets whose gradients did not all arrive (parameters this step did not use, or no
    /// backward at all on this rank) are reduced here with zeros for the missing ones.
    public func synchronizeGradients() {
        defer {
            for b in buckets { b.ready = 0; b.pending = nil }
            nextBucket = 0
            firstLaunch = nil
        }
        guard group.isDistributed else { return }
        let waitStart = Date()
        while nextBucket < buckets.count { launch(buckets[nextBucket]); nextBucket += 1 }
        for b in buckets { b.pending?.wait() }
        let end = Date()
        timings.steps += 1
        timings.exposedSeconds += end.timeIntervalSince(waitStart)
        timings.communicationSeconds += end.timeIntervalSince(firstLaunch ?? waitStart)
        let scale = 1 / Float(group.size)
        for b in buckets { b.unpack(scale: scale) }
    }

    /// Clears ``timings``.
    public func resetTimings() { timings = CommunicationTimings() }

    /// Runs the wrapped model, after sending rank 0's buffers when ``broadcastBuffers`` is set
    /// (also on every replay of a compiled trace).
    public func forward(_ x: Tensor) -> Tensor {
        if broadcastBuffers && group.isDistributed && training {
            OpTrace.sideEffect { [unowned self] in self.synchronizeBuffers() }
        }
        return module(x)
    }

    /// Removes the gradient hooks (the model trains alone again).
    public func detach() { hooks.forEach { $0.remove() }; hooks = [] }

    /// The wrapped model, under the key `module` (state-dict keys `module.…`, as PyTorch's DDP).
    public func namedChildren() -> [(String, any Module)] { [("module", module)] }
    /// None: every tensor belongs to the wrapped model.
    public func namedOwnTensors() -> [(String, Tensor)] { [] }
    /// `DistributedDataParallel`, as PyTorch prints it.
    public var typeName: String { "DistributedDataParallel" }
}

/// Where the time of gradient all-reduces went: in total from the first bucket's start to the last
/// one's end, and the part the trainer's thread waited for (not hidden behind the backward pass).
public struct CommunicationTimings: Sendable, Equatable {
    /// Steps measured.
    public var steps = 0
    /// Seconds from each step's first bucket start to its last bucket's end, summed.
    public var communicationSeconds = 0.0
    /// Seconds the trainer's thread waited in `synchronizeGradients()`, summed.
    public var exposedSeconds = 0.0
    /// Nothing measured yet.
    public init() {}
    /// The fraction of the all-reduce time that overlapped the backward pass.
    public var hiddenFraction: Double {
        communicationSeconds > 0 ? Swift.max(0, 1 - exposedSeconds / communicationSeconds) : 0
    }
}

/// A group of parameters whose gradients are reduced together, in one flat buffer.
final class GradientBucket {
    let parameters: [Tensor]
    let count: Int
    let buffer: UnsafeMutablePointer<Float>
    var ready = 0
    var pending: PendingReduction?

    init(_ parameters: [Tensor]) {
        self.parameters = parameters
        count = parameters.reduce(0) { $0 + $1.count }
        buffer = .allocate(capacity: Swift.max(count, 1))
    }

    deinit { buffer.deallocate() }

    /// Copies the gradients in (zeros for a parameter without one).
    func pack() {
        var at = 0
        for p in parameters {
            if let g = p.grad { (buffer + at).update(from: g.contiguous().elementPointer, count: p.count) }
            else { (buffer + at).update(repeating: 0, count: p.count) }
            at += p.count
        }
    }

    /// Writes the reduced sums times `scale` into fresh gradient tensors (a gradient tensor may be
    /// shared with another leaf's, so it is not overwritten in place).
    func unpack(scale: Float) {
        var at = 0
        for p in parameters {
            let g = Tensor.empty(p.shape)
            let src = buffer + at, dst = g.elementPointer
            for i in 0..<p.count { dst[i] = src[i] * scale }
            p.grad = g
            at += p.count
        }
    }
}
