import ConvNetCore
import Foundation

/// A network layer or model, as PyTorch's `nn.Module`.
///
/// Adopt it in a `final class` and write `forward`; parameters (tensors that require a gradient),
/// buffers (other tensors) and child modules are found from the stored properties in declaration
/// order — also inside optionals and arrays — so nothing is registered by hand. Keys follow
/// PyTorch: `conv1.weight`, `net.0.1.bias`, `bn.running_mean` (tensor names in snake_case).
public protocol Module: AnyObject, CustomStringConvertible {
    /// The computation; call the module itself (`model(x)`) rather than this.
    func forward(_ x: Tensor) -> Tensor
    /// The options shown inside the parentheses of the repr (PyTorch's `extra_repr`).
    var extraRepr: String { get }
    /// The class name shown in the repr.
    var typeName: String { get }
    /// Direct children with their keys; by default found by reflection.
    func namedChildren() -> [(String, any Module)]
    /// Tensors held directly (not by children) with their keys; by default found by reflection.
    func namedOwnTensors() -> [(String, Tensor)]
}

/// A module whose behaviour differs between training and evaluation (dropout, batch norm).
public protocol TrainingModeModule: Module {
    var training: Bool { get set }
}

extension Module {
    public var extraRepr: String { "" }
    public var typeName: String { String(describing: type(of: self)) }

    public func namedChildren() -> [(String, any Module)] { Reflection.children(of: self) }
    public func namedOwnTensors() -> [(String, Tensor)] { Reflection.tensors(of: self) }

    /// PyTorch's repr: `Name(options)` or `Name(\n  (child): …\n)`.
    public var description: String {
        let children = namedChildren()
        let extra = extraRepr
        var lines: [String] = extra.isEmpty ? [] : extra.components(separatedBy: "\n")
        for (name, child) in children {
            lines.append("(\(name)): " + indentContinuationLines(child.description, by: 2))
        }
        var s = typeName + "("
        if !lines.isEmpty {
            if children.isEmpty && lines.count == 1 { s += extra } else { s += "\n  " + lines.joined(separator: "\n  ") + "\n" }
        }
        return s + ")"
    }

    /// Direct child modules.
    public func children() -> [any Module] { namedChildren().map(\.1) }

    /// This module and every descendant with dotted keys ("" for self), depth first.
    public func namedModules() -> [(String, any Module)] {
        var out: [(String, any Module)] = [("", self)]
        var seen: Set<ObjectIdentifier> = [ObjectIdentifier(self)]
        func walk(_ m: any Module, _ prefix: String) {
            for (name, child) in m.namedChildren() where seen.insert(ObjectIdentifier(child)).inserted {
                let key = prefix.isEmpty ? name : prefix + "." + name
                out.append((key, child))
                walk(child, key)
            }
        }
        walk(self, "")
        return out
    }

    /// This module and every descendant.
    public func modules() -> [any Module] { namedModules().map(\.1) }

    /// Every tensor (parameters and buffers) with its dotted key, in registration order, each once.
    public func namedTensors() -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        var seen = Set<ObjectIdentifier>()
        for (prefix, m) in namedModules() {
            for (name, t) in m.namedOwnTensors() where seen.insert(ObjectIdentifier(t)).inserted {
                out.append((prefix.isEmpty ? name : prefix + "." + name, t))
            }
        }
        return out
    }

    /// Trainable tensors (those that require a gradient) with dotted keys.
    public func namedParameters() -> [(String, Tensor)] { namedTensors().filter { $0.1.requiresGrad } }
    /// Non-trainable state (running statistics, counters) with dotted keys.
    public func namedBuffers() -> [(String, Tensor)] { namedTensors().filter { !$0.1.requiresGrad } }
    /// Trainable tensors, for an optimiser.
    public func parameters() -> [Tensor] { namedParameters().map(\.1) }
    /// The number of trainable scalars.
    public var numParameters: Int { parameters().reduce(0) { $0 + $1.count } }

    /// Whether the model is in training mode (true unless `eval()` was called).
    public var training: Bool {
        for m in modules() { if let t = m as? any TrainingModeModule { return t.training } }
        return ModeRegistry.mode(of: self) ?? true
    }

    /// Sets training mode recursively (dropout active, batch norm uses batch statistics).
    @discardableResult
    public func train(_ mode: Bool = true) -> Self {
        for m in modules() {
            if let t = m as? any TrainingModeModule { t.training = mode }
            ModeRegistry.set(mode, for: m)
        }
        return self
    }

    /// Sets evaluation mode recursively.
    @discardableResult
    public func eval() -> Self { train(false) }

    /// Clears every parameter's gradient.
    public func zeroGrad() { for p in parameters() { p.grad = nil } }

    /// Calls `body` on this module and every descendant (PyTorch's `apply`, e.g. for initialisation).
    public func apply(_ body: (any Module) -> Void) { for m in modules() { body(m) } }
}

/// PyTorch's `_addindent`: indents every line after the first.
func indentContinuationLines(_ s: String, by n: Int) -> String {
    let lines = s.components(separatedBy: "\n")
    guard lines.count > 1 else { return s }
    let pad = String(repeating: " ", count: n)
    return ([lines[0]] + lines.dropFirst().map { pad + $0 }).joined(separator: "\n")
}

/// Remembers the mode of modules that have no mode-dependent layer inside, held weakly.
enum ModeRegistry {
    private final class Entry { weak var module: AnyObject?; var training: Bool; init(_ m: AnyObject, _ t: Bool) { module = m; training = t } }
    nonisolated(unsafe) private static var entries: [ObjectIdentifier: Entry] = [:]
    private static let lock = NSLock()

    static func set(_ training: Bool, for m: AnyObject) {
        lock.lock(); defer { lock.unlock() }
        entries = entries.filter { $0.value.module != nil }
        entries[ObjectIdentifier(m)] = Entry(m, training)
    }

    static func mode(of m: AnyObject) -> Bool? {
        lock.lock(); defer { lock.unlock() }
        guard let e = entries[ObjectIdentifier(m)], e.module === m else { return nil }
        return e.training
    }
}
