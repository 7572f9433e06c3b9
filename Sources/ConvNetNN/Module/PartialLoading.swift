import ConvNetCore

/// What `loadMatching` did: the model's tensors that were loaded, skipped because the file's shape
/// differs (a new classifier), or missing from the file; and the file's tensors nothing used.
public struct PartialLoadReport: Sendable, Equatable, CustomStringConvertible {
    /// The model's keys that were copied from the file.
    public var loaded: [String] = []
    /// The model's keys whose tensor in the file has another shape, with both shapes.
    public var skipped: [(key: String, file: [Int], model: [Int])] = []
    /// The model's keys the file lacks.
    public var missing: [String] = []
    /// The file's keys no tensor of the model matched.
    public var unused: [String] = []

    /// Equal lists (the skipped entries compared by key and shapes).
    public static func == (a: Self, b: Self) -> Bool {
        a.loaded == b.loaded && a.missing == b.missing && a.unused == b.unused
            && a.skipped.map(\.key) == b.skipped.map(\.key) && a.skipped.map(\.file) == b.skipped.map(\.file)
            && a.skipped.map(\.model) == b.skipped.map(\.model)
    }

    /// One line: the counts, then the first keys of each list.
    public var description: String {
        func list(_ keys: [String]) -> String { keys.prefix(4).joined(separator: ", ") + (keys.count > 4 ? ", … (\(keys.count))" : "") }
        var s = "loaded \(loaded.count) tensors, skipped \(skipped.count), missing \(missing.count), unused \(unused.count)"
        if !skipped.isEmpty { s += "; skipped (shape differs): " + skipped.prefix(4).map { "\($0.key) \($0.file) vs \($0.model)" }.joined(separator: ", ") }
        if !missing.isEmpty { s += "; missing: " + list(missing) }
        if !unused.isEmpty { s += "; unused: " + list(unused) }
        return s
    }
}

extension Module {
    /// Transfer learning's partial load: copies every tensor of `state` whose key (PyTorch or Swift
    /// spelling) and shape match one of the model's, and leaves the rest of the model as it is.
    @discardableResult
    public func loadMatching(_ state: [String: Tensor]) -> PartialLoadReport {
        var byCanonical: [String: String] = [:]
        for k in state.keys { byCanonical[canonicalKey(k)] = k }
        var report = PartialLoadReport()
        var used = Set<String>()
        for (key, t) in namedTensors() {
            guard let sk = state[key] != nil ? key : byCanonical[canonicalKey(key)], let src = state[sk] else {
                report.missing.append(key); continue
            }
            used.insert(sk)
            if src.shape != t.shape && !(src.count == 1 && t.count == 1) {
                report.skipped.append((key, src.shape, t.shape)); continue
            }
            t.assign(src)
            report.loaded.append(key)
        }
        report.unused = state.keys.filter { !used.contains($0) }.sorted()
        return report
    }
}
