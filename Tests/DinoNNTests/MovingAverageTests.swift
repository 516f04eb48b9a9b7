import DinoNN
import DinoTensor
import DinoTestSupport
import Testing

/// A module as the EMA of another, and parameter groups merged by rule.
@Suite struct MovingAverageTests {
    @Test func everyParameterMovesTowardsTheSourceAndBuffersStay() {
        let teacher = Linear(2, 2, biasMask: [1, 0]), student = Linear(2, 2, biasMask: [1, 0])
        teacher.weight.value.copyIn(Tensor([1, 2, 3, 4], shape: [2, 2]))
        teacher.bias!.value.copyIn(Tensor([0, 0], shape: [2]))
        student.weight.value.copyIn(Tensor([3, 2, 1, 0], shape: [2, 2]))
        student.bias!.value.copyIn(Tensor([4, 8], shape: [2]))
        student.biasMask!.value.copyIn(Tensor([5, 5], shape: [2]))
        teacher.updateExponentialMovingAverage(of: student, momentum: 0.75)
        #expect(mismatch(teacher.weight.value.scalars, [1.5, 2, 2.5, 3], rtol: 1e-7) == nil)
        #expect(mismatch(teacher.bias!.value.scalars, [1, 2], rtol: 1e-7) == nil)
        #expect(teacher.biasMask!.value.scalars == [1, 0])                    // a buffer: not averaged
        #expect(student.weight.value.scalars == [3, 2, 1, 0])
    }

    @Test func groupsOfOneRuleAreMergedInOrderOfFirstAppearance() {
        let t = (0..<4).map { _ in Tensor.zeros([1]).requiringGrad() }
        let groups = [ParameterGroup(role: "decay", parameters: [t[0]], names: ["a.w"]),
                      ParameterGroup(role: "no_decay", parameters: [t[1]], names: ["a.b"], weightDecayMultiplier: 0),
                      ParameterGroup(role: "decay", parameters: [t[2]], names: ["h.w"]),
                      ParameterGroup(role: "last", parameters: [t[3]], names: ["h.last"], learningRateSchedule: "last_layer_lr")]
        let merged = groups.merged()
        #expect(merged.map(\.names) == [["a.w", "h.w"], ["a.b"], ["h.last"]])
    }
}
