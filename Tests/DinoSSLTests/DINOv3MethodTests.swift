import DinoModels
import DinoNN
import DinoSSL
import DinoTensor
import DinoTestSupport
import DinoVision
import Foundation
import Testing

/// A tiny DINOv3: the `test_dinov3` preset (width 32, depth 2, patch 8, RoPE, 4 storage
/// tokens), 32 + 24 prototypes, 2 local crops of 16 px.
func tinyDINOv3Config(images: Int = 64, configure: (inout DINOv3Config) -> Void = { _ in }) -> DINOv3Config {
    var c = DINOv3Config()
    c.model = "test_dinov3"
    c.epochs = 2
    c.batchSize = 4
    for h in [\DINOv3Config.dino.head, \DINOv3Config.ibot.head] {
        c[keyPath: h].prototypes = 32
        c[keyPath: h].hiddenDimensions = 48
        c[keyPath: h].bottleneckDimensions = 16
        c[keyPath: h].freezeLastLayerEpochs = 0
    }
    c.ibot.head.prototypes = 24
    c.crops.localCount = 2
    c.crops.localSize = 16
    c.student.dropPathRate = 0.2
    configure(&c)
    return c
}

func tinyDINOv3(images: Int = 64, configure: (inout DINOv3Config) -> Void = { _ in }) throws -> DINOv3 {
    try DINOv3(settings: try tinyDINOv3Config(images: images, configure: configure).resolved(datasetSize: images))
}

/// Random multi-crop batches with DINOv3's exact-count masks (4×4 patches per global crop).
struct RandomDINOv3Crops: BatchSource {
    var batchesPerEpoch = 3
    var itemsPerBatch = 4
    /// Side of Gram teacher crops to add, or nil.
    var gramSize: Int? = nil

    func batches(epoch: Int, startingAt start: Int) -> AnyIterator<MultiCropInput> {
        var index = start
        let (count, b, gram) = (batchesPerEpoch, itemsPerBatch, gramSize)
        return AnyIterator {
            guard index < count else { return nil }
            defer { index += 1 }
            let g = RandomGenerator(seed: 77).fork(UInt64(epoch * 1000 + index))
            let masks = MaskCollator(gridSize: 4, variant: .dinov3).masks(count: 2 * b, generator: g.fork(7))
            var input = MultiCropInput(globalCrops: g.normal([2 * b, 3, 32, 32]), localCrops: g.normal([2 * b, 3, 16, 16]), masks: masks)
            input.gramCrops = gram.map { g.fork(9).normal([2 * b, 3, $0, $0]) }
            return input
        }
    }
}

/// One step's losses against the official `SSLMetaArch.compute_losses` run with the official
/// loss modules (Fixtures/dinov3_step_losses.json, scripts/make_dinov3_fixtures.py).
@Suite struct DINOv3StepLossTests {
    struct Reference: Decodable {
        struct Schedule: Decodable { let start: Double, peak: Double, end: Double, warmup_epochs: Int }
        struct Case: Decodable {
            let name: String
            let B: Int, L: Int, K: Int, K_ibot: Int, D: Int, N: Int, D_patch: Int
            let teacher_temp: Double
            let global_ignore_diagonal: Bool, reweight_dino_local_loss: Bool
            let local_loss_weight_schedule: Schedule
            let epochs: Int, iterations_per_epoch: Int, iteration: Int
            let gram_tokens_used: String, gram_img_level: Bool, gram_remove_neg: Bool, gram_loss_weight: Double
            let masks: [Int]
            let teacher_cls: [Double], teacher_patch: [Double], dino_targets: [Double], ibot_targets: [Double]
            let student_global: [Double], student_local: [Double], student_patch: [Double]
            let student_backbone_cls: [Double], student_patches: [Double], gram_teacher_patches: [Double]
            let dino_local_crops_loss: Double, dino_global_crops_loss: Double, dino_local_loss_weight: Double
            let koleo_loss: Double, ibot_loss: Double, gram_loss: Double, loss: Double
            let grad_student_global: [Double], grad_student_local: [Double], grad_student_patch: [Double]
            let grad_student_backbone_cls: [Double], grad_student_patches: [Double]
        }
        struct Resize: Decodable { let shape: [Int], grid: Int, x: [Double], y: [Double] }
        let cases: [Case]
        let resize: [Resize]
    }

    static let reference: Reference = try! Fixture.load("dinov3_step_losses")

