import ConvNetCore

/// Padding of a window operator: explicit amounts, or ONNX's `auto_pad` computed from the input size.
enum ONNXPadding: Equatable {
    /// Rows above and below, columns left and right.
    case explicit(top: Int, left: Int, bottom: Int, right: Int)
    /// `SAME_UPPER` (the odd extra after) or `SAME_LOWER` (before): the output is ⌈input / stride⌉.
    case same(upper: Bool)

    /// The amounts for an input of `h`×`w` (`kernel` already dilated).
    func amounts(h: Int, w: Int, kernel: Size2, stride: Size2) -> (top: Int, left: Int, bottom: Int, right: Int) {
        switch self {
        case .explicit(let t, let l, let b, let r): return (t, l, b, r)
        case .same(let upper):
            func split(_ n: Int, _ k: Int, _ s: Int) -> (Int, Int) {
                let total = Swift.max(0, ((n + s - 1) / s - 1) * s + k - n)
                return upper ? (total / 2, total - total / 2) : (total - total / 2, total / 2)
            }
            let (t, b) = split(h, kernel.h, stride.h), (l, r) = split(w, kernel.w, stride.w)
            return (t, l, b, r)
        }
    }
}

/// An elementwise operator of two operands with NumPy broadcasting.
enum ONNXBinary: String {
    case add = "Add", sub = "Sub", mul = "Mul", div = "Div"
}

/// A supported ONNX operator with its options, parsed and checked once when the model loads; the
/// forward runs each as the ConvNet op of the same meaning.
enum ONNXOperation {
    case conv(weight: Tensor, bias: Tensor?, stride: Size2, dilation: Size2, padding: ONNXPadding, groups: Int)
    case batchNorm(scale: Tensor, bias: Tensor, mean: Tensor, variance: Tensor, eps: Float)
    case relu, sigmoid, tanh
    case clip(min: Float, max: Float)
    case maxPool(kernel: Size2, stride: Size2, padding: ONNXPadding, dilation: Size2, ceil: Bool)
    case averagePool(kernel: Size2, stride: Size2, padding: ONNXPadding, ceil: Bool, countIncludePad: Bool)
    case globalAveragePool
    /// Gemm with a constant B, as `linear`: weight [N, K] (B transposed as needed, scaled by alpha), bias [N] or nil.
    case linear(weight: Tensor, bias: Tensor?, addend: Tensor?)
    /// Gemm with a computed B.
    case gemm(alpha: Float, beta: Float, transA: Bool, transB: Bool)
    case matmul
    case binary(ONNXBinary)
    case concat(axis: Int)
    case flatten(axis: Int)
    case reshape(shape: [Int], allowZero: Bool)
    /// Softmax on `axis`; `legacy` (opset < 13) normalises over all dimensions from `axis` on.
    case softmax(axis: Int, legacy: Bool)
}
