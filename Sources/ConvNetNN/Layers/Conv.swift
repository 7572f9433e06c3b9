import ConvNetCore

/// 2-D convolution over NCHW input, as `nn.Conv2d`. With `inChannels` 0 (see `LazyConv2d`) the
/// input channel count is inferred at the first call.
public final class Conv2d: Module {
    /// Input channels; 0 for a lazy layer before its first forward.
    public var inChannels: Int { weight.isUninitialized ? 0 : weight.shape[1] * groups }
    /// Output channels (the number of kernels).
    public let outChannels: Int
    /// The kernel's (height, width).
    public let kernelSize: Size2
    /// The step between windows, (height, width).
    public let stride: Size2
    /// Zero padding added to the input (explicit, `.same` or `.valid`).
    public let padding: Padding
    /// Spacing between kernel elements, (height, width).
    public let dilation: Size2
    /// Number of channel groups (PyTorch's `groups`; ResNeXt's grouped convolution).
    public let groups: Int
    /// [out, in/groups, kh, kw]; for a lazy layer an uninitialized parameter until the first forward.
    public let weight: Tensor
    /// Per-output-channel bias `[out]`, or `nil` when built with `bias: false`.
    public let bias: Tensor?

    /// A convolution from `inChannels` to `outChannels`; PyTorch's `nn.Conv2d(in, out, kernel_size, stride, padding, dilation, groups, bias)`. `inChannels` 0 makes it lazy.
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Size2, stride: Size2 = 1, padding: Padding = 0,
                dilation: Size2 = 1, groups: Int = 1, bias: Bool = true) {
        checkArgument(groups > 0, "groups must be a positive integer")
        checkArgument(outChannels > 0 && outChannels % groups == 0, "out_channels (\(outChannels)) must be divisible by groups (\(groups))")
        checkArgument(inChannels % groups == 0, "in_channels (\(inChannels)) must be divisible by groups (\(groups))")
        checkArgument(kernelSize.h > 0 && kernelSize.w > 0, "kernel size must be positive, got \(kernelSize)")
        if padding == .same { checkArgument(stride == 1, "padding='same' is not supported for strided convolutions") }
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        if inChannels > 0 {
            let (w, b) = Conv2d.initialParameters(inChannels, outChannels, kernelSize, groups: groups, bias: bias)
            weight = w; self.bias = b
        } else {
            weight = .uninitialized(requiresGrad: true)
            self.bias = bias ? .uninitialized(requiresGrad: true) : nil
        }
    }

    /// PyTorch's `Conv2d(1, 6, 5)`: channels and kernel size unlabeled.
    public convenience init(_ inChannels: Int, _ outChannels: Int, _ kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            dilation: Int = 1, groups: Int = 1, bias: Bool = true) {
        self.init(inChannels, outChannels, kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation,
                  groups: groups, bias: bias)
    }

    /// Integer options (what integer variables and literals pass).
    public convenience init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            dilation: Int = 1, groups: Int = 1, bias: Bool = true) {
        self.init(inChannels, outChannels, kernelSize: Size2(kernelSize), stride: Size2(stride),
                  padding: .explicit(Size2(padding)), dilation: Size2(dilation), groups: groups, bias: bias)
    }

    private static func initialParameters(_ c: Int, _ outChannels: Int, _ kernelSize: Size2, groups: Int,
                                          bias: Bool) -> (Tensor, Tensor?) {
        let w = Tensor.zeros([outChannels, c / groups, kernelSize.h, kernelSize.w])
        let b: Tensor? = bias ? Tensor.zeros([outChannels]) : nil
        Init.pytorchDefault(weight: w, bias: b)
        w.requiresGrad = true
        b?.requiresGrad = true
        return (w, b)
    }

    private func materialize(_ c: Int) {
        checkArgument(c % groups == 0, "in_channels (\(c)) must be divisible by groups (\(groups))")
        let (w, b) = Conv2d.initialParameters(c, outChannels, kernelSize, groups: groups, bias: bias != nil)
        weight.materialize(with: w)
        if let b { bias?.materialize(with: b) }
    }

    /// Whether the input channel count is still to be inferred.
    public var isLazy: Bool { weight.isUninitialized }

    public func forward(_ x: Tensor) -> Tensor {
        if isLazy {
            checkArgument(x.rank == 4 || x.rank == 3, "LazyConv2d: expected 3D or 4D input, got \(x.shape)")
            materialize(x.shape[x.rank - 3])
        }
        return conv2d(x, weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    public var typeName: String { isLazy ? "LazyConv2d" : "Conv2d" }

    public var extraRepr: String {
        var s = "\(inChannels), \(outChannels), kernel_size=\(kernelSize), stride=\(stride)"
        switch padding {
        case .explicit(let p): if p != Size2(0) { s += ", padding=\(p)" }
        case .same: s += ", padding=same"
        case .valid: s += ", padding=valid"
        }
        if dilation != Size2(1) { s += ", dilation=\(dilation)" }
        if groups != 1 { s += ", groups=\(groups)" }
        if bias == nil { s += ", bias=False" }
        return s
    }
}

/// A Conv2d whose input channel count is inferred at the first call (D2L's `nn.LazyConv2d`).
public func LazyConv2d(_ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1,
                       groups: Int = 1, bias: Bool = true) -> Conv2d {
    Conv2d(0, outChannels, kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation, groups: groups, bias: bias)
}

/// A lazily-shaped `Conv2d` with (height, width) pairs and `Padding`: `LazyConv2d(64, kernelSize: [1, 3], padding: .same)`.
public func LazyConv2d(_ outChannels: Int, kernelSize: Size2, stride: Size2 = 1, padding: Padding = 0, dilation: Size2 = 1,
                       groups: Int = 1, bias: Bool = true) -> Conv2d {
    Conv2d(0, outChannels, kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation, groups: groups, bias: bias)
}
