import DinoTensor
import DinoTestSupport
import Testing

@Suite struct PadDropoutTests {
    typealias L = IndexOpsLoops

    // MARK: pad

    @Test func padMatchesLoop() {
        let x = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        let out = x.pad([(1, 0), (2, 1)], value: 5)
        #expect(out.shape == [3, 6])
        #expect(out.scalars == [5, 5, 5, 5, 5, 5,
                                5, 5, 1, 2, 3, 5,
                                5, 5, 4, 5, 6, 5])
        #expect(x.pad([(0, 0), (0, 0)]).scalars == x.scalars)
        // Rank 3, strided input, default zero border.
        let a = Sample.uniform([3, 4, 2], seed: 1)
        let t = a.permute([2, 0, 1])                             // (2, 3, 4)
        let widths = [(0, 2), (1, 1), (3, 0)]
        let padded = t.pad(widths)
        let expected = L.build([4, 5, 7]) { m in
            let i = m[0], j = m[1] - 1, k = m[2] - 3
            return (i < 2 && j >= 0 && j < 3 && k >= 0) ? t[i, j, k] : 0
        }
        #expect(padded.shape == [4, 5, 7] && mismatch(padded.scalars, expected) == nil)
        // An empty input gives all border.
        #expect(Tensor.zeros([0, 2]).pad([(1, 1), (0, 0)], value: -1).scalars == [-1, -1, -1, -1])
    }

    @Test func padGradientIsTheInterior() {
        let a = Sample.uniform([2, 3, 4], seed: 2)
        #expect(gradientMismatch([a]) { $0[0].pad([(1, 0), (0, 2), (1, 1)], value: 0.5) } == nil)
        #expect(gradientMismatch([a]) { $0[0].transposed().pad([(0, 1), (2, 0), (0, 0)]) } == nil)
        let x = Tensor([1, 2], shape: [2]).requiringGrad()
        (x.pad([(1, 1)]) * Tensor([1, 2, 3, 4], shape: [4])).sum().backward()
        #expect(x.grad?.scalars == [2, 3])
    }

    // MARK: dropout

    @Test func dropoutIsIdentityWhenNotTrainingOrZeroRate() {
        let x = Sample.uniform([4, 5], seed: 3)
        let g = RandomGenerator(seed: 1)
        #expect(x.dropout(p: 0.5, training: false, generator: g) === x)
        #expect(x.dropout(p: 0, training: true, generator: g) === x)
        #expect(g.offset == 0)
    }

    @Test func dropoutRateOneGivesZerosAndZeroGradient() {
        let x = Sample.uniform([3, 4], seed: 4).requiringGrad()
        let y = x.dropout(p: 1, training: true, generator: RandomGenerator(seed: 2))
        #expect(y.scalars == [Float](repeating: 0, count: 12))
        (y * 3).sum().backward()
        #expect(x.grad?.scalars == [Float](repeating: 0, count: 12))
    }

    @Test func dropoutSameSeedSameMaskAndStatistics() {
        let n = 200_000
        let p = 0.3
        let x = Tensor.ones([n])
        let a = x.dropout(p: p, training: true, generator: RandomGenerator(seed: 42)).scalars
        let b = x.dropout(p: p, training: true, generator: RandomGenerator(seed: 42)).scalars
        let c = x.dropout(p: p, training: true, generator: RandomGenerator(seed: 43)).scalars
        #expect(a == b)
        #expect(a != c)
        // Every element is 0 or exactly the scale 1/(1−p).
        let scale = Float(1 / (1 - p))
        #expect(a.allSatisfy { $0 == 0 || $0 == scale })
        // Fraction of zeros: binomial standard deviation √(p(1−p)/n) ≈ 0.001, bound 0.005.
        let zeros = Double(a.filter { $0 == 0 }.count) / Double(n)
        #expect(abs(zeros - p) < 0.005)
        // Mean of the output ≈ 1 (inverted scaling), std √(p/((1−p)n)) ≈ 0.0015, bound 0.01.
        let mean = a.reduce(0.0) { $0 + Double($1) } / Double(n)
        #expect(abs(mean - 1) < 0.01)
        // The generator advances, so consecutive calls draw different masks.
        let g = RandomGenerator(seed: 42)
        let first = x.dropout(p: p, training: true, generator: g).scalars
        let second = x.dropout(p: p, training: true, generator: g).scalars
        #expect(first == a && second != a)
    }

    @Test func dropoutGradientUsesTheSameMask() {
        let x = Sample.uniform([6, 7], seed: 5).requiringGrad()
        let y = x.transposed().dropout(p: 0.4, training: true, generator: RandomGenerator(seed: 9))   // strided input
        y.sum().backward()
        // d out / d x = mask / (1 − p) = out / x elementwise.
        let ratio = L.build([7, 6]) { m in y[m[0], m[1]] / x[m[1], m[0]] }
        let grad = x.grad!.transposed()
        #expect(mismatch(L.build([7, 6]) { m in grad[m[0], m[1]] }, ratio, rtol: 1e-5, atol: 1e-5) == nil)
        #expect(ratio.contains(0) && ratio.contains { $0 > 1.6 })
        let a = Sample.uniform([3, 5], seed: 6)
        #expect(gradientMismatch([a]) { $0[0].dropout(p: 0.25, training: true, generator: RandomGenerator(seed: 3)) } == nil)
    }
}
