import ConvNet
import Foundation
import Testing

/// Maximum absolute difference after checking shapes.
func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
    #expect(a.shape == b.shape, "shapes \(a.shape) vs \(b.shape)")
    guard a.shape == b.shape else { return .infinity }
    return zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
}

/// Asserts `actual` ≈ `expected` elementwise: |a − e| ≤ atol + rtol·|e|.
func expectClose(_ actual: Tensor, _ expected: Tensor, rtol: Float = 1e-4, atol: Float = 1e-5,
                 _ what: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == expected.shape, "\(what): shape \(actual.shape) vs \(expected.shape)", sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return }
    var worst: (Int, Float, Float)? = nil
    for (i, (a, e)) in zip(actual.scalars, expected.scalars).enumerated() where !(abs(a - e) <= atol + rtol * abs(e)) {
        if worst == nil || abs(a - e) > abs(worst!.1 - worst!.2) { worst = (i, a, e) }
    }
    #expect(worst == nil, "\(what): element \(worst?.0 ?? -1) is \(worst?.1 ?? 0), expected \(worst?.2 ?? 0)", sourceLocation: sourceLocation)
}

/// The largest element error relative to the expected tensor's largest magnitude: the norm-wise
/// measure that bounds fast algorithms' rounding (Winograd's transforms mix a tile's elements, so an
/// output near zero carries the rounding of its larger neighbours).
func scaledError(_ actual: Tensor, _ expected: Tensor) -> Float {
    precondition(actual.shape == expected.shape, "shape \(actual.shape) vs \(expected.shape)")
    let e = expected.scalars
    let scale = e.reduce(Float(0)) { max($0, abs($1)) }
    let worst = zip(actual.scalars, e).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
    return worst / max(scale, .leastNormalMagnitude)
}

func expectClose(_ actual: [Float], _ expected: [Float], tol: Float = 1e-5, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, sourceLocation: sourceLocation)
    for (a, e) in zip(actual, expected) {
        #expect(abs(a - e) <= tol * max(1, abs(e)), "\(actual) vs \(expected)", sourceLocation: sourceLocation)
    }
}

/// A leaf tensor that requires a gradient.
func param(_ shape: [Int], seed: UInt64, scale: Float = 1, offset: Float = 0) -> Tensor {
    let t = Tensor.randn(shape, generator: Generator(seed: seed)) * scale + offset
    let leaf = t.detached()
    leaf.requiresGrad = true
    return leaf
}

/// Checks autograd against central finite differences for every element of every input.
/// The output is reduced with fixed random weights so every output element matters.
func gradCheck(_ inputs: [Tensor], eps: Float = 1e-2, rtol: Float = 2e-2, atol: Float = 2e-3,
               _ what: String, sourceLocation: SourceLocation = #_sourceLocation, _ f: ([Tensor]) -> Tensor) {
    let probe = f(inputs)
    let w = Tensor.randn(probe.shape, generator: Generator(seed: 99))
    func scalar() -> Float { withNoGrad { (f(inputs) * w).sum().item() } }
    for x in inputs { x.grad = nil }
    (f(inputs) * w).sum().backward()
    for (k, x) in inputs.enumerated() where x.requiresGrad {
        guard let g = x.grad else { Issue.record("\(what): input \(k) got no gradient", sourceLocation: sourceLocation); continue }
        #expect(g.shape == x.shape, sourceLocation: sourceLocation)
        for i in 0..<x.count {
            let old = x.data[i]
            x.data[i] = old + eps; let fp = scalar()
            x.data[i] = old - eps; let fm = scalar()
            x.data[i] = old
            let numeric = (fp - fm) / (2 * eps)
            let analytic = g.data[i]
            if !(abs(numeric - analytic) <= atol + rtol * abs(numeric)) {
                Issue.record("\(what): d/dinput\(k)[\(i)] analytic \(analytic) vs numeric \(numeric)", sourceLocation: sourceLocation)
                return
            }
        }
    }
}

/// The test bundle's resource folder.
func resourceURL(_ name: String) -> URL {
    // Foundation on Linux already points resourceURL at the bundle's Resources folder
    let base = Bundle.module.resourceURL!
    let nested = base.appendingPathComponent("Resources").appendingPathComponent(name)
    return FileManager.default.fileExists(atPath: nested.path) ? nested : base.appendingPathComponent(name)
}

/// A PyTorch fixture: tensors by key and metadata.
struct Fixture {
    let tensors: [String: Tensor]
    let entries: [String: SafeTensorEntry]
    let metadata: [String: String]

    init(_ name: String) throws {
        let (e, m) = try SafeTensors.readEntries(from: resourceURL("fixtures/\(name).safetensors"))
        entries = e
        metadata = m
        tensors = e.mapValues(\.tensor)
    }

    subscript(_ key: String) -> Tensor {
        guard let t = tensors[key] else { fatalError("fixture has no '\(key)'") }
        return t
    }

    /// The model's state dict entries (keys not starting with "__").
    var stateDict: [String: Tensor] { tensors.filter { !$0.key.hasPrefix("__") } }
}

/// Runs `body`, requiring that it throws a DataError; returns it.
func expectDataError(_ what: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) -> DataError? {
    do {
        try body()
        Issue.record("\(what): expected a DataError, nothing was thrown", sourceLocation: sourceLocation)
    } catch let e as DataError {
        return e
    } catch {
        Issue.record("\(what): expected a DataError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
    }
    return nil
}
