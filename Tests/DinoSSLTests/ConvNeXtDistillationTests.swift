// A DINOv3 ConvNeXt as a distillation student: its global token is the normalised pooled
// feature, its patch tokens the normalised final map resized (bilinear, antialiased) to the
// teacher's patch grid, and it is never masked.

import DinoModels
import DinoNN
import DinoSSL
import DinoTensor
import DinoTestSupport
import DinoVision
import Foundation
import Testing

/// Global crops of 64 px (a 16 × 16 grid of the teacher's 4-px patches, a 2 × 2 final map of
/// the ConvNeXt), local crops of 32 px.
struct ConvNeXtCrops {
    var batchesPerEpoch = 3
    func batches(epoch: Int, startingAt start: Int) -> AnyIterator<MultiCropInput> {
        var index = start
        let count = batchesPerEpoch
        return AnyIterator {
            guard index < count else { return nil }
            defer { index += 1 }
            let g = RandomGenerator(seed: 41).fork(UInt64(epoch * 1000 + index))
            return MultiCropInput(globalCrops: g.normal([4, 3, 64, 64]), localCrops: g.normal([4, 3, 32, 32]), masks: nil)
        }
    }
}

@Suite struct ConvNeXtDistillationTests {
    static let values = ScheduleValues(iteration: 0, epoch: 0, values: ["teacher_temp": 0.04, "momentum": 0.9])

    /// `test_convnext` distilled from a random `test_dinov2_reg` (4-px patches).
    static func method(ibotPatches: DistillationConfig.IBOTPatches = .all) throws -> Distillation {
        var c = DistillationTests.config()
        c.model = "test_convnext"
        c.batchSize = 2
        c.crops.globalSize = 64
        c.crops.localSize = 32
        let r = try c.studentSettings.resolved(datasetSize: 12, distilled: true)
        let backbone = VisionTransformer(try ModelPresets.config(named: "test_dinov2_reg"), generator: RandomGenerator(seed: 4))
        backbone.initializeWeights(generator: RandomGenerator(seed: 5))
        let teacher = FrozenTeacher.fromBackbone(backbone, head: c.dino.head, prototypes: r.prototypes, generator: RandomGenerator(seed: 6))
        return Distillation(students: [(name: "", settings: r)], teacher: teacher, ibotPatches: ibotPatches)
    }

    /// `ibot_patches: masked`: masks on the teacher's 16 × 16 grid pick rows of the resized
    /// map; with every patch masked it is the `all` objective exactly, with a partial mask only
    /// the iBOT term changes.
    @Test func maskedIBOTIndexesTheResizedMap() throws {
        var batch = ConvNeXtCrops().batches(epoch: 0, startingAt: 0).next()!
        let all = try Self.method().step(batch: batch, schedules: Self.values)
        let partial = MaskCollator(gridSize: 16, probability: 1).masks(count: 4, generator: RandomGenerator(seed: 9))
        batch.masks = BatchMasks(count: partial.count, patches: partial.patches, values: Array(repeating: true, count: partial.values.count),
                                 upperbound: partial.upperbound)
        let full = try Self.method(ibotPatches: .masked).step(batch: batch, schedules: Self.values)
        #expect(mismatch(full[LossTerm.ibot]!, all[LossTerm.ibot]!, rtol: 1e-5, atol: 1e-6) == nil)
        batch.masks = partial
        let masked = try Self.method(ibotPatches: .masked).step(batch: batch, schedules: Self.values)
        #expect(masked[LossTerm.ibot]?.scalars != all[LossTerm.ibot]?.scalars)
        #expect(masked[LossTerm.dinoGlobalCrops]?.scalars == all[LossTerm.dinoGlobalCrops]?.scalars)
    }

    @Test func theStudentIsAConvNeXtWithoutStochasticDepthAndEveryParameterLearns() throws {
        let m = try Self.method()
        let student = try #require(m.studentModules.backbone as? ConvNeXt)
        #expect(student.config.dropPathRate == 0 && student.config.layerScaleInit == 1e-6)
        #expect(m.students[0].ema is ConvNeXt)
        #expect(m.studentModules.dinoHead.inputDimensions == 32)
        let batch = ConvNeXtCrops().batches(epoch: 0, startingAt: 0).next()!
        let terms = m.step(batch: batch, schedules: Self.values)
        for key in ["loss", "dino_global_crops_loss", "dino_local_crops_loss", "koleo_loss", "ibot_loss"] {
            #expect(terms[key].map { $0.item().isFinite } == true, "\(key)")
        }
        terms["loss"]!.backward()
        #expect(m.teacher.backbone.parameters().allSatisfy { $0.value.grad == nil })
        // Every ConvNeXt parameter (stem, downsampling, every block's γ, the final norm) gets a
        // finite, non-zero gradient.
        for (name, p) in student.namedParameters() {
            let g = try #require(p.value.grad, "\(name) has no gradient")
            #expect(g.scalars.allSatisfy(\.isFinite) && g.scalars.contains { $0 != 0 }, "\(name)")
        }
        for (name, p) in m.studentModules.dinoHead.namedParameters() where !name.hasPrefix("last_layer") {
            #expect(p.value.grad != nil, "dino_head.\(name)")
        }
    }

