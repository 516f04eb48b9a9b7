// Multi-student distillation (`model: a,b`): one teacher forward feeds every student, each
// with its own heads, optimiser and EMA. The property that pins it down: each student of a
// two-student run ends with exactly the tensors (parameters, EMA, AdamW state) it ends with
// when distilled alone with the same seed and batches — the teacher's targets are the same,
// and each student is built and draws from the generator forks a lone student uses.

import DinoModels
import DinoNN
import DinoSSL
import DinoTensor
import DinoVision
import Foundation
import Testing

@Suite struct MultiStudentDistillationTests {
    static let students = ["test_dinov2", "test_dinov2_reg"]

    /// The distill fixture's config (teacher: the dinov2 fixture run, 3 epochs of 2 steps)
    /// with `model` replaced, written beside the copied fixtures.
    static func config(model: String, in scratch: URL, fixture: URL) throws -> URL {
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: fixture.appendingPathComponent("config.json"))) as! [String: Any]
        object["model"] = model
        let url = scratch.appendingPathComponent("config-\(model).json")
        try JSONSerialization.data(withJSONObject: object).write(to: url)
        return url
    }

    /// Trains the run `request` resolves to, up to `maxSteps` (nil: to the end); returns every
    /// tensor of its newest checkpoint.
    static func train(_ request: TrainRequest, maxSteps: Int? = nil) throws -> [String: Tensor] {
        let (method, tree) = try request.resolve()
        let run = try TrainingRun(method: method, configTree: tree, dataPath: RunFixtures.root.appendingPathComponent("images").path,
                                  runDirectory: request.runDirectory, issues: DataIssueLog(report: DataIssueLog.silent)) { o in
            o.progress = false
            o.tensorBoard = false
            o.maxSteps = maxSteps
        }
        _ = try run.trainer.run()
        return try CheckpointStore(directory: request.runDirectory.appendingPathComponent("checkpoints")).loadLatest()!.tensors
    }

    @Test func eachStudentEndsExactlyAsWhenDistilledAlone() throws {
        let (fixture, scratch) = try RunFixtures.copy("distill")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let both = try Self.train(TrainRequest(method: "distill", configFile: try Self.config(model: Self.students.joined(separator: ","), in: scratch, fixture: fixture),
                                               runDirectory: scratch.appendingPathComponent("both")))
        var explained = Set<String>()
        for name in Self.students {
            let alone = try Self.train(TrainRequest(method: "distill", configFile: try Self.config(model: name, in: scratch, fixture: fixture),
                                                    runDirectory: scratch.appendingPathComponent(name)))
            for (key, t) in alone {
                // The lone run's names, under the student's prefix in the joint run; the teacher's
                // centres are shared (the same for every student).
                // (optimiser state is named by parameter: `optimizer.NAME.NAME.student.…`).
                let joint = key.hasPrefix("optimizer.") ? "optimizer.\(name).\(name)." + key.dropFirst("optimizer.".count)
                    : key.hasPrefix("student") ? "\(name).\(key)" : key
                let got = try #require(both[joint], "\(joint) missing from the two-student run")
                #expect(got.shape == t.shape && got.scalars == t.scalars, "\(name): \(key)")
                explained.insert(joint)
            }
        }
        // Nothing in the joint run that the lone runs do not explain.
        #expect(Set(both.keys) == explained)
        // The students differ (they are different models, trained on their own).
        #expect(both["test_dinov2.student.backbone.blocks.0.attn.qkv.weight"]?.scalars
                != both["test_dinov2_reg.student.backbone.blocks.0.attn.qkv.weight"]?.scalars)
    }

    @Test func aTwoStudentRunResumesBitExactlyAndExportsEachStudent() throws {
        let (fixture, scratch) = try RunFixtures.copy("distill")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let config = try Self.config(model: Self.students.joined(separator: ","), in: scratch, fixture: fixture)
        let parts = scratch.appendingPathComponent("parts"), whole = scratch.appendingPathComponent("whole")
        let first = try Self.train(TrainRequest(method: "distill", configFile: config, runDirectory: parts), maxSteps: 3)
        #expect(first.keys.contains("optimizer.test_dinov2.step") || first.keys.contains { $0.hasPrefix("optimizer.test_dinov2.") })
        let resumed = try Self.train(TrainRequest(resume: true, runDirectory: parts))
        let reference = try Self.train(TrainRequest(method: "distill", configFile: config, runDirectory: whole))
        #expect(Set(resumed.keys) == Set(reference.keys))
        for (k, t) in reference { #expect(resumed[k]?.scalars == t.scalars, "\(k)") }

        // One export per student; the default is the first; a name that is not a student fails.
        for name in Self.students {
            let (model, _) = try TrainingRun.loadBackbone(run: whole, student: name)
            #expect(model.blocks[1].attn.qkv.weight.value.scalars == reference["\(name).student_ema.backbone.blocks.1.attn.qkv.weight"]?.scalars)
        }
        let (defaultModel, _) = try TrainingRun.loadBackbone(run: whole)
        #expect(defaultModel.blocks[1].attn.qkv.weight.value.scalars
                == reference["test_dinov2.student_ema.backbone.blocks.1.attn.qkv.weight"]?.scalars)
        #expect(throws: MethodError.self) { try TrainingRun.loadBackbone(run: whole, student: "vit_nano_patch4") }
        // A single-model run refuses a student name.
        #expect(throws: MethodError.self) { try TrainingRun.loadBackbone(run: scratch.appendingPathComponent("dinov2"), student: "x") }
    }

    @Test func studentsMustBeDistinctNamedAndShareTheirAutomaticValues() throws {
        var c = DistillationConfig()
        c.teacherRun = "/x"
        c.model = "test_dinov2,test_dinov2"
        #expect(throws: ConfigError.self) { try c.validate() }
        c.model = "test_dinov2,"
        #expect(throws: ConfigError.self) { try c.validate() }
        c.model = "test_dinov2, test_dinov2_reg"
        #expect(c.studentModels == Self.students)
        #expect(throws: Never.self) { try c.validate() }
    }
}
