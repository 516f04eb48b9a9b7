import DinoModels
import DinoNN
import DinoSSL
import DinoTensor
import DinoTestSupport
import DinoVision
import Foundation
import Testing

/// Distillation of a frozen teacher into a student with the DINOv2 losses.
@Suite struct DistillationTests {
    static let values = ScheduleValues(iteration: 0, epoch: 0, values: ["teacher_temp": 0.04, "momentum": 0.9])

    static func config() -> DistillationConfig {
        var c = DistillationConfig()
        c.model = "test_dinov2"
        c.teacherModel = "test_dinov2_reg"
        c.epochs = 2
        c.batchSize = 4
        for h in [\DistillationConfig.dino.head, \DistillationConfig.ibot.head] {
            c[keyPath: h].prototypes = 64
            c[keyPath: h].hiddenDimensions = 48
            c[keyPath: h].bottleneckDimensions = 16
            c[keyPath: h].freezeLastLayerEpochs = 0
        }
        c.crops.localCount = 2
        c.crops.localSize = 16
        return c
    }

    /// A student distilled from a randomly initialised `test_dinov2_reg` teacher (registers).
    static func method() throws -> Distillation {
        let c = config()
        let r = try c.studentSettings.resolved(datasetSize: 12)
        let backbone = VisionTransformer(try ModelPresets.config(named: "test_dinov2_reg"), generator: RandomGenerator(seed: 4))
        backbone.initializeWeights(generator: RandomGenerator(seed: 5))
        let teacher = FrozenTeacher.fromBackbone(backbone, head: c.dino.head, prototypes: r.prototypes, generator: RandomGenerator(seed: 6))
        return Distillation(settings: r, teacher: teacher)
    }

