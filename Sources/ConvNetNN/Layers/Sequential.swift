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
        var x = x
        for layer in layers { x = layer(x) }
        return x
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
