// `precision: float64` for dino and dinov2: the whole step in Float64 (parameters, teacher,
// centres, AdamW's moments, batches), the same math as the Float32 step (a few steps of each
// from the same initialisation agree to Float32's accuracy), checkpoints in Float64 and a
// resume that is bit-exact. The data-parallel comparison at 1e-10 is in
// Tests/DinoDistributedTests/MPITrainingTests.swift.

import DinoNN
import DinoSSL
import DinoTensor
import DinoTestSupport
import DinoVision
import Foundation
import Testing

/// Tiny runs on glyphs-mini: the test models with small heads, batch 12, one loader worker,
/// drop path on (dino 0.1 per sample, dinov2 0.2 on batch subsets), KoLeo at its defaults —
/// the settings of Tests/DinoDistributedTests/MPISupport.swift's runs.
enum Float64Runs {
    static func overrides(_ method: String) -> [String] {
        switch method {
        case "dino":
            return ["model=test_dino", "batch_size=12", "head.hidden_dimensions=32", "head.bottleneck_dimensions=16",
                    "head.prototypes=64", "data.workers=1"]
        default:
            return ["model=test_dinov2", "batch_size=12", "dino.head.hidden_dimensions=32", "dino.head.bottleneck_dimensions=16",
                    "dino.head.prototypes=64", "data.workers=1", "student.drop_path_rate=0.2"]
        }
    }

    /// Trains `method` in `precision` in `run` until `steps` steps are done (resuming from the
    /// newest checkpoint there, if any); returns the newest checkpoint.
    static func train(_ method: String, _ precision: Precision, in run: URL, steps: Int) throws -> Checkpoint {
        func make<M: MethodPlugin>(_ type: M.Type) throws -> TrainingRun {
            let config = try ConfigLoader.load(M.Config.self, overrides: overrides(method) + ["precision=\(precision.rawValue)"])
            return try TrainingRun(M.self, config: config, dataPath: glyphsMini.appendingPathComponent("train").path,
                                   runDirectory: run, issues: DataIssueLog(report: DataIssueLog.silent)) { o in
                o.maxSteps = steps
                o.progress = false
                o.tensorBoard = false
            }
        }
        let setup = try make(try MethodRegistry.method(named: method))
        setup.trainer.log = { _ in }
        #expect(try setup.trainer.run() == .stopped(reason: "reached max_steps \(steps)"))
        return try #require(try CheckpointStore(directory: run.appendingPathComponent("checkpoints")).loadLatest())
    }
}

@Suite struct Float64TrainingTests {
    /// Three steps of `method` in Float64 and in Float32 from the same Float32 initialisation and
    /// the same batches: every tensor of the Float64 run is Float64, and the two runs agree to
    /// 1e-4 relative, the Float32 run's own rounding (the key bias aside, see
    /// DinoTestSupport's `maxRelativeDifference`; the measured worst is printed). With `resume`, the Float64 run
    /// stopped after 1 step and resumed to 3 ends bit-exactly where the uninterrupted one does
    /// (parameters, teacher, centres and AdamW's state), and resuming it in Float32 is refused.
    func agreesWithFloat32(_ method: String, resume: Bool) throws {
        let f64 = temporaryDirectory("\(method)-f64"), f32 = temporaryDirectory("\(method)-f32")
        let parts = temporaryDirectory("\(method)-f64-parts")
        defer { for d in [f64, f32, parts] { try? FileManager.default.removeItem(at: d) } }
        let double = try Float64Runs.train(method, .float64, in: f64, steps: 3)
        let single = try Float64Runs.train(method, .float32, in: f32, steps: 3)
        #expect(double.state.precision == .float64)
        let notDouble = double.tensors.filter { $0.value.dtype != .float64 }.keys.sorted()
        #expect(notDouble.isEmpty, "tensors of the float64 run in Float32: \(notDouble.prefix(5))")
        #expect(Set(double.tensors.keys) == Set(single.tensors.keys))
        let worst = maxRelativeDifference(double.tensors, single.tensors, skipKeyBias: true)
        print("\(method) float64 vs float32, 3 steps: max relative difference \(worst.value) (\(worst.tensor))")
        #expect(worst.value <= 1e-4, "\(method): \(worst.tensor) differs by \(worst.value) relative")
        guard resume else { return }

        _ = try Float64Runs.train(method, .float64, in: parts, steps: 1)
        let resumed = try Float64Runs.train(method, .float64, in: parts, steps: 3)
        #expect(resumed.state.step == 3 && Set(resumed.tensors.keys) == Set(double.tensors.keys))
        for (name, t) in resumed.tensors {
            #expect(t.dtype == .float64 && t.doubles == double.tensors[name]!.doubles, "\(name) differs after the resume")
        }
        #expect(throws: CheckpointError.mismatch("it was trained with precision float64, the run now asks for float32 (set `precision` back to resume)")) {
            _ = try Float64Runs.train(method, .float32, in: parts, steps: 4)
        }
    }

    @Test func dinoFloat64IsTheFloat32MathAndResumesBitExactly() throws { try agreesWithFloat32("dino", resume: true) }
    @Test func dinov2Float64IsTheFloat32Math() throws { try agreesWithFloat32("dinov2", resume: false) }

    /// `precision=float64` decodes for every method and is refused where it is not implemented.
    @Test func float64IsRefusedByDINOv3AndDistillation() throws {
        #expect(try ConfigLoader.load(DINOConfig.self, overrides: ["precision=float64"]).precision == .float64)
        #expect(try ConfigLoader.load(DINOv2Config.self, overrides: ["precision=float64"]).precision == .float64)
        #expect(throws: ConfigError.self) { try ConfigLoader.load(DINOv3Config.self, overrides: ["precision=float64"]) }
        #expect(throws: ConfigError.self) {
            try ConfigLoader.load(DistillationConfig.self, overrides: ["precision=float64", "teacher_run=/nonexistent"])
        }
    }
}