    @Test func stepUsesEveryPatchAndOnlyTheStudentLearns() throws {
        let m = try Self.method()
        #expect(m.settings.model.dropPathRate == 0)
        var batch = RandomMaskedCrops().batches(epoch: 0, startingAt: 0).next()!
        batch.masks = nil
        let terms = m.step(batch: batch, schedules: Self.values)
        for key in ["loss", "dino_global_crops_loss", "dino_local_crops_loss", "koleo_loss", "ibot_loss"] {
            #expect(terms[key].map { $0.item().isFinite } == true, "\(key)")
        }
        terms["loss"]!.backward()
        #expect(m.teacher.backbone.parameters().allSatisfy { $0.value.grad == nil })
        #expect(m.teacher.head.parameters().allSatisfy { $0.value.grad == nil })
        // No masking: the student's mask token is never used.
        #expect(m.student.maskToken!.value.grad == nil)
        #expect(m.student.blocks[0].attn.qkv.weight.value.grad != nil)
        // After the step the EMA moves towards the student; the teacher stays.
        let teacherBefore = m.teacher.backbone.blocks[0].attn.qkv.weight.value.scalars
        let e0 = m.studentEMA.blocks[0].attn.qkv.weight.value.scalars
        let s = m.student.blocks[0].attn.qkv.weight.value
        withNoGrad { s.copyIn(s + 1) }
        m.afterOptimizerStep(schedules: Self.values)
        #expect(mismatch(m.studentEMA.blocks[0].attn.qkv.weight.value.scalars, zip(e0, s.scalars).map { 0.9 * $0 + 0.1 * $1 },
                         rtol: 1e-6, atol: 1e-7) == nil)
        #expect(m.teacher.backbone.blocks[0].attn.qkv.weight.value.scalars == teacherBefore)
    }

    @Test func aDINOv2RunTeachesAndTheStudentsEMAIsExported() throws {
        // A DINOv2 run of two steps, then a distillation from it, then export.
        let teacherDir = FileManager.default.temporaryDirectory.appendingPathComponent("distill-teacher-\(UUID().uuidString)")
        let studentDir = FileManager.default.temporaryDirectory.appendingPathComponent("distill-student-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: teacherDir); try? FileManager.default.removeItem(at: studentDir) }
        func quiet(_ o: TrainerOptions) -> TrainerOptions {
            var o = o
            o.progress = false
            o.checkpointEveryMinutes = nil
            o.tensorBoard = false
            o.maxSteps = 2
            return o
        }
        let v2 = try tinyDINOv2(separateHead: true, images: 12)
        try FileManager.default.createDirectory(at: teacherDir, withIntermediateDirectories: true)
        try JSONEncoder().encode(v2.settings.config).write(to: teacherDir.appendingPathComponent(TrainingRun.configFileName))
        _ = try Trainer(method: v2, data: RandomMaskedCrops(), schedules: v2.settings.schedules,
                        options: quiet(v2.settings.trainerOptions), runDirectory: teacherDir).run()

        let frozen = try FrozenTeacher.fromRun(teacherDir)
        #expect(frozen.head.prototypes == 64 && frozen.ibotHead?.prototypes == 40)
        #expect(frozen.backbone.blocks[1].attn.qkv.weight.value.scalars == v2.teacher.blocks[1].attn.qkv.weight.value.scalars)
        #expect(frozen.head.lastLayer.direction.value.scalars == v2.teacherHead.lastLayer.direction.value.scalars)

        var c = Self.config()
        c.teacherModel = nil
        c.teacherRun = teacherDir.path
        let r = try c.studentSettings.resolved(datasetSize: 12)
        let m = Distillation(settings: r, teacher: frozen)
        #expect(m.studentIBOTHead?.prototypes == 40)
        try FileManager.default.createDirectory(at: studentDir, withIntermediateDirectories: true)
        try JSONEncoder().encode(c).write(to: studentDir.appendingPathComponent(TrainingRun.configFileName))
        struct Unmasked: BatchSource {
            var batchesPerEpoch: Int { 3 }
            var itemsPerBatch: Int { 4 }
            func batches(epoch: Int, startingAt start: Int) -> AnyIterator<MultiCropInput> {
                let inner = RandomMaskedCrops().batches(epoch: epoch, startingAt: start)
                return AnyIterator { inner.next().map { var b = $0; b.masks = nil; return b } }
            }
        }
        _ = try Trainer(method: m, data: Unmasked(), schedules: r.schedules, options: quiet(r.trainerOptions), runDirectory: studentDir).run()
        let (exported, size) = try TrainingRun.loadBackbone(run: studentDir)
        #expect(size == 32)
        #expect(exported.blocks[0].attn.qkv.weight.value.scalars == m.studentEMA.blocks[0].attn.qkv.weight.value.scalars)
        #expect(exported.blocks[0].attn.qkv.weight.value.scalars != m.student.blocks[0].attn.qkv.weight.value.scalars)
    }

    @Test func epochLengthReachesTheStudentsSchedules() throws {
        var c = Self.config()
        c.epochLength = 7
        #expect(try c.studentSettings.resolved(datasetSize: 12).stepsPerEpoch == 7)
    }

    /// `student.layerscale` sets the ViT students' initial LayerScale; unset, DINOv2's automatic
    /// value by depth (1 up to 12 blocks, 1e-5 beyond and with `recipe=reference`); a value that
    /// is not positive is refused by name.
    @Test func theStudentsLayerScaleIsAKey() throws {
        func layerScale(_ overrides: [String]) throws -> Double? {
            try ConfigLoader.load(DistillationConfig.self, overrides: ["teacher_run=\"/x\""] + overrides)
                .studentSettings.resolved(datasetSize: 640, distilled: true).model.layerScaleInit
        }
        #expect(try ConfigLoader.load(DistillationConfig.self, overrides: ["teacher_run=\"/x\""]).student.layerScale == nil)
        #expect(try layerScale(["model=\"vit_nano_patch4\""]) == 1)                       // 6 blocks
        #expect(try layerScale(["model=\"dinov2_vitl14\""]) == 1e-5)                   // 24 blocks
        #expect(try layerScale(["model=\"vit_nano_patch4\"", "recipe=\"reference\""]) == 1e-5)
        #expect(try layerScale(["model=\"vit_nano_patch4\"", "student.layerscale=1e-5"]) == 1e-5)
        do {
            _ = try ConfigLoader.load(DistillationConfig.self, overrides: ["teacher_run=\"/x\"", "student.layerscale=0"])
            Issue.record("a LayerScale of 0 was accepted")
        } catch let e as ConfigError {
            #expect(e.description.contains("student.layerscale"))
        }
    }

    @Test func theTeacherMustBeNamedOnce() {
        var c = DistillationConfig()
        #expect(throws: ConfigError.self) { try c.validate() }
        c.teacherRun = "/x"
        c.teacherModel = "test_dinov2"
        #expect(throws: ConfigError.self) { try c.validate() }
        c.teacherModel = nil
        #expect(throws: Never.self) { try c.validate() }
    }
}
