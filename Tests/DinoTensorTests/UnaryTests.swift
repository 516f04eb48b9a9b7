import DinoTensor
import DinoTestSupport
import Foundation
import Testing

/// Values −1.15, −1.05, …: a grid that stays 0.05 away from 0 and from every multiple of 0.1,
/// the kinks of abs, relu and clamp in these tests.
private func grid(_ shape: [Int], start: Double = -1.15, step: Double = 0.1) -> Tensor {
    let n = shape.reduce(1, *)
    return Tensor(doubles: (0..<n).map { start + step * Double($0) }, shape: shape)
}

/// Applies a scalar function to every element, as an independent reference.
private func reference(_ x: Tensor, _ f: (Double) -> Double) -> Tensor {
    Tensor(doubles: x.doubles.map(f), shape: x.shape)
}

@Suite struct UnaryTests {
    @Test func valuesMatchScalarFunctions() {
        let x = Sample.uniform([3, 5], seed: 11, low: 0.1, high: 3, dtype: .float64)
        #expect(mismatch(x.exp(), reference(x) { Foundation.exp($0) }) == nil)
        #expect(mismatch(x.log(), reference(x) { Foundation.log($0) }) == nil)
        #expect(mismatch(x.sqrt(), reference(x) { $0.squareRoot() }) == nil)
        #expect(mismatch(x.rsqrt(), reference(x) { 1 / $0.squareRoot() }) == nil)
        #expect(mismatch(x.pow(2.5), reference(x) { Foundation.pow($0, 2.5) }) == nil)
        let s = Sample.uniform([3, 5], seed: 12, low: -4, high: 4, dtype: .float64)
        #expect(mismatch(s.abs(), reference(s) { Swift.abs($0) }) == nil)
        #expect(mismatch(s.tanh(), reference(s) { Foundation.tanh($0) }) == nil)
        #expect(mismatch(s.sigmoid(), reference(s) { 1 / (1 + Foundation.exp(-$0)) }) == nil)
        #expect(mismatch(s.relu(), reference(s) { Swift.max($0, 0) }) == nil)
        #expect(mismatch(s.silu(), reference(s) { $0 / (1 + Foundation.exp(-$0)) }) == nil)
        // Float32 takes the same kernels.
        let f = Tensor([-2, -0.5, 0.25, 3], shape: [4])
        #expect(mismatch(f.exp().scalars, [-2, -0.5, 0.25, 3].map { Foundation.exp($0) }) == nil)
        #expect(mismatch(f.silu().scalars, [-2, -0.5, 0.25, 3].map { $0 / (1 + Foundation.exp(-$0)) }) == nil)
    }

    @Test func powFastPathsAndNegativeBases() {
        let x = Tensor([-2, -1, 0.5, 3], shape: [4])
        #expect(x.pow(2).scalars == [4, 1, 0.25, 9])
        #expect(x.pow(3).scalars == [-8, -1, 0.125, 27])
        #expect(x.pow(-1).scalars == [-0.5, -1, 2, Float(1) / 3])
        #expect(x.pow(-2).scalars == [0.25, 1, 4, Float(1) / 9])
        #expect(x.pow(0).scalars == [1, 1, 1, 1])
        #expect(x.pow(4).scalars == [16, 1, 0.0625, 81])  // general path, integral exponent
        let half = x.pow(0.5).scalars
        #expect(half[0].isNaN && half[1].isNaN && half[2] == Float(0.5).squareRoot())
        #expect(x.pow(1.5).scalars[0].isNaN)
    }

    @Test func sigmoidIsStableForLargeInputs() {
        let x = Tensor([-1000, -100, 0, 100, 1000], shape: [5])
        let y = x.sigmoid().scalars
        #expect(y[0] == 0 && y[1] > 0 && y[1] < 1e-30 && y[2] == 0.5 && y[3] == 1 && y[4] == 1)
        let s = x.silu().scalars
        #expect(s[0] == 0 && s[2] == 0 && s[4] == 1000 && !s.contains { $0.isNaN })
        x.requiringGrad()
        x.sigmoid().sum().backward()
        #expect(x.grad?.scalars.allSatisfy { $0.isFinite } == true)
    }

