import DinoSSL
import DinoTensor
import DinoTestSupport
import Foundation
import Testing

/// The DINOv2 losses against the official code's values and gradients
/// (Fixtures/dinov2_losses.safetensors, from scripts/make_dinov2_fixtures.py), by hand and by
/// finite differences.
@Suite struct DINOv2LossTests {
    static let fixture: [String: Tensor] = {
        guard let url = Bundle.module.url(forResource: "dinov2_losses", withExtension: "safetensors", subdirectory: "Fixtures") else {
            fatalError("fixture dinov2_losses.safetensors missing; run scripts/make_dinov2_fixtures.py")
        }
        return try! SafeTensors.read(from: url).tensors
    }()

    /// Fixture tensor `case.field` in `dtype`.
    static func f(_ name: String, _ field: String, _ dtype: DType = .float64) -> Tensor {
        guard let t = fixture["\(name).\(field)"] else { fatalError("fixture has no \(name).\(field)") }
        return t.to(dtype).contiguousCopy()
    }

    static func scalar(_ name: String, _ field: String) -> Double { f(name, field).doubles[0] }

    /// Relative tolerance 1e-5 in Double (and Float32 for the forward values).
    static func close(_ a: Tensor, _ e: Tensor, rtol: Float = 1e-5, atol: Float = 1e-7) -> String? {
        if a.count == 1 && e.count == 1 { return mismatch(a.reshape([1]), e.reshape([1]), rtol: rtol, atol: atol) }
        return mismatch(a, e, rtol: rtol, atol: atol)
    }

    // MARK: DINO CLS terms

    @Test(arguments: ["dino_centering", "dino_centering_nolocal", "dino_sinkhorn"])
    func dinoTermsMatchTheReference(name: String) {
        for dtype in [DType.float64, .float32] {
            let teacher = Self.f(name, "teacher_output", dtype)
            let temp = Self.scalar(name, "teacher_temp")
            let targets: Tensor
            if name.contains("sinkhorn") {
                targets = TeacherTargets.sinkhornKnopp(teacherOutput: teacher, temperature: temp)
            } else {
                targets = TeacherTargets.softmaxCentered(teacherOutput: teacher, center: Self.f(name, "center", dtype), temperature: temp)
                let center = TeacherTargets.updatedCenter(Self.f(name, "center", dtype), teacherOutput: teacher, momentum: 0.9)
                #expect(Self.close(center, Self.f(name, "new_center")) == nil, "\(name) \(dtype) centre")
            }
            #expect(Self.close(targets, Self.f(name, "targets"), atol: 1e-7) == nil, "\(name) \(dtype) targets")

            let sg = Self.f(name, "student_global", dtype).requiringGrad()
            let hasLocal = Self.fixture["\(name).student_local"] != nil
            let sl = hasLocal ? Self.f(name, "student_local", dtype).requiringGrad() : nil
            let terms = DINOv2ClsTokenLoss.terms(studentGlobal: sg, studentLocal: sl, teacherTargets: targets, studentTemperature: 0.1)
            #expect(Self.close(terms.global, Self.f(name, "dino_global_crops_loss")) == nil, "\(name) \(dtype) global")
            #expect((terms.local == nil) == !hasLocal)
            if let local = terms.local {
                #expect(Self.close(local, Self.f(name, "dino_local_crops_loss")) == nil, "\(name) \(dtype) local")
            }
            terms.total.backward()
            #expect(Self.close(sg.grad!, Self.f(name, "grad_student_global"), atol: 1e-7) == nil, "\(name) \(dtype) grad global")
            if let sl {
                #expect(Self.close(sl.grad!, Self.f(name, "grad_student_local"), atol: 1e-7) == nil, "\(name) \(dtype) grad local")
            }
        }
    }

    @Test func sinkhornKnoppMatchesBothReferenceFunctions() {
        let t = Self.f("sinkhorn", "teacher_output")
        let temp = Self.scalar("sinkhorn", "teacher_temp")
        let q = TeacherTargets.sinkhornKnopp(teacherOutput: t, temperature: temp)
        // The reference computes in Float32: agreement to its precision.
        #expect(Self.close(q, Self.f("sinkhorn", "dino_targets"), rtol: 1e-5, atol: 1e-7) == nil)
        let qIbot = TeacherTargets.sinkhornKnopp(teacherOutput: t, temperature: temp, samples: t.shape[0])
        #expect(Self.close(qIbot, Self.f("sinkhorn", "ibot_targets"), rtol: 1e-5, atol: 1e-7) == nil)
    }

