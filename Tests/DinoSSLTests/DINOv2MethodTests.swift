import DinoModels
import DinoNN
import DinoSSL
import DinoTensor
import DinoTestSupport
import DinoVision
import Foundation
import Testing

/// A tiny DINOv2: the `test_dinov2` preset (width 32, depth 2, patch 4, 32 px), 64 prototypes.
func tinyDINOv2(separateHead: Bool = false, centering: CenteringMode = .centering, images: Int = 64,
                freezeEpochs: Double = 0, model: String = "test_dinov2") throws -> DINOv2 {
    var c = DINOv2Config()
    c.model = model
    c.epochs = 2
    c.batchSize = 4
    for h in [\DINOv2Config.dino.head, \DINOv2Config.ibot.head] {
        c[keyPath: h].prototypes = 64
        c[keyPath: h].hiddenDimensions = 48
        c[keyPath: h].bottleneckDimensions = 16
        c[keyPath: h].freezeLastLayerEpochs = freezeEpochs
    }
    c.ibot.head.prototypes = 40
    c.ibot.separateHead = separateHead
    c.teacher.centering = centering
    c.crops.localCount = 2
    c.crops.localSize = 16
    return DINOv2(settings: try c.resolved(datasetSize: images))
}

/// Random multi-crop batches with iBOT masks (8×8 patches per global crop).
struct RandomMaskedCrops: BatchSource {
    var batchesPerEpoch = 3
    var itemsPerBatch = 4

    func batches(epoch: Int, startingAt start: Int) -> AnyIterator<MultiCropInput> {
        var index = start
        let (count, b) = (batchesPerEpoch, itemsPerBatch)
        return AnyIterator {
            guard index < count else { return nil }
            defer { index += 1 }
            let g = RandomGenerator(seed: 98).fork(UInt64(epoch * 1000 + index))
            let masks = MaskCollator(gridSize: 8).masks(count: 2 * b, generator: g.fork(7))
            return MultiCropInput(globalCrops: g.normal([2 * b, 3, 32, 32]), localCrops: g.normal([2 * b, 3, 16, 16]), masks: masks)
        }
    }
}

@Suite struct DINOv2MethodTests {
    static let values = ScheduleValues(iteration: 0, epoch: 0, values: ["teacher_temp": 0.04, "momentum": 0.9])

    @Test func groupsCarryLayerDecayPatchEmbedMultiplierAndTheLastLayerSchedule() throws {
        let m = try tinyDINOv2(separateHead: true)
        let groups = m.parameterGroups
        let names = groups.flatMap(\.names)
        #expect(Set(names).count == names.count)
        #expect(names.allSatisfy { $0.hasPrefix("student.backbone.") || $0.hasPrefix("student.dino_head.") || $0.hasPrefix("student.ibot_head.") })
        func group(of name: String) -> ParameterGroup { groups.first { $0.names.contains(name) }! }
        // Last layers (v and the trained scale g) learn at last_layer_lr.
        for head in ["dino_head", "ibot_head"] {
            for p in ["weight_v", "weight_g"] {
                #expect(group(of: "student.\(head).last_layer.\(p)").learningRateSchedule == ScheduleValues.lastLayerLearningRate)
            }
            #expect(group(of: "student.\(head).mlp.0.weight").learningRateSchedule == ScheduleValues.learningRate)
        }
        // Depth 2, decay 0.9: block i at 0.9^(2 − i), the patch embedding at 0.9^3 · 0.2, heads at 1.
        let block0 = group(of: "student.backbone.blocks.0.attn.qkv.weight").lrMultiplier
        let block1 = group(of: "student.backbone.blocks.1.attn.qkv.weight").lrMultiplier
        #expect(abs(block1 - 0.9) < 1e-12 && abs(block0 - 0.81) < 1e-12)
        #expect(abs(group(of: "student.backbone.patch_embed.proj.weight").lrMultiplier - 0.729 * 0.2) < 1e-12)
        #expect(group(of: "student.dino_head.mlp.0.weight").lrMultiplier == 1)
        #expect(group(of: "student.backbone.blocks.0.norm1.weight").weightDecayMultiplier == 0)
        #expect(group(of: "student.backbone.blocks.0.ls1.gamma").weightDecayMultiplier == 0)
        // Clipping modules: backbone, DINO head, iBOT head.
        #expect(m.clippingModules.map(\.name) == ["backbone", "dino_head", "ibot_head"])
        #expect(m.clippingModules.map(\.parameters.count).reduce(0, +) == groups.allParameters.count)
    }

