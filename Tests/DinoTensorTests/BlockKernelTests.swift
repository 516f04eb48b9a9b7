import DinoTensor
import DinoTestSupport
import Foundation
import Testing

// The fused ops of a transformer block's hot path: rotary position embedding, the residual
// update (LayerScale, drop path and sum in one pass), and products into unzeroed outputs.

/// Tables of angles like DINOv3's: (hw, dh) sines and cosines, the two halves equal.
func rotaryTables(hw: Int, dh: Int, dtype: DType) -> (sin: Tensor, cos: Tensor) {
    let half = Sample.uniform([hw, dh / 2], seed: 5, low: -3.2, high: 3.2, dtype: .float64).doubles
    var angles = [Double]()
    for r in 0..<hw { let row = half[(r * dh / 2)..<((r + 1) * dh / 2)]; angles += row; angles += row }
    return (Tensor(doubles: angles.map { Foundation.sin($0) }, shape: [hw, dh]).to(dtype),
            Tensor(doubles: angles.map { Foundation.cos($0) }, shape: [hw, dh]).to(dtype))
}

@Suite struct RotaryEmbeddingTests {
    /// (B, H, N, Dh) with N − hw prefix tokens, as a strided view like the queries of a
    /// (B, N, 3, H, Dh) projection.
    private func queries(b: Int, h: Int, n: Int, dh: Int, dtype: DType) -> Tensor {
        Sample.normal([b, n, 3, h, dh], seed: 3, dtype: dtype).permute([2, 0, 3, 1, 4])
            .slice(axis: 0, start: 0, end: 1).squeeze(0)
    }

    @Test(arguments: [(dh: 8, prefix: 0), (dh: 20, prefix: 1), (dh: 48, prefix: 5), (dh: 64, prefix: 1)])
    func float32KernelMatchesTheComposedFormulaInFloat64(dh: Int, prefix: Int) {
        let hw = 6
        let x = queries(b: 2, h: 3, n: hw + prefix, dh: dh, dtype: .float64)
        let t64 = rotaryTables(hw: hw, dh: dh, dtype: .float64)
        let x32 = x.to(.float32).requiringGrad(), x64 = x.contiguousCopy().requiringGrad()
        // The tables of the Float32 pass have no owner after it (as in training, where each
        // step builds its own), and their memory is handed out again before the backward pass.
        let y32 = x32.rotaryEmbedding(sin: rotaryTables(hw: hw, dh: dh, dtype: .float32).sin,
                                      cos: rotaryTables(hw: hw, dh: dh, dtype: .float32).cos)
        let junk = (0..<8).map { _ in Tensor.full([hw, dh], .nan) }
        let y64 = x64.rotaryEmbedding(sin: t64.sin, cos: t64.cos)   // Float64: the composition
        #expect(y32.isContiguous && y32.shape == x.shape)
        #expect(mismatch(y32, y64.to(.float32), rtol: 1e-5, atol: 1e-6) == nil)
        // The prefix tokens pass through unchanged.
        if prefix > 0 {
            let head = x32.slice(axis: -2, start: 0, end: prefix)
            #expect(y32.slice(axis: -2, start: 0, end: prefix).scalars == head.scalars)
        }
        let seed = Sample.uniform(y64.shape, seed: 9, dtype: .float64)
        y32.backward(seed.to(.float32))
        y64.backward(seed)
        #expect(mismatch(x32.grad!, x64.grad!.to(.float32), rtol: 1e-5, atol: 1e-6) == nil)
        withExtendedLifetime(junk) {}
    }

    @Test func composedFormulaHasTheRightGradientsIncludingTheTables() {
        let x = Sample.normal([2, 2, 5, 8], seed: 1)
        let t = rotaryTables(hw: 4, dh: 8, dtype: .float64)
        #expect(gradientMismatch([x, t.sin, t.cos]) { $0[0].rotaryEmbedding(sin: $0[1], cos: $0[2]) } == nil)
    }

