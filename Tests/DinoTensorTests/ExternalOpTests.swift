// `Tensor.recordWithBackward`: an op computed outside DinoTensor, on the tape with its caller's
// backward (data-parallel training's all-gather records itself this way).

@testable import DinoTensor
import DinoTestSupport
import Testing

struct ExternalOpTests {
    /// x ↦ x² computed off the tape, recorded with the backward 2x·g: the caller's backward
    /// is what the tape runs (central differences agree), composed with taped ops around it.
    static func square(_ x: Tensor) -> Tensor {
        let y = withNoGrad { x * x }
        return Tensor.recordWithBackward(y, inputs: [x]) { g in [g * x.detach() * 2] }
    }

    @Test func recordWithBackwardRunsTheCallersBackward() {
        let x = Tensor(doubles: [0.3, -1.7, 2.5, 1e-1], shape: [2, 2])
        #expect(gradientMismatch([x]) { (Self.square($0[0]) * $0[0]).sum() } == nil)
        // A wrong backward is noticed: the check above can fail.
        let wrong: ([Tensor]) -> Tensor = { xs in
            let y = withNoGrad { xs[0] * xs[0] }
            return Tensor.recordWithBackward(y, inputs: [xs[0]]) { g in [g] }
        }
        #expect(gradientMismatch([x], wrong) != nil)
    }
}
