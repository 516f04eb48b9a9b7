// `precision: bf16` in the trainer: the step's products run in bf16 (the run differs from
// Float32), the precision is saved in the train state, a resume is bit-exact, and a resume
// with another precision is refused.

import DinoNN
import DinoSSL
import DinoTensor
import Foundation
import Testing

private func trainer(_ method: ToyRegression, _ dir: URL, _ options: TrainerOptions) throws -> Trainer<ToyRegression, ToyData> {
    let t = try Trainer(method: method, data: ToyData(), schedules: toySchedules(epochs: options.epochs, perEpoch: 8),
                        options: options, runDirectory: dir, config: .object(["test": .string("toy")]))
    t.log = { _ in }
    return t
}

@Suite struct TrainerPrecisionTests {
    func options(_ precision: Precision, epochs: Int = 2, maxSteps: Int? = nil) -> TrainerOptions {
        var o = quietOptions(epochs: epochs)
        o.precision = precision
        o.maxSteps = maxSteps
        return o
    }

    @Test func bf16RunResumesBitExactlyAndRecordsItsPrecision() throws {
        let reference = ToyRegression()
        let refTrainer = try trainer(reference, temporaryDirectory("bf16-ref"), options(.bf16))
        #expect(try refTrainer.run() == .completed)
        let float32 = ToyRegression()
        _ = try trainer(float32, temporaryDirectory("bf16-f32"), options(.float32)).run()
        #expect(float32.weight.scalars != reference.weight.scalars, "bf16 products changed nothing")

        let dir = temporaryDirectory("bf16-resume")
        _ = try trainer(ToyRegression(), dir, options(.bf16, maxSteps: 5)).run()
        let resumed = ToyRegression(seed: 999)
        let t = try trainer(resumed, dir, options(.bf16))
        #expect(try t.run() == .completed)
        #expect(resumed.weight.scalars == reference.weight.scalars && resumed.bias.scalars == reference.bias.scalars)
        let state = try #require(try t.checkpoints.loadLatest()).state
        #expect(state.precision == .bf16)
        #expect(state.bf16Products == (Autocast.hasNativeBF16 ? "native" : "emulated"))
    }

    /// The train state records what computed the run (oneDNN's version and instruction set, the
    /// fused kernels' variant); a resume under another one goes on with a note, under the same
    /// one silently.
    @Test func computeBackendIsRecordedAndAChangeIsNoted() throws {
        #expect(ComputeBackend.description.hasPrefix("onednn ")
                && ComputeBackend.description.contains(", fused kernels \(FusedKernels.supportedInstructionSets[0])"))
        #expect(ComputeBackend.description.hasSuffix(Float32Linear.biasKernel.map { ", linear bias in the product (\($0))" }
                                                     ?? "fused kernels \(FusedKernels.supportedInstructionSets[0])"))
        let dir = temporaryDirectory("backend")
        _ = try trainer(ToyRegression(), dir, options(.float32, maxSteps: 3)).run()
        let latest = try #require(try CheckpointStore(directory: dir.appendingPathComponent("checkpoints")).loadLatest())
        #expect(latest.state.computeBackend == ComputeBackend.description)

        func resume(until steps: Int) throws -> [String] {
            var lines: [String] = []
            let t = try trainer(ToyRegression(), dir, options(.float32, maxSteps: steps))
            t.log = { lines.append($0) }
            _ = try t.run()
            return lines
        }
        #expect(try resume(until: 5).allSatisfy { !$0.contains("not bit-exact") })
        // The newest checkpoint as if written on another machine.
        let json = try #require(try CheckpointStore(directory: dir.appendingPathComponent("checkpoints")).loadLatest()).url
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any])
        object["computeBackend"] = "onednn 2.6.3 sgemm avx2, fused kernels avx2"
        try JSONSerialization.data(withJSONObject: object).write(to: json)
        let lines = try resume(until: 7)
        #expect(lines.contains { $0.contains("computed by onednn 2.6.3 sgemm avx2, fused kernels avx2") && $0.contains("not bit-exact") },
                "\(lines)")
    }

    /// A run keeps the Float32 `linear` route it started with: a new run records the bias in the
    /// product (where this machine has the kernel) and resumes with it; a checkpoint without it
    /// (runs recorded before the route) resumes broadcasting the bias and keeps recording that.
    @Test func theLinearBiasRouteIsRecordedAndKeptOnResume() throws {
        let dir = temporaryDirectory("linear-route")
        let store = CheckpointStore(directory: dir.appendingPathComponent("checkpoints"))
        let first = try trainer(ToyRegression(), dir, options(.float32, maxSteps: 2))
        #expect(first.linearBiasInProduct)
        _ = try first.run()
        #expect(ComputeBackend.recordsLinearBiasInProduct(try #require(try store.loadLatest()).state.computeBackend)
                == (Float32Linear.biasKernel != nil))
        let second = try trainer(ToyRegression(), dir, options(.float32, maxSteps: 4))
        _ = try second.run()
        #expect(second.linearBiasInProduct == (Float32Linear.biasKernel != nil))

        // The newest checkpoint as a run recorded before the route existed.
        let json = try #require(try store.loadLatest()).url
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any])
        object["computeBackend"] = ComputeBackend.description(linearBiasInProduct: false)
        try JSONSerialization.data(withJSONObject: object).write(to: json)
        var lines: [String] = []
        let old = try trainer(ToyRegression(), dir, options(.float32, maxSteps: 6))
        old.log = { lines.append($0) }
        _ = try old.run()
        #expect(!old.linearBiasInProduct)
        #expect(lines.allSatisfy { !$0.contains("not bit-exact") }, "\(lines)")
        #expect(try #require(try store.loadLatest()).state.computeBackend == ComputeBackend.description(linearBiasInProduct: false))
        // Started inside `withBiasInProduct(false)`: a new run takes the broadcast route.
        let fresh = try Float32Linear.withBiasInProduct(false) {
            try trainer(ToyRegression(), temporaryDirectory("linear-route-off"), options(.float32, maxSteps: 1))
        }
        #expect(!fresh.linearBiasInProduct)
    }

    @Test func resumingWithAnotherPrecisionIsRefused() throws {
        let dir = temporaryDirectory("bf16-mismatch")
        _ = try trainer(ToyRegression(), dir, options(.bf16, maxSteps: 3)).run()
        #expect(throws: CheckpointError.mismatch("it was trained with precision bf16, the run now asks for float32 (set `precision` back to resume)")) {
            try trainer(ToyRegression(), dir, options(.float32)).run()
        }
    }

    @Test func precisionKeyDecodesAndABadValueIsAnError() throws {
        #expect(try ConfigLoader.decode(TrainerOptions.self, from: .object(["precision": .string("bf16")])).precision == .bf16)
        for type in [DINOConfig.self, DINOv2Config.self, DINOv3Config.self] as [any Configuration.Type] {
            func load<T: Configuration>(_ t: T.Type, _ value: String) throws -> T {
                try ConfigLoader.load(T.self, overrides: ["precision=\(value)"])
            }
            _ = try load(type, "bf16")
            do {
                _ = try load(type, "fp16")
                Issue.record("\(type): precision=fp16 was accepted")
            } catch {
                #expect("\(error)".contains("precision"), "\(type): \(error)")
            }
        }
        #expect(try ConfigLoader.load(DINOConfig.self, overrides: ["precision=bf16"]).precision == .bf16)
    }
}
