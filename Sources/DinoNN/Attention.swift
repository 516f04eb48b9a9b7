// Multi-head self-attention with an optional 2-D rotary position embedding on patch tokens.

import DinoTensor

/// Multi-head self-attention: `softmax(q kᵀ / √Dh) v`, heads concatenated, then `proj`.
///
/// One `qkv` linear produces queries, keys and values, as the DINO family saves them
/// (`attn.qkv.weight` of shape (3D, D), rows ordered q, k, v). With `maskKeyBias`, the key
/// third of the qkv bias is held at zero by a saved mask (DINOv3 `LinearKMaskedBias`).
/// With a `RotaryEmbedding` table, queries and keys of the last `hw` tokens (the patches;
/// class and register tokens are left as they are) are rotated before the product.
///
/// Reference: Vaswani et al., "Attention Is All You Need" (2017); dinov2/layers/attention.py,
/// dinov3/layers/attention.py.
public final class Attention: Module {
    public let qkv: Linear
    public let proj: Linear
    public let numHeads: Int
    public let headDimensions: Int

    /// - Parameters:
    ///   - dimensions: model width D (a multiple of `numHeads`).
    ///   - qkvBias: learned bias on q, k, v (DINO v1/v2/v3: true).
    ///   - projBias: bias of the output projection.
    ///   - maskKeyBias: keep the key bias at zero through a saved mask (DINOv3).
    public init(_ dimensions: Int, numHeads: Int, qkvBias: Bool = true, projBias: Bool = true,
                maskKeyBias: Bool = false) {
        precondition(dimensions % numHeads == 0,
                     "Attention: width \(dimensions) is not a multiple of \(numHeads) heads")
        self.numHeads = numHeads
        headDimensions = dimensions / numHeads
        var mask: [Float]? = nil
        if maskKeyBias && qkvBias {
            mask = (0..<(3 * dimensions)).map { ($0 >= dimensions && $0 < 2 * dimensions) ? 0 : 1 }
        }
        qkv = Linear(dimensions, 3 * dimensions, bias: qkvBias, biasMask: mask)
        proj = Linear(dimensions, dimensions, bias: projBias)
    }

    /// Queries, keys and values (B, H, N, Dh), with the rotary table applied when given.
    public func queriesKeysValues(_ x: Tensor, rope: RotaryTable? = nil) -> (Tensor, Tensor, Tensor) {
        let (b, n) = (x.shape[0], x.shape[1])
        let qkv = self.qkv(x)                                                   // (B, N, 3D)
            .reshape([b, n, 3, numHeads, headDimensions])                       // (B, N, 3, H, Dh)
            .permute([2, 0, 3, 1, 4])                                           // (3, B, H, N, Dh)
        var q = qkv.slice(axis: 0, start: 0, end: 1).squeeze(0)                 // (B, H, N, Dh)
        var k = qkv.slice(axis: 0, start: 1, end: 2).squeeze(0)
        let v = qkv.slice(axis: 0, start: 2, end: 3).squeeze(0)
        if let rope {
            q = rope.apply(q)
            k = rope.apply(k)
        }
        return (q, k, v)
    }

    /// x (B, N, D) → (B, N, D)
    public func callAsFunction(_ x: Tensor, rope: RotaryTable? = nil) -> Tensor {
        let (b, n, d) = (x.shape[0], x.shape[1], x.shape[2])
        let (q, k, v) = queriesKeysValues(x, rope: rope)
        let out = Tensor.scaledDotProductAttention(query: q, key: k, value: v)  // (B, H, N, Dh)
        return proj(out.transposed(1, 2).reshape([b, n, d]))                    // (B, N, D)
    }

    /// The attention probabilities `softmax(q kᵀ / √Dh)` (B, H, N, N), for visualisation.
    public func attentionWeights(_ x: Tensor, rope: RotaryTable? = nil) -> Tensor {
        let (q, k, _) = queriesKeysValues(x, rope: rope)
        let scale = 1 / Double(headDimensions).squareRoot()
        return (q.matmul(k.transposed(-2, -1)) * scale).softmax(axis: -1)       // (B, H, N, N)
    }
}
