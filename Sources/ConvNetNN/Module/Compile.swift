import ConvNetCore

/// A model whose forward the engine traces once per input shape and mode, then replays with its
/// fusions (`OptimizedGraph`), as `torch.compile(model)`: the trainer, evaluation, prediction and
/// benchmarks run models through it, so a user's own modules get the zoo's speed.
///
/// It is transparent: the same parameters, keys, repr and modes as the wrapped module. A forward
/// that reads tensor values in Swift, makes random tensors, or uses an op the engine cannot
/// replay runs eagerly instead (`fallbackReason` says why), with the same results.
public final class CompiledModule: Module {
    /// The wrapped model.
    public let module: any Module
    private struct Key: Hashable { let shape: [Int], recording: Bool, training: [Bool] }
    private var graphs: [Key: OptimizedGraph] = [:]
    private var eager: Set<Key> = []
    /// Why the last trace could not be replayed (nil when it could, or before any call).
    public private(set) var fallbackReason: String?

    /// Wraps `module`; nothing is traced before the first call (``compile(_:)`` is the usual spelling).
    public init(_ module: any Module) { self.module = module }

    /// The layers whose mode changes what a forward computes, found once (walking the model per call
    /// would cost more than a small model's whole inference).
    private lazy var modeLayers: [any TrainingModeModule] = module.modules().compactMap { $0 as? any TrainingModeModule }

    /// The cache key of a call: input shape, recording, and every mode layer's mode.
    private func key(for shape: [Int]) -> Key {
        Key(shape: shape, recording: GradMode.isEnabled, training: modeLayers.map(\.training))
    }

    /// The graph used last, checked first (a training loop calls with one shape and mode).
    private var last: (key: Key, graph: OptimizedGraph)?

    public func forward(_ x: Tensor) -> Tensor {
        let key = key(for: x.shape)
        // fusion off, or inside another compiled model's trace (whose graph must see these ops): op by op
        guard ExecutionContext.current.fusion, !OpTrace.isRecording else { return module(x) }
        if let last, last.key == key { return last.graph.run(x) }
        if let graph = graphs[key] { last = (key, graph); return graph.run(x) }
        if eager.contains(key) { return module(x) }
        let (y, trace) = OpTrace.record(input: x) { module($0) }
        if let graph = OptimizedGraph(trace, output: y, recording: key.recording) {
            graphs[key] = graph
            fallbackReason = nil
        } else {
            eager.insert(key)
            fallbackReason = trace.failure
        }
        return y
    }

    /// The number of operations a replay for `shape` runs, once traced (for tests and benchmarks).
    public func replaySteps(forInputShape shape: [Int]) -> Int? {
        graphs[key(for: shape)]?.stepCount
    }

    public func namedChildren() -> [(String, any Module)] { module.namedChildren() }
    public func namedOwnTensors() -> [(String, Tensor)] { module.namedOwnTensors() }
    public var typeName: String { module.typeName }
    public var extraRepr: String { module.extraRepr }
    /// The wrapped module's repr, as PyTorch prints a compiled model's original.
    public var description: String { module.description }
}

/// The model, traced and optimised by the engine on its first call per input shape and mode
/// (PyTorch's `torch.compile`); a model already compiled is returned as it is.
public func compile(_ model: any Module) -> CompiledModule {
    (model as? CompiledModule) ?? CompiledModule(model)
}