    @Test func sinkhornKnoppRowsAreDistributionsAndPrototypesBalance() {
        // Rows (samples) sum to 1 after the last step; prototype masses approach B/K, more
        // closely with more iterations; no iteration leaves the softmax of t/τ over all entries.
        let t = RandomGenerator(seed: 3).normal([12, 4], dtype: .float64)
        func imbalance(_ q: Tensor) -> Double {
            q.sum(axes: [0]).doubles.map { abs($0 - 12.0 / 4) }.max()!
        }
        let q3 = TeacherTargets.sinkhornKnopp(teacherOutput: t, temperature: 0.5)
        for s in q3.sum(axes: [1]).doubles { #expect(abs(s - 1) < 1e-12) }
        let q30 = TeacherTargets.sinkhornKnopp(teacherOutput: t, temperature: 0.5, iterations: 30)
        #expect(imbalance(q30) < 1e-6)
        #expect(imbalance(q30) < imbalance(q3))
        let q0 = TeacherTargets.sinkhornKnopp(teacherOutput: t, temperature: 0.5, iterations: 0).doubles
        let e = t.doubles.map { Foundation.exp($0 / 0.5) }
        let total = e.reduce(0, +)
        for (a, b) in zip(q0, e) { #expect(abs(a - 12 * b / total) < 1e-12) }
    }

    @Test func dinoTermsByHand() {
        // Uniform student logits: every cross-entropy is log K, so the global term is
        // 2 · log K / (2 + max(2L, 1)) and the local term L · 2 · log K / (2 + 2L).
        let (b, k) = (3, 5)
        let q = RandomGenerator(seed: 1).uniform([2 * b, k], dtype: .float64).softmax(axis: -1)
        let logK = Foundation.log(Double(k))
        let noLocal = DINOv2ClsTokenLoss.terms(studentGlobal: Tensor.zeros([2 * b, k], dtype: .float64), studentLocal: nil, teacherTargets: q, studentTemperature: 0.1)
        #expect(abs(noLocal.global.doubles[0] - 2 * logK / 3) < 1e-12)
        let withLocal = DINOv2ClsTokenLoss.terms(studentGlobal: Tensor.zeros([2 * b, k], dtype: .float64),
                                                 studentLocal: Tensor.zeros([4 * b, k], dtype: .float64), teacherTargets: q, studentTemperature: 0.1)
        #expect(abs(withLocal.global.doubles[0] - 2 * logK / 10) < 1e-12)
        #expect(abs(withLocal.local!.doubles[0] - 8 * logK / 10) < 1e-12)
    }

    @Test func dinoTermsPairEachGlobalCropWithTheOtherOne() {
        // A plain loop over the reference's pairs: student crop g meets teacher crop 1 − g.
        let (b, k, l) = (2, 4, 2)
        let g = RandomGenerator(seed: 5)
        let q = g.normal([2 * b, k], dtype: .float64).softmax(axis: -1).doubles
        let sg = g.normal([2 * b, k], dtype: .float64), sl = g.normal([l * b, k], dtype: .float64)
        func ce(_ s: [Double], _ t: [Double]) -> Double {
            let z = s.map { $0 / 0.1 }, m = z.max()!
            let lse = m + Foundation.log(z.map { Foundation.exp($0 - m) }.reduce(0, +))
            return -zip(t, z).map { $0 * ($1 - lse) }.reduce(0, +)
        }
        func row(_ x: [Double], _ i: Int) -> [Double] { Array(x[(i * k)..<((i + 1) * k)]) }
        var global = 0.0, local = 0.0
        for crop in 0..<2 { for i in 0..<b { global += ce(row(sg.doubles, crop * b + i), row(q, (1 - crop) * b + i)) } }
        for v in 0..<l { for crop in 0..<2 { for i in 0..<b { local += ce(row(sl.doubles, v * b + i), row(q, crop * b + i)) } } }
        let terms = DINOv2ClsTokenLoss.terms(studentGlobal: sg, studentLocal: sl,
                                             teacherTargets: Tensor(doubles: q, shape: [2 * b, k]), studentTemperature: 0.1)
        #expect(abs(terms.global.doubles[0] - global / Double(b) / 6) < 1e-10)
        #expect(abs(terms.local!.doubles[0] - local / Double(b) / 6) < 1e-10)
    }

    @Test func dinoTermsGradientCheck() {
        let g = RandomGenerator(seed: 9)
        let q = g.normal([4, 3], dtype: .float64).softmax(axis: -1)
        let sg = g.normal([4, 3], dtype: .float64), sl = g.normal([6, 3], dtype: .float64)
        // A transposed (non-contiguous) local input.
        let slT = sl.transposed(0, 1).contiguous().transposed(0, 1)
        #expect(gradientMismatch([sg, slT]) { x in
            DINOv2ClsTokenLoss.terms(studentGlobal: x[0], studentLocal: x[1].transposed(0, 1).transposed(0, 1),
                                     teacherTargets: q, studentTemperature: 0.1).total
        } == nil)
    }

