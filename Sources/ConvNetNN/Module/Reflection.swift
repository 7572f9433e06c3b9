import ConvNetCore

/// Finds a module's children and tensors from its stored properties, in declaration order.
enum Reflection {
    static func children(of object: AnyObject) -> [(String, any Module)] {
        var out: [(String, any Module)] = []
        for (label, value) in storedProperties(of: object) { collectModules(value, key: label, into: &out) }
        return out
    }

    static func tensors(of object: AnyObject) -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        for (label, value) in storedProperties(of: object) {
            if let t = unwrap(value) as? Tensor { out.append((snakeCase(label), t)) }
        }
        return out
    }

    /// Labelled stored properties of the class and its superclasses (lazy storage renamed).
    private static func storedProperties(of object: AnyObject) -> [(String, Any)] {
        var mirrors: [Mirror] = []
        var m: Mirror? = Mirror(reflecting: object)
        while let cur = m { mirrors.insert(cur, at: 0); m = cur.superclassMirror }
        var out: [(String, Any)] = []
        for mirror in mirrors {
            for child in mirror.children {
                guard var label = child.label else { continue }
                if label.hasPrefix("$__lazy_storage_$_") { label.removeFirst("$__lazy_storage_$_".count) }
                if label.hasPrefix("_") { continue } // private plumbing
                out.append((label, child.value))
            }
        }
        return out
    }

    private static func unwrap(_ value: Any) -> Any? {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional {
            guard let inner = mirror.children.first else { return nil }
            return unwrap(inner.value)
        }
        return value
    }

    private static func collectModules(_ value: Any, key: String, into out: inout [(String, any Module)]) {
        guard let v = unwrap(value) else { return }
        if let module = v as? any Module { out.append((key, module)); return }
        if v is Tensor { return }
        let mirror = Mirror(reflecting: v)
        if mirror.displayStyle == .collection {
            // an array of modules is a ModuleList: a container keyed by its indices
            let items = mirror.children.compactMap { unwrap($0.value) as? any Module }
            if !items.isEmpty, items.count == mirror.children.count {
                out.append((key, ModuleList(items)))
            }
        }
    }

    /// `runningMean` → `running_mean` (PyTorch's tensor names).
    static func snakeCase(_ s: String) -> String {
        var out = ""
        for ch in s {
            if ch.isUppercase { if !out.isEmpty { out.append("_") }; out.append(Character(ch.lowercased())) } else { out.append(ch) }
        }
        return out
    }
}

/// Modules held in an array, keyed `0`, `1`, … (PyTorch's `nn.ModuleList`).
public final class ModuleList: Module {
    /// The modules, keyed by position.
    public let items: [any Module]
    /// Holds `items`; PyTorch's `nn.ModuleList(items)`.
    public init(_ items: [any Module]) { self.items = items }
    public func forward(_ x: Tensor) -> Tensor { preconditionFailure("ModuleList has no forward; call its items") }
    public func namedChildren() -> [(String, any Module)] { items.enumerated().map { (String($0.offset), $0.element) } }
    public func namedOwnTensors() -> [(String, Tensor)] { [] }
}
