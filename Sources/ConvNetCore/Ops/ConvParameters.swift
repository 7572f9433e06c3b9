/// A (height, width) pair for kernel sizes, strides and dilations. An integer literal means both.
public struct Size2: Equatable, Hashable, Sendable, ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral, CustomStringConvertible {
    /// The height component.
    public var h: Int
    /// The width component.
    public var w: Int
    /// A pair with height `h` and width `w` (PyTorch's `(h, w)` tuple).
    public init(_ h: Int, _ w: Int) { self.h = h; self.w = w }
    /// The same value for height and width (PyTorch's single `int`).
    public init(_ both: Int) { self.init(both, both) }
    /// An integer literal means the same value for height and width: `kernelSize: 3` is `(3, 3)`.
    public init(integerLiteral value: Int) { self.init(value) }
    /// An array literal of one or two values: `[3]` is `(3, 3)`, `[1, 2]` is `(1, 2)`.
    public init(arrayLiteral elements: Int...) {
        checkArgument(elements.count == 1 || elements.count == 2, "a size pair takes 1 or 2 values, got \(elements)")
        self.init(elements[0], elements.count == 2 ? elements[1] : elements[0])
    }
    /// PyTorch's tuple text: `(3, 3)`.
    public var description: String { "(\(h), \(w))" }
}

/// Convolution padding: explicit amounts, or `.same` (output size = input size, stride 1) or `.valid` (none).
public enum Padding: Equatable, Hashable, Sendable, ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral, CustomStringConvertible {
    /// Explicit zero padding on each side: `h` rows above and below, `w` columns left and right.
    case explicit(Size2)
    /// Pads so the output has the input's size (PyTorch's `padding="same"`, stride 1 only).
    case same
    /// No padding (PyTorch's `padding="valid"`).
    case valid

    /// An integer literal pads every side by that amount: `padding: 1` is `.explicit((1, 1))`.
    public init(integerLiteral value: Int) { self = .explicit(Size2(value)) }
    /// An array literal of one or two values: `[1, 2]` pads 1 row and 2 columns.
    public init(arrayLiteral elements: Int...) {
        checkArgument(elements.count == 1 || elements.count == 2, "padding takes 1 or 2 values, got \(elements)")
        self = .explicit(Size2(elements[0], elements.count == 2 ? elements[1] : elements[0]))
    }
    /// Explicit padding of `h` rows and `w` columns (PyTorch's `padding=(h, w)`).
    public static func pair(_ h: Int, _ w: Int) -> Padding { .explicit(Size2(h, w)) }

    /// PyTorch's text: `(1, 1)`, `same` or `valid`.
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
