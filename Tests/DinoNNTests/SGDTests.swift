import DinoNN
import DinoTensor
import DinoTestSupport
import Testing

@Suite struct SGDTests {
    /// torch.optim.SGD's update on plain arrays (dampening 0).
    private func reference(_ p0: [Double], grads: [[Double]], lr: Double, momentum: Double, wd: Double,
                           nesterov: Bool) -> [Double] {
        var p = p0
        var buf: [Double]? = nil
        for g in grads {
            let d = zip(g, p).map { $0 + wd * $1 }
            if let b = buf { buf = zip(b, d).map { momentum * $0 + $1 } } else { buf = d }
            let step = nesterov ? zip(d, buf!).map { $0 + momentum * $1 } : buf!
            p = zip(p, step).map { $0 - lr * $1 }
        }
        return p
    }

    @Test func matchesTheReferenceUpdate() {
        for (momentum, wd, nesterov) in [(0.9, 0.0, false), (0.9, 0.05, true), (0.0, 0.1, false)] {
            let p = Tensor(doubles: [0.5, -1, 2, 0.25], shape: [2, 2]).requiringGrad()
            let skipped = Tensor(doubles: [1], shape: [1]).requiringGrad()
            let sgd = SGD(groups: [ParameterGroup(role: "all", parameters: [p, skipped], names: ["p", "s"])],
                          momentum: momentum, nesterov: nesterov)
            let grads: [[Double]] = [[1, 2, -1, 0.5], [0.5, -0.5, 3, 1], [-2, 1, 0, 0.1]]
            for g in grads {
                p.grad = Tensor(doubles: g, shape: [2, 2])
                skipped.grad = nil
                sgd.step(learningRate: 0.1, weightDecay: wd)
            }
            let expected = reference([0.5, -1, 2, 0.25], grads: grads, lr: 0.1, momentum: momentum, wd: wd, nesterov: nesterov)
            #expect(mismatch(doubles: p.doubles, expected, rtol: 1e-14, atol: 1e-15) == nil)
            #expect(skipped.doubles == [1])
        }
    }

    @Test func groupMultipliersScaleRateAndDecay() {
        let a = Tensor(doubles: [1], shape: [1]).requiringGrad(), b = Tensor(doubles: [1], shape: [1]).requiringGrad()
        let sgd = SGD(groups: [ParameterGroup(role: "a", parameters: [a], names: ["a"]),
                               ParameterGroup(role: "b", parameters: [b], names: ["b"], lrMultiplier: 0.5, weightDecayMultiplier: 0)],
                      momentum: 0)
        a.grad = Tensor(doubles: [1], shape: [1])
        b.grad = Tensor(doubles: [1], shape: [1])
        sgd.step(learningRate: 0.2, weightDecay: 1)
        #expect(mismatch(doubles: a.doubles, [1 - 0.2 * 2], rtol: 1e-15, atol: 0) == nil)   // g + wd·p = 2
        #expect(mismatch(doubles: b.doubles, [1 - 0.1 * 1], rtol: 1e-15, atol: 0) == nil)
    }
}