    // MARK: iBOT

    @Test(arguments: ["ibot_centering", "ibot_sinkhorn"])
    func ibotMatchesTheReference(name: String) {
        for dtype in [DType.float64, .float32] {
            let masks = Self.f(name, "masks", dtype)
            let weights = IBOTPatchLoss.maskWeights(masks: masks)
            #expect(Self.close(weights, Self.f(name, "masks_weight")) == nil, "\(name) weights")
            let teacher = Self.f(name, "teacher_output", dtype)
            let temp = Self.scalar(name, "teacher_temp")
            let targets: Tensor
            if name.contains("sinkhorn") {
                // B = n_masked_patches, the rows.
                targets = TeacherTargets.sinkhornKnopp(teacherOutput: teacher, temperature: temp, samples: teacher.shape[0])
            } else {
                let center = Self.f(name, "center", dtype)
                targets = TeacherTargets.softmaxCentered(teacherOutput: teacher, center: center, temperature: temp)
                #expect(Self.close(TeacherTargets.updatedCenter(center, teacherOutput: teacher, momentum: 0.9), Self.f(name, "new_center")) == nil)
            }
            #expect(Self.close(targets, Self.f(name, "targets"), atol: 1e-7) == nil, "\(name) \(dtype) targets")
            // The loss from the reference's own targets (its Sinkhorn-Knopp runs in Float32,
            // whose rounding the gradient would otherwise inherit).
            let s = Self.f(name, "student", dtype).requiringGrad()
            let loss = IBOTPatchLoss.loss(student: s, targets: Self.f(name, "targets", dtype), weights: weights, images: masks.shape[0], studentTemperature: 0.1)
            #expect(Self.close(loss, Self.f(name, "ibot_loss")) == nil, "\(name) \(dtype) loss")
            loss.backward()
            #expect(Self.close(s.grad!, Self.f(name, "grad_student"), atol: 1e-7) == nil, "\(name) \(dtype) grad")
        }
    }

    @Test func ibotPaddedBuffersGiveTheSameLoss() {
        // The reference's upperbound buffers: rows after the masked ones are cut by n_masked_patches.
        let name = "ibot_centering"
        let s = Self.f(name, "student"), t = Self.f(name, "targets")
        let m = s.shape[0]
        let pad = Tensor.zeros([3, s.shape[1]], dtype: .float64)
        let sp = Tensor.concat([s, pad], axis: 0).requiringGrad()
        let tp = Tensor.concat([t, pad], axis: 0)
        let loss = IBOTPatchLoss.loss(student: sp, targets: tp, weights: Self.f(name, "masks_weight"), images: 4, maskedPatches: m, studentTemperature: 0.1)
        #expect(Self.close(loss, Self.f(name, "ibot_loss")) == nil)
        loss.backward()
        #expect(Self.close(sp.grad!.slice(axis: 0, start: 0, end: m), Self.f(name, "grad_student")) == nil)
        #expect(sp.grad!.slice(axis: 0, start: m).doubles.allSatisfy { $0 == 0 })
    }

    @Test func ibotByHand() {
        // Uniform student logits: each masked image contributes log K, unmasked ones 0, over I images.
        let masks = Tensor([1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1], shape: [3, 4]).to(.float64)
        let w = IBOTPatchLoss.maskWeights(masks: masks)
        let third: Double = 1.0 / 3
        let expected: [Double] = [0.5, 0.5, third, third, third]
        #expect(w.doubles == expected)
        let k = 6
        let t = RandomGenerator(seed: 2).uniform([5, k], dtype: .float64).softmax(axis: -1)
        let loss = IBOTPatchLoss.loss(student: Tensor.zeros([5, k], dtype: .float64), targets: t, weights: w, images: 3, studentTemperature: 0.1)
        #expect(abs(loss.doubles[0] - 2 * Foundation.log(Double(k)) / 3) < 1e-12)
        let none = IBOTPatchLoss.loss(student: Tensor.zeros([0, k], dtype: .float64), targets: Tensor.zeros([0, k], dtype: .float64),
                                      weights: Tensor.zeros([0], dtype: .float64), images: 3, studentTemperature: 0.1)
        #expect(none.doubles[0] == 0)
    }

