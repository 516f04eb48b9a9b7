import DinoNN
import Foundation
import Testing

/// One schedule array from the fixture, with the constructor arguments the reference used.
private struct ScheduleCase: Decodable {
    let kind: String
    let params: [String: Double?]
    let values: [Double]

    func number(_ key: String) -> Double { params[key]!! }
    func int(_ key: String) -> Int { Int(number(key)) }

    func makeSchedule() -> any Schedule {
        switch kind {
        case "dino_cosine":
            return CosineSchedule(base: number("base"), final: number("final"), epochs: int("epochs"),
                                  iterationsPerEpoch: int("per_epoch"), warmupEpochs: int("warmup_epochs"),
                                  startWarmupValue: number("start_warmup"))
        case "dinov2_cosine":
            return DINOv2CosineSchedule(base: number("base"), final: number("final"), totalIterations: int("total"),
                                        warmupIterations: int("warmup"), startWarmupValue: number("start_warmup"),
                                        freezeIterations: int("freeze"), truncExtra: number("trunc_extra"))
        case "dinov3_warmup_cosine":
            let cosine = params["cosine"].flatMap { $0 }.map { Int($0) }
            return WarmupCosineSchedule(start: number("start"), peak: number("peak"), end: number("end"),
                                        warmupIterations: int("warmup"), totalIterations: int("total"),
                                        cosineIterations: cosine)
        case "dino_teacher_temp":
            return LinearWarmupSchedule(start: number("warm"), end: number("temp"), warmupIterations: int("warm_epochs"))
        default:
            preconditionFailure("unknown schedule kind \(kind)")
        }
    }
}

private struct ScheduleFixture: Decodable { let cases: [ScheduleCase] }

/// Distance in units in the last place between two finite doubles.
private func ulps(_ a: Double, _ b: Double) -> Int {
    if a == b { return 0 }
    func ordered(_ x: Double) -> Int64 {
        let bits = Int64(bitPattern: x.bitPattern)
        return bits < 0 ? Int64.min - bits : bits
    }
    let d = ordered(a).subtractingReportingOverflow(ordered(b))
    return d.overflow ? Int.max : Int(d.partialValue.magnitude)
}

@Suite struct ScheduleTests {
    /// Every element of every reference array, including past-the-end reads.
    @Test func matchesReferenceArraysElementByElement() throws {
        let fixture = try Fixture.load("schedules", as: ScheduleFixture.self)
        #expect(fixture.cases.count == 15)
        var exact = 0, total = 0
        for c in fixture.cases {
            let s = c.makeSchedule()
            for (i, expected) in c.values.enumerated() {
                let got = s(i)
                total += 1
                if got == expected { exact += 1 }
                // NumPy's vectorised cos may differ from the C library's in the last bit.
                #expect(ulps(got, expected) <= 1, "\(c.kind) \(c.params) element \(i): \(got) vs \(expected)")
            }
            // Past the end: the last element (DINOv2: the final value).
            let last = c.kind == "dinov2_cosine" ? c.number("final") : c.values.last!
            #expect(s(c.values.count + 5) == last)
        }
        // All 1903 values are bit-identical on Linux (glibc cos); allow the odd last-bit difference elsewhere.
        #expect(exact * 100 >= total * 95, "only \(exact) of \(total) values bit-identical")
    }

    @Test func dinoCosineHandComputedPoints() {
        // 2 epochs × 4 iterations, 1 warm-up epoch from 0 to 1, then cosine 1 → 0 over 4 steps.
        let s = CosineSchedule(base: 1, final: 0, epochs: 2, iterationsPerEpoch: 4, warmupEpochs: 1)
        let expected: [Double] = [0, 1.0 / 3, 2.0 / 3, 1, 1, 0.5 * (1 + cos(Double.pi / 4)), 0.5, 0.5 * (1 + cos(3 * Double.pi / 4))]
        for (i, e) in expected.enumerated() { #expect(abs(s(i) - e) < 1e-15, "iteration \(i)") }
        #expect(s(-3) == 0)
        #expect(s(100) == s(7))
    }

    @Test func dinov2FreezeWarmupAndFinalValue() {
        let s = DINOv2CosineSchedule(base: 2, final: 1, totalIterations: 10, warmupIterations: 3,
                                     startWarmupValue: 0.5, freezeIterations: 2)
        #expect(s(0) == 0 && s(1) == 0)
        #expect(s(2) == 0.5 && s(3) == 1.25 && s(4) == 2)
        #expect(s(5) == 2)                      // cos(0): the cosine starts at base
        #expect(s(9) > 1 && s(9) < 2)
        #expect(s(10) == 1 && s(1_000) == 1)    // at and after the end: final
    }

    @Test func dinov3WarmupExcludesPeakAndCosineEndsAtEnd() {
        let s = WarmupCosineSchedule(start: 0, peak: 1, end: 0.25, warmupIterations: 4, totalIterations: 12,
                                     cosineIterations: 5)
        #expect([0, 1, 2, 3].map { s($0) } == [0, 0.25, 0.5, 0.75])
        #expect(s(4) == 1)                      // cos(0) = 1: peak
        #expect(s(8) == 0.25)                   // cos(π) = −1: exactly end
        #expect(abs(s(6) - 0.625) < 1e-15)      // cos(π/2) = 0: halfway
        #expect((9..<20).allSatisfy { s($0) == 0.25 })
    }

    @Test func constantWarmupAndCombinators() {
        #expect(ConstantSchedule(0.07)(123_456) == 0.07)
        let temp = LinearWarmupSchedule(start: 0.04, end: 0.07, warmupIterations: 4)
        #expect(temp(0) == 0.04 && temp(3) == 0.07 && temp(9) == 0.07)
        let open = LinearWarmupSchedule(start: 0, end: 1, warmupIterations: 4, includesEndpoint: false)
        #expect([0, 1, 2, 3, 4].map { open($0) } == [0, 0.25, 0.5, 0.75, 1])
        let byEpoch = temp.perEpoch(iterationsPerEpoch: 10)
        #expect(byEpoch(9) == 0.04 && byEpoch(10) == 0.05 && byEpoch(35) == 0.07)
        let lr = ConstantSchedule(0.5).zeroed(before: 3)
        #expect([0, 1, 2, 3, 4].map { lr($0) } == [0, 0, 0, 0.5, 0.5])
    }

    @Test func scheduleSetEvaluatesEveryNamedSchedule() {
        let set = ScheduleSet([ScheduleValues.learningRate: ConstantSchedule(0.1),
                               ScheduleValues.teacherMomentum: LinearWarmupSchedule(start: 0, end: 1, warmupIterations: 3)])
        let v = set.values(at: 1, epoch: 0)
        #expect(v.iteration == 1 && v[ScheduleValues.learningRate] == 0.1 && v[ScheduleValues.teacherMomentum] == 0.5)
    }
}
