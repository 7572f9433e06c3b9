import CMPI
import Foundation

/// The end of one MPI operation, waited for by the thread that asked for it.
final class Completion: @unchecked Sendable {
    enum Outcome { case success, failure(String), timedOut }
    private let condition = NSCondition()
    private var done = false
    private var error: String?

    var isDone: Bool { condition.lock(); defer { condition.unlock() }; return done }

    func finish(error: String?) {
        condition.lock()
        done = true
        self.error = error
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until finished or until `deadline` (nil: forever). A small collective finishes in
    /// tens of microseconds, less than a sleeping thread takes to be woken, so the first ~50 µs
    /// are spent checking (yielding the core) before blocking.
    func wait(deadline: Date?) -> Outcome {
        let spinUntil = DispatchTime.now().uptimeNanoseconds + 50_000
        while DispatchTime.now().uptimeNanoseconds < spinUntil {
            condition.lock()
            let finished = done
            condition.unlock()
            if finished { break }
            sched_yield()
        }
        condition.lock(); defer { condition.unlock() }
        while !done {
            if let deadline {
                if !condition.wait(until: deadline) && !done { return .timedOut }
            } else {
                condition.wait()
            }
        }
        return error.map { .failure($0) } ?? .success
    }
}

/// The one thread that calls MPI (MPI_THREAD_SERIALIZED): it runs blocking calls in the order they
/// are submitted, starts non-blocking all-reduces as soon as they arrive, and drives the ones in
/// flight with `MPI_Test` — Open MPI's TCP transport moves data only inside MPI calls, so without
/// this thread an `MPI_Iallreduce` would not progress while the trainer computes.
///
/// Between tests of a large unfinished reduction it sleeps briefly (``pollInterval``) instead of
/// spinning: the cores are the trainer's, and a spinning thread per rank would slow the backward
/// pass it is meant to hide behind. A small one (≤ 2 MB: a step's loss totals, SyncBatchNorm's
/// sums, a small model's bucket) is tested back to back for up to ``spinRounds`` rounds first, as
/// its latency is what the trainer waits for.
final class CommunicationThread: @unchecked Sendable {
    private enum Job {
        case call(@Sendable (UnsafeMutablePointer<CChar>, Int32) -> Int32, Completion)
        case allReduce(SendablePointer, Int, Completion)
    }

    private let condition = NSCondition()
    private var queue: [Job] = []
    /// Seconds between `MPI_Test` rounds while reductions are in flight.
    let pollInterval: Double
    /// Rounds tested back to back (yielding the core between them) before the thread starts sleeping.
    let spinRounds: Int
    /// Reductions of more elements (2 MB) take milliseconds anyway: the thread sleeps between their
    /// rounds at once, leaving the cores to the backward pass they overlap.
    static let spinLimit = 1 << 19

    init() {
        pollInterval = ProcessInfo.processInfo.environment["CONVNET_DIST_POLL_US"].flatMap(Double.init).map { $0 / 1e6 } ?? 20e-6
        spinRounds = ProcessInfo.processInfo.environment["CONVNET_DIST_SPIN"].flatMap(Int.init) ?? 200
        let thread = Thread { [unowned self] in self.loop() }
        thread.name = "convnet-mpi"
        thread.start()
    }

    /// Runs `call` on the thread and waits for it; returns MPI's message on failure, or a timeout note.
    func runBlocking(deadline: Date?, _ call: @escaping @Sendable (UnsafeMutablePointer<CChar>, Int32) -> Int32) -> String? {
        let completion = Completion()
        submit(.call(call, completion))
        switch completion.wait(deadline: deadline) {
        case .success: return nil
        case .failure(let m): return m
        case .timedOut: return "no answer from the other ranks within the timeout (a rank is gone or stuck)"
        }
    }

    func submitAllReduce(_ buffer: SendablePointer, count: Int, completion: Completion) {
        submit(.allReduce(buffer, count, completion))
    }

    private func submit(_ job: Job) {
        condition.lock()
        queue.append(job)
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        var inFlight: [(request: UnsafeMutableRawPointer?, completion: Completion, count: Int)] = []
        // rounds of MPI_Test since the last completion: the first ones follow each other at once
        // (small reductions finish within microseconds), later ones are spaced by pollInterval
        var idleRounds = 0
        let cap: Int32 = 512
        let message = UnsafeMutablePointer<CChar>.allocate(capacity: Int(cap))
        func text() -> String { String(cString: message) }
        while true {
            condition.lock()
            if queue.isEmpty {
                if inFlight.isEmpty { while queue.isEmpty { condition.wait() } }
                else if idleRounds > spinRounds || inFlight[0].count > Self.spinLimit {
                    _ = condition.wait(until: Date().addingTimeInterval(pollInterval))
                }
                else if idleRounds > 0 { condition.unlock(); sched_yield(); condition.lock() }
            }
            let jobs = queue
            queue.removeAll()
            condition.unlock()
            for job in jobs {
                message[0] = 0
                switch job {
                case let .call(call, completion):
                    let code = call(message, cap)
                    completion.finish(error: code == 0 ? nil : text())
                case let .allReduce(buffer, count, completion):
                    var request: UnsafeMutableRawPointer?
                    if cmpi_iallreduce_float(buffer.raw.assumingMemoryBound(to: Float.self), count, &request, message, cap) != 0 {
                        completion.finish(error: text())
                    } else {
                        inFlight.append((request, completion, count))
                        idleRounds = 0
                    }
                }
            }
            // collectives complete in the order they were started on every rank: test the oldest first
            while let first = inFlight.first {
                var request = first.request
                var done: Int32 = 0
                message[0] = 0
                if cmpi_test(&request, &done, message, cap) != 0 {
                    first.completion.finish(error: text())
                    inFlight.removeFirst()
                    continue
                }
                inFlight[0].request = request
                guard done != 0 else { idleRounds += 1; break }
                first.completion.finish(error: nil)
                inFlight.removeFirst()
                idleRounds = 0
            }
        }
    }
}
