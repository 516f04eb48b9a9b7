import DinoNN
import DinoSSL
import DinoTensor
import Foundation
import Testing

/// Gradient clipping modes of the trainer: one total norm over everything, or one per module
/// (DINOv2's `for v in model.student.values(): v.clip_grad_norm_(clip_grad)`).
@Suite struct TrainerClippingTests {
    func run(_ mode: ClipMode, modules: Bool) throws -> (ToyRegression, [[String: Double]]) {
        let method = ToyRegression()
        method.weightAndBiasModules = modules
        var options = quietOptions(epochs: 1)
        options.clipGrad = 1e-3          // far below the gradients' norms: every step clips
        options.clipMode = mode
        options.maxSteps = 3
        let dir = temporaryDirectory("clip")
        let trainer = try Trainer(method: method, data: ToyData(), schedules: toySchedules(epochs: 1, perEpoch: 8),
                                  options: options, runDirectory: dir)
        trainer.log = { _ in }
        _ = try trainer.run()
        return (method, try MetricsLogger.read(dir.appendingPathComponent("metrics.jsonl")))
    }

    @Test func perModuleClippingBoundsEachModuleOnItsOwn() throws {
        let (method, lines) = try run(.totalNormPerModule, modules: true)
        #expect(method.normsBeforeStep.count == 3)
        for (w, b) in method.normsBeforeStep {
            #expect(abs(w - 1e-3) < 1e-8 && abs(b - 1e-3) < 1e-8, "weight \(w), bias \(b)")
        }
        // Each module's norm before clipping is logged under its name.
        #expect(lines.allSatisfy { ($0["grad_norm.weight"] ?? 0) > 1e-3 && ($0["grad_norm.bias"] ?? 0) > 1e-3 })
    }

    @Test func totalNormClippingBoundsAllTogether() throws {
        let (method, lines) = try run(.totalNorm, modules: true)
        for (w, b) in method.normsBeforeStep {
            #expect(abs((w * w + b * b).squareRoot() - 1e-3) < 1e-8)
        }
        #expect(lines.allSatisfy { $0["grad_norm"] != nil && $0["grad_norm.weight"] == nil })
        // Per module with the default single module is the same as the total norm.
        let (single, _) = try run(.totalNormPerModule, modules: false)
        for ((w1, b1), (w2, b2)) in zip(method.normsBeforeStep, single.normsBeforeStep) {
            #expect(abs(w1 - w2) < 1e-9 && abs(b1 - b2) < 1e-9)
        }
    }
}
