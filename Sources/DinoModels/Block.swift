// One pre-norm transformer block of the DINO family.

import DinoNN
import DinoTensor

/// `x ← x + drop(ls1(attn(norm1(x))))`, then `x ← x + drop(ls2(mlp(norm2(x))))`.
///
/// Saved as `norm1`, `attn`, `ls1`, `norm2`, `mlp`, `ls2` (no `ls*` without LayerScale),
/// the names of dinov2/layers/block.py and dinov3/layers/block.py; DINO v1's `Block` is the
/// same without LayerScale.
///
/// Stochastic depth drops whole residual branches per sample (`DropPath`), or, with
/// `drop_path_mode` `batch_subset` (DINOv3) or `dinov2` (above rate 0.1), runs each branch on
/// an exact random subset of the batch and rescales it (`DropPath.subsetResidual`); in
/// expectation both are the same regulariser.
public final class TransformerBlock: Module {
    public let norm1: LayerNorm
    public let attn: Attention
    public let ls1: LayerScale?
    public let norm2: LayerNorm
    public let mlp: any Module & UnaryLayer
    public let ls2: LayerScale?
    public let dropPath: DropPath

    public init(config c: VisionTransformerConfig, dropPathRate: Double, generator: RandomGenerator) {
        let d = c.embedDimensions
        norm1 = LayerNorm(d, eps: c.normEps)
        attn = Attention(d, numHeads: c.numHeads, qkvBias: c.qkvBias, projBias: c.projBias,
                         maskKeyBias: c.maskKeyBias)
        ls1 = c.layerScaleInit.map { LayerScale(d, initialValue: $0) }
        norm2 = LayerNorm(d, eps: c.normEps)
        switch c.ffnLayer {
        case .mlp:
            mlp = MLP(d, hiddenDimensions: c.ffnHiddenDimensions, bias: c.ffnBias)
        case .swiglu:
            mlp = SwiGLU(d, hiddenDimensions: c.ffnHiddenDimensions, layout: c.swigluLayout, bias: c.ffnBias)
        }
        ls2 = c.layerScaleInit.map { LayerScale(d, initialValue: $0) }
        dropPath = DropPath(rate: dropPathRate, mode: c.dropPathMode, generator: generator)
    }

    /// x (B, N, D) → (B, N, D); `rope` rotates the last hw tokens' queries and keys.
    public func callAsFunction(_ x: Tensor, rope: RotaryTable? = nil) -> Tensor {
        if let subset = dropPath.subset(batch: x.shape[0]) {
            // dinov3/layers/block.py `_forward`: each branch on its own random subset (the
            // second drawn after the first branch), x + (B / s) · index_add(ls(branch(x_S))).
            let y = DropPath.subsetResidual(x, indices: subset.indices, scale: ls1?.gamma.value, alpha: subset.alpha) {
                attn(norm1($0), rope: rope)
            }
            let subset2 = dropPath.subset(batch: y.shape[0])!
            return DropPath.subsetResidual(y, indices: subset2.indices, scale: ls2?.gamma.value, alpha: subset2.alpha) { mlp(norm2($0)) }
        }
        // One fused pass each: y = x + branch ⊙ γ₁ ⊙ s_b (LayerScale, drop path, residual).
        let y = Tensor.residual(x, attn(norm1(x), rope: rope), scale: ls1?.gamma.value,
                                sampleScale: dropPath.sampleScale(like: x))
        return Tensor.residual(y, mlp(norm2(y)), scale: ls2?.gamma.value,
                               sampleScale: dropPath.sampleScale(like: y))
    }
}
