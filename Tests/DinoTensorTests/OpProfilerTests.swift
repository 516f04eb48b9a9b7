// OpProfiler: per-op self time of the calling thread, forward and backward, with marked phases.

@testable import DinoTensor
import Foundation
import Testing

@Suite(.serialized)
struct OpProfilerTests {
    static func spin(_ s: Double) {
        let end = monotonicSeconds() + s
        while monotonicSeconds() < end {}
    }

    /// Forward ops by their tape names, their backward closures as "<op> backward", ops run
    /// inside a backward closure counted in the closure (not as forward calls), marked phases by
    /// their labels, and the entries summing to the wall time between start and stop.
    @Test func attributesForwardBackwardAndMarks() {
        let x = RandomGenerator(seed: 1).normal([64, 32]).requiringGrad()
        let w = RandomGenerator(seed: 2).normal([16, 32]).requiringGrad()
        let begin = monotonicSeconds()
        OpProfiler.start()
        let y = x.linear(weight: w).gelu()
        Self.spin(0.02)                                   // not an op: lands on the next boundary
        let loss = (y * 0.5).sum()
        loss.backward()
        Self.spin(0.01)
        OpProfiler.mark("phase")
        let entries = OpProfiler.stop()
        let elapsed = monotonicSeconds() - begin
        let byName = Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0) })

        for op in ["linear", "gelu", "mul_scalar", "sum"] {
            #expect(byName[op]?.calls == 1, "forward \(op): \(byName[op].map { "\($0.calls)" } ?? "missing")")
            #expect(byName[op + " backward"]?.calls == 1, "backward of \(op)")
        }
        #expect(byName["phase"]?.calls == 1)
        #expect(byName["phase"]!.seconds >= 0.01)
        #expect(byName["mul_scalar"]!.seconds >= 0.02, "the spin before `* 0.5` is its self time")
        // Nothing else (`linear` flattens its input with a recorded reshape): the ops inside the
        // backward closures did not mark.
        let expected: Set<String> = ["reshape", "reshape backward", "linear", "gelu", "mul_scalar", "sum", "linear backward", "gelu backward",
                                     "mul_scalar backward", "sum backward", "autograd engine", "untracked", "phase"]
        #expect(Set(byName.keys).isSubset(of: expected), "unexpected entries: \(Set(byName.keys).subtracting(expected))")
        let total = entries.reduce(0) { $0 + $1.seconds }
        #expect(total <= elapsed && total > 0.03)
        #expect(entries == entries.sorted { $0.seconds >= $1.seconds }, "largest first")
        #expect(!OpProfiler.isActive)
    }

    /// Another thread's tensor work is not counted, and nothing is counted outside start/stop.
    @Test func profilesTheCallingThreadOnly() {
        let a = RandomGenerator(seed: 3).normal([32, 32])
        _ = (a * 2).sum()                                   // before start: not counted
        OpProfiler.start()
        let other = Thread {
            for _ in 0..<50 { _ = (a + a).exp() }
        }
        other.start()
        while !other.isFinished { usleep(1000) }
        _ = a.relu()
        let entries = OpProfiler.stop()
        let names = Set(entries.map(\.name))
        #expect(names.contains("relu"))
        #expect(!names.contains("exp") && !names.contains("add") && !names.contains("mul_scalar"), "\(names)")
        _ = a.exp()                                         // after stop: not counted, no crash
        #expect(OpProfiler.stop().isEmpty)
    }
}