    @Test(arguments: [(false, CenteringMode.centering), (true, .centering), (false, .sinkhornKnopp), (true, .sinkhornKnopp)])
    func stepGivesEveryTermAndStudentGradientsOnly(separate: Bool, centering: CenteringMode) throws {
        let m = try tinyDINOv2(separateHead: separate, centering: centering)
        let batch = RandomMaskedCrops().batches(epoch: 0, startingAt: 0).next()!
        #expect(batch.masks!.indices.count > 0)
        let terms = m.step(batch: batch, schedules: Self.values)
        for key in ["loss", "dino_global_crops_loss", "dino_local_crops_loss", "koleo_loss", "ibot_loss"] {
            #expect(terms[key].map { $0.item().isFinite } == true, "\(key)")
        }
        let sum = ["dino_global_crops_loss", "dino_local_crops_loss", "koleo_loss", "ibot_loss"].map { terms[$0]!.item() }.reduce(0, +)
        #expect(abs(terms["loss"]!.item() - sum) < 1e-4)
        terms["loss"]!.backward()
        #expect(m.teacher.parameters().allSatisfy { $0.value.grad == nil })
        #expect(m.teacherHead.parameters().allSatisfy { $0.value.grad == nil })
        // The student's mask token takes part (masked patches), and so does every head.
        #expect(m.student.maskToken!.value.grad != nil)
        #expect(m.studentHead.lastLayer.direction.value.grad != nil)
        if separate { #expect(m.studentIBOTHead!.lastLayer.direction.value.grad != nil) }
    }

    @Test(arguments: ["test_dinov2_reg", "test_dinov2_swiglu"])
    func registersAndSwiGLUPresetsTrain(model: String) throws {
        let m = try tinyDINOv2(model: model)
        let batch = RandomMaskedCrops().batches(epoch: 0, startingAt: 0).next()!
        let terms = m.step(batch: batch, schedules: Self.values)
        #expect(terms["loss"]!.item().isFinite && terms["ibot_loss"] != nil)
        terms["loss"]!.backward()
        #expect(m.student.maskToken!.value.grad != nil)
        if model.hasSuffix("reg") { #expect(m.student.registerTokens!.value.grad != nil) }
    }

    @Test func withoutMasksTheIBOTTermIsAbsent() throws {
        let m = try tinyDINOv2()
        var batch = RandomMaskedCrops().batches(epoch: 0, startingAt: 0).next()!
        batch.masks = nil
        let terms = m.step(batch: batch, schedules: Self.values)
        #expect(terms["ibot_loss"] == nil && terms["koleo_loss"] != nil)
        terms["loss"]!.backward()
        #expect(m.student.maskToken!.value.grad == nil)
    }

    /// With iBOT off the student's global crops are still masked (the reference's collate and
    /// `forward_backward`): masks are made, and the mask token gets a gradient from the DINO terms.
    @Test func withIBOTOffTheStudentIsStillMasked() throws {
        var c = try tinyDINOv2().settings.config
        c.ibot.lossWeight = 0
        let r = try c.resolved(datasetSize: 64)
        #expect(r.maskCollator != nil)
        let m = DINOv2(settings: r)
        let batch = RandomMaskedCrops().batches(epoch: 0, startingAt: 0).next()!
        #expect(batch.masks!.indices.count > 0)
        let terms = m.step(batch: batch, schedules: Self.values)
        #expect(terms["ibot_loss"] == nil && terms["dino_global_crops_loss"] != nil)
        terms["loss"]!.backward()
        #expect(m.student.maskToken!.value.grad.map { $0.scalars.contains { $0 != 0 } } == true)
    }

    /// A `dinov2_*` preset trains at the reference's crops (224 and 96 rounded to whole
    /// patches: 98 at patch 14), not at its inference size 518; small presets keep theirs.
    @Test(arguments: [("dinov2_vits14", 224, 98), ("dinov2_vitb14_reg", 224, 98), ("dinov3_vits16", 224, 96), ("dino_vits16", 224, 96),
                      ("vit_tiny_patch4", 32, 16)])
    func automaticCropsAreTheReferences(model: String, global: Int, local: Int) throws {
        var c = DINOv2Config()
        c.model = model
        if model.hasPrefix("dino_") { c.ibot.lossWeight = 0 }                  // DINO's ViT has no mask token
        let r = try c.resolved(datasetSize: 1000)
        #expect(r.base.globalSize == global && r.base.localSize == local)
        var d = DINOConfig()
        d.model = model
        let rd = try d.resolved(datasetSize: 1000)
        #expect(rd.globalSize == global && rd.localSize == local)
    }

    /// `epoch_length` (the reference's 1250-iteration epochs): the schedules count epochs of that
    /// many steps, and the data runs on across epochs, pass after pass.
    @Test func epochLengthSetsTheEpochAndTheDataRunsOn() throws {
        var c = try tinyDINOv2().settings.config
        c.epochLength = 5
        let r = try c.resolved(datasetSize: 64)
        #expect(r.stepsPerEpoch == 5 && r.totalSteps == 10)
        c.epochLength = 0
        #expect(throws: ConfigError.self) { try c.resolved(datasetSize: 64) }

        let images = try ImageFileDataset.open(RunFixtures.root.appendingPathComponent("images").path)   // 4 images
        let pipeline = MultiCropPipeline(dataset: images, config: .preset(.dinov2, globalSize: 16, localSize: 8, localCount: 1),
                                         issues: DataIssueLog(report: DataIssueLog.silent))
        func source(_ length: Int?) -> MultiCropBatchSource {
            MultiCropBatchSource(pipeline: pipeline, batchSize: 2, seed: 3, workers: 1, epochLength: length)
        }
        let passes = source(nil), long = source(3)                                  // 2 batches a pass, 3 an epoch
        #expect(passes.batchesPerEpoch == 2 && long.batchesPerEpoch == 3)
        // Epoch 1 of 3 steps is iterations 3, 4, 5: batch 1 of pass 1, then batches 0 and 1 of pass 2.
        let got = Array(long.batches(epoch: 1, startingAt: 0)).map(\.globalCrops.scalars)
        let want = (Array(passes.batches(epoch: 1, startingAt: 1)) + Array(passes.batches(epoch: 2, startingAt: 0)))
            .map(\.globalCrops.scalars)
        #expect(got.count == 3 && got == want)
        #expect(Array(long.batches(epoch: 1, startingAt: 2)).map(\.globalCrops.scalars) == [want[2]])
    }

    @Test func afterTheStepTheTeacherAndBothCentresMove() throws {
        let m = try tinyDINOv2()
        let batch = RandomMaskedCrops().batches(epoch: 0, startingAt: 0).next()!
        _ = m.step(batch: batch, schedules: Self.values)
        let t0 = m.teacher.blocks[0].attn.qkv.weight.value.scalars
        let s = m.student.blocks[0].attn.qkv.weight.value
        withNoGrad { s.copyIn(s + 1) }
        m.afterOptimizerStep(schedules: Self.values)
        let t1 = m.teacher.blocks[0].attn.qkv.weight.value.scalars
        #expect(mismatch(t1, zip(t0, s.scalars).map { 0.9 * $0 + 0.1 * $1 }, rtol: 1e-6, atol: 1e-7) == nil)
        #expect(m.dinoCenter.scalars.contains { $0 != 0 } && m.ibotCenter.scalars.contains { $0 != 0 })
        #expect(m.ibotCenter.shape == [1, 64])
    }

    @Test func trainingResumesBitExactly() throws {
        func options(_ steps: Int?) -> TrainerOptions {
            var o = try! tinyDINOv2().settings.trainerOptions
            o.progress = false
            o.logEverySteps = 1
            o.checkpointEveryMinutes = nil
            o.maxSteps = steps
            o.tensorBoard = false
            return o
        }
        func trainer(_ dir: URL, _ steps: Int?) throws -> Trainer<DINOv2, RandomMaskedCrops> {
            let m = try tinyDINOv2(images: 12, freezeEpochs: 0.5)
            return try Trainer(method: m, data: RandomMaskedCrops(), schedules: m.settings.schedules, options: options(steps), runDirectory: dir)
        }
        let whole = FileManager.default.temporaryDirectory.appendingPathComponent("dinov2-whole-\(UUID().uuidString)")
        let parts = FileManager.default.temporaryDirectory.appendingPathComponent("dinov2-parts-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: whole); try? FileManager.default.removeItem(at: parts) }
        #expect(try trainer(whole, nil).run() == .completed)
        #expect(try trainer(parts, 4).run() == .stopped(reason: "reached max_steps 4"))
        let resumed = try trainer(parts, nil)
        #expect(try resumed.run() == .completed)
        let a = try MetricsLogger.read(whole.appendingPathComponent("metrics.jsonl"))
        let b = try MetricsLogger.read(parts.appendingPathComponent("metrics.jsonl"))
        #expect(a.count == 6 && a.map { $0["loss"]! } == b.map { $0["loss"]! })
        // Per-module clipping is logged; the last layer learns at 0 during its frozen steps.
        #expect(a[0]["grad_norm.backbone"] != nil && a[0]["grad_norm.dino_head"] != nil)
        #expect(a[0]["last_layer_lr"] == 0)
    }
}

@Suite struct DINOv2ConfigTests {
    @Test func defaultsAreTheReferences() {
        let c = DINOv2Config()
        #expect(c.dino.koleoLossWeight == 0.1 && c.dino.lossWeight == 1 && c.ibot.lossWeight == 1)
        #expect(c.ibot.maskRatio == [0.1, 0.5] && c.ibot.maskSampleProbability == 0.5 && !c.ibot.separateHead)
        // Automatic by default; the reference's values come with recipe=reference (below).
        #expect(c.teacher.momentum == nil && c.teacher.temperature == nil && c.teacher.warmupTemperature == nil)
        #expect(c.teacher.centering == nil && c.recipe == .auto)
        // Automatic centring is Sinkhorn-Knopp (the released ViT-L/g recipes); the ImageNet
        // recipe's softmax centring with recipe=reference; an explicit value always wins.
        #expect(c.teacher.centeringMode(recipe: .auto) == .sinkhornKnopp && c.teacher.centeringMode(recipe: .reference) == .centering)
        var explicit = c.teacher
        explicit.centering = .centering
        #expect(explicit.centeringMode(recipe: .auto) == .centering)
        #expect(c.student.dropPathRate == nil && c.student.dropPathUniform && c.student.layerScale == nil)
        #expect(c.optim.baseLR == 0.004 && c.optim.layerwiseDecay == 0.9 && c.optim.patchEmbedLRMultiplier == 0.2)
        #expect(c.optim.clipGrad == 3.0 && c.optim.minLR == 1e-6)
        #expect(c.crops.globalScale == [0.32, 1.0] && c.crops.localScale == [0.05, 0.32])
        #expect(!c.dino.head.normLastLayer)
        // sqrt_wrt_1024: batch 64 → 0.004 · √(1/16) = 0.001.
        #expect(abs(DINOv2Config.scaledLearningRate(base: 0.004, batchSize: 64) - 0.001) < 1e-15)
    }

    @Test func resolvedModelAndSchedules() throws {
        var c = DINOv2Config()
        c.model = "vit_nano_patch4"
        c.epochs = 10
        c.batchSize = 64
        let r = try c.resolved(datasetSize: 3900)
        // Automatic values for 3900 images and a 6-block model: drop path 0.1, LayerScale 1,
        // τ_t 0.02 throughout, momentum 0.99.
        #expect(r.model.dropPathUniform && r.model.dropPathRate == 0.1 && r.model.layerScaleInit == 1)
        #expect(DINOv2Config.automaticLayerScale(depth: 24) == 1e-5)
        #expect(DINOv2Config.automaticDropPath(depth: 24) == 0.3 && DINOv2Config.automaticDropPath(depth: 40) == 0.4)
        #expect(r.stepsPerEpoch == 60 && r.prototypes == 1024 && r.ibotPrototypes == 1024)
        let auto = r.schedules.values(at: 0, epoch: 0)
        #expect(auto["teacher_temp"] == 0.02 && auto["momentum"] == 0.99)
        #expect(r.schedules.values(at: r.totalSteps - 1, epoch: 9)["teacher_temp"] == 0.02)

        // recipe=reference: the official values on the same data.
        c.recipe = .reference
        let ref = try c.resolved(datasetSize: 3900)
        #expect(ref.model.dropPathRate == 0.3 && ref.model.layerScaleInit == 1e-5)
        #expect(ref.prototypes == 65_536 && ref.base.localCount == 8)
        #expect(ref.base.warmupSteps == 600 && ref.freezeLastLayerSteps == 60)   // 10 epochs; 1 epoch
        c.recipe = .auto
        c.teacher.momentum = 0.992
        c.teacher.temperature = 0.07
        c.teacher.warmupTemperature = 0.04
        c.student.dropPathRate = 0.3
        c.student.layerScale = 1e-5
        let r2 = try c.resolved(datasetSize: 3900)
        #expect(r2.model.dropPathRate == 0.3 && r2.model.layerScaleInit == 1e-5)
        let s = r2.schedules
        let v0 = s.values(at: 0, epoch: 0), vEnd = s.values(at: r.totalSteps - 1, epoch: 9)
        #expect(v0["lr"] == 0 && v0["last_layer_lr"] == 0 && v0["teacher_temp"] == 0.04 && v0["momentum"] == 0.992)
        // Warm-up 10 % of 600 steps; the last layer frozen for min(1 epoch, 10 %) = 60 steps.
        let peak = s.values(at: r.base.warmupSteps, epoch: 1)["lr"]
        #expect(abs(peak - 0.001) < 1e-12)
        #expect(s.values(at: 59, epoch: 0)["last_layer_lr"] == 0 && s.values(at: 60, epoch: 1)["last_layer_lr"] > 0)
        #expect(abs(vEnd["teacher_temp"] - 0.07) < 1e-12)
        #expect(r.maskCollator?.generator.patchCount == 64)
        #expect(r.trainerOptions.clipMode == .totalNormPerModule && r.trainerOptions.clipGrad == 3)
    }

    @Test func badValuesAndUnknownKeysAreNamed() throws {
        #expect(throws: ConfigError.self) { try ConfigLoader.load(DINOv2Config.self, overrides: ["ibot.bogus=1"]) }
        var c = DINOv2Config()
        c.ibot.maskRatio = [0.6, 0.2]
        #expect(throws: ConfigError.self) { try c.validate() }
        c = DINOv2Config()
        c.student.dropPathRate = 1
        #expect(throws: ConfigError.self) { try c.validate() }
        let loaded = try ConfigLoader.load(DINOv2Config.self, overrides: ["teacher.centering=\"sinkhorn_knopp\"", "ibot.separate_head=true"])
        #expect(loaded.teacher.centering == .sinkhornKnopp && loaded.ibot.separateHead)
    }
}
