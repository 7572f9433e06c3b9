import CMPI
import ConvNetCore
import Foundation

/// The processes of a data-parallel job and the collective operations between them (PyTorch's
/// `torch.distributed` process group), on Open MPI's `MPI_COMM_WORLD`.
///
/// Every MPI call runs on one communication thread that the group owns, so the trainer's thread
/// never blocks inside MPI: a non-blocking all-reduce (``startAllReduce(_:count:)``) progresses on
/// that thread while the backward pass goes on, and every wait has a deadline (``timeout``).
///
/// A collective that fails or does not finish in time leaves the ranks out of step with no way to
/// recover (plain MPI has no fault tolerance), so it is fatal, as PyTorch's NCCL watchdog makes it:
/// the rank prints one line naming itself and the operation, and aborts the job (`MPI_Abort`), so
/// every other rank stops too instead of waiting forever.
///
/// Outside `mpirun` the group is ``single``: rank 0 of 1, every collective a no-op, MPI not loaded.
public final class ProcessGroup: @unchecked Sendable {
    /// This process's index in the job, from 0.
    public let rank: Int
    /// The number of processes in the job.
    public let size: Int
    /// Seconds any collective may take before the job is declared failed (default 300, or the
    /// `CONVNET_DIST_TIMEOUT` environment variable).
    public var timeout: Double
    /// The communication thread; nil for a single process.
    private let thread: CommunicationThread?

    /// Rank 0 of a job of one: no MPI, every collective returns its input.
    public static let single = ProcessGroup(rank: 0, size: 1, thread: nil)

    private init(rank: Int, size: Int, thread: CommunicationThread?) {
        self.rank = rank
        self.size = size
        self.thread = thread
        let env = ProcessInfo.processInfo.environment["CONVNET_DIST_TIMEOUT"].flatMap(Double.init)
        timeout = env.map { Swift.max($0, 1) } ?? 300
    }

    /// Whether more than one process takes part.
    public var isDistributed: Bool { size > 1 }

    /// Whether this is rank 0, the process that prints and writes files.
    public var isPrimary: Bool { rank == 0 }

    nonisolated(unsafe) private static var world: ProcessGroup?
    private static let worldLock = NSLock()

    /// The job this process belongs to: under `mpirun`, MPI is loaded (at run time, with `dlopen`)
    /// and initialised once, and the world communicator returned; otherwise ``single``. Throws
    /// `DistributedError` when the process was started by `mpirun` but Open MPI cannot be used.
    public static func fromEnvironment() throws -> ProcessGroup {
        worldLock.lock(); defer { worldLock.unlock() }
        if let world { return world }
        guard let announced = MPILaunch.worldSize else { return single }
        guard cmpi_available() != 0 else { throw DistributedError.mpiUnavailable(reason: String(cString: cmpi_load_error())) }
        let thread = CommunicationThread()
        // rank and size written by the communication thread while this one waits for it
        let out = UnsafeMutablePointer<Int32>.allocate(capacity: 2)
        defer { out.deallocate() }
        out.initialize(repeating: 0, count: 2)
        let slots = SendablePointer(UnsafeMutableRawPointer(out))
        let error = thread.runBlocking(deadline: nil) { message, cap in
            let p = slots.raw.assumingMemoryBound(to: Int32.self)
            return cmpi_init(p, p + 1, message, cap)
        }
        if let error { throw DistributedError.initialisationFailed(reason: error) }
        let rank = out[0], size = out[1]
        guard Int(size) == announced else { throw DistributedError.sizeMismatch(launcher: announced, mpi: Int(size)) }
        let group = ProcessGroup(rank: Int(rank), size: Int(size), thread: thread)
        TerminationNotice.install(rank: group.rank, size: group.size)
        world = group
        return group
    }

    // MARK: Collectives

    /// Sends `root`'s values of `tensor` (contiguous) to every rank, in place.
    public func broadcast(_ tensor: Tensor, root: Int = 0) {
        guard isDistributed, tensor.count > 0 else { return }
        let pointer = SendablePointer(tensor.elementPointer)
        let bytes = tensor.count * MemoryLayout<Float>.size
        collective("broadcast of \(bytes) bytes") { m, c in cmpi_bcast(pointer.raw, bytes, Int32(root), m, c) }
        tensor.markModifiedInPlace()
    }

