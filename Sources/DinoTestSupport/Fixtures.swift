// Golden fixtures from PyTorch (scripts/make_fixtures.py): loading a fixture file into cases,
// and running one case's forward and backward through our ops.
//
// A fixture file holds, per case NAME: NAME.input0…, NAME.index0… (integer arguments stored
// as floats), NAME.output (or NAME.output0… for several outputs), NAME.upstream (or
// NAME.upstream0…), and NAME.grad<i> for each input i that takes a gradient. The docstring
// of scripts/make_fixtures.py is the full description.

import DinoTensor
import Foundation

/// One forward/backward case of a PyTorch fixture file.
public struct OpFixture: Sendable {
    public let name: String
    /// Inputs in the order the op takes them.
    public var inputs: [Tensor] = []
    /// Integer arguments (indices, labels).
    public var indices: [IndexTensor] = []
    /// Expected outputs, one or several.
    public var outputs: [Tensor] = []
    /// The gradient fed into each output (empty for non-differentiable ops).
    public var upstreams: [Tensor] = []
    /// Expected gradient of each input that takes one, by input position.
    public var grads: [Int: Tensor] = [:]

    /// Cases by name, read from a fixture file through our safetensors reader.
    public static func load(_ url: URL) throws -> [String: OpFixture] {
        let file = try SafeTensors.read(from: url)
        var parts: [String: [String: Tensor]] = [:]
        for (key, tensor) in file.tensors {
            guard let dot = key.lastIndex(of: ".") else {
                throw FixtureError("key '\(key)' is not NAME.FIELD")
            }
            parts[String(key[..<dot]), default: [:]][String(key[key.index(after: dot)...])] = tensor
        }
        var cases: [String: OpFixture] = [:]
        for (name, fields) in parts {
            var c = OpFixture(name: name)
            c.inputs = try numbered("input", fields, name)
            c.indices = try numbered("index", fields, name).map { t in
                IndexTensor(t.scalars.map { Int($0) }, shape: t.shape)
            }
            c.outputs = try fields["output"].map { [$0] } ?? numbered("output", fields, name)
            c.upstreams = try fields["upstream"].map { [$0] } ?? numbered("upstream", fields, name)
            for (field, t) in fields where field.hasPrefix("grad") {
                guard let i = Int(field.dropFirst(4)), i >= 0, i < c.inputs.count else {
                    throw FixtureError("\(name): '\(field)' names no input")
                }
                c.grads[i] = t
            }
            let known = fields.keys.allSatisfy { f in
                ["input", "index", "output", "upstream", "grad"].contains { f.hasPrefix($0) }
            }
            guard known, !c.outputs.isEmpty, c.upstreams.isEmpty || c.upstreams.count == c.outputs.count else {
                throw FixtureError("\(name): fields \(fields.keys.sorted()) do not form a case")
            }
            cases[name] = c
        }
        return cases
    }

    /// `prefix0, prefix1, …` in order; an error when the numbering has a gap.
    private static func numbered(_ prefix: String, _ fields: [String: Tensor], _ name: String) throws -> [Tensor] {
        let matching = fields.keys.filter { $0.hasPrefix(prefix) && Int($0.dropFirst(prefix.count)) != nil }
        return try (0..<matching.count).map { i in
            guard let t = fields["\(prefix)\(i)"] else {
                throw FixtureError("\(name): \(prefix)\(i) missing among \(matching.sorted())")
            }
            return t
        }
    }

    /// Runs the case through `op` and compares outputs and input gradients with PyTorch's.
    ///
    /// Inputs become fresh leaves (copies), requiring a gradient exactly when the fixture has
    /// one for them. The backward pass seeds each output with its upstream gradient, through
    /// `L = Σⱼ sum(outputⱼ · upstreamⱼ)` when there are several outputs.
    ///
    /// - Returns: one line per mismatch; empty when the case passes.
    public func check(rtol: Float, atol: Float, _ op: ([Tensor], [IndexTensor]) -> [Tensor]) -> [String] {
        let xs = inputs.enumerated().map { i, x in x.contiguousCopy().requiringGrad(grads[i] != nil) }
        let ys = op(xs, indices)
        guard ys.count == outputs.count else {
            return ["\(name): \(ys.count) outputs, expected \(outputs.count)"]
        }
        var problems: [String] = []
        for (j, (y, e)) in zip(ys, outputs).enumerated() {
            if let m = mismatch(y, e, rtol: rtol, atol: atol) { problems.append("\(name) output \(j): \(m)") }
        }
        if upstreams.isEmpty || !problems.isEmpty { return problems }

        // Backward, only when every output has the expected shape and is on the tape.
        for (j, y) in ys.enumerated() where !y.requiresGrad {
            problems.append("\(name) output \(j) is not recorded for autograd")
        }
        if !problems.isEmpty { return problems }
        if ys.count == 1 {
            ys[0].backward(upstreams[0].to(ys[0].dtype))
        } else {
            let terms = zip(ys, upstreams).map { y, u in (y * u.to(y.dtype)).sum() }
            terms.dropFirst().reduce(terms[0], +).backward()
        }
        for (i, expected) in grads.sorted(by: { $0.key < $1.key }) {
            // No gradient reaching an input means a zero gradient.
            let actual = xs[i].grad ?? xs[i].zerosLike()
            if let m = mismatch(actual, expected, rtol: rtol, atol: atol) { problems.append("\(name) grad \(i): \(m)") }
        }
        return problems
    }
}

/// A fixture file that does not have the layout scripts/make_fixtures.py writes.
public struct FixtureError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
