// Saving and loading a module's tensors by name, as PyTorch's state_dict / load_state_dict.
//
// Names are the dotted paths of `Module.namedTensors()` — the reference implementations'
// own keys — so a dictionary read from an official checkpoint loads directly, and one we
// save loads in PyTorch. Loading copies values into the existing tensors (their identity,
// and any optimiser state keyed on them, is kept) and reports every problem at once.

import DinoTensor

/// Everything that kept a state dictionary from loading.
public struct StateDictError: Error, CustomStringConvertible, Equatable {
    /// Keys the module has and the dictionary lacks.
    public var missing: [String]
    /// Keys the dictionary has and the module lacks.
    public var unexpected: [String]
    /// Keys present in both with different shapes: (key, expected, found).
    public var shapeMismatches: [ShapeMismatch]

    public struct ShapeMismatch: Equatable, Sendable {
        public let key: String
        public let expected: [Int]
        public let found: [Int]

        public init(key: String, expected: [Int], found: [Int]) {
            self.key = key
            self.expected = expected
            self.found = found
        }
    }

    public var isEmpty: Bool { missing.isEmpty && unexpected.isEmpty && shapeMismatches.isEmpty }

    public var description: String {
        var lines = ["error loading state dict:"]
        if !missing.isEmpty {
            lines.append("  missing keys (\(missing.count)): " + missing.joined(separator: ", "))
        }
        if !unexpected.isEmpty {
            lines.append("  unexpected keys (\(unexpected.count)): " + unexpected.joined(separator: ", "))
        }
        for m in shapeMismatches {
            lines.append("  shape mismatch for \(m.key): model has \(m.expected), checkpoint has \(m.found)")
        }
        return lines.joined(separator: "\n")
    }
}

extension Module {
    /// Every parameter and buffer by its dotted name (the tensors themselves, not copies).
    public func stateDict() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (name, p) in namedTensors() { out[name] = p.value }
        return out
    }

    /// Copies `stateDict` into this module's parameters and buffers.
    ///
    /// - Parameters:
    ///   - stateDict: tensors by dotted name; converted to each parameter's dtype.
    ///   - strict: when true, any missing or unexpected key is an error; when false they are
    ///     skipped. A shape mismatch is always an error.
    ///   - takingOwnership: the caller hands the tensors over (e.g. just read from a file):
    ///     a parameter not allocated yet adopts its tensor instead of copying it, so a large
    ///     checkpoint is in memory once. Never use it with another module's state dict.
    /// - Throws: `StateDictError` listing every missing key, unexpected key and shape
    ///   mismatch; nothing is copied when it throws.
    public func load(stateDict: [String: Tensor], strict: Bool = true, takingOwnership: Bool = false) throws {
        let named = namedTensors()
        var error = StateDictError(missing: [], unexpected: [], shapeMismatches: [])
        var known = Set<String>()
        var plan: [(Parameter, Tensor)] = []
        for (name, p) in named {
            known.insert(name)
            guard let t = stateDict[name] else {
                error.missing.append(name)
                continue
            }
            if t.shape != p.shape {
                error.shapeMismatches.append(.init(key: name, expected: p.shape, found: t.shape))
                continue
            }
            plan.append((p, t))
        }
        error.unexpected = stateDict.keys.filter { !known.contains($0) }.sorted()
        if !strict {
            error.missing = []
            error.unexpected = []
        }
        if !error.isEmpty { throw error }
        withNoGrad {
            for (p, t) in plan {
                let converted = t.dtype == p.dtype ? t : t.to(p.dtype)
                if takingOwnership && !p.isMaterialized && converted.isContiguous && converted.isLeaf {
                    p.value = converted
                } else {
                    p.value.copyIn(converted)
                }
            }
        }
    }
}