    @Test func gramFeaturesAreResizedAsTheReference() {
        #expect(Self.reference.resize.count == 2)
        for r in Self.reference.resize {
            let y = DINOv3.resizePatchFeatures(Tensor(doubles: r.x, shape: r.shape), toGrid: r.grid)
            #expect(y.shape == [r.shape[0], r.grid * r.grid, r.shape[2]])
            #expect(mismatch(doubles: y.doubles, r.y, rtol: 1e-5, atol: 1e-6) == nil, "\(r.shape) → \(r.grid)²")
        }
    }

    @Test func termsTotalAndGradientsMatchTheReference() throws {
        #expect(Self.reference.cases.count == 2)
        for c in Self.reference.cases {
            func t(_ v: [Double], _ shape: [Int], grad: Bool = false) -> Tensor {
                let x = Tensor(doubles: v, shape: shape).to(.float32).contiguousCopy()
                return grad ? x.requiringGrad() : x
            }
            let (b, l, n) = (c.B, c.L, c.N)
            let masked = c.masks.indices.filter { c.masks[$0] == 1 }
            let m = masked.count
            // Targets: the official Sinkhorn-Knopp of both heads (iBOT's over the M masked patches).
            let dinoTargets = TeacherTargets.sinkhornKnopp(teacherOutput: t(c.teacher_cls, [2 * b, c.K]), temperature: c.teacher_temp)
            let ibotTargets = TeacherTargets.sinkhornKnopp(teacherOutput: t(c.teacher_patch, [m, c.K_ibot]), temperature: c.teacher_temp,
                                                           samples: m)
            #expect(mismatch(doubles: dinoTargets.doubles, c.dino_targets, rtol: 1e-5, atol: 1e-7) == nil, "\(c.name) dino targets")
            #expect(mismatch(doubles: ibotTargets.doubles, c.ibot_targets, rtol: 1e-5, atol: 1e-7) == nil, "\(c.name) ibot targets")

            let sg = t(c.student_global, [2 * b, c.K], grad: true), sl = t(c.student_local, [l * b, c.K], grad: true)
            let sp = t(c.student_patch, [m, c.K_ibot], grad: true), scls = t(c.student_backbone_cls, [2 * b, c.D], grad: true)
            let spatches = t(c.student_patches, [2 * b, n, c.D_patch], grad: true)
            let gramTeacher = t(c.gram_teacher_patches, [2 * b, n, c.D_patch])
            let masks = BatchMasks(count: 2 * b, patches: n, values: c.masks.map { $0 == 1 }, upperbound: 0)
            let inputs = DINOv2LossInputs(studentGlobal: sg, studentLocal: sl, teacherTargets: dinoTargets, studentBackboneCls: scls,
                                          studentMaskedPatches: sp, teacherPatchTargets: ibotTargets, maskWeights: masks.weights)
            var gs = spatches, gt = gramTeacher
            if c.gram_tokens_used == "masked" {
                gs = spatches.reshape([-1, c.D_patch]).indexSelect(axis: 0, indices: masked)
                gt = gramTeacher.reshape([-1, c.D_patch]).indexSelect(axis: 0, indices: masked)
            }
            let gram = GramInputs(student: gs, teacher: gt, imageLevel: c.gram_img_level, normalize: true,
                                  negatives: c.gram_remove_neg ? .removeBoth : .keep)
            let s = c.local_loss_weight_schedule
            let localWeight = c.reweight_dino_local_loss
                ? GramLoss.weightSchedule(start: s.start, peak: s.peak, end: s.end, warmupEpochs: s.warmup_epochs, cosineEpochs: nil,
                                          epochs: c.epochs, iterationsPerEpoch: c.iterations_per_epoch)(c.iteration)
                : 1
            #expect(abs(localWeight - c.dino_local_loss_weight) < 1e-12, "\(c.name) local weight schedule")
            let terms = DINOv3Objective.losses(inputs, gram: gram,
                                               weights: DINOv3LossWeights(dino: 1, koleo: 0.1, ibot: 1, gram: c.gram_loss_weight, dinoLocal: localWeight),
                                               ignoreDiagonal: c.global_ignore_diagonal, studentTemperature: 0.1)
            // The unscaled terms the reference logs, from the contributions.
            let globalPairs = c.global_ignore_diagonal ? 2.0 : 4.0, localPairs = Double(2 * l)
            let scaleLocal = localPairs / (globalPairs + localPairs) * localWeight, scaleGlobal = globalPairs / (globalPairs + localPairs)
            func value(_ k: String, _ scale: Double) -> Double { terms[k]!.doubles[0] / scale }
            let expected: [(String, Double, Double)] = [
                (LossTerm.dinoLocalCrops, scaleLocal, c.dino_local_crops_loss), (LossTerm.dinoGlobalCrops, scaleGlobal, c.dino_global_crops_loss),
                (LossTerm.koleo, 0.1 * 2, c.koleo_loss), (LossTerm.ibot, 1, c.ibot_loss), (LossTerm.gram, c.gram_loss_weight, c.gram_loss),
                (LossTerm.total, 1, c.loss),
            ]
            for (key, scale, reference) in expected {
                #expect(mismatch(doubles: [value(key, scale)], [reference], rtol: 2e-5, atol: 1e-6) == nil, "\(c.name) \(key)")
            }
            terms[LossTerm.total]!.backward()
            for (x, g, label) in [(sg, c.grad_student_global, "global"), (sl, c.grad_student_local, "local"), (sp, c.grad_student_patch, "patch"),
                                  (scls, c.grad_student_backbone_cls, "backbone cls"), (spatches, c.grad_student_patches, "patches")] {
                #expect(mismatch(doubles: x.grad!.doubles, g, rtol: 2e-4, atol: 2e-6) == nil, "\(c.name) gradient \(label)")
            }
        }
    }
}