    /// The patch tokens the iBOT head reads lie on the teacher's grid: the final map resized and
    /// normalised, the class token the normalised mean of the map before resizing; on the map's
    /// own grid they are `forwardFeatures`'s.
    @Test func patchTokensAreTheFinalMapResizedToTheTeachersGrid() throws {
        let m = try Self.method()
        let student = try #require(m.studentModules.backbone as? ConvNeXt)
        let images = RandomGenerator(seed: 3).normal([2, 3, 64, 64])
        let own = student.forwardFeatures(images)                                                  // grid 2 × 2
        let same = student.studentFeatures(images, masks: nil, local: false, patchGrid: (height: 2, width: 2))
        #expect(same.classToken.scalars == own.classToken.scalars && same.patchTokens.scalars == own.patchTokens.scalars)
        let grown = student.studentFeatures(images, masks: nil, local: false, patchGrid: (height: 16, width: 16))
        #expect(grown.patchTokens.shape == [2, 256, 32] && grown.classToken.scalars == own.classToken.scalars)
        let map = own.prenorm.reshape([2, 2, 2, 32]).permute([0, 3, 1, 2])                        // (B, C, 2, 2)
        let expected = student.norm(resizeBilinearAntialiased(map, height: 16, width: 16).permute([0, 2, 3, 1]).contiguous()
            .reshape([2, 256, 32]))
        #expect(mismatch(grown.patchTokens, expected, rtol: 1e-5, atol: 1e-5) == nil)
        // Upscaling 2 → 16, the weights are bilinear ones (align_corners=False, source
        // (i + ½)/8 − ½ clamped): row 0 reads x₀ alone, row 4 0.9375·x₀ + 0.0625·x₁, row 8
        // 0.4375·x₀ + 0.5625·x₁.
        let a = antialiasedLinearResizeMatrix(from: 2, to: 16)
        #expect(a[0, 0] == 1 && a[0, 1] == 0)
        #expect(abs(a[4, 0] - 0.9375) < 1e-6 && abs(a[4, 1] - 0.0625) < 1e-6)
        #expect(abs(a[8, 0] - 0.4375) < 1e-6 && abs(a[8, 1] - 0.5625) < 1e-6)
    }

    /// Five AdamW steps on one batch lower the loss; the EMA follows the student.
    @Test func theLossFallsOnATinySet() throws {
        let m = try Self.method()
        let optimizer = AdamW(groups: m.parameterGroups)
        let batch = ConvNeXtCrops().batches(epoch: 0, startingAt: 0).next()!
        var losses: [Float] = []
        for _ in 0..<6 {
            let terms = m.step(batch: batch, schedules: Self.values)
            losses.append(terms["loss"]!.item())
            terms["loss"]!.backward()
            optimizer.step(learningRate: 3e-3, weightDecay: 0)
            for g in m.parameterGroups { for p in g.parameters { p.zeroGrad() } }
            m.afterOptimizerStep(schedules: Self.values)
        }
        #expect(losses.last! < losses.first! - 0.05, "\(losses)")
        let student = m.studentModules.backbone as! ConvNeXt, ema = m.students[0].ema as! ConvNeXt
        #expect(ema.norm.weight.value.scalars != student.norm.weight.value.scalars)
    }

    @Test func convNeXtPresetsAreStudentsOfDistillationOnly() throws {
        var d = DINOv2Config()
        d.model = "test_convnext"
        #expect(throws: ConfigError.self) { try d.resolved(datasetSize: 12) }
        var c = DistillationTests.config()
        c.model = "test_convnext"
        c.crops.globalSize = 64
        c.crops.localSize = 32
        let r = try c.studentSettings.resolved(datasetSize: 12, distilled: true)
        #expect(r.base.globalSize == 64 && r.model.embedDimensions == 32)
    }
}

/// scripts/make_convnext_student_fixtures.py: the reference ConvNeXt (`test_convnext` size,
/// pseudo patch size 4) — its `get_intermediate_layers(n=1, return_class_token=True,
/// norm=True)` on a 64-px image (the tokens a ConvNeXt student feeds its heads) and the
/// gradient of every parameter under a fixed linear read-out of them.
@Suite struct ConvNeXtStudentGoldenTests {
    @Test func headInputsAndGradientsMatchTheReference() throws {
        let url = try #require(Bundle.module.url(forResource: "convnext_student", withExtension: "safetensors", subdirectory: "Fixtures"))
        let f = try SafeTensors.read(from: url).tensors
        var weights: [String: Tensor] = [:]
        for (k, t) in f where k.hasPrefix("weight.") { weights[String(k.dropFirst("weight.".count))] = t }
        let model = ConvNeXt(try ConvNeXtPresets.config(named: "test_convnext"))
        try model.load(stateDict: weights)
        let out = model.studentFeatures(try #require(f["images"]), masks: nil, local: false, patchGrid: (height: 16, width: 16))
        let (cls, patches) = (try #require(f["cls"]), try #require(f["patches"]))
        #expect(out.classToken.shape == cls.shape && out.patchTokens.shape == patches.shape)
        #expect(mismatch(out.classToken, cls, rtol: 1e-4, atol: 1e-5) == nil)
        #expect(mismatch(out.patchTokens, patches, rtol: 1e-4, atol: 1e-5) == nil)
        let loss = (out.classToken * f["r_cls"]!).sum() + (out.patchTokens * f["r_patch"]!).sum()
        loss.backward()
        var checked = 0
        for (name, p) in model.namedParameters() {
            let expected = try #require(f["grad." + name], "no reference gradient for \(name)")
            let got = try #require(p.value.grad, "\(name) has no gradient")
            #expect(mismatch(got.reshape(expected.shape), expected, rtol: 1e-3, atol: 1e-4) == nil, "\(name)")
            checked += 1
        }
        #expect(checked == f.keys.filter { $0.hasPrefix("grad.") }.count)
    }
}