    @Test func ibotGradientCheck() {
        let g = RandomGenerator(seed: 4)
        let t = g.normal([5, 3], dtype: .float64).softmax(axis: -1)
        let w = Tensor(doubles: [0.5, 0.5, 1, 0.25, 0.25], shape: [5])
        #expect(gradientMismatch([g.normal([5, 3], dtype: .float64)]) { x in
            IBOTPatchLoss.loss(student: x[0], targets: t, weights: w, images: 4, studentTemperature: 0.3)
        } == nil)
    }

    // MARK: KoLeo

    @Test(arguments: ["koleo", "koleo_duplicate"])
    func koleoMatchesTheReference(name: String) {
        // Two rows of one direction sit ε·√D apart after normalisation, far below Float32's
        // rounding of the normalised rows (≈ 6e-8): that case is only meaningful in Double.
        let dtypes: [DType] = name == "koleo" ? [.float64, .float32] : [.float64]
        for dtype in dtypes {
            let x = Self.f(name, "input", dtype).requiringGrad()
            let loss = KoLeoLoss.loss(x)
            #expect(Self.close(loss, Self.f(name, "loss")) == nil, "\(name) \(dtype) loss")
            loss.backward()
            #expect(Self.close(x.grad!, Self.f(name, "grad_input"), rtol: 1e-5, atol: 1e-7) == nil, "\(name) \(dtype) grad")
        }
    }

    @Test func koleoByHand() {
        // Orthogonal unit vectors: each one's nearest neighbour is at distance √2 (plus ε terms).
        let x = Tensor(doubles: [3, 0, 0, 0.5], shape: [2, 2])
        #expect(KoLeoLoss.nearestNeighbours(x.l2Normalized()) == [1, 0])
        let eps = 1e-8
        let d = ((1 + eps) * (1 + eps) + (eps - 1) * (eps - 1)).squareRoot()
        #expect(abs(KoLeoLoss.loss(x).doubles[0] + Foundation.log(d + eps)) < 1e-12)
        // Nearest by angle, not by raw distance.
        let y = Tensor(doubles: [1, 0, 100, 1, 0, 1], shape: [3, 2])
        #expect(KoLeoLoss.nearestNeighbours(y.l2Normalized()) == [1, 0, 1])
    }

    @Test func koleoGradientCheck() {
        let x = RandomGenerator(seed: 6).normal([5, 4], dtype: .float64)
        #expect(gradientMismatch([x]) { KoLeoLoss.loss($0[0]) } == nil)
    }

    // MARK: The whole objective

    @Test func objectiveMatchesTheReferenceStep() {
        let n = "total"
        let temp = Self.scalar(n, "teacher_temp")
        let dinoTargets = TeacherTargets.softmaxCentered(teacherOutput: Self.f(n, "teacher_cls"), center: Self.f(n, "dino_center"), temperature: temp)
        let ibotTargets = TeacherTargets.softmaxCentered(teacherOutput: Self.f(n, "teacher_patch"), center: Self.f(n, "ibot_center"), temperature: temp)
        let sg = Self.f(n, "student_global").requiringGrad(), sl = Self.f(n, "student_local").requiringGrad()
        let sp = Self.f(n, "student_patch").requiringGrad(), cls = Self.f(n, "student_backbone_cls").requiringGrad()
        let inputs = DINOv2LossInputs(studentGlobal: sg, studentLocal: sl, teacherTargets: dinoTargets, studentBackboneCls: cls,
                                      studentMaskedPatches: sp, teacherPatchTargets: ibotTargets,
                                      maskWeights: IBOTPatchLoss.maskWeights(masks: Self.f(n, "masks")))
        let terms = DINOv2Objective.losses(inputs, weights: DINOv2LossWeights(), studentTemperature: 0.1)
        for key in ["dino_global_crops_loss", "dino_local_crops_loss", "koleo_loss", "ibot_loss", "loss"] {
            #expect(Self.close(terms[key]!, Self.f(n, key)) == nil, "\(key)")
        }
        terms["loss"]!.backward()
        #expect(Self.close(sg.grad!, Self.f(n, "grad_student_global")) == nil)
        #expect(Self.close(sl.grad!, Self.f(n, "grad_student_local")) == nil)
        #expect(Self.close(sp.grad!, Self.f(n, "grad_student_patch")) == nil)
        #expect(Self.close(cls.grad!, Self.f(n, "grad_student_backbone_cls")) == nil)
    }
}
