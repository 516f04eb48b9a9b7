import DinoNN
import DinoSSL
import DinoTensor
import DinoTestSupport
import Foundation
import Testing

/// DINOv3's Gram loss against the official `GramLoss` (Fixtures/dinov3_gram.json, from
/// scripts/make_dinov3_fixtures.py): values and student gradients for every option, then the
/// gradient by finite differences in Double, and the loss weight schedule.
@Suite struct GramLossTests {
    struct Reference: Decodable {
        struct Case: Decodable {
            let negatives: String
            let img_level: Bool
            let normalized: Bool
            let shape: [Int]
            let student: [Double], teacher: [Double]
            let loss: Double
            let grad_student: [Double]
        }
        struct Schedule: Decodable {
            let start: Double, peak: Double, end: Double
            let warmup_epochs: Int, cosine_epochs: Int?, epochs: Int, iterations_per_epoch: Int
            let values: [Double]
        }
        let cases: [Case]
        let schedules: [Schedule]
    }

    static let reference: Reference = try! Fixture.load("dinov3_gram")

    @Test func lossAndGradientMatchTheReference() throws {
        #expect(Self.reference.cases.count == 12)
        for c in Self.reference.cases {
            let negatives = try #require(GramLoss.Negatives(rawValue: c.negatives))
            let label = "\(c.negatives) img_level \(c.img_level) normalized \(c.normalized) \(c.shape)"
            // The reference computes in Float32: both precisions agree with it to Float32's.
            for dtype in [DType.float64, .float32] {
                let student = Tensor(doubles: c.student, shape: c.shape).to(dtype).contiguousCopy().requiringGrad()
                let teacher = Tensor(doubles: c.teacher, shape: c.shape).to(dtype).contiguousCopy().requiringGrad()
                let loss = GramLoss.loss(student: student, teacher: teacher, imageLevel: c.img_level,
                                         normalize: c.normalized, negatives: negatives)
                #expect(loss.shape == [])
                #expect(mismatch(doubles: loss.doubles, [c.loss], rtol: 2e-5, atol: 1e-7) == nil, "\(label) \(dtype) loss")
                loss.backward()
                let grad = try #require(student.grad)
                #expect(mismatch(doubles: grad.doubles, c.grad_student, rtol: 2e-4, atol: 1e-6) == nil, "\(label) \(dtype) gradient")
                #expect(teacher.grad == nil, "\(label): the teacher gets no gradient")
            }
        }
    }

    @Test func gradientMatchesFiniteDifferences() {
        let teacher = Sample.normal([2, 4, 3], seed: 21, dtype: .float64)
        for negatives in GramLoss.Negatives.allCases {
            for (imageLevel, normalize) in [(true, true), (false, true), (true, false)] {
                let student = Sample.normal([2, 4, 3], seed: 22, dtype: .float64)
                let problem = gradientMismatch([student], eps: 1e-6, rtol: 1e-5, atol: 1e-8) { xs in
                    GramLoss.loss(student: xs[0], teacher: teacher, imageLevel: imageLevel, normalize: normalize,
                                  negatives: negatives)
                }
                #expect(problem == nil, "\(negatives) img_level \(imageLevel) normalized \(normalize): \(problem ?? "")")
            }
        }
    }

    @Test func gramMatricesArePerImageOrOverTheBatch() {
        let x = Sample.normal([3, 5, 4], seed: 2, dtype: .float64)
        let perImage = GramLoss.gram(x, imageLevel: true, normalize: true)
        let batch = GramLoss.gram(x, imageLevel: false, normalize: true)
        #expect(perImage.shape == [3, 5, 5] && batch.shape == [15, 15])
        // Unit diagonal after normalisation; the per-image blocks sit on the batch Gram's diagonal.
        for i in 0..<15 { #expect(abs(batch.doubles[i * 15 + i] - 1) < 1e-12) }
        for b in 0..<3 {
            for i in 0..<5 {
                for j in 0..<5 {
                    #expect(abs(perImage.doubles[(b * 5 + i) * 5 + j] - batch.doubles[(b * 5 + i) * 15 + b * 5 + j]) < 1e-12)
                }
            }
        }
        // Identical features give zero loss, except with remove_only_teacher_neg: the teacher's
        // negatives are zeroed and the student's kept (the reference's student mask tests the
        // already-clamped teacher), so the loss is the mean of min(S, 0)².
        for negatives in GramLoss.Negatives.allCases {
            let l = GramLoss.loss(student: x, teacher: x, imageLevel: false, normalize: true, negatives: negatives).doubles[0]
            let expected = negatives == .removeTeacher
                ? batch.doubles.map { Swift.min($0, 0) * Swift.min($0, 0) }.reduce(0, +) / 225 : 0
            #expect(expected >= 0 && abs(l - expected) < 1e-14, "\(negatives): \(l) vs \(expected)")
        }
        #expect(batch.doubles.contains { $0 < -0.1 }, "the sample needs negative similarities")
    }

    @Test func weightScheduleMatchesTheReference() {
        for s in Self.reference.schedules {
            let schedule = GramLoss.weightSchedule(start: s.start, peak: s.peak, end: s.end, warmupEpochs: s.warmup_epochs,
                                                   cosineEpochs: s.cosine_epochs, epochs: s.epochs,
                                                   iterationsPerEpoch: s.iterations_per_epoch)
            let ours = (0..<s.values.count).map { schedule($0) }
            #expect(mismatch(doubles: ours, s.values, rtol: 1e-12, atol: 1e-12) == nil, "\(s)")
        }
        // The anchoring config's shape: 0 through the warm-up, 2 after the one-epoch ramp.
        let anchor = Self.reference.schedules[0]
        #expect(anchor.values.prefix(50).allSatisfy { $0 == 0 } && anchor.values.suffix(5).allSatisfy { $0 == 2 })
    }
}
