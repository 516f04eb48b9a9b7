import DinoNN
import DinoTensor
import DinoTestSupport
import Foundation
import Testing

/// DINO's clip_gradients and torch.nn.utils.clip_grad_norm_ from scripts/make_trainkit_fixtures.py.
private struct ClippingFixture: Decodable {
    struct PerParameter: Decodable {
        let norms: [Double]
        let grads_after: [[Double]]
    }
    struct Total: Decodable {
        let max_norm: Double
        let total_norm: Double
        let grads_after: [[Double]]
    }
    let shapes: [[Int]]
    let grads: [[Double]]
    let clip: Double
    let per_parameter: PerParameter
    let total: [Total]

    func parameters() -> [Tensor] {
        Swift.zip(grads, shapes).map { g, s in
            let p = Tensor.zeros(s).requiringGrad()
            p.grad = Tensor(g.map { Float($0) }, shape: s)
            return p
        }
    }
}

@Suite struct GradientClippingTests {
    @Test func perParameterClippingMatchesDINO() throws {
        let f = try Fixture.load("clipping", as: ClippingFixture.self)
        let ps = f.parameters()
        let norms = clipGradientsPerParameter(ps, maxNorm: f.clip)
        #expect(mismatch(doubles: norms, f.per_parameter.norms, rtol: 1e-6, atol: 0) == nil)
        for (k, p) in ps.enumerated() {
            #expect(mismatch(p.grad!.scalars, f.per_parameter.grads_after[k].map { Float($0) }, rtol: 1e-6, atol: 1e-9) == nil,
                    "parameter \(k)")
        }
        // The small gradient (norm below the clip) is untouched.
        #expect(ps[1].grad!.scalars == f.grads[1].map { Float($0) })
    }

    @Test func totalNormClippingMatchesTorch() throws {
        let f = try Fixture.load("clipping", as: ClippingFixture.self)
        for case_ in f.total {
            let ps = f.parameters()
            let total = clipGradientNorm(ps, maxNorm: case_.max_norm)
            #expect(abs(total - case_.total_norm) <= 1e-6 * case_.total_norm)
            for (k, p) in ps.enumerated() {
                #expect(mismatch(p.grad!.scalars, case_.grads_after[k].map { Float($0) }, rtol: 1e-6, atol: 1e-9) == nil,
                        "max norm \(case_.max_norm) parameter \(k)")
            }
        }
    }

    @Test func handComputedNormsAndCoefficients() {
        let a = Tensor.zeros([2]).requiringGrad(), b = Tensor.zeros([1]).requiringGrad(), c = Tensor.zeros([3])
        a.grad = Tensor(doubles: [3, 4], shape: [2])          // norm 5
        b.grad = Tensor(doubles: [12], shape: [1])            // norm 12, total 13
        a.grad = a.grad!.to(.float32); b.grad = b.grad!.to(.float32)
        #expect(clipGradientNorm([a, b, c], maxNorm: 6.5) == 13)
        let coef = Float(6.5) / (Float(13) + Float(1e-6))
        #expect(a.grad!.scalars == [3 * coef, 4 * coef] && b.grad!.scalars == [12 * coef])

        a.grad = Tensor([3, 4], shape: [2]); b.grad = Tensor([0.5], shape: [1])
        #expect(clipGradientsPerParameter([a, b, c], maxNorm: 1) == [5, 0.5])
        #expect(abs(l2Norm(a.grad!) - 1) < 1e-6)
        #expect(b.grad!.scalars == [0.5])
    }

    @Test func normIsIndependentOfThreadCount() {
        let x = Sample.normal([100_003], seed: 4)
        let one = Threads.with(1) { l2Norm(x) }, two = Threads.with(2) { l2Norm(x) }
        #expect(one == two)
        let direct = x.doubles.reduce(0) { $0 + $1 * $1 }.squareRoot()
        #expect(abs(one - direct) < 1e-9 * direct)
        // Non-contiguous input.
        let m = Sample.uniform([30, 40], seed: 5)
        #expect(abs(l2Norm(m.transposed()) - l2Norm(m)) < 1e-12)
    }

    @Test func cancelGradientsOnlyDuringFrozenEpochs() {
        let head = Tensor.zeros([2]).requiringGrad()
        head.grad = Tensor([1, 1], shape: [2])
        cancelGradients(of: [head], epoch: 1, freezeEpochs: 1)
        #expect(head.grad != nil)
        cancelGradients(of: [head], epoch: 0, freezeEpochs: 1)
        #expect(head.grad == nil)
    }
}
