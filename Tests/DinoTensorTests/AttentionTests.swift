import DinoTensor
import DinoTestSupport
import Foundation
import Testing

// Checks of the fused scaled dot-product attention: gradients in Double, the Float32 kernel
// against attention written as explicit loops and against the Float64 path, strided
// operands, extreme scores; and every kernel variant this CPU can run.

/// Attention as explicit loops in Double on contiguous (B, H, N, Dh) arrays: the
/// composition softmax(q kᵀ · scale) v, and its gradients for an output gradient `g`.
enum PlainAttention {
    static func forward(q: [Double], k: [Double], v: [Double], heads z: Int, nq: Int, nk: Int, d: Int,
                        scale: Double) -> [Double] {
        var out = [Double](repeating: 0, count: z * nq * d)
        for h in 0..<z {
            for i in 0..<nq {
                var s = (0..<nk).map { j in (0..<d).reduce(0.0) { $0 + q[(h * nq + i) * d + $1] * k[(h * nk + j) * d + $1] } * scale }
                s = Plain.softmax(s, n: nk)
                for p in 0..<d {
                    out[(h * nq + i) * d + p] = (0..<nk).reduce(0.0) { $0 + s[$1] * v[(h * nk + $1) * d + p] }
                }
            }
        }
        return out
    }
}

@Suite struct AttentionTests {
    @Test func gradientsWithStridedOperandsAndUnequalLengths() {
        let q = Sample.normal([2, 2, 4, 3], seed: 81), k = Sample.normal([2, 2, 5, 3], seed: 82)
        let v = Sample.normal([2, 2, 5, 3], seed: 83)
        #expect(gradientMismatch([q, k, v]) { Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2]) } == nil)
        #expect(gradientMismatch([q, k, v]) {
            Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], scale: 0.9)
        } == nil)
        // q, k, v sliced from one (B, N, 3, H, Dh) projection, as in a ViT block.
        let qkv = Sample.normal([2, 4, 3, 2, 3], seed: 84)
        #expect(gradientMismatch([qkv]) { t in
            let p = t[0].permute([2, 0, 3, 1, 4])    // (3, B, H, N, Dh)
            let parts = (0..<3).map { p.slice(axis: 0, start: $0, end: $0 + 1).squeeze(0) }
            return Tensor.scaledDotProductAttention(query: parts[0], key: parts[1], value: parts[2])
        } == nil)
    }

    @Test func float32KernelMatchesExplicitLoops() {
        // The ViT shape, an unpadded one (Dh = 16, N = 33) and padded ones (Dh = 5, 20).
        for (b, h, nq, nk, d) in [(2, 3, 65, 65, 64), (1, 2, 33, 33, 16), (2, 1, 7, 9, 5), (1, 1, 17, 3, 20)] {
            let q = Sample.normal([b, h, nq, d], seed: 91), k = Sample.normal([b, h, nk, d], seed: 92)
            let v = Sample.normal([b, h, nk, d], seed: 93)
            let scale = 1 / Double(d).squareRoot()
            let expected = PlainAttention.forward(q: q.doubles, k: k.doubles, v: v.doubles, heads: b * h,
                                                  nq: nq, nk: nk, d: d, scale: scale)
            let y = Tensor.scaledDotProductAttention(query: q, key: k, value: v)
            #expect(y.shape == [b, h, nq, d])
            #expect(mismatch(y.scalars, expected.map(Float.init), rtol: 1e-5, atol: 2e-6) == nil)
        }
    }

    @Test func float32MatchesFloat64ForwardAndBackward() {
        for (b, h, n, d) in [(2, 3, 65, 64), (3, 2, 10, 7)] {
            let q = Sample.normal([b, h, n, d], seed: 101), k = Sample.normal([b, h, n, d], seed: 102)
            let v = Sample.normal([b, h, n, d], seed: 103)
            #expect(float32MatchesFloat64([q, k, v], rtol: 1e-5, atol: 1e-5) {
                Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2])
            } == nil)
        }
    }

    @Test func stridedOperandsGiveTheSameResultAsContiguousOnes() {
        let qkv = Sample.normal([2, 65, 3, 3, 64], seed: 111).requiringGrad()   // (B, N, 3, H, Dh)
        let p = qkv.permute([2, 0, 3, 1, 4])                                        // (3, B, H, N, Dh)
        let parts = (0..<3).map { p.slice(axis: 0, start: $0, end: $0 + 1).squeeze(0) }
        #expect(!parts[0].isContiguous)
        let y = Tensor.scaledDotProductAttention(query: parts[0], key: parts[1], value: parts[2])
        let c = parts.map { $0.contiguous().detach().requiringGrad() }
        let yc = Tensor.scaledDotProductAttention(query: c[0], key: c[1], value: c[2])
        #expect(y.scalars == yc.scalars)
        let g = Sample.normal(y.shape, seed: 112)
        y.backward(g)
        yc.backward(g)
        let gradParts = (0..<3).map { qkv.grad!.permute([2, 0, 3, 1, 4]).slice(axis: 0, start: $0, end: $0 + 1).squeeze(0) }
        for i in 0..<3 { #expect(gradParts[i].scalars == c[i].grad!.scalars) }
    }

    @Test func extremeScoresSaturateWithoutNaN() {
        // Scores of 1e4 against 0: each query attends to exactly one key.
        var onehot = [Float](repeating: 0, count: 4 * 16)
        for i in 0..<4 { onehot[i * 16 + 3 * i] = 1 }
        let q = Tensor(onehot, shape: [1, 1, 4, 16]), k = q
        let v = Sample.normal([1, 1, 4, 16], seed: 122).requiringGrad()
        let y = Tensor.scaledDotProductAttention(query: q, key: k, value: v, scale: 1e4)
        #expect(mismatch(y, v) == nil)
        y.sum().backward()
        #expect(v.grad!.scalars.allSatisfy { $0 == 1 })
    }
}

