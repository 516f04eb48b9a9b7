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
import DinoTestSupport
import Foundation
import Testing

@Suite struct MultiStudentDistillationTests {
    static let students = ["test_dinov2", "test_dinov2_reg"]

    /// The distill fixture's config (teacher: the dinov2 fixture run, 3 epochs of 2 steps)
    /// with `model` replaced, written beside the copied fixtures.
    static func config(model: String, in scratch: URL, fixture: URL, extra: [String: Any] = [:]) throws -> URL {
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: fixture.appendingPathComponent("config.json"))) as! [String: Any]
        object["model"] = model
        object.merge(extra) { _, new in new }
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

    /// DINOv2's distillation (iBOT on every patch), and DINOv3's (iBOT on the masked patches of
    /// unmasked crops, global crops shrunk by `teacher_to_student_resolution_scale`).
    @Test(arguments: [false, true])
    func eachStudentEndsExactlyAsWhenDistilledAlone(dinov3: Bool) throws {
        let (fixture, scratch) = try RunFixtures.copy("distill")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let extra: [String: Any] = dinov3 ? ["ibot_patches": "masked", "teacher_to_student_resolution_scale": 2,
                                             "crops": ["global_size": 32, "local_size": 8, "local_count": 2]] : [:]
        let both = try Self.train(TrainRequest(method: "distill", configFile: try Self.config(model: Self.students.joined(separator: ","), in: scratch,
                                                                                              fixture: fixture, extra: extra),
                                               runDirectory: scratch.appendingPathComponent("both")))
        var explained = Set<String>()
        for name in Self.students {
            let alone = try Self.train(TrainRequest(method: "distill", configFile: try Self.config(model: name, in: scratch, fixture: fixture, extra: extra),
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
        let config = try Self.config(model: Self.students.joined(separator: ","), in: scratch, fixture: fixture, extra: ["ibot_patches": "masked"])
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

    /// `resizeBilinearAntialiased` against `F.interpolate(…, mode="bilinear", antialias=True)`
    /// (scripts/make_antialiased_resize_fixture.py).
    @Test func antialiasedResizeMatchesTorch() throws {
        struct Case: Decodable { var shape: [Int]; var scale: Double; var input: [Double]; var output_shape: [Int]; var output: [Double] }
        struct File: Decodable { var cases: [Case] }
        let url = try #require(Bundle.module.url(forResource: "antialiased_resize", withExtension: "json", subdirectory: "Fixtures"))
        for c in try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).cases {
            let y = resizeBilinearAntialiased(Tensor(doubles: c.input, shape: c.shape), height: c.output_shape[2], width: c.output_shape[3])
            #expect(y.shape == c.output_shape)
            #expect(mismatch(y.scalars, c.output.map { Float($0) }, rtol: 1e-5, atol: 1e-6) == nil, "scale \(c.scale)")
        }
    }

    /// A student of `DistillationTests`' config beside a random `test_dinov2_reg` teacher.
    static func method(ibotPatches: DistillationConfig.IBOTPatches, scale: Double? = nil) throws -> Distillation {
        let c = DistillationTests.config()
        let r = try c.studentSettings.resolved(datasetSize: 12)
        let backbone = VisionTransformer(try ModelPresets.config(named: "test_dinov2_reg"), generator: RandomGenerator(seed: 4))
        backbone.initializeWeights(generator: RandomGenerator(seed: 5))
        let teacher = FrozenTeacher.fromBackbone(backbone, head: c.dino.head, prototypes: r.prototypes, generator: RandomGenerator(seed: 6))
        return Distillation(students: [(name: "", settings: r)], teacher: teacher, ibotPatches: ibotPatches, resolutionScale: scale)
    }

    static func values(_ terms: [String: Tensor]) -> [String: [Float]] { terms.mapValues(\.scalars) }

    /// `ibot_patches: masked` compares only the masked patches of unmasked crops: with every
    /// patch masked it is the `all` objective exactly; with a partial mask its iBOT term
    /// differs, the DINO terms do not, and the mask token is never used.
    @Test func maskedIBOTReadsTheMaskIndicesOfUnmaskedCrops() throws {
        var batch = RandomMaskedCrops().batches(epoch: 0, startingAt: 0).next()!
        let partial = try #require(batch.masks)
        let all = try Self.method(ibotPatches: .all).step(batch: batch, schedules: DistillationTests.values)
        batch.masks = BatchMasks(count: partial.count, patches: partial.patches, values: Array(repeating: true, count: partial.values.count),
                                 upperbound: partial.upperbound)
        #expect(Self.values(try Self.method(ibotPatches: .masked).step(batch: batch, schedules: DistillationTests.values)) == Self.values(all))
        batch.masks = partial
        let m = try Self.method(ibotPatches: .masked)
        let masked = m.step(batch: batch, schedules: DistillationTests.values)
        #expect(masked[LossTerm.ibot]?.scalars != all[LossTerm.ibot]?.scalars)
        #expect(masked[LossTerm.dinoGlobalCrops]?.scalars == all[LossTerm.dinoGlobalCrops]?.scalars)
        masked[LossTerm.total]!.backward()
        #expect(m.student.maskToken!.value.grad == nil)
    }

    /// `teacher_to_student_resolution_scale: 2` is the method on global crops shrunk
    /// beforehand by `resizeBilinearAntialiased`.
    @Test func resolutionScaleShrinksTheGlobalCropsOfTeacherAndStudents() throws {
        var batch = RandomMaskedCrops().batches(epoch: 0, startingAt: 0).next()!
        batch.masks = nil
        let scaled = try Self.method(ibotPatches: .all, scale: 2).step(batch: batch, schedules: DistillationTests.values)
        let unscaled = try Self.method(ibotPatches: .all).step(batch: batch, schedules: DistillationTests.values)
        batch.globalCrops = resizeBilinearAntialiased(batch.globalCrops, height: 16, width: 16)
        #expect(Self.values(try Self.method(ibotPatches: .all).step(batch: batch, schedules: DistillationTests.values)) == Self.values(scaled))
        #expect(Self.values(scaled) != Self.values(unscaled))
    }

    /// Several students and `ibot_patches: masked` resolve on 2 ranks (every student trains on
    /// every rank; DinoDistributedTests compares such runs with one process), as one student does.
    @Test func severalStudentsAndMaskedPatchesResolveForDataParallelTraining() throws {
        let (fixture, scratch) = try RunFixtures.copy("distill")
        defer { try? FileManager.default.removeItem(at: scratch) }
        var c = try ConfigLoader.decode(DistillationConfig.self, from: try ConfigLoader.readTree(fixture.appendingPathComponent("config.json")))
        let dataset = try ImageFileDataset.open(RunFixtures.root.appendingPathComponent("images").path)
        let twoRanks = MethodContext(dataset: dataset, placement: DataParallelPlacement(rank: 0, worldSize: 2),
                                     issues: DataIssueLog(report: DataIssueLog.silent))
        #expect(throws: Never.self) { _ = try Distillation.resolve(c, context: twoRanks) }
        c.model = Self.students.joined(separator: ",")
        c.ibotPatches = .masked
        let r = try Distillation.resolve(c, context: twoRanks)
        #expect(r.students.map(\.name) == Self.students)
    }
}