@Suite struct DINOv3MethodTests {
    static func values(_ iteration: Int = 0, gram: Double? = nil) -> ScheduleValues {
        var v = ["teacher_temp": 0.04, "momentum": 0.9]
        if let gram { v[DINOv3.gramWeightSchedule] = gram }
        return ScheduleValues(iteration: iteration, epoch: 0, values: v)
    }

    @Test func defaultsAreTheReferences() throws {
        let c = DINOv3Config()
        #expect(c.model == "dinov3_vit_nano_patch4")
        #expect(c.dino.globalIgnoreDiagonal && c.dino.head.lastLayer == .linear && !c.dino.head.normLastLayer)
        #expect(c.ibot.head.lastLayer == .linear && c.ibot.maskRatio == [0.1, 0.5] && c.ibot.maskSampleProbability == 0.5)
        #expect(c.optim.lr == 0.001 && c.optim.layerwiseDecay == 0.9 && c.optim.patchEmbedLRMultiplier == 0.2 && c.optim.clipGrad == 3)
        #expect(abs(DINOv3Config.scaledLearningRate(0.001, batchSize: 1024) - 0.004) < 1e-15)
        #expect(c.student.dropPathMode == .batchSubset && c.student.ropeRescaleCoords == 2 && c.student.ropeShiftCoords == nil)
        #expect(c.crops.globalScale == [0.32, 1.0] && c.crops.localScale == [0.05, 0.32])
        #expect(!c.gram.useLoss && c.gram.tokensUsed == .all && c.gram.normalized && !c.gram.imgLevel && c.gram.repUpdate)
        let preset = try ModelPresets.config(named: c.model)
        #expect(preset.family == .dinov3 && preset.rope != nil && preset.numRegisterTokens == 4 && preset.layerScaleInit != nil)
        #expect(preset.imageSize == 32 && preset.patchSize == 4 && preset.embedDimensions == 128 && preset.depth == 6)
        // recipe=reference: the official values whatever the data.
        var r = c
        r.recipe = .reference
        r.model = "test_dinov3"
        let resolved = try r.resolved(datasetSize: 500)
        #expect(resolved.model.dropPathRate == 0.3 && resolved.model.layerScaleInit == 1e-5 && resolved.prototypes == 65_536)
        #expect(resolved.base.teacherTemperature == 0.07 && resolved.base.teacherMomentum == 0.992 && resolved.base.koleoLossWeight == 0.1)
        #expect(resolved.model.dropPathMode == .batchSubset && resolved.model.rope?.rescaleCoords == 2)
    }

