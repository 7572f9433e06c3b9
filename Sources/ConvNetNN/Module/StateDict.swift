import ConvNetCore

/// A state dict that does not fit the model: names what is missing, unexpected or mis-shaped.
public struct StateDictError: Error, CustomStringConvertible, Equatable {
    /// Keys the model has and the state dict lacks.
    public var missingKeys: [String]
    /// Keys the state dict has and the model lacks.
    public var unexpectedKeys: [String]
    /// Keys whose shapes differ, with both shapes.
    public var shapeMismatches: [String]

    /// PyTorch's `load_state_dict` message: the missing, unexpected and mis-shaped keys.
    public var description: String {
        // long lists are cut: the first few keys say what went wrong, the count says how much
        func list(_ keys: [String]) -> String {
            let shown = keys.prefix(6).map { "\"\($0)\"" }.joined(separator: ", ")
            return keys.count > 6 ? shown + ", … (\(keys.count) in all)" : shown
        }
        var parts: [String] = []
        if !missingKeys.isEmpty { parts.append("Missing key(s) in state_dict: " + list(missingKeys)) }
        if !unexpectedKeys.isEmpty { parts.append("Unexpected key(s) in state_dict: " + list(unexpectedKeys)) }
        parts.append(contentsOf: shapeMismatches.prefix(6))
        if shapeMismatches.count > 6 { parts.append("… (\(shapeMismatches.count) size mismatches in all)") }
        return "Error(s) in loading state_dict: " + parts.joined(separator: "; ")
    }
}

extension Module {
    /// Every parameter and buffer by dotted key (PyTorch's `state_dict()`), sharing storage with the model.
    public func stateDict() -> [String: Tensor] {
        Dictionary(namedTensors(), uniquingKeysWith: { a, _ in a })
    }

    /// Copies values from `state` into the model's tensors. Keys may use PyTorch's snake_case or the
    /// Swift property names. With `strict`, missing or unexpected keys are an error; shape mismatches
    /// always are. Nothing is changed unless everything fits.
    public func loadStateDict(_ state: [String: Tensor], strict: Bool = true) throws {
        let own = namedTensors()
        var byCanonical: [String: String] = [:]
        for k in state.keys { byCanonical[canonicalKey(k)] = k }
        var missing: [String] = [], mismatches: [String] = []
        var plan: [(Tensor, Tensor)] = []
        var used = Set<String>()
        for (key, t) in own {
            guard let sk = state[key] != nil ? key : byCanonical[canonicalKey(key)], let src = state[sk] else {
                missing.append(key); continue
            }
            used.insert(sk)
            if t.isUninitialized { plan.append((t, src)); continue }   // a lazy layer takes the checkpoint's shape
            if src.count != t.count || (src.shape != t.shape && !(src.count == 1 && t.count == 1)) {
                mismatches.append("size mismatch for \(key): copying a param with shape \(src.shape) from checkpoint, the shape in current model is \(t.shape).")
                continue
            }
            plan.append((t, src))
        }
        let unexpected = state.keys.filter { !used.contains($0) }.sorted()
        if !mismatches.isEmpty || (strict && (!missing.isEmpty || !unexpected.isEmpty)) {
            throw StateDictError(missingKeys: strict ? missing : [], unexpectedKeys: strict ? unexpected : [], shapeMismatches: mismatches)
        }
        for (dst, src) in plan {
            if dst.isUninitialized { dst.materialize(with: src) } else { dst.assign(src) }
        }
    }
}

/// Keys compared without case or underscores, so `running_mean` matches `runningMean`.
func canonicalKey(_ k: String) -> String { k.lowercased().replacingOccurrences(of: "_", with: "") }
