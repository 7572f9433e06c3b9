import Foundation

/// PyTorch's tensor printing: `tensor([[0.1000, 2.0000], …])`, integers as `1.`, scientific
/// notation for wide ranges, and `...` past 1000 elements (3 edge items per dimension).
extension Tensor: CustomStringConvertible {
    /// PyTorch's printed form, `tensor([[0.1000, 2.0000]])`, so `print(x)` reads as in the book.
    public var description: String {
        if isUninitialized { return "<UninitializedParameter>" }
        if !isContiguous {
            let c = copy()
            c.gradFn = gradFn; c._requiresGrad = _requiresGrad
            return c.description
        }
        let summarize = count > 1000
        let values = summarize ? edgeValues() : scalars
        let fmt = ScalarFormat(values.filter { $0.isFinite }, dtype: dtype)
        // PyTorch sizes columns from the finite values; nan/inf take what they need
        let width = values.filter(\.isFinite).map { fmt.string($0).count }.max() ?? 1
        var body: String
        if count == 0 {
            return rank <= 1 ? "tensor([])" : "tensor([], size=(\(shape.map(String.init).joined(separator: ", "))))"
        } else if rank == 0 {
            body = fmt.string(elementPointer[0])
        } else {
            body = format(dim: 0, offset: 0, indent: 7, fmt: fmt, width: width, summarize: summarize)
        }
        var suffix = ""
        if requiresGrad {
            if let node = gradFn {
                suffix = ", grad_fn=<\(node.displayName)>"
            } else {
                suffix = ", requires_grad=True"
            }
        }
        return "tensor(\(body)\(suffix))"
    }

    private func edgeValues() -> [Float] {
        // the values that will actually be shown
        var out: [Float] = []
        func walk(_ dim: Int, _ offset: Int) {
            let stride = shape[(dim + 1)...].reduce(1, *)
            let idx = shape[dim] > 6 ? Array(0..<3) + Array((shape[dim] - 3)..<shape[dim]) : Array(0..<shape[dim])
            for i in idx {
                if dim == rank - 1 { out.append(elementPointer[offset + i]) } else { walk(dim + 1, offset + i * stride) }
            }
        }
        if rank > 0 { walk(0, 0) }
        return out
    }

    private func format(dim: Int, offset: Int, indent: Int, fmt: ScalarFormat, width: Int, summarize: Bool) -> String {
        let n = shape[dim]
        let stride = shape[(dim + 1)...].reduce(1, *)
        let showAll = !summarize || n <= 6
        let indices: [Int?] = showAll ? (0..<n).map { $0 } : [0, 1, 2, nil, n - 3, n - 2, n - 1]
        if dim == rank - 1 {
            let items = indices.map { i -> String in
                guard let i else { return " ..." }
                let s = fmt.string(elementPointer[offset + i])
                return String(repeating: " ", count: Swift.max(0, width - s.count)) + s
            }
            // wrap at 80 columns like PyTorch's linewidth
            let perLine = Swift.max(1, (80 - indent) / (width + 2))
            var lines: [String] = []
            var i = 0
            while i < items.count {
                lines.append(items[i..<Swift.min(i + perLine, items.count)].joined(separator: ", "))
                i += perLine
            }
            return "[" + lines.joined(separator: ",\n" + String(repeating: " ", count: indent + 1)) + "]"
        }
        let sep = "," + String(repeating: "\n", count: rank - dim - 1) + String(repeating: " ", count: indent + 1)
        let parts = indices.map { i -> String in
            guard let i else { return "..." }
            return format(dim: dim + 1, offset: offset + i * stride, indent: indent + 1, fmt: fmt, width: width, summarize: summarize)
        }
        return "[" + parts.joined(separator: sep) + "]"
    }
}

/// How one tensor's scalars are written: chosen once from all of them, as PyTorch's formatter.
struct ScalarFormat {
    enum Mode { case integer, fixed, scientific, int64, bool }
    let mode: Mode

    init(_ finite: [Float], dtype: DType = .float32) {
        if dtype == .int64 { mode = .int64; return }
        if dtype == .bool { mode = .bool; return }
        let absNonZero = finite.map { Swift.abs($0) }.filter { $0 > 0 }
        let maxAbs = absNonZero.max() ?? 0, minAbs = absNonZero.min() ?? 0
        let ratio = minAbs > 0 ? maxAbs / minAbs : 0
        if finite.allSatisfy({ $0 == $0.rounded() }) {
            mode = (maxAbs > 1e8 || ratio > 1000) ? .scientific : .integer
        } else if maxAbs > 1e8 || (minAbs > 0 && (minAbs < 1e-4 || ratio > 1000)) {
            mode = .scientific
        } else {
            mode = .fixed
        }
    }

    func string(_ v: Float) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v > 0 ? "inf" : "-inf" }
        switch mode {
        case .integer: return String(format: "%.0f.", Double(v))
        case .int64: return String(Int64(v))
        case .bool: return v != 0 ? "True" : "False"
        case .fixed: return String(format: "%.4f", Double(v))
        case .scientific: return String(format: "%.4e", Double(v))
        }
    }
}
