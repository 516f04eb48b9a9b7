import DinoSSL
import DinoTensor
import DinoTestSupport
import Foundation
import Testing

/// One case of Fixtures/dino_loss.json (scripts/make_dino_fixtures.py: the reference's loop in torch, float64).
private struct LossCase: Decodable {
    let name: String
    let batch, views, prototypes: Int
    let studentTemp, teacherTemp, centerMomentum: Double
    let student, teacher, center: [Double]
    let loss: Double
    let studentGrad, newCenter: [Double]

    enum CodingKeys: String, CodingKey {
        case name, batch, views, prototypes, student, teacher, center, loss
        case studentTemp = "student_temp", teacherTemp = "teacher_temp", centerMomentum = "center_momentum"
        case studentGrad = "student_grad", newCenter = "new_center"
    }
}

private struct LossFixture: Decodable { let cases: [LossCase] }

/// The reference's double loop over (teacher view, student view ≠ teacher view) pairs, on plain
/// arrays: an implementation independent of the tensor code.
private func loopLoss(student: [[Double]], teacher: [[Double]], center: [Double], batch b: Int,
                      studentTemp: Double, teacherTemp: Double) -> Double {
    func softmax(_ x: [Double]) -> [Double] {
        let m = x.max()!
        let e = x.map { Foundation.exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }
    let views = student.count / b
    var total = 0.0, pairs = 0
    for g in 0..<2 {
        for v in 0..<views where v != g {
            var pairLoss = 0.0
            for i in 0..<b {
                let q = softmax(zip(teacher[g * b + i], center).map { ($0 - $1) / teacherTemp })
                let p = softmax(student[v * b + i].map { $0 / studentTemp })
                pairLoss += -zip(q, p).map { $0 * Foundation.log($1) }.reduce(0, +)
            }
            total += pairLoss / Double(b)
            pairs += 1
        }
    }
    return total / Double(pairs)
}

@Suite struct DINOLossTests {
    @Test func matchesTheReferenceInDouble() throws {
        let fixture = try Fixture.load("dino_loss", as: LossFixture.self)
        #expect(fixture.cases.count == 4)
        for c in fixture.cases {
            let k = c.prototypes
            let s = Tensor(doubles: c.student, shape: [c.views * c.batch, k]).requiringGrad()
            let t = Tensor(doubles: c.teacher, shape: [2 * c.batch, k])
            let center = Tensor(doubles: c.center, shape: [1, k])
            let loss = DINOLoss.loss(studentOutput: s, teacherOutput: t, center: center,
                                     studentTemperature: c.studentTemp, teacherTemperature: c.teacherTemp)
            #expect(mismatch(doubles: loss.doubles, [c.loss], rtol: 1e-12, atol: 1e-12) == nil, "\(c.name) loss")
            loss.backward()
            #expect(mismatch(doubles: s.grad!.doubles, c.studentGrad, rtol: 1e-9, atol: 1e-13) == nil, "\(c.name) grad")
            let next = TeacherTargets.updatedCenter(center, teacherOutput: t, momentum: c.centerMomentum)
            #expect(next.shape == [1, k])
            #expect(mismatch(doubles: next.doubles, c.newCenter, rtol: 1e-12, atol: 1e-14) == nil, "\(c.name) centre")
        }
    }

    @Test func matchesTheReferenceInFloat() throws {
        let fixture = try Fixture.load("dino_loss", as: LossFixture.self)
        for c in fixture.cases {
            let k = c.prototypes
            let s = Tensor(doubles: c.student, shape: [c.views * c.batch, k]).to(.float32).requiringGrad()
            let t = Tensor(doubles: c.teacher, shape: [2 * c.batch, k]).to(.float32)
            let center = Tensor(doubles: c.center, shape: [1, k]).to(.float32)
            let loss = DINOLoss.loss(studentOutput: s, teacherOutput: t, center: center,
                                     studentTemperature: c.studentTemp, teacherTemperature: c.teacherTemp)
            #expect(loss.dtype == .float32)
            #expect(mismatch([loss.item()], [Float(c.loss)], rtol: 2e-5, atol: 1e-5) == nil, "\(c.name) loss")
            loss.backward()
            let maxGrad = c.studentGrad.map { Swift.abs($0) }.max()!
            #expect(mismatch(s.grad!.scalars, c.studentGrad.map { Float($0) }, rtol: 1e-3, atol: Float(maxGrad) * 1e-4) == nil,
                    "\(c.name) grad")
            let next = TeacherTargets.updatedCenter(center, teacherOutput: t, momentum: c.centerMomentum)
            #expect(mismatch(next.scalars, c.newCenter.map { Float($0) }, rtol: 1e-5, atol: 1e-6) == nil, "\(c.name) centre")
        }
    }

    @Test func equalsThePairLoopOnPlainArrays() {
        // 2 global + 3 local views of 4 images, 7 prototypes.
        let (b, views, k) = (4, 5, 7)
        let s = Sample.normal([views * b, k], seed: 11, dtype: .float64) * 2
        let t = Sample.normal([2 * b, k], seed: 12, dtype: .float64) * 2
        let center = Sample.normal([1, k], seed: 13, dtype: .float64) * 0.5
        let loss = DINOLoss.loss(studentOutput: s, teacherOutput: t, center: center,
                                 studentTemperature: 0.1, teacherTemperature: 0.06)
        func rows(_ x: Tensor) -> [[Double]] {
            let d = x.doubles
            return (0..<x.shape[0]).map { Array(d[($0 * k)..<(($0 + 1) * k)]) }
        }
        let expected = loopLoss(student: rows(s), teacher: rows(t), center: center.doubles, batch: b,
                                studentTemp: 0.1, teacherTemp: 0.06)
        #expect(mismatch(doubles: loss.doubles, [expected], rtol: 1e-12, atol: 0) == nil)
    }

    @Test func uniformStudentCostsLogK() {
        // log_softmax of a constant row is −log K, so every pair costs log K whatever the teacher.
        let k = 9
        let s = Tensor.full([6 * 3, k], 0.25)
        let t = Sample.normal([2 * 3, k], seed: 4)
        let loss = DINOLoss.loss(studentOutput: s, teacherOutput: t, center: Tensor.zeros([1, k]), studentTemperature: 0.1, teacherTemperature: 0.04)
        #expect(mismatch([loss.item()], [Float(Foundation.log(Double(k)))], rtol: 1e-6) == nil)
    }

    @Test func sameViewPairsAreExcluded() {
        // Two global views only: the student's view 0 must match the teacher's view 1 and vice
        // versa. A student that copies the teacher view for view (same-view pairing) pays;
        // one that swaps them pays almost nothing.
        let k = 4
        let t = Tensor([10, 0, 0, 0,   0, 0, 0, 10], shape: [2, k])       // view 0 → class 0, view 1 → class 3
        let same = Tensor([50, 0, 0, 0,   0, 0, 0, 50], shape: [2, k])
        let swapped = Tensor([0, 0, 0, 50,   50, 0, 0, 0], shape: [2, k])
        let zero = Tensor.zeros([1, k])
        let lSame = DINOLoss.loss(studentOutput: same, teacherOutput: t, center: zero, studentTemperature: 0.1, teacherTemperature: 0.04).item()
        let lSwapped = DINOLoss.loss(studentOutput: swapped, teacherOutput: t, center: zero, studentTemperature: 0.1, teacherTemperature: 0.04).item()
        #expect(lSwapped < 1e-3)
        #expect(lSame > 400)   // ≈ 50 / 0.1 per pair
    }

    @Test func gradientOfTheStudentOutput() {
        let (b, views, k) = (2, 4, 5)
        let t = Sample.normal([2 * b, k], seed: 21, dtype: .float64)
        let center = Sample.normal([1, k], seed: 22, dtype: .float64) * 0.2
        let s = Sample.normal([views * b, k], seed: 23)
        #expect(gradientMismatch([s]) { x in
            DINOLoss.loss(studentOutput: x[0], teacherOutput: t, center: center,
                          studentTemperature: 0.1, teacherTemperature: 0.05)
        } == nil)
        // A non-contiguous student output (a transposed view) gives the same loss.
        let st = Sample.normal([k, views * b], seed: 24)
        let a = DINOLoss.loss(studentOutput: st.transposed(), teacherOutput: t.to(.float32), center: center.to(.float32), studentTemperature: 0.1,
                              teacherTemperature: 0.05)
        let c = DINOLoss.loss(studentOutput: st.transposed().contiguous(), teacherOutput: t.to(.float32),
                              center: center.to(.float32), studentTemperature: 0.1, teacherTemperature: 0.05)
        #expect(a.item() == c.item())
    }

    @Test func teacherGetsNoGradient() {
        let t = Sample.normal([4, 6], seed: 1).requiringGrad()
        let s = Sample.normal([8, 6], seed: 2).requiringGrad()
        let loss = DINOLoss.loss(studentOutput: s, teacherOutput: t, center: Tensor.zeros([1, 6]), studentTemperature: 0.1, teacherTemperature: 0.04)
        loss.backward()
        #expect(t.grad == nil)
        #expect(s.grad != nil)
        let q = TeacherTargets.softmaxCentered(teacherOutput: t, center: Tensor.zeros([6]), temperature: 0.04)
        #expect(!q.requiresGrad)
        // Rows of the targets sum to one.
        #expect(mismatch(q.sum(axes: [1]).scalars, [Float](repeating: 1, count: 4), rtol: 1e-6) == nil)
    }

    @Test func centreMovesTowardsTheBatchMean() {
        let center = Tensor([1, -1, 0], shape: [1, 3])
        let t = Tensor([2, 0, 4,   4, 2, -2], shape: [2, 3])              // mean (3, 1, 1)
        let next = TeacherTargets.updatedCenter(center, teacherOutput: t, momentum: 0.9)
        // 0.9 · (1, −1, 0) + 0.1 · (3, 1, 1) = (1.2, −0.8, 0.1)
        #expect(mismatch(next.scalars, [1.2, -0.8, 0.1], rtol: 1e-6) == nil)
        #expect(center.scalars == [1, -1, 0])   // unchanged
    }
}
