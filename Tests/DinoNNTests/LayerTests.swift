import DinoNN
import DinoTensor
import DinoTestSupport
import Foundation
import Testing

func randomized<M: Module>(_ m: M, seed: UInt64) -> M {
    let g = RandomGenerator(seed: seed)
    for (_, p) in m.namedParameters() { p.fillNormal(std: 0.5, generator: g) }
    return m
}

@Suite struct LayerTests {
    @Test func linearWithMaskedBiasZeroesTheMaskedPart() {
        let l = randomized(Linear(2, 3, bias: true, biasMask: [1, 0, 1]), seed: 1)
        let x = Sample.normal([4, 2], seed: 2)
        let y = l(x)
        let (w, b, xs) = (l.weight.value.scalars, l.bias!.value.scalars, x.scalars)
        for r in 0..<4 {
            for o in 0..<3 {
                let dot = xs[r * 2] * w[o * 2] + xs[r * 2 + 1] * w[o * 2 + 1]
                let expected = dot + (o == 1 ? 0 : b[o])
                #expect(abs(y[r, o] - expected) < 1e-5)
            }
        }
        #expect(l.namedBuffers().map(\.0) == ["bias_mask"])
    }

    /// The unfold-and-GEMM patch embedding against a direct convolution loop.
    @Test func patchEmbedEqualsStridedConvolution() {
        let pe = randomized(PatchEmbed(patchSize: 2, inChannels: 3, dimensions: 4), seed: 3)
        let x = Sample.normal([2, 3, 4, 6], seed: 4)
        let y = pe(x)                                      // (2, 6, 4)
        #expect(y.shape == [2, 6, 4])
        let w = pe.proj.weight.value, b = pe.proj.bias!.value
        for n in 0..<2 {
            for i in 0..<2 {
                for j in 0..<3 {
                    for d in 0..<4 {
                        var s = b[d]
                        for c in 0..<3 { for u in 0..<2 { for v in 0..<2 { s += w[d, c, u, v] * x[n, c, 2 * i + u, 2 * j + v] } } }
                        #expect(abs(y[n, i * 3 + j, d] - s) < 1e-5)
                    }
                }
            }
        }
    }

    @Test func swiGLUHiddenWidthFollowsBothReferenceFormulas() {
        for hidden in [64, 96, 100, 128, 1536, 2304, 4 * 1536, 6 * 1280, 3 * 4096] {
            let dinov2 = (Int(Double(hidden) * 2 / 3) + 7) / 8 * 8
            let d = Int(Double(hidden) * 2 / 3)
            let dinov3 = d + ((8 - d % 8) % 8)
            #expect(swiGLUHiddenDimensions(hidden) == dinov2)
            #expect(swiGLUHiddenDimensions(hidden) == dinov3)
        }
        #expect(swiGLUHiddenDimensions(4 * 1536) == 4096)        // ViT-g/14
        #expect(swiGLUHiddenDimensions(6 * 1280) == 5120)        // ViT-H+/16
        #expect(swiGLUHiddenDimensions(3 * 4096, alignTo: 64) == 8192)
    }

    @Test func packedAndSplitSwiGLUAgree() throws {
        let split = randomized(SwiGLU(4, hiddenDimensions: 8, layout: .split), seed: 7)
        let packed = SwiGLU(4, hiddenDimensions: 8, layout: .packed)
        let w12 = Tensor.concat([split.w1!.weight.value, split.w2!.weight.value], axis: 0)
        let b12 = Tensor.concat([split.w1!.bias!.value, split.w2!.bias!.value], axis: 0)
        try packed.load(stateDict: ["w12.weight": w12, "w12.bias": b12,
                                    "w3.weight": split.w3.weight.value, "w3.bias": split.w3.bias!.value])
        let x = Sample.normal([3, 4], seed: 8)
        #expect(mismatch(packed(x), split(x)) == nil)
        // SiLU(x W1ᵀ + b1) ⊙ (x W2ᵀ + b2), then W3.
        let gate = split.w1!(x), up = split.w2!(x)
        let manual = split.w3(gate * gate.sigmoid() * up)
        #expect(mismatch(split(x), manual, rtol: 1e-5, atol: 1e-6) == nil)
    }

    @Test func dropPathDropsWholeSamplesAndRescales() {
        let dp = DropPath(rate: 0.5, generator: RandomGenerator(seed: 9))
        let x = Tensor.ones([64, 3, 2])
        let y = dp(x)
        var kept = 0
        for b in 0..<64 {
            let v = (0..<6).map { y[b, $0 / 2, $0 % 2] }
            #expect(v.allSatisfy { $0 == v[0] } && (v[0] == 0 || v[0] == 2))
            if v[0] == 2 { kept += 1 }
        }
        #expect(kept > 16 && kept < 48)
        dp.eval()
        #expect(dp(x) === x)
        #expect(DropPath.rates(maxRate: 0.3, depth: 4, uniform: false).map { ($0 * 1e9).rounded() / 1e9 } == [0, 0.1, 0.2, 0.3])
        #expect(DropPath.rates(maxRate: 0.3, depth: 3, uniform: true) == [0.3, 0.3, 0.3])
    }

    @Test func layerNormAndLayerScale() {
        let ln = LayerNorm(4, eps: 1e-5)
        let x = Tensor([1, 2, 3, 6], shape: [1, 4])
        let y = ln(x).scalars
        let mean: Float = 3, variance: Float = (4 + 1 + 0 + 9) / 4
        for i in 0..<4 { #expect(abs(y[i] - (x[0, i] - mean) / (variance + 1e-5).squareRoot()) < 1e-5) }
        #expect(LayerScale(4, initialValue: 0.5)(x).scalars == [0.5, 1, 1.5, 3])
    }

    /// Multi-head attention against a plain loop over heads.
    @Test func attentionMatchesPerHeadLoop() {
        let attn = randomized(Attention(4, numHeads: 2), seed: 10)
        let x = Sample.normal([1, 3, 4], seed: 11)
        let qkv = attn.qkv(x)                                          // (1, 3, 12)
        var heads = [Float](repeating: 0, count: 12)                   // (3 tokens, 4)
        for h in 0..<2 {
            for i in 0..<3 {
                var scores = (0..<3).map { j -> Float in
                    (0..<2).reduce(0) { $0 + qkv[0, i, h * 2 + $1] * qkv[0, j, 4 + h * 2 + $1] } / Float(2).squareRoot()
                }
                let m = scores.max()!
                scores = scores.map { Foundation.exp($0 - m) }
                let z = scores.reduce(0, +)
                for d in 0..<2 {
                    heads[i * 4 + h * 2 + d] = (0..<3).reduce(0) { $0 + scores[$1] / z * qkv[0, $1, 8 + h * 2 + d] }
                }
            }
        }
        let expected = attn.proj(Tensor(heads, shape: [1, 3, 4]))
        #expect(mismatch(attn(x), expected, rtol: 1e-5, atol: 1e-6) == nil)
        let weights = attn.attentionWeights(x)
        #expect(weights.shape == [1, 2, 3, 3])
        #expect(mismatch(weights.sum(axes: [-1]), Tensor.ones([1, 2, 3])) == nil)
    }
}
