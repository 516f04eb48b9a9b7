// Every operation that records itself on the tape has its backward checked: by a PyTorch
// fixture with gradients (Fixtures/ops.safetensors, run by FixtureTests), by a
// finite-difference check in Double (`gradientMismatch`), or — for a Float32-only fused kernel,
// which a check in Double never reaches — against the gradients of the composition it replaces.
//
// The list of recorded operations is `GradOp` (Autograd.swift): `Tensor.record` takes one of
// its cases, so a new op cannot record itself without adding a case, and a case that no
// fixture reaches and `GradientChecks.table` does not list fails
// `everyRecordedOpHasAGradientCheckOrAFixture`. Coverage by fixtures is measured, not
// declared: each fixture case with gradients is run and the ops on its tape are collected.
// Table entries are checks too: each is run here, and must have its op on its tape.

@testable import DinoTensor
import DinoTestSupport
import Foundation
import Testing

/// A gradient check of one op: a small case of the test that holds the full check.
struct GradientCheck {
    enum Kind {
        /// `gradientMismatch`: central differences in Float64.
        case finiteDifferences
        /// A Float32 fused kernel's input gradients against the Float64 composition's (the op
        /// in Float64 takes the composed path, whose ops have checks of their own).
        case againstComposition
    }
    /// The test with the full check, as `Suite.function` (a function of DinoTensorTests).
    let test: String
    var kind = Kind.finiteDifferences
    let inputs: () -> [Tensor]
    /// Which inputs take a gradient (nil: all).
    var differentiable: [Bool]? = nil
    let f: ([Tensor]) -> Tensor
}

enum GradientChecks {
    /// The ops that no PyTorch fixture with gradients reaches, each with its check.
    static let table: [GradOp: GradientCheck] = [
        .depthwiseConv2d: GradientCheck(test: "DepthwiseConvTests.depthwiseConvGradient",
                                        inputs: { [Sample.normal([2, 4, 5, 3], seed: 4), Sample.normal([3, 1, 7, 7], seed: 5),
                                                   Sample.normal([3], seed: 6)] }) {
            $0[0].depthwiseConv2d(weight: $0[1], bias: $0[2], padding: 3)
        },
.crossEntropyLabels: GradientCheck(test: "CrossEntropyTests.ignoreIndexGradient",
                                            inputs: { [Sample.normal([4, 5], seed: 92)] }) {
            Tensor.crossEntropy(logits: $0[0], labels: [3, 255, 0, 4], ignoreIndex: 255)
        },
        .indexAdd: GradientCheck(test: "IndexTests.indexAddIsTheScatterAddItReplacesAndItsGradient",
                                 inputs: { [Sample.normal([4, 3, 2], seed: 11), Sample.normal([3, 3, 2], seed: 12)] }) {
            $0[0].indexAdd(axis: 0, indices: [2, 0, 2], source: $0[1], alpha: 1.5)
        },
                .dropout: GradientCheck(test: "PadDropoutTests.dropoutGradientUsesTheSameMask",
                                inputs: { [Sample.uniform([3, 5], seed: 6)] }) {
            $0[0].dropout(p: 0.25, training: true, generator: RandomGenerator(seed: 3))
        },
        // Float32 rounds (forward and gradient) and is checked against torch's autocast in
        // BF16Tests; in Float64 (never cast) it is the identity, which this checks.
        .roundBF16: GradientCheck(test: "BF16Tests.roundingGradientIsIdentityInFloat64",
                                  inputs: { [Sample.normal([3, 4], seed: 5)] }) {
            $0[0].roundedToBFloat16() * $0[0]
        },
        .external: GradientCheck(test: "ExternalOpTests.recordWithBackwardRunsTheCallersBackward",
                                 inputs: { [Sample.normal([3, 2], seed: 7)] }) {
            ExternalOpTests.square($0[0]) * $0[0]
        },
        .residual: GradientCheck(test: "ResidualTests.gradientsWithLayerScaleAndDropPath",
                                 inputs: { [Sample.normal([3, 2, 4], seed: 1), Sample.normal([3, 2, 4], seed: 2),
                                            Sample.uniform([4], seed: 3)] }) {
            Tensor.residual($0[0], $0[1], scale: $0[2], sampleScale: Tensor(doubles: [2, 0, 2], shape: [3]))
        },
        .rotaryEmbedding: GradientCheck(test: "RotaryEmbeddingTests.float32KernelMatchesTheComposedFormulaInFloat64",
                                        kind: .againstComposition,
                                        inputs: { let t = rotaryTables(hw: 4, dh: 8, dtype: .float64)
                                                  return [Sample.normal([1, 2, 5, 8], seed: 1), t.sin, t.cos] },
                                        differentiable: [true, false, false]) {
            $0[0].rotaryEmbedding(sin: $0[1], cos: $0[2])
        },
    ]