    /// `root`'s bytes on every rank (the length is sent first).
    public func broadcast(bytes: [UInt8], root: Int = 0) -> [UInt8] {
        guard isDistributed else { return bytes }
        var length = [Double(bytes.count)]
        length.withUnsafeMutableBytes { raw in
            let p = SendablePointer(raw.baseAddress!)
            collective("broadcast of a length") { m, c in cmpi_bcast(p.raw, 8, Int32(root), m, c) }
        }
        var out = rank == root ? bytes : [UInt8](repeating: 0, count: Int(length[0]))
        out.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress, raw.count > 0 else { return }
            let p = SendablePointer(base), n = raw.count
            collective("broadcast of \(n) bytes") { m, c in cmpi_bcast(p.raw, n, Int32(root), m, c) }
        }
        return out
    }

    /// The element-wise sum of `values` over all ranks (blocking).
    public func allReduceSum(_ values: [Double]) -> [Double] {
        guard isDistributed, !values.isEmpty else { return values }
        var out = values
        out.withUnsafeMutableBufferPointer { buffer in
            let p = SendablePointer(buffer.baseAddress!), n = buffer.count
            collective("all-reduce of \(n) doubles") { m, c in cmpi_allreduce_double(p.raw.assumingMemoryBound(to: Double.self), n, m, c) }
        }
        return out
    }

    /// Sums `count` floats at `buffer` over all ranks, in place (blocking).
    public func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) {
        guard isDistributed, count > 0 else { return }
        let p = SendablePointer(buffer)
        collective("all-reduce of \(count * 4) bytes") { m, c in cmpi_allreduce_float(p.raw.assumingMemoryBound(to: Float.self), count, m, c) }
    }

    /// Starts summing `count` floats at `buffer` over all ranks, in place (`MPI_Iallreduce`), and
    /// returns at once; the buffer must stay alive and untouched until ``PendingReduction/wait()``.
    /// Every rank must start its reductions in the same order.
    public func startAllReduce(_ buffer: UnsafeMutablePointer<Float>, count: Int) -> PendingReduction {
        let pending = PendingReduction(group: self, bytes: count * 4)
        guard let thread, isDistributed, count > 0 else { pending.completion.finish(error: nil); return pending }
        thread.submitAllReduce(SendablePointer(buffer), count: count, completion: pending.completion)
        return pending
    }

    /// Waits until every rank has arrived.
    public func barrier() {
        guard isDistributed else { return }
        collective("barrier") { m, c in cmpi_barrier(m, c) }
    }

    /// Leaves MPI cleanly at the end of a successful run (a barrier, then `MPI_Finalize`); the
    /// group cannot be used afterwards.
    public func finish() {
        guard let thread else { return }
        barrier()
        _ = thread.runBlocking(deadline: Date().addingTimeInterval(timeout)) { _, _ in cmpi_finalize() }
    }

    /// Prints `message` as this rank's one line and ends the whole job (`MPI_Abort`); when MPI
    /// itself is stuck, the process exits anyway after a few seconds.
    public func abort(_ message: String, code: Int32 = 1) -> Never {
        let prefix = isDistributed ? "convnet: rank \(rank) of \(size): " : "convnet: "
        FileHandle.standardError.write(Data((prefix + message + "\n").utf8))
        TerminationNotice.silence()
        guard isDistributed else { exit(code) }
        // MPI_Abort may block when the communication thread is inside MPI; the alarm ends the process then
        alarm(5)
        cmpi_abort(code)
        _exit(code)
    }

    /// Runs one blocking MPI call on the communication thread, aborting the job when it fails or
    /// passes the deadline.
    private func collective(_ what: String, _ call: @escaping @Sendable (UnsafeMutablePointer<CChar>, Int32) -> Int32) {
        guard let thread else { return }
        if let error = thread.runBlocking(deadline: Date().addingTimeInterval(timeout), call) {
            abort("\(what) failed: \(error)")
        }
    }
}

/// A reduction started by ``ProcessGroup/startAllReduce(_:count:)``.
public final class PendingReduction: @unchecked Sendable {
    let completion = Completion()
    private let group: ProcessGroup
    private let bytes: Int

    init(group: ProcessGroup, bytes: Int) { self.group = group; self.bytes = bytes }

    /// Whether the reduction has finished (without waiting).
    public var isComplete: Bool { completion.isDone }

    /// Blocks until the reduction has finished; a failure or a wait past the group's timeout aborts the job.
    public func wait() {
        switch completion.wait(deadline: Date().addingTimeInterval(group.timeout)) {
        case .success: return
        case .failure(let message): group.abort("all-reduce of \(bytes) bytes failed: \(message)")
        case .timedOut:
            group.abort("all-reduce of \(bytes) bytes did not finish within \(Int(group.timeout)) s (a rank is gone or stuck)")
        }
    }
}

/// A pointer handed to the communication thread; the caller keeps the memory alive and untouched
/// until the call (or reduction) it was given to has finished, so crossing threads is safe.
struct SendablePointer: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer
    init(_ p: UnsafeMutableRawPointer) { raw = p }
    init(_ p: UnsafeMutablePointer<Float>) { raw = UnsafeMutableRawPointer(p) }
}