@Suite(.serialized) struct KernelVariantTests {
    @Test func everyInstructionSetMatchesTheFloat64Path() {
        let saved = FusedKernels.instructionSet
        defer { FusedKernels.use(instructionSet: saved) }
        #expect(FusedKernels.supportedInstructionSets.contains(saved))
        let x = Sample.normal([5, 45], seed: 131) * 3
        let w = Sample.normal([45], seed: 132), b = Sample.normal([45], seed: 133)
        let q = Sample.normal([1, 2, 19, 24], seed: 134), k = Sample.normal([1, 2, 17, 24], seed: 135)
        let v = Sample.normal([1, 2, 17, 24], seed: 136)
        let q1 = Sample.normal([1, 1, 37, 24], seed: 137), k1 = Sample.normal([1, 1, 37, 24], seed: 138)
        let v1 = Sample.normal([1, 1, 37, 24], seed: 139)
        let gx = Tensor(doubles: (0..<801).map { -8 + 0.02 * Double($0) }, shape: [801])
        for isa in FusedKernels.supportedInstructionSets {
            #expect(FusedKernels.use(instructionSet: isa))
            #expect(FusedKernels.instructionSet == isa)
            #expect(float32MatchesFloat64([x]) { $0[0].softmax() } == nil, "\(isa)")
            #expect(float32MatchesFloat64([x]) { $0[0].logSoftmax() } == nil, "\(isa)")
            #expect(float32MatchesFloat64([x, w, b], rtol: 1e-5, atol: 1e-5) { $0[0].layerNorm(weight: $0[1], bias: $0[2]) } == nil, "\(isa)")
            for form in GELUApproximation.allCases {
                #expect(float32MatchesFloat64([gx], rtol: 2e-6, atol: 1e-7) { $0[0].gelu(approximate: form) } == nil, "\(isa) \(form)")
            }
            #expect(float32MatchesFloat64([q, k, v], rtol: 1e-5, atol: 1e-5) {
                Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2])
            } == nil, "\(isa)")
            // One head: the kernel runs on this thread, so in this variant (several heads may go
            // to the pool's threads, which keep the process-wide one). 37 keys pad to 48
            // columns: one 32-wide block and a 16-wide one with AVX-512, three 16-wide below it.
            #expect(float32MatchesFloat64([q1, k1, v1], rtol: 1e-5, atol: 1e-5) {
                Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2])
            } == nil, "\(isa), one head")
        }
        #expect(!FusedKernels.use(instructionSet: "sse9"))
    }
}