    /// The automatic teacher temperature is scaled to the plain-linear head's smaller logits
    /// (0.02 · 0.02·√256 → 0.006 on small data; DINO's 0.02 with a weight-normalised head),
    /// reaching the reference's 0.07 / 0.04 at ImageNet size; explicit values and
    /// recipe=reference win.
    @Test func automaticTeacherTemperatureFollowsTheHead() throws {
        func config(_ change: @escaping (inout DINOv3Config) -> Void = { _ in }) -> DINOv3Config {
            tinyDINOv3Config { $0.dino.head.bottleneckDimensions = 256; change(&$0) }
        }
        let small = try config().resolved(datasetSize: 1198)
        #expect(small.base.teacherTemperature == 0.006 && small.base.teacherWarmupTemperature == 0.006)
        let imageNet = try config().resolved(datasetSize: 1_281_167)
        #expect(imageNet.base.teacherTemperature == 0.07 && imageNet.base.teacherWarmupTemperature == 0.04)
        let normalised = try config { $0.dino.head.lastLayer = .weightNormalized }.resolved(datasetSize: 1198)
        #expect(normalised.base.teacherTemperature == 0.02 && normalised.base.teacherWarmupTemperature == 0.02)
        let given = try config { $0.teacher.temperature = 0.03 }.resolved(datasetSize: 1198)
        #expect(given.base.teacherTemperature == 0.03 && given.base.teacherWarmupTemperature == 0.006)
        let reference = try config { $0.recipe = .reference }.resolved(datasetSize: 1198)
        #expect(reference.base.teacherTemperature == 0.07 && reference.base.teacherWarmupTemperature == 0.04)
        // A narrower bottleneck has smaller logits still (0.02·√16 = 0.08).
        #expect(try tinyDINOv3Config().resolved(datasetSize: 1198).base.teacherTemperature == 0.002)
    }

    @Test func constantAndCosineSchedules() throws {
        for kind in DINOv3Config.ScheduleKind.allCases {
            let c = tinyDINOv3Config { $0.schedules = kind; $0.epochs = 20; $0.optim.warmupEpochs = 2; $0.teacher.momentum = 0.99 }
            let r = try c.resolved(datasetSize: 40)                                   // 10 steps/epoch, 200 steps
            let s = r.schedules
            let peak = DINOv3Config.scaledLearningRate(0.001, batchSize: 4)
            #expect(abs(r.peakLearningRate - peak) < 1e-15)
            #expect(s["lr"]!(0) == 0)
            switch kind {
            case .constant:
                #expect(abs(s["lr"]!(20) - peak) < 1e-12)
                #expect(abs(s["lr"]!(199) - peak) < 1e-12 && s["wd"]!(150) == 0.04 && s["momentum"]!(150) == 0.99)
            case .cosine:
                #expect(abs(s["lr"]!(20) - peak) < 1e-12)
                #expect(s["lr"]!(199) < peak / 100 && s["wd"]!(150) > 0.2 && s["momentum"]!(150) > 0.995)
            case .cosineRamp:
                // 0 → peak by a cosine over the whole run: half-way at the middle, no warm-ups.
                #expect(abs(s["lr"]!(100) - peak / 2) < peak * 0.01 && abs(s["lr"]!(199) - peak) < peak * 1e-3 && s["lr"]!(20) < peak / 10)
                #expect(s["wd"]!(150) == 0.04 && s["momentum"]!(150) == 0.99 && s["teacher_temp"]!(0) == r.base.teacherTemperature)
                continue
            }
            #expect(s["teacher_temp"]!(0) == r.base.teacherWarmupTemperature)
            #expect(s[DINOv3.gramWeightSchedule] == nil && s[DINOv3.localWeightSchedule] == nil)
        }
    }

    @Test func stepGivesEveryTermAndStudentGradientsOnly() throws {
        let m = try tinyDINOv3 { $0.gram.useLoss = true; $0.gram.emaTeacher = true; $0.gram.repUpdate = false }
        #expect(m.studentModules.ibotHead != nil && m.gramTeacher == nil)
        #expect(m.settings.model.dropPathMode == .batchSubset && m.settings.model.rope?.rescaleCoords == 2)
        let batch = RandomDINOv3Crops().batches(epoch: 0, startingAt: 0).next()!
        let terms = m.step(batch: batch, schedules: Self.values(gram: 0.5))
        for k in [LossTerm.dinoLocalCrops, LossTerm.dinoGlobalCrops, LossTerm.koleo, LossTerm.ibot, LossTerm.gram, LossTerm.total] {
            #expect(terms[k].map { $0.doubles[0].isFinite } == true, "\(k)")
        }
        let sum = [LossTerm.dinoLocalCrops, LossTerm.dinoGlobalCrops, LossTerm.koleo, LossTerm.ibot, LossTerm.gram]
            .map { terms[$0]!.doubles[0] }.reduce(0, +)
        #expect(abs(sum - terms[LossTerm.total]!.doubles[0]) < 1e-4)
        terms[LossTerm.total]!.backward()
        #expect(m.parameterGroups.allParameters.allSatisfy { $0.grad != nil })
        #expect(m.teacherModules.modules.allSatisfy { $0.module.parameters().allSatisfy { $0.value.grad == nil } })
        // The student's heads end in a plain Linear.
        #expect(m.studentModules.dinoHead.namedTensors().contains { $0.0 == "last_layer.weight" })
    }

