import ConvNetCore

/// Runs modules in order, as `nn.Sequential`; children are keyed `0`, `1`, … or by given names.
public final class Sequential: Module {
    /// The layers, in the order they run.
    public let layers: [any Module]
    /// The children's keys: `"0"`, `"1"`, … or the names given.
    public let names: [String]

    /// Runs `layers` in order, keyed `0`, `1`, …; PyTorch's `nn.Sequential(*layers)`.
    public init(_ layers: [any Module]) {
        self.layers = layers
        names = layers.indices.map(String.init)
    }

    /// Runs the layers in order: `Sequential(Conv2d(1, 6, 5), ReLU())`, as `nn.Sequential(...)`.
    public convenience init(_ layers: any Module...) { self.init(layers) }

    /// Named children (PyTorch's `add_module(name, …)` or an `OrderedDict`).
    public init(named: [(String, any Module)]) {
        checkArgument(Set(named.map(\.0)).count == named.count, "Sequential: duplicate child names \(named.map(\.0))")
        layers = named.map(\.1)
        names = named.map(\.0)
    }

    public func forward(_ x: Tensor) -> Tensor {
        guard Fusion.isAllowed else { return layers.reduce(x) { $1($0) } }
        let inference = Fusion.isActive
        var y = x, i = 0
        while i < layers.count {
            // inference: Conv2d [→ eval BatchNorm2d] [→ ReLU] runs as one fused convolution
            if inference, let conv = layers[i] as? Conv2d, !conv.isLazy {
                var j = i + 1
                var bn: BatchNorm? = nil
                if j < layers.count, let b = layers[j] as? BatchNorm2d, b.hasInferenceAffine { bn = b; j += 1 }
                let relu = j < layers.count && layers[j] is ReLU
                if relu { j += 1 }
                if j > i + 1 {
                    y = Fusion.convBatchNormReLU(conv, bn, relu: relu, y)
                    i = j
                    continue
                }
            }
            // always: BatchNorm → ReLU as one operation
            if let bn = layers[i] as? BatchNorm, i + 1 < layers.count, layers[i + 1] is ReLU {
                y = Fusion.batchNormReLU(bn, y)
                i += 2
                continue
            }
            y = layers[i](y)
            i += 1
        }
        return y
    }

    public func namedChildren() -> [(String, any Module)] { Array(zip(names, layers)) }
    public func namedOwnTensors() -> [(String, Tensor)] { [] }

    /// The number of layers (PyTorch's `len(net)`).
    public var count: Int { layers.count }
    /// The `i`-th layer (PyTorch's `net[i]`).
    public subscript(_ i: Int) -> any Module { layers[i] }
    /// The `i`-th layer as the type it is: `net[0, as: Conv2d.self].weight`.
    public subscript<M: Module>(_ i: Int, as type: M.Type) -> M {
        guard let m = layers[i] as? M else {
            checkArgument(false, "Sequential[\(i)] is a \(layers[i].typeName), not a \(M.self)")
            fatalError()
        }
        return m
    }
}

/// `for layer in net`, as iterating an `nn.Sequential`.
extension Sequential: Sequence {
    /// An iterator over the layers in order.
    public func makeIterator() -> IndexingIterator<[any Module]> { layers.makeIterator() }
}
