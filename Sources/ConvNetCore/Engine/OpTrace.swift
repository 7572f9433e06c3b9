import Foundation
import Synchronization

/// A record of the operations one forward pass ran, value by value, so the engine can plan a
/// faster replay of the same computation (`OptimizedGraph`): the way `torch.compile` and
/// `mlx.compile` see a model. Ops record themselves while a trace is active on their thread;
/// anything a replay could not reproduce (reading values in Swift, random tensors made in the
/// forward, an untraced op, a write through a view) marks the trace unusable instead.
public final class OpTrace {
    /// What a node computes. The kinds the optimiser rewrites are spelled out; the rest replay a closure.
    enum Kind {
        case conv2d(weight: Tensor, bias: Tensor?, stride: Size2, padding: Padding, dilation: Size2, groups: Int)
        case batchNorm(BatchNormParameters)
        case relu
        case add
        case maxPool2d(kernel: Size2, stride: Size2, padding: Size2, dilation: Size2, ceil: Bool)
        /// Any other op: its name, its replay, and the options an exporter needs (`TracedOperation`).
        case other(String, ([Tensor]) -> Tensor, attributes: [String: TracedAttribute] = [:])
        /// A side effect (a counter a module keeps), run again on replay; no value.
        case effect(() -> Void)
    }

    struct Node {
        var kind: Kind
        var inputs: [Int]
        var output: Int
    }

    /// The batch norm's tensors and options, as passed to `batchNorm`.
    struct BatchNormParameters {
        var runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?, bias: Tensor?
        var training: Bool, momentum: Float, eps: Float, relu: Bool
    }

    private(set) var nodes: [Node] = []
    /// Tensors that flow into the graph from outside (parameters, buffers, constants), by value id.
    private(set) var constants: [Int: Tensor] = [:]
    private var ids: [ObjectIdentifier: Int] = [:]
    private var keepAlive: [Tensor] = []
    private var viewedStorages = Set<ObjectIdentifier>()
    /// Each value's shape when traced, by value id (what an exporter needs to write shapes).
    private(set) var shapes: [Int: [Int]] = [:]
    private(set) var valueCount = 1
    /// Why the trace cannot be replayed, if it cannot.
    public private(set) var failure: String?
    /// Nesting depth of traced ops (ops called inside a traced op are its implementation).
    var depth = 0

    init(input: Tensor) {
        ids[ObjectIdentifier(input)] = 0
        keepAlive.append(input)
        shapes[0] = input.shape
    }

    /// Marks the trace unusable (the first reason is kept).
    func fail(_ reason: String) { if failure == nil { failure = reason } }

    /// The value id of a tensor an op reads: a traced value, or a new constant.
    func id(of t: Tensor) -> Int {
        if let i = ids[ObjectIdentifier(t)] { return i }
        let i = valueCount
        valueCount += 1
        ids[ObjectIdentifier(t)] = i
        keepAlive.append(t)
        constants[i] = t
        shapes[i] = t.shape
        return i
    }

    /// Whether `t` is a value computed in the traced forward (not a parameter or constant).
    func isTracedValue(_ t: Tensor) -> Bool {
        guard let i = ids[ObjectIdentifier(t)] else { return false }
        return constants[i] == nil
    }

    /// The value id of an op's result (a tensor object rebound by an in-place op gets a new one).
    @discardableResult
    func define(_ t: Tensor) -> Int {
        let i = valueCount
        valueCount += 1
        ids[ObjectIdentifier(t)] = i
        keepAlive.append(t)
        shapes[i] = t.shape
        if t.viewBase != nil { viewedStorages.insert(ObjectIdentifier(t.storage)) }
        return i
    }

    func append(_ kind: Kind, inputs: [Tensor], output: Tensor) {
        let ins = inputs.map { id(of: $0) }
        nodes.append(Node(kind: kind, inputs: ins, output: define(output)))
    }

    func appendEffect(_ body: @escaping () -> Void) { nodes.append(Node(kind: .effect(body), inputs: [], output: -1)) }

    /// The value id of the forward's result, if the trace produced it.
    func outputId(of t: Tensor) -> Int? {
        guard let i = ids[ObjectIdentifier(t)], constants[i] == nil else { return nil }
        return i
    }

    /// Whether a write into `t`'s storage would also change a view the trace handed out.
    func storageIsViewed(_ t: Tensor) -> Bool { viewedStorages.contains(ObjectIdentifier(t.storage)) }

    // MARK: the calling thread's trace

    /// Traces in progress on any thread: while 0, ops skip even the thread-local look-up.
    private static let active = Atomic<Int>(0)
    static var activeCount: Int { active.load(ordering: .relaxed) }
    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()

    /// Whether a trace is recording on this thread.
    public static var isRecording: Bool { current != nil }

    /// The trace recording on this thread, if any.
    static var current: OpTrace? {
        guard activeCount > 0, let p = pthread_getspecific(key) else { return nil }
        return Unmanaged<OpTrace>.fromOpaque(p).takeUnretainedValue()
    }

    /// Runs `body(input)` while recording the ops it runs; returns its result and the trace.
    public static func record(input: Tensor, _ body: (Tensor) -> Tensor) -> (output: Tensor, trace: OpTrace) {
        let trace = OpTrace(input: input)
        let saved = pthread_getspecific(key)
        pthread_setspecific(key, Unmanaged.passUnretained(trace).toOpaque())
        active.add(1, ordering: .relaxed)
        defer {
            active.subtract(1, ordering: .relaxed)
            pthread_setspecific(key, saved)
        }
        let y = body(input)
        if trace.outputId(of: y) == nil { trace.fail("the forward's result was not computed by traced operations") }
        return (y, trace)
    }

    /// Runs an op's eager `body`, recording it as `kind` over `inputs` when a trace is active (and
    /// the op is not itself part of another traced op's implementation).
    @inline(__always)
    static func op(_ kind: @autoclosure () -> Kind, _ inputs: @autoclosure () -> [Tensor], _ body: () -> Tensor) -> Tensor {
        guard activeCount > 0, let trace = current, trace.depth == 0 else { return body() }
        trace.depth += 1
        let out = body()
        trace.depth -= 1
        trace.append(kind(), inputs: inputs(), output: out)
        return out
    }

    /// Runs `body` now and again on every replay of a trace recording this call: state a module
    /// keeps across calls (BatchNorm's `num_batches_tracked`).
    public static func sideEffect(_ body: @escaping () -> Void) {
        body()
        if activeCount > 0, let trace = current, trace.depth == 0 { trace.appendEffect(body) }
    }

    /// An op that does not record itself ran: a replay could not reproduce it.
    @inline(__always)
    static func noteUntraced(_ name: String, _ inputs: [Tensor]) {
        guard activeCount > 0, let trace = current, trace.depth == 0 else { return }
        if inputs.contains(where: { trace.isTracedValue($0) }) { trace.fail("\(name) is not traceable") }
    }

    /// Swift code read a traced value's elements: the forward depends on data, so it cannot be replayed.
    @inline(__always)
    static func noteRead(_ t: Tensor) {
        guard activeCount > 0, let trace = current, trace.depth == 0, trace.isTracedValue(t) else { return }
        trace.fail("the forward reads tensor values in Swift (data-dependent control flow)")
    }

    /// A random tensor was made inside the forward: a replay would reuse it.
    @inline(__always)
    static func noteRandom() {
        guard activeCount > 0, let trace = current, trace.depth == 0 else { return }
        trace.fail("the forward makes random tensors (use dropout or a Generator outside the forward)")
    }
}