    @Test func gramTeacherIsLoadedAtItsStepAndRefreshedAtMostMaxUpdatesTimes() throws {
        let m = try tinyDINOv3 {
            $0.gram.useLoss = true; $0.gram.itLoadEmaTeacher = 1; $0.gram.updateFrequency = 2; $0.gram.itFirstUpdate = 3
            $0.gram.maxUpdates = 2
        }
        let g = try #require(m.gramTeacher)
        #expect(!m.gramTeacherInitialized)
        func equalsTeacher() -> Bool {
            let t = m.teacher.stateDict()
            return g.stateDict().allSatisfy { $0.value.doubles == t[$0.key]!.doubles }
        }
        let source = RandomDINOv3Crops(batchesPerEpoch: 8)
        var refreshed: [Int] = []
        for (it, batch) in source.batches(epoch: 0, startingAt: 0).enumerated() {
            let gramTerm = m.step(batch: batch, schedules: Self.values(it, gram: 1))[LossTerm.gram]!.doubles[0]
            #expect((gramTerm == 0) == (it == 0), "step \(it): no Gram term before the Gram teacher is loaded")
            if it == 1 { #expect(m.gramTeacherInitialized && equalsTeacher()) }
            withNoGrad { for p in m.parameterGroups.allParameters { p.copyIn(p + 0.01) } }       // a stand-in optimiser step
            let before = m.gramUpdates
            m.afterOptimizerStep(schedules: Self.values(it))
            if m.gramUpdates > before { refreshed.append(it); #expect(equalsTeacher()) } else if it >= 1 { #expect(!equalsTeacher()) }
        }
        // (it + 1) ≥ 3 and (it + 1) % 2 == 0: after steps 3 and 5; not 7 (max_updates 2).
        #expect(refreshed == [3, 5] && m.gramUpdates == 2)
    }

    @Test func gramTokensMaskedAndUnmaskedAndTheConfigChecks() throws {
        for tokens in [DINOv3Config.GramTokens.masked, .unmasked] {
            let m = try tinyDINOv3 { $0.gram.useLoss = true; $0.gram.emaTeacher = true; $0.gram.repUpdate = false; $0.gram.tokensUsed = tokens }
            let batch = RandomDINOv3Crops().batches(epoch: 0, startingAt: 0).next()!
            #expect(m.step(batch: batch, schedules: Self.values(gram: 1))[LossTerm.gram]!.doubles[0].isFinite)
        }
        func fails(_ key: String, _ change: (inout DINOv3Config) -> Void) {
            do { _ = try tinyDINOv3Config(configure: change).resolved(datasetSize: 64); Issue.record("\(key) accepted") } catch {
                #expect("\(error)".contains(key), "\(error)")
            }
        }
        fails("gram.it_load_ema_teacher") { $0.gram.useLoss = true }
        fails("gram.tokens_used") { $0.gram.tokensUsed = .masked; $0.gram.imgLevel = true }
        fails("gram.remove_neg") { $0.gram.removeNeg = true; $0.gram.removeOnlyTeacherNeg = true }
        fails("gram.rep_update") { $0.gram.useLoss = true; $0.gram.emaTeacher = true }
        fails("crops.local_count") { $0.crops.localCount = 0 }
        fails("ibot.mask_ratio") { $0.ibot.maskRatio = [0.3, 0.3] }
        fails("crops.localcrops_subset_of_globalcrops") { $0.crops.localcropsSubsetOfGlobalcrops = true; $0.crops.localCount = 3 }
        fails("crops.localcrops_subset_of_globalcrops") { $0.crops.localcropsSubsetOfGlobalcrops = true; $0.crops.localSize = 32 }
        let options = try tinyDINOv3Config { $0.crops.shareColorJitter = true; $0.crops.localcropsSubsetOfGlobalcrops = true }
            .resolved(datasetSize: 64).multiCrop
        #expect(options.shareColorJitter && options.localCropsFromGlobalCrops == 8)
        #expect(throws: ConfigError.self) { try ConfigLoader.load(DINOv3Config.self, overrides: ["ibot.separate_head=false"]) }
    }

    @Test func higherResolutionGramCrops() throws {
        let m = try tinyDINOv3 { $0.gram.useLoss = true; $0.gram.itLoadEmaTeacher = 0; $0.gram.teacherCropsSize = 64 }
        #expect(m.settings.multiCrop.gramCrops == MultiCropConfig.GramCrops(size: 64, noDistortions: false))
        let batch = RandomDINOv3Crops(gramSize: 64).batches(epoch: 0, startingAt: 0).next()!
        let terms = m.step(batch: batch, schedules: Self.values(gram: 1))
        #expect(terms[LossTerm.gram]!.doubles[0] > 0 && terms[LossTerm.gram]!.doubles[0].isFinite)
        do {
            _ = try tinyDINOv3Config { $0.gram.useLoss = true; $0.gram.itLoadEmaTeacher = 0; $0.gram.teacherCropsSize = 60 }
                .resolved(datasetSize: 64)
            Issue.record("a Gram crop of 60 px with 8-px patches was accepted")
        } catch { #expect("\(error)".contains("gram.teacher_crops_size")) }
    }

    @Test func multiResolutionBatchesFollowTheRatiosAndResumeExactly() throws {
        let r = try tinyDINOv3Config { $0.batchSize = 2; $0.multiResolution = .init(globalSizes: [32, 48], localSizes: [16, 24], gramSizes: nil, ratios: [0.3, 0.7]) }
            .resolved(datasetSize: 4)
        let dataset = try ImageFileDataset.open(RunFixtures.root.appendingPathComponent("images").path)
        let source = try DINOv3.batchSource(r, context: MethodContext(dataset: dataset, issues: DataIssueLog(report: DataIssueLog.silent)))
        let share = Double((0..<2000).filter { source.resolution(at: $0) == 0 }.count) / 2000
        #expect(abs(share - 0.3) < 0.04)
        // 3 epochs of 2 batches: the sizes follow the draws, and starting mid-epoch gives the same batches.
        for epoch in 0..<3 {
            let all = Array(source.batches(epoch: epoch, startingAt: 0))
            #expect(all.count == 2)
            for (i, b) in all.enumerated() {
                let size = r.resolutions[source.resolution(at: epoch * 2 + i)].globalSize
                #expect(b.globalCrops.shape == [4, 3, size, size] && b.masks?.patches == (size / 8) * (size / 8))
            }
            let tail = Array(source.batches(epoch: epoch, startingAt: 1))
            #expect(tail.count == 1 && tail[0].globalCrops.scalars == all[1].globalCrops.scalars)
        }
    }

    /// Under mpirun: the global batch must divide among the ranks; a KoLeo group that spans
    /// ranks is accepted when it is whole ranks (the reference's KoLeoLossDistributed, gathered)
    /// and refused naming the key otherwise (on 3 ranks of 4 images, a group of 6, which the
    /// reference refuses too); a group within a rank must divide its images.
    @Test func dataParallelResolveChecksKoLeoGroupsAcrossRanks() throws {
        let images = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("data/glyphs-mini/train")                                      // 416 images
        let dataset = try ImageFileDataset.open(images.path)
        func ranks(_ n: Int) -> MethodContext {
            MethodContext(dataset: dataset, placement: DataParallelPlacement(rank: 0, worldSize: n), issues: DataIssueLog(report: DataIssueLog.silent))
        }
        for g in [nil, 2, 4, 8] as [Int?] {
            #expect(throws: Never.self) { _ = try DINOv3.resolve(tinyDINOv3Config { $0.batchSize = 8; $0.dino.koleoGroupSize = g }, context: ranks(2)) }
        }
        #expect(throws: Never.self) { _ = try DINOv3.resolve(tinyDINOv3Config { $0.batchSize = 12; $0.dino.koleoGroupSize = 12 }, context: ranks(3)) }
        for (n, batch, g, expected) in [(3, 12, 6, "not a multiple of the 4 images per rank"), (2, 12, 4, "does not divide the 6 images per rank"),
                                        (2, 5, nil, "does not divide among 2 ranks")] as [(Int, Int, Int?, String)] {
            do {
                _ = try DINOv3.resolve(tinyDINOv3Config { $0.batchSize = batch; $0.dino.koleoGroupSize = g }, context: ranks(n))
                Issue.record("batch \(batch), KoLeo group \(g.map(String.init) ?? "null") was accepted on \(n) ranks")
            } catch {
                #expect("\(error)".contains(expected) && "\(error)".contains(g == nil ? "batch_size" : "dino.koleo_group_size"), "\(error)")
            }
        }
    }

    @Test func koleoOverGroupsIsTheMeanOfTheGroups() {
        let cls = RandomGenerator(seed: 5).normal([8, 6], dtype: .float64)                      // 2 crops × 4 images
        let logits = RandomGenerator(seed: 6).normal([8, 5], dtype: .float64)
        let inputs = DINOv2LossInputs(studentGlobal: logits, studentLocal: logits, teacherTargets: logits.softmax(axis: -1),
                                      studentBackboneCls: cls)
        func koleo(_ g: Int?) -> Double {
            DINOv3Objective.losses(inputs, gram: nil, weights: DINOv3LossWeights(dino: 0, koleo: 0.1, ibot: 0), ignoreDiagonal: true,
                                   studentTemperature: 0.1, koleoGroupSize: g)[LossTerm.koleo]!.doubles[0]
        }
        let whole = 0.1 * (KoLeoLoss.loss(cls.slice(axis: 0, start: 0, end: 4)) + KoLeoLoss.loss(cls.slice(axis: 0, start: 4, end: 8))).doubles[0]
        #expect(abs(koleo(nil) - whole) < 1e-12 && abs(koleo(4) - whole) < 1e-12)
        let pairs = (0..<4).map { KoLeoLoss.loss(cls.slice(axis: 0, start: 2 * $0, end: 2 * $0 + 2)).doubles[0] }
        #expect(abs(koleo(2) - 0.1 * 2 * pairs.reduce(0, +) / 4) < 1e-12)
    }

    @Test func trainingWithGramResumesBitExactly() throws {
        func trainer(_ dir: URL, _ steps: Int?) throws -> Trainer<DINOv3, RandomDINOv3Crops> {
            let m = try tinyDINOv3(images: 12) {
                $0.gram.useLoss = true; $0.gram.itLoadEmaTeacher = 0; $0.gram.updateFrequency = 2; $0.gram.itFirstUpdate = 1
                $0.gram.lossWeightSchedule = .init(start: 0, peak: 1, end: 2, warmupEpochs: 1)
                $0.dino.reweightDinoLocalLoss = true
            }
            var o = m.settings.trainerOptions
            o.progress = false
            o.logEverySteps = 1
            o.checkpointEveryMinutes = nil
            o.maxSteps = steps
            o.tensorBoard = false
            return try Trainer(method: m, data: RandomDINOv3Crops(), schedules: m.settings.schedules, options: o, runDirectory: dir)
        }
        let whole = FileManager.default.temporaryDirectory.appendingPathComponent("dinov3-whole-\(UUID().uuidString)")
        let parts = FileManager.default.temporaryDirectory.appendingPathComponent("dinov3-parts-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: whole); try? FileManager.default.removeItem(at: parts) }
        let a = try trainer(whole, nil)
        #expect(try a.run() == .completed)
        #expect(try trainer(parts, 3).run() == .stopped(reason: "reached max_steps 3"))
        let resumed = try trainer(parts, nil)
        #expect(try resumed.run() == .completed)
        #expect(a.method.gramUpdates == 3 && resumed.method.gramUpdates == 3)
        let x = try MetricsLogger.read(whole.appendingPathComponent("metrics.jsonl"))
        let y = try MetricsLogger.read(parts.appendingPathComponent("metrics.jsonl"))
        #expect(x.count == 6 && x.map { $0["loss"]! } == y.map { $0["loss"]! })
        #expect(x.map { $0[LossTerm.gram]! } == y.map { $0[LossTerm.gram]! })
        #expect(x[0][LossTerm.gram] == 0 && x[5][LossTerm.gram]! > 0)
        let gw = a.method.gramTeacher!.stateDict(), gr = resumed.method.gramTeacher!.stateDict()
        #expect(gw.allSatisfy { $0.value.doubles == gr[$0.key]!.doubles })
    }
}