    /// The ops on the tape of every fixture case whose gradients are compared with PyTorch's.
    static func fixtureCoverage() throws -> Set<GradOp> {
        let cases = try FixtureTable.fixtures.get()
        var covered = Set<GradOp>()
        for (name, op) in FixtureTable.all {
            guard let f = cases[name], !f.upstreams.isEmpty, !f.grads.isEmpty else { continue }
            let xs = f.inputs.enumerated().map { i, x in x.contiguousCopy().requiringGrad(f.grads[i] != nil) }
            for y in op.run(xs, f.indices) { covered.formUnion(y.recordedOps) }
        }
        return covered
    }
}

@Suite struct GradientCoverageTests {
    @Test func everyRecordedOpHasAGradientCheckOrAFixture() throws {
        let covered = try GradientChecks.fixtureCoverage().union(GradientChecks.table.keys)
        let missing = Set(GradOp.allCases).subtracting(covered).map(\.rawValue).sorted()
        #expect(missing.isEmpty, """
            ops recorded on the tape whose backward nothing checks: \(missing). Add a case with gradients \
            to scripts/make_fixtures.py (and its closure to FixtureTable), or a gradientMismatch test and \
            its line in GradientChecks.table.
            """)
    }

    /// The fixtures measurably miss the ops the table is for (the coverage is computed, so a
    /// table entry that a fixture makes redundant shows up here too).
    @Test func theTableHoldsExactlyTheOpsNoFixtureReaches() throws {
        let fixtures = try GradientChecks.fixtureCoverage()
        #expect(fixtures.count > 40)
        #expect(fixtures.isDisjoint(with: GradientChecks.table.keys),
                "ops both in a fixture and in GradientChecks.table: \(fixtures.intersection(GradientChecks.table.keys))")
    }

    @Test(arguments: GradientChecks.table.keys.map(\.rawValue).sorted())
    func tableEntryChecksItsOp(_ name: String) throws {
        let op = try #require(GradOp(rawValue: name))
        let check = GradientChecks.table[op]!
        let inputs = check.inputs()
        let flags = check.differentiable ?? inputs.map { _ in true }
        func leaves(_ dtype: DType) -> [Tensor] {
            zip(inputs, flags).map { x, d in x.to(dtype).contiguousCopy().requiringGrad(d) }
        }
        switch check.kind {
        case .finiteDifferences:
            let ops = check.f(leaves(.float64)).recordedOps
            #expect(ops.contains(op), "\(check.test)'s case records \(ops.map(\.rawValue).sorted()), not \(name)")
            #expect(gradientMismatch(inputs, check.f) == nil)
        case .againstComposition:
            let (x32, x64) = (leaves(.float32), leaves(.float64))
            let (y32, y64) = (check.f(x32), check.f(x64))
            #expect(y32.recordedOps.contains(op), "\(check.test)'s Float32 case does not record \(name)")
            #expect(!y64.recordedOps.contains(op), "the Float64 case of \(name) is not the composition")
            let seed = Sample.uniform(y64.shape, seed: 11, dtype: .float64)
            y32.backward(seed.to(.float32))
            y64.backward(seed)
            for i in flags.indices where flags[i] {
                #expect(mismatch(x32[i].grad!, x64[i].grad!.to(.float32), rtol: 1e-5, atol: 1e-5) == nil, "input \(i)")
            }
        }
        // The named test exists in this target and holds that kind of check.
        let function = String(check.test.split(separator: ".").last!)
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        let sources = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".swift") }
            .map { try String(contentsOf: folder.appendingPathComponent($0), encoding: .utf8) }
        let body = sources.compactMap { s in s.range(of: "func \(function)(").map { s[$0.upperBound...].prefix(2000) } }.first
        let marker = check.kind == .finiteDifferences ? "gradientMismatch(" : ".backward("
        #expect(body?.contains(marker) == true, "\(check.test) is not a test with a \(marker) check")
    }
}