    @Test func rotationKeepsTheNormOfEachHalfPair() {
        // cos² + sin² = 1 per angle: each (a_j, b_j) pair is rotated, so its norm is kept.
        let x = Sample.normal([1, 1, 4, 16], seed: 2)
        let t = rotaryTables(hw: 4, dh: 16, dtype: .float32)
        let y = x.rotaryEmbedding(sin: t.sin, cos: t.cos)
        let xs = x.scalars, ys = y.scalars
        for row in 0..<4 {
            for j in 0..<8 {
                let a = xs[row * 16 + j], b = xs[row * 16 + 8 + j]
                let c = ys[row * 16 + j], d = ys[row * 16 + 8 + j]
                #expect(abs((a * a + b * b) - (c * c + d * d)) < 1e-4)
            }
        }
    }
}

@Suite struct ResidualTests {
    @Test func gradientsWithLayerScaleAndDropPath() {
        let x = Sample.normal([3, 4, 5], seed: 1), branch = Sample.normal([3, 4, 5], seed: 2)
        let gamma = Sample.uniform([5], seed: 3)
        let keep = Tensor(doubles: [2, 0, 2], shape: [3])   // samples 0 and 2 kept at p = 0.5
        #expect(gradientMismatch([x, branch, gamma]) {
            Tensor.residual($0[0], $0[1], scale: $0[2], sampleScale: keep)
        } == nil)
        #expect(gradientMismatch([x, branch, gamma]) { Tensor.residual($0[0], $0[1], scale: $0[2]) } == nil)
        #expect(gradientMismatch([x, branch]) { Tensor.residual($0[0], $0[1], sampleScale: keep) } == nil)
        #expect(gradientMismatch([x, branch]) { Tensor.residual($0[0], $0[1]) } == nil)
    }

    @Test func float32EqualsTheComposedOpsExactly() {
        // Rows spread over several threads' chunks; strided inputs.
        let x = Sample.normal([8, 65, 24], seed: 4)
        let branch = Sample.normal([8, 24, 65], seed: 5).transposed(1, 2)
        let gamma = Sample.uniform([24], seed: 6)
        let s = Tensor([1.25, 0, 1.25, 1.25, 0, 1.25, 1.25, 1.25], shape: [8])
        let xa = x.requiringGrad(), ba = branch.contiguousCopy().requiringGrad(), ga = gamma.requiringGrad()
        let xb = x.contiguousCopy().requiringGrad(), bb = branch.contiguousCopy().requiringGrad()
        let gb = gamma.contiguousCopy().requiringGrad()
        let fused = Tensor.residual(xa, ba, scale: ga, sampleScale: s)
        let composed = xb + (bb * gb) * s.reshape([8, 1, 1])
        #expect(fused.scalars == composed.scalars)
        let seed = Sample.normal(fused.shape, seed: 7)
        fused.backward(seed)
        composed.backward(seed)
        #expect(xa.grad!.scalars == xb.grad!.scalars)
        #expect(mismatch(ba.grad!, bb.grad!, rtol: 1e-6, atol: 0) == nil)
        #expect(mismatch(ga.grad!, gb.grad!, rtol: 1e-4, atol: 1e-5) == nil)
        // Dropped samples get no branch gradient.
        #expect(ba.grad!.slice(axis: 0, start: 1, end: 2).scalars.allSatisfy { $0 == 0 })
    }
}

@Suite struct ProductOutputTests {
    @Test func productsOverwriteRecycledBuffers() {
        // Results are allocated without zeroing; fill the allocator's free blocks with NaN
        // first, so that a product that read its output before writing would show it.
        for _ in 0..<4 {
            let junk = Tensor.full([96, 80], .nan)
            _ = junk.sum()
        }
        let a = Sample.normal([96, 40], seed: 1), w = Sample.normal([80, 40], seed: 2), b = Sample.normal([80], seed: 3)
        for _ in 0..<3 {
            let nan = Tensor.full([96, 80], .nan)
            withExtendedLifetime(nan) {}
            let y = a.linear(weight: w), yb = a.linear(weight: w, bias: b)
            let z = a.matmul(w.transposed()), zb = a.reshape([2, 48, 40]).matmul(w.transposed())
            for t in [y, yb, z, zb] { #expect(t.scalars.allSatisfy { $0.isFinite }) }
            #expect(mismatch(yb, y + b) == nil)
            #expect(mismatch(z, y) == nil)
        }
    }
}
