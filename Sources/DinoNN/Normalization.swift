// Layer normalisation and LayerScale: the per-channel affine layers of a transformer block.

import DinoTensor

/// Layer normalisation over the last dimension.
///
/// `y = (x − E[x]) / √(Var[x] + ε) · γ + β`, with the biased variance, as `torch.nn.LayerNorm`.
/// DINO and DINOv2 use ε = 1e-6; DINOv3 uses 1e-5 ("layernormbf16").
///
/// Reference: Ba et al., "Layer Normalization" (2016); mlx-swift `LayerNorm`.
public final class LayerNorm: Module, UnaryLayer {
    public let weight: Parameter
    public let bias: Parameter
    public let eps: Double

    /// - Parameters:
    ///   - dimensions: size of the normalised (last) dimension.
    ///   - eps: added to the variance for numerical stability.
    public init(_ dimensions: Int, eps: Double = 1e-6) {
        weight = Parameter(shape: [dimensions], kind: .normalization, fill: .constant(1))
        bias = Parameter(shape: [dimensions], kind: .normalization)
        self.eps = eps
    }

    /// x (…, D) → (…, D)
    public func callAsFunction(_ x: Tensor) -> Tensor {
        x.layerNorm(weight: weight.value, bias: bias.value, eps: eps)
    }
}

/// Per-channel learned scaling of a residual branch: `y = x · γ`.
///
/// γ starts at a small constant (DINOv2 1e-5 for training, 1.0 in the released backbones'
/// constructors; DINOv3 1e-5) and is saved as `gamma`.
///
/// Reference: Touvron et al., "Going deeper with Image Transformers" (CaiT, 2021);
/// dinov2/layers/layer_scale.py.
public final class LayerScale: Module, UnaryLayer {
    public let gamma: Parameter

    public init(_ dimensions: Int, initialValue: Double) {
        gamma = Parameter(shape: [dimensions], kind: .layerScale, fill: .constant(initialValue))
    }

    /// x (…, D) → (…, D)
    public func callAsFunction(_ x: Tensor) -> Tensor { x * gamma.value }
}
