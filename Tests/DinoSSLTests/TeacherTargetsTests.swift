import DinoSSL
import DinoTensor
import DinoTestSupport
import Testing

/// The one centring of Methods/Shared/TeacherTargets.swift serves both references' orders of
/// operations: DINO updates its centre at the end of each loss (`update_center` after the
/// targets), DINOv2 keeps the update pending and applies it at the start of the next
/// `softmax_center_teacher`. Both give the same targets and centres, step after step.
@Suite struct TeacherTargetsTests {
    static let outputs = (0..<4).map { i in RandomGenerator(seed: 40 + UInt64(i)).normal([6, 5]) }   // 4 steps of (R, K)

    /// DINO's order: targets with the current centre, then the centre updated in place.
    @Test func dinoOrderAndDINOv2sDeferredUpdateGiveTheSameSequence() {
        var center = Tensor.zeros([1, 5])
        var dino: [[Float]] = []
        for t in Self.outputs {
            dino.append(TeacherTargets.softmaxCentered(teacherOutput: t, center: center, temperature: 0.04).scalars)
            center = TeacherTargets.updatedCenter(center, teacherOutput: t, momentum: 0.9)
        }
        // DINOv2's order: the update is recorded with the targets and applied after the step.
        let centres = TeacherCentres(dinoPrototypes: 5, ibotPrototypes: 5)
        var dinov2: [[Float]] = []
        for t in Self.outputs {
            dinov2.append(centres.targets(cls: t, patches: nil, ibot: false, mode: .centering, temperature: 0.04, momentum: 0.9).cls.scalars)
            centres.applyUpdate()
        }
        #expect(dino == dinov2)
        #expect(centres.dino.scalars == center.scalars)
        #expect(centres.ibot.scalars.allSatisfy { $0 == 0 })                  // no patches: the iBOT centre stays
    }

    /// The centre's batch mean is Σ_rows · (1/R), as both references' `sum / len`.
    @Test func theCentreMovesTowardsTheBatchMean() {
        let t = Self.outputs[0], c = Tensor.zeros([1, 5])
        let next = TeacherTargets.updatedCenter(c, teacherOutput: t, momentum: 0.9).doubles
        let rows = t.doubles
        for k in 0..<5 {
            let mean = (0..<6).map { rows[$0 * 5 + k] }.reduce(0, +) / 6
            #expect(abs(next[k] - 0.1 * mean) < 1e-6)
        }
    }
}
