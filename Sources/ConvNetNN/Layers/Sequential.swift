import ConvNetCore

/// Runs modules in order, as `nn.Sequential`; children are keyed `0`, `1`, … or by given names.
public final class Sequential: Module {
    public let layers: [any Module]
    public let names: [String]

    public init(_ layers: [any Module]) {
        self.layers = layers
        names = layers.indices.map(String.init)
    }

    public convenience init(_ layers: any Module...) { self.init(layers) }

    /// Named children (PyTorch's `add_module(name, …)` or an `OrderedDict`).
    public init(named: [(String, any Module)]) {
        checkArgument(Set(named.map(\.0)).count == named.count, "Sequential: duplicate child names \(named.map(\.0))")
        layers = named.map(\.1)
        names = named.map(\.0)
    }

    public func forward(_ x: Tensor) -> Tensor { layers.reduce(x) { $1($0) } }
    public func namedChildren() -> [(String, any Module)] { Array(zip(names, layers)) }
    public func namedOwnTensors() -> [(String, Tensor)] { [] }

    public var count: Int { layers.count }
    public subscript(_ i: Int) -> any Module { layers[i] }
}