    @Test func gradientsMatchFiniteDifferences() {
        let pos = Sample.uniform([2, 3, 4], seed: 13, low: 0.2, high: 2)
        #expect(gradientMismatch([pos]) { $0[0].exp() } == nil)
        #expect(gradientMismatch([pos]) { $0[0].log() } == nil)
        #expect(gradientMismatch([pos]) { $0[0].sqrt() } == nil)
        #expect(gradientMismatch([pos]) { $0[0].rsqrt() } == nil)
        #expect(gradientMismatch([pos]) { $0[0].pow(2.5) } == nil)
        #expect(gradientMismatch([pos]) { $0[0].pow(-1.5) } == nil)
        #expect(gradientMismatch([pos]) { $0[0].pow(3) } == nil)
        let x = grid([2, 3, 4])
        // Non-contiguous inputs: permuted and strided slices.
        #expect(gradientMismatch([x]) { $0[0].permute([2, 0, 1]).abs() } == nil)
        #expect(gradientMismatch([x]) { $0[0].slice(axis: 2, start: 0, end: 4, step: 2).relu() } == nil)
        #expect(gradientMismatch([x]) { $0[0].transposed(0, 2).tanh() } == nil)
        #expect(gradientMismatch([x]) { $0[0].permute([1, 2, 0]).sigmoid() } == nil)
        #expect(gradientMismatch([x]) { $0[0].transposed().silu() } == nil)
        #expect(gradientMismatch([x]) { $0[0].transposed().clamp(min: -0.5, max: 0.7) } == nil)
        #expect(gradientMismatch([x]) { $0[0].clamp(min: 0.2) } == nil)
        #expect(gradientMismatch([x]) { $0[0].clamp(max: -0.2) } == nil)
        #expect(gradientMismatch([x]) { $0[0].pow(2) } == nil)
    }

    @Test func powWithTensorExponentBroadcastsAndDifferentiatesBoth() {
        let base = Sample.uniform([2, 3, 4], seed: 14, low: 0.3, high: 2)
        let e = Sample.uniform([3, 1], seed: 15, low: -2, high: 3)
        let y = base.pow(e)
        let b = base.doubles, ev = e.doubles
        var expected: [Double] = []
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 { expected.append(Foundation.pow(b[(i * 3 + j) * 4 + k], ev[j])) } } }
        #expect(mismatch(y, Tensor(doubles: expected, shape: [2, 3, 4]), rtol: 1e-5) == nil)
        #expect(gradientMismatch([base, e]) { $0[0].pow($0[1]) } == nil)
        #expect(gradientMismatch([base, e]) { $0[0].permute([1, 0, 2]).pow($0[1].unsqueeze(1)) } == nil)
        // Exponent gradient is 0 (not NaN) at x = 0 with e ≥ 0; base gradient 0 where e = 0.
        let x0 = Tensor([0, 2], shape: [2]).requiringGrad()
        let e0 = Tensor([2, 0], shape: [2]).requiringGrad()
        x0.pow(e0).sum().backward()
        #expect(mismatch(e0.grad!.scalars, [0, Float(Foundation.log(2.0))]) == nil)  // 2⁰ · ln 2
        #expect(x0.grad?.scalars == [0, 0])
    }

    @Test func nonDifferentiablePointsFollowPyTorch() {
        let x = Tensor([-1, 0, 2], shape: [3]).requiringGrad()
        x.abs().sum().backward()
        #expect(x.grad?.scalars == [-1, 0, 1])
        x.zeroGrad()
        x.relu().sum().backward()
        #expect(x.grad?.scalars == [0, 0, 1])
        x.zeroGrad()
        x.pow(0).sum().backward()
        #expect(x.grad?.scalars == [0, 0, 0])
    }

    @Test func clampBoundsAreInclusiveForTheGradient() {
        let x = Tensor([-1, -0.5, 0, 0.5, 1], shape: [5]).requiringGrad()
        let y = x.clamp(min: -0.5, max: 0.5)
        #expect(y.scalars == [-0.5, -0.5, 0, 0.5, 0.5])
        y.sum().backward()
        #expect(x.grad?.scalars == [0, 1, 1, 1, 0])
        // min > max: every element becomes max, as torch.clamp.
        #expect(x.clamp(min: 1, max: 0).scalars == [0, 0, 0, 0, 0])
        #expect(x.clamp(min: 0).scalars == [0, 0, 0, 0.5, 1])
        #expect(x.clamp(max: 0).scalars == [-1, -0.5, 0, 0, 0])
        let nan = Tensor([Float.nan], shape: [1]).clamp(min: 0, max: 1)
        #expect(nan.scalars[0].isNaN)
    }
}

