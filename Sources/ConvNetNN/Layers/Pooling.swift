import ConvNetCore

/// How PyTorch shows a size option: an int when given as one, otherwise a tuple.
private func sizeText(_ s: Size2, asPair: Bool) -> String { asPair ? s.description : "\(s.h)" }

/// 2-D max pooling, as `nn.MaxPool2d`.
public final class MaxPool2d: Module {
    /// The window, step, zero padding and dilation, each (height, width).
    public let kernelSize: Size2, stride: Size2, padding: Size2, dilation: Size2
    /// Whether the output size rounds up (PyTorch's `ceil_mode`).
    public let ceilMode: Bool
    private let _pairs: Bool

    /// Max pooling with (height, width) pairs; `stride` defaults to the kernel size, as in PyTorch.
    public init(kernelSize: Size2, stride: Size2? = nil, padding: Size2 = 0, dilation: Size2 = 1, ceilMode: Bool = false) {
        self.kernelSize = kernelSize; self.stride = stride ?? kernelSize
        self.padding = padding; self.dilation = dilation; self.ceilMode = ceilMode
        _pairs = true
    }

    /// Max pooling with square sizes: `MaxPool2d(kernelSize: 3, stride: 2, padding: 1)`, as `nn.MaxPool2d(3, 2, 1)`.
    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0, dilation: Int = 1, ceilMode: Bool = false) {
        self.kernelSize = Size2(kernelSize); self.stride = Size2(stride ?? kernelSize)
        self.padding = Size2(padding); self.dilation = Size2(dilation); self.ceilMode = ceilMode
        _pairs = false
    }

    /// PyTorch's `MaxPool2d(3)`: the kernel size unlabeled.
    public convenience init(_ kernelSize: Int, stride: Int? = nil, padding: Int = 0, dilation: Int = 1, ceilMode: Bool = false) {
        self.init(kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
    }

    public func forward(_ x: Tensor) -> Tensor {
        maxPool2d(x, kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
    }

    public var extraRepr: String {
        "kernel_size=\(sizeText(kernelSize, asPair: _pairs)), stride=\(sizeText(stride, asPair: _pairs)), "
            + "padding=\(sizeText(padding, asPair: _pairs)), dilation=\(sizeText(dilation, asPair: _pairs)), "
            + "ceil_mode=\(ceilMode ? "True" : "False")"
    }
}

/// 2-D average pooling, as `nn.AvgPool2d`.
public final class AvgPool2d: Module {
    /// The window, step and zero padding, each (height, width).
    public let kernelSize: Size2, stride: Size2, padding: Size2
    /// Whether the output size rounds up (PyTorch's `ceil_mode`) and whether padded zeros count in the average (`count_include_pad`).
    public let ceilMode: Bool, countIncludePad: Bool
    private let _pairs: Bool

    /// Average pooling with (height, width) pairs; `stride` defaults to the kernel size, as in PyTorch.
    public init(kernelSize: Size2, stride: Size2? = nil, padding: Size2 = 0, ceilMode: Bool = false, countIncludePad: Bool = true) {
        self.kernelSize = kernelSize; self.stride = stride ?? kernelSize; self.padding = padding
        self.ceilMode = ceilMode; self.countIncludePad = countIncludePad
        _pairs = true
    }

    /// Average pooling with square sizes: `AvgPool2d(kernelSize: 2)`, as `nn.AvgPool2d(2)`.
    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false, countIncludePad: Bool = true) {
        self.kernelSize = Size2(kernelSize); self.stride = Size2(stride ?? kernelSize); self.padding = Size2(padding)
        self.ceilMode = ceilMode; self.countIncludePad = countIncludePad
        _pairs = false
    }

    /// PyTorch's `AvgPool2d(2)`: the kernel size unlabeled.
    public convenience init(_ kernelSize: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false, countIncludePad: Bool = true) {
        self.init(kernelSize: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode, countIncludePad: countIncludePad)
    }

    public func forward(_ x: Tensor) -> Tensor {
        avgPool2d(x, kernelSize: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode, countIncludePad: countIncludePad)
    }

    public var extraRepr: String {
        "kernel_size=\(sizeText(kernelSize, asPair: _pairs)), stride=\(sizeText(stride, asPair: _pairs)), padding=\(sizeText(padding, asPair: _pairs))"
            + (ceilMode ? ", ceil_mode=True" : "") + (countIncludePad ? "" : ", count_include_pad=False")
    }
}

/// Average pooling to a fixed output size, as `nn.AdaptiveAvgPool2d`.
public final class AdaptiveAvgPool2d: Module {
    /// The output's (height, width).
    public let outputSize: Size2
    private let _pair: Bool
    /// Pools to `outputSize` (height, width): `AdaptiveAvgPool2d(outputSize: [1, 1])`, as `nn.AdaptiveAvgPool2d((1, 1))`.
    public init(outputSize: Size2) { self.outputSize = outputSize; _pair = true }
    /// Pools to a square `outputSize`: `AdaptiveAvgPool2d(outputSize: 1)`, as `nn.AdaptiveAvgPool2d(1)`.
    public init(outputSize: Int) { self.outputSize = Size2(outputSize); _pair = false }
    public func forward(_ x: Tensor) -> Tensor { adaptiveAvgPool2d(x, outputSize: outputSize) }
    public var extraRepr: String { "output_size=\(sizeText(outputSize, asPair: _pair))" }
}
