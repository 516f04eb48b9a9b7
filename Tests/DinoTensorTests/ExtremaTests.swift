import DinoTensor
import DinoTestSupport
import Testing

/// Reduces `values` of a row-major `shape` along `axis` by a plain loop: `f(lane)` per lane.
private func reduceLanes(_ values: [Double], shape: [Int], axis: Int, _ f: ([Double]) -> Double) -> [Double] {
    let outer = shape[..<axis].reduce(1, *), n = shape[axis], inner = shape[(axis + 1)...].reduce(1, *)
    var out: [Double] = []
    for o in 0..<outer {
        for i in 0..<inner {
            out.append(f((0..<n).map { values[(o * n + $0) * inner + i] }))
        }
    }
    return out
}

/// Sample variance of a list with the given correction.
private func variance(_ v: [Double], correction: Int) -> Double {
    let mean = v.reduce(0, +) / Double(v.count)
    return v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count - correction)
}

@Suite struct ExtremaTests {
    @Test func maxAndMinAlongEachAxisMatchALoop() {
        let x = Sample.uniform([3, 4, 5], seed: 31, dtype: .float64)
        let v = x.doubles
        for axis in 0..<3 {
            var reduced = [3, 4, 5]
            reduced.remove(at: axis)
            let mx = x.max(axis: axis), mn = x.min(axis: axis)
            #expect(mx.shape == reduced)
            #expect(mx.doubles == reduceLanes(v, shape: [3, 4, 5], axis: axis) { $0.max()! })
            #expect(mn.doubles == reduceLanes(v, shape: [3, 4, 5], axis: axis) { $0.min()! })
            let argmax = x.argmax(axis: axis)
            #expect(argmax.shape == reduced)
            #expect(argmax.indices == reduceLanes(v, shape: [3, 4, 5], axis: axis) { lane in
                Double(lane.firstIndex(of: lane.max()!)!)
            }.map { Int($0) })
        }
        #expect(x.max(axis: -1, keepDims: true).shape == [3, 4, 1])
        #expect(x.min(axis: 1, keepDims: true).shape == [3, 1, 5])
        #expect(x.argmax(axis: 0, keepDims: true).shape == [1, 4, 5])
        #expect(x.max().shape == [] && x.max().doubles == [v.max()!])
        #expect(x.min().doubles == [v.min()!])
    }

    @Test func argmaxAndMaxOnNonContiguousInputs() {
        let x = Sample.uniform([4, 6], seed: 32, dtype: .float64)
        let t = x.transposed()  // (6, 4), strides (1, 6)
        let v = t.contiguous().doubles
        let expected = reduceLanes(v, shape: [6, 4], axis: 1) { lane in Double(lane.firstIndex(of: lane.max()!)!) }
        #expect(t.argmax(axis: 1).indices == expected.map { Int($0) })
        #expect(t.max(axis: 1).doubles == reduceLanes(v, shape: [6, 4], axis: 1) { $0.max()! })
        let s = x.slice(axis: 1, start: 1, end: 6, step: 2)  // (4, 3)
        let sv = s.contiguous().doubles
        #expect(s.min(axis: 0).doubles == reduceLanes(sv, shape: [4, 3], axis: 0) { $0.min()! })
        #expect(s.max().doubles == [sv.max()!])
    }

    @Test func largeInputsSplitAcrossThreadsMatchALoop() {
        // 64 × 8 × 300: lane chunks start mid-row; 120 000 elements: several chunks for max().
        let x = Sample.uniform([64, 8, 300], seed: 33)
        let v = x.doubles
        Threads.with(3) {
            #expect(x.max(axis: 1).doubles == reduceLanes(v, shape: [64, 8, 300], axis: 1) { $0.max()! })
            #expect(x.argmax(axis: 2).indices == reduceLanes(v, shape: [64, 8, 300], axis: 2) { lane in
                Double(lane.firstIndex(of: lane.max()!)!)
            }.map { Int($0) })
            #expect(x.min().doubles == [v.min()!])
            #expect(x.max().doubles == [v.max()!])
            let variances = x.variance(axes: [0]).doubles
            #expect(mismatch(doubles: variances, reduceLanes(v, shape: [64, 2400], axis: 0) { variance($0, correction: 1) },
                             rtol: 1e-4, atol: 1e-6) == nil)
        }
    }

    @Test func gradientsMatchFiniteDifferences() {
        // Random values: no ties, so max and min are differentiable.
        let x = Sample.uniform([3, 4, 5], seed: 34)
        #expect(gradientMismatch([x]) { $0[0].max(axis: 1) } == nil)
        #expect(gradientMismatch([x]) { $0[0].min(axis: -1, keepDims: true) } == nil)
        #expect(gradientMismatch([x]) { $0[0].permute([2, 0, 1]).max(axis: 0) } == nil)
        #expect(gradientMismatch([x]) { $0[0].slice(axis: 2, start: 1, end: 5, step: 2).min(axis: 1) } == nil)
        #expect(gradientMismatch([x]) { $0[0].max() } == nil)
        #expect(gradientMismatch([x]) { $0[0].transposed().min() } == nil)
    }

    @Test func tiesRouteTheAxisGradientToTheFirstIndexAndSplitTheGlobalOne() {
        let x = Tensor([1, 3, 3, 2,
                        5, 0, 5, 5], shape: [2, 4]).requiringGrad()
        #expect(x.argmax(axis: 1).indices == [1, 0])
        x.max(axis: 1).sum().backward()
        #expect(x.grad?.scalars == [0, 1, 0, 0, 1, 0, 0, 0])
        x.zeroGrad()
        x.max().backward()
        #expect(x.grad?.scalars == [0, 0, 0, 0, 1.0 / 3, 0, 1.0 / 3, 1.0 / 3])
        x.zeroGrad()
        x.min().backward()
        #expect(x.grad?.scalars == [0, 0, 0, 0, 0, 1, 0, 0])
        x.zeroGrad()
        (x.min(axis: 0) * Tensor([1, 2, 3, 4], shape: [4])).sum().backward()
        #expect(x.grad?.scalars == [1, 0, 3, 4, 0, 2, 0, 0])
    }

    @Test func nanPropagatesAndIsTheArgmax() {
        let x = Tensor([1, .nan, 7, .nan, 2, 3], shape: [2, 3])
        let m = x.max(axis: 1).scalars
        #expect(m[0].isNaN && m[1].isNaN)
        #expect(x.argmax(axis: 1).indices == [1, 0])
        #expect(x.min().scalars[0].isNaN && x.max().scalars[0].isNaN)
        #expect(Tensor([4, 2, 9], shape: [3]).min(axis: 0).scalars == [2])
        // A rank-0 tensor reduces over its one element.
        let s = Tensor(scalar: 5)
        #expect(s.max(axis: 0).shape == [] && s.max(axis: 0).scalars == [5])
        #expect(s.argmax(axis: 0).indices == [0])
    }

    @Test func varianceMatchesALoopWithCorrection() {
        let x = Sample.uniform([3, 4, 5], seed: 35, dtype: .float64)
        let v = x.doubles
        for axis in 0..<3 {
            for correction in [0, 1] {
                let expected = reduceLanes(v, shape: [3, 4, 5], axis: axis) { variance($0, correction: correction) }
                #expect(mismatch(doubles: x.variance(axes: [axis], correction: correction).doubles, expected,
                                 rtol: 1e-12, atol: 1e-14) == nil)
            }
        }
        #expect(mismatch(doubles: x.variance().doubles, [variance(v, correction: 1)], rtol: 1e-12, atol: 1e-14) == nil)
        // Non-consecutive axes (0, 2): lanes over a (4, 15) transpose.
        let t = x.permute([1, 0, 2]).contiguous().doubles
        let expected02 = reduceLanes(t, shape: [4, 15], axis: 1) { variance($0, correction: 0) }
        let y = x.variance(axes: [0, 2], correction: 0, keepDims: true)
        #expect(y.shape == [1, 4, 1])
        #expect(mismatch(doubles: y.doubles, expected02, rtol: 1e-12, atol: 1e-14) == nil)
        #expect(x.variance(axes: [1, 2], keepDims: false).shape == [3])
        #expect(Tensor([1, 2, 3, 4], shape: [4]).variance().scalars == [Float(5) / 3])
        // N ≤ correction: divisor 0, as torch.var.
        #expect(Tensor([2], shape: [1]).variance().scalars[0].isNaN)
    }

    @Test func varianceGradientsMatchFiniteDifferences() {
        let x = Sample.uniform([3, 4, 5], seed: 36)
        #expect(gradientMismatch([x]) { $0[0].variance() } == nil)
        #expect(gradientMismatch([x]) { $0[0].variance(axes: [1], correction: 0) } == nil)
        #expect(gradientMismatch([x]) { $0[0].variance(axes: [0, 2], keepDims: true) } == nil)
        #expect(gradientMismatch([x]) { $0[0].permute([2, 0, 1]).variance(axes: [-1]) } == nil)
        #expect(gradientMismatch([x]) { $0[0].slice(axis: 1, start: 0, end: 4, step: 2).variance(axes: [0, 1]) } == nil)
    }
}
