import ConvNetCore
import Foundation

/// Weight initialisers (PyTorch's `nn.init`), in place.
public enum Init {
    /// (fan_in, fan_out) of a weight [out, in, k…] as PyTorch computes them.
    public static func fans(_ t: Tensor) -> (fanIn: Int, fanOut: Int) {
        checkArgument(t.rank >= 2, "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions (shape \(t.shape))")
        let receptive = t.shape[2...].reduce(1, *)
        return (t.shape[1] * receptive, t.shape[0] * receptive)
    }

    /// Fills `t` from U(low, high); PyTorch's `nn.init.uniform_`.
    public static func uniform(_ t: Tensor, low: Float, high: Float, generator: Generator = .global) {
        fillInPlace(t) { generator.fillUniform($0, count: t.count, low: low, high: high) }
    }

    /// Fills `t` from N(mean, std²); PyTorch's `nn.init.normal_`.
    public static func normal(_ t: Tensor, mean: Float = 0, std: Float = 1, generator: Generator = .global) {
        fillInPlace(t) { generator.fillNormal($0, count: t.count, mean: mean, std: std) }
    }

    /// Fills `t` with 0; PyTorch's `nn.init.zeros_`.
    public static func zeros(_ t: Tensor) { constant(t, 0) }
    /// Fills `t` with 1; PyTorch's `nn.init.ones_`.
    public static func ones(_ t: Tensor) { constant(t, 1) }
    /// Fills `t` with `value`; PyTorch's `nn.init.constant_`.
    public static func constant(_ t: Tensor, _ value: Float) { withNoGrad { t.fill_(value) } }

    /// Initialisers write parameters in place without recording, as `torch.nn.init` does under `no_grad`.
    private static func fillInPlace(_ t: Tensor, _ body: (UnsafeMutablePointer<Float>) -> Void) {
        let values = Tensor.empty(t.shape)
        body(values.elementPointer)
        withNoGrad { t.copy_(values) }
    }

    /// Glorot uniform initialisation; PyTorch's `nn.init.xavier_uniform_` (D2L's `init_cnn`).
    public static func xavierUniform(_ t: Tensor, gain: Float = 1, generator: Generator = .global) {
        let (fi, fo) = fans(t)
        let a = gain * (6 / Float(fi + fo)).squareRoot()
        uniform(t, low: -a, high: a, generator: generator)
    }

    /// Glorot normal initialisation; PyTorch's `nn.init.xavier_normal_`.
    public static func xavierNormal(_ t: Tensor, gain: Float = 1, generator: Generator = .global) {
        let (fi, fo) = fans(t)
        normal(t, std: gain * (2 / Float(fi + fo)).squareRoot(), generator: generator)
    }

    /// He initialisation for ReLU (`a` is the negative slope of a leaky ReLU; mode fan_in).
    public static func kaimingUniform(_ t: Tensor, a: Float = 0, fanOut: Bool = false, generator: Generator = .global) {
        let (fi, fo) = fans(t)
        let gain = (2 / (1 + a * a)).squareRoot()
        let bound = (3 as Float).squareRoot() * gain / Float(fanOut ? fo : fi).squareRoot()
        uniform(t, low: -bound, high: bound, generator: generator)
    }

    /// He normal initialisation for ReLU (mode fan_in, or fan_out with `fanOut`); PyTorch's `nn.init.kaiming_normal_`.
    public static func kaimingNormal(_ t: Tensor, a: Float = 0, fanOut: Bool = false, generator: Generator = .global) {
        let (fi, fo) = fans(t)
        let gain = (2 / (1 + a * a)).squareRoot()
        normal(t, std: gain / Float(fanOut ? fo : fi).squareRoot(), generator: generator)
    }

    /// PyTorch's default for Linear and Conv: kaiming-uniform with a = √5 (bound 1/√fan_in) and a
    /// bias uniform in ±1/√fan_in.
    static func pytorchDefault(weight: Tensor, bias: Tensor?) {
        kaimingUniform(weight, a: (5 as Float).squareRoot())
        if let bias {
            let fi = fans(weight).fanIn
            let bound: Float = fi > 0 ? 1 / Float(fi).squareRoot() : 0
            uniform(bias, low: -bound, high: bound)
        }
    }
}

extension Module {
    /// Re-initialises every Linear and Conv2d weight with `initializer` and zeroes their biases
    /// (D2L's `init_cnn` with `Init.xavierUniform`).
    public func initWeights(_ initializer: (Tensor) -> Void) {
        apply { m in
            if let l = m as? Linear, !l.isLazy { initializer(l.weight); l.bias.map { Init.zeros($0) } }
            if let c = m as? Conv2d, !c.isLazy { initializer(c.weight); c.bias.map { Init.zeros($0) } }
        }
    }
}

/// Python's `repr` of a float written from a Float32 option: the shortest digits that round-trip
/// (`1e-05`, `0.1`, `1.0`), which Swift's description already produces in Python's notation.
func pythonFloat(_ v: Float) -> String { v.description }
