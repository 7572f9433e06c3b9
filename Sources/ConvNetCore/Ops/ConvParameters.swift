/// A (height, width) pair for kernel sizes, strides and dilations. An integer literal means both.
public struct Size2: Equatable, Hashable, Sendable, ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral, CustomStringConvertible {
    public var h: Int
    public var w: Int
    public init(_ h: Int, _ w: Int) { self.h = h; self.w = w }
    public init(_ both: Int) { self.init(both, both) }
    public init(integerLiteral value: Int) { self.init(value) }
    public init(arrayLiteral elements: Int...) {
        checkArgument(elements.count == 1 || elements.count == 2, "a size pair takes 1 or 2 values, got \(elements)")
        self.init(elements[0], elements.count == 2 ? elements[1] : elements[0])
    }
    /// PyTorch's tuple text: `(3, 3)`.
    public var description: String { "(\(h), \(w))" }
}

/// Convolution padding: explicit amounts, or `.same` (output size = input size, stride 1) or `.valid` (none).
public enum Padding: Equatable, Hashable, Sendable, ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral, CustomStringConvertible {
    case explicit(Size2)
    case same
    case valid

    public init(integerLiteral value: Int) { self = .explicit(Size2(value)) }
    public init(arrayLiteral elements: Int...) {
        checkArgument(elements.count == 1 || elements.count == 2, "padding takes 1 or 2 values, got \(elements)")
        self = .explicit(Size2(elements[0], elements.count == 2 ? elements[1] : elements[0]))
    }
    public static func pair(_ h: Int, _ w: Int) -> Padding { .explicit(Size2(h, w)) }

    public var description: String {
        switch self {
        case .explicit(let s): return s.description
        case .same: return "same"
        case .valid: return "valid"
        }
    }
}

/// Output length of a convolution or pooling window along one dimension, as PyTorch computes it.
public func convOutputSize(_ n: Int, kernel k: Int, stride s: Int, padding p: Int, dilation d: Int = 1, ceilMode: Bool = false) -> Int {
    let span = n + 2 * p - d * (k - 1) - 1
    if span < 0 { return 0 }
    var out = (ceilMode ? (span + s - 1) / s : span / s) + 1
    // in ceil mode the last window must start inside the input or left padding
    if ceilMode && (out - 1) * s >= n + p { out -= 1 }
    return out
}
