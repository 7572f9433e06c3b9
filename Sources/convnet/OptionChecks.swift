import ArgumentParser
import Foundation

// Range checks shared by the commands' `validate()`, so a bad number is refused before any work
// with one line naming the option (never a trap deep inside the library).

/// An integer option that must lie in `range` when given.
func checkRange(_ value: Int?, _ range: ClosedRange<Int>, _ name: String) throws {
    guard let value, !range.contains(value) else { return }
    if range.upperBound == Int.max { throw ValidationError("\(name) must be at least \(range.lowerBound), got \(value)") }
    throw ValidationError("\(name) must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
}

/// A real option that must be finite and lie in `range` when given (NaN fails every comparison,
/// so it is named explicitly).
func checkRange<F: BinaryFloatingPoint>(_ value: F?, _ range: ClosedRange<F>, _ name: String, upperOpen: Bool = false,
                                        lowerOpen: Bool = false) throws {
    guard let value else { return }
    let inside = value.isFinite && range.contains(value) && !(upperOpen && value == range.upperBound)
        && !(lowerOpen && value == range.lowerBound)
    guard !inside else { return }
    let lo = lowerOpen ? "(" : "[", hi = upperOpen ? ")" : "]"
    throw ValidationError("\(name) must be a number in \(lo)\(range.lowerBound), \(range.upperBound)\(hi), got \(value)")
}

/// The largest batch accepted: far beyond any sensible run, and small enough that sizes computed
/// from it (batch × image bytes) cannot overflow.
let maxBatchSize = 65_536

/// The largest image side accepted by `--resize`, `--image-size` and `summary --input`.
let maxImageSide = 4096

/// The largest input (C×H×W values) `summary` traces: 3×1024×1024 fits, and its activations stay
/// within a few hundred MB even for ResNet-18.
let maxSummaryElements = 1 << 22
