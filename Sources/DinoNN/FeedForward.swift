// The feed-forward halves of transformer blocks: the GELU MLP and the SwiGLU variants.

import DinoTensor

/// Two-layer perceptron with a GELU between: `y = fc2(GELU(fc1(x)))`.
///
/// Saved as `fc1`, `fc2`, as timm's and DINO's `Mlp`. GELU is the exact (erf) form.
///
/// Reference: Dosovitskiy et al., "An Image is Worth 16x16 Words" (ViT, 2021);
/// dinov2/layers/mlp.py.
public final class MLP: Module, UnaryLayer {
    public let fc1: Linear
    public let fc2: Linear

    public init(_ dimensions: Int, hiddenDimensions: Int, bias: Bool = true) {
        fc1 = Linear(dimensions, hiddenDimensions, bias: bias)
        fc2 = Linear(hiddenDimensions, dimensions, bias: bias)
    }

    /// x (…, D) → (…, D)
    public func callAsFunction(_ x: Tensor) -> Tensor {
        fc2(fc1(x).gelu())   // (…, hidden) → (…, D)
    }
}

/// The hidden width of a SwiGLU feed-forward given the MLP width it replaces:
/// `d = ⌊hidden · 2/3⌋` rounded up to a multiple of `alignTo`.
///
/// DINOv2's `SwiGLUFFNFused` writes it `(int(h * 2 / 3) + 7) // 8 * 8`; DINOv3's `SwiGLUFFN`
/// writes `d + (-d % align_to)` with `align_to` 8 (or 32, 64, 128). Both are this rule.
public func swiGLUHiddenDimensions(_ hidden: Int, alignTo: Int = 8) -> Int {
    let d = Int(Double(hidden) * 2.0 / 3.0)
    return (d + alignTo - 1) / alignTo * alignTo
}

/// Gated feed-forward: `y = W₃ (SiLU(W₁ x) ⊙ W₂ x)`.
///
/// Two on-disk layouts, chosen when built:
/// - `.packed` (DINOv2 `SwiGLUFFNFused`, ViT-g/14): one `w12` of shape (2·hidden, D) whose
///   first half is W₁ and second half W₂, then `w3`.
/// - `.split` (DINOv3 `SwiGLUFFN`, ViT-S+/16, ViT-H+/16): `w1`, `w2`, `w3`.
///
/// Reference: Shazeer, "GLU Variants Improve Transformer" (2020); dinov2/layers/swiglu_ffn.py,
/// dinov3/layers/ffn_layers.py.
public final class SwiGLU: Module, UnaryLayer {
    public enum Layout: String, Sendable, Codable {
        case packed
        case split
    }

    public let layout: Layout
    public let hiddenDimensions: Int
    public let w12: Linear?
    public let w1: Linear?
    public let w2: Linear?
    public let w3: Linear

    /// - Parameters:
    ///   - dimensions: input and output width D.
    ///   - hiddenDimensions: the gated width (already rounded: see `swiGLUHiddenDimensions`).
    public init(_ dimensions: Int, hiddenDimensions: Int, layout: Layout, bias: Bool = true) {
        self.layout = layout
        self.hiddenDimensions = hiddenDimensions
        switch layout {
        case .packed:
            w12 = Linear(dimensions, 2 * hiddenDimensions, bias: bias)
            w1 = nil
            w2 = nil
        case .split:
            w12 = nil
            w1 = Linear(dimensions, hiddenDimensions, bias: bias)
            w2 = Linear(dimensions, hiddenDimensions, bias: bias)
        }
        w3 = Linear(hiddenDimensions, dimensions, bias: bias)
    }

    /// x (…, D) → (…, D)
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let gate: Tensor, up: Tensor
        if let w12 {
            let both = w12(x)                                                   // (…, 2·hidden)
            gate = both.slice(axis: -1, start: 0, end: hiddenDimensions)        // (…, hidden)
            up = both.slice(axis: -1, start: hiddenDimensions)                  // (…, hidden)
        } else {
            gate = w1!(x)
            up = w2!(x)
        }
        return w3(gate.silu() * up)
    }
}