@Suite struct NormalizeTests {
    /// x / max(‖x‖, eps) along the last axis of a (rows, cols) matrix, by a plain loop.
    private func normalizedRows(_ x: [Double], rows: Int, cols: Int, eps: Double) -> [Double] {
        var out = x
        for r in 0..<rows {
            let norm = (0..<cols).map { x[r * cols + $0] * x[r * cols + $0] }.reduce(0, +).squareRoot()
            for c in 0..<cols { out[r * cols + c] = x[r * cols + c] / Swift.max(norm, eps) }
        }
        return out
    }

    @Test func valuesMatchALoopAlongAnyAxis() {
        let x = Sample.uniform([3, 4, 5], seed: 21, dtype: .float64)
        let last = x.l2Normalized()
        #expect(mismatch(last, Tensor(doubles: normalizedRows(x.doubles, rows: 12, cols: 5, eps: 1e-12), shape: [3, 4, 5])) == nil)
        // Middle axis (inner > 1): compare with the last-axis result of the permuted tensor.
        let middle = x.l2Normalized(axis: 1)
        let viaPermute = x.permute([0, 2, 1]).contiguous().l2Normalized().permute([0, 2, 1])
        #expect(mismatch(middle, viaPermute.contiguous(), rtol: 1e-12, atol: 1e-12) == nil)
        // Each lane has unit norm.
        let norms = (middle * middle).sum(axes: [1]).doubles
        #expect(norms.allSatisfy { Swift.abs($0 - 1) < 1e-12 })
    }

    @Test func gradientsMatchFiniteDifferences() {
        let x = Sample.uniform([2, 3, 4], seed: 22)
        #expect(gradientMismatch([x]) { $0[0].l2Normalized() } == nil)
        #expect(gradientMismatch([x]) { $0[0].l2Normalized(axis: 1) } == nil)
        #expect(gradientMismatch([x]) { $0[0].l2Normalized(axis: 0) } == nil)
        #expect(gradientMismatch([x]) { $0[0].permute([2, 0, 1]).l2Normalized(axis: -1) } == nil)
        #expect(gradientMismatch([x]) { $0[0].transposed(1, 2).l2Normalized(axis: 1) } == nil)
    }

    @Test func clampedRegimeDividesByEps() {
        // Lane 0 has norm 0.05 < eps = 0.1 (clamped), lane 1 has norm 5 (not clamped).
        let x = Tensor(doubles: [0.03, 0.04, 3, 4], shape: [2, 2])
        let y = x.l2Normalized(eps: 0.1)
        #expect(mismatch(doubles: y.doubles, [0.3, 0.4, 0.6, 0.8], rtol: 1e-12, atol: 1e-15) == nil)
        x.requiringGrad()
        let seed = Tensor(doubles: [1, 2, 1, 2], shape: [2, 2])
        x.l2Normalized(eps: 0.1).backward(seed)
        // Clamped lane: g / eps. Unclamped: (g − y⟨g, y⟩)/‖x‖ with ⟨g, y⟩ = 2.2.
        let expected = [10, 20, (1 - 0.6 * 2.2) / 5, (2 - 0.8 * 2.2) / 5]
        #expect(mismatch(doubles: x.grad!.doubles, expected, rtol: 1e-12, atol: 1e-12) == nil)
        #expect(gradientMismatch([Tensor(doubles: [0.03, -0.04, 0.02, 0.01, 3, 4], shape: [3, 2])]) {
            $0[0].l2Normalized(eps: 0.1)
        } == nil)
        // A zero lane stays finite: 0 / eps.
        #expect(Tensor.zeros([2, 3]).l2Normalized().scalars == [Float](repeating: 0, count: 6))
    }
}
