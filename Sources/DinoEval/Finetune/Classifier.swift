// The fine-tuned classifier: a ViT backbone, an optional `fc_norm` and a linear head, as
// MAE's `models_vit.VisionTransformer` builds it for fine-tuning — and its loss.
//
//     images (B, 3, S, S) → backbone blocks → global pool: mean of the patch tokens (before the
//     final norm) → fc_norm │ class token: the class token after the final norm
//                         → head (D → K) → logits (B, K)
//
// A DINOv3 ConvNeXt backbone has no class token and no fc_norm: its class token is its global
// average pool through its final norm (`x_norm_clstoken = LN(mean_ij x_ij)`), which is also the
// original ConvNeXt classifier's input (ConvNeXt models/convnext.py `forward_features`:
// `self.norm(x.mean([-2, -1]))`), so both poolings read it. Its layer indices for the decay are
// timm's (`ConvNeXt.assignLayerDecayIndices`).
//
// What it is not: the training loop (Finetuning.swift drives it on the Trainer) or the
// recipe's settings (FinetuneConfig.swift).
//
// Reference: facebookresearch/mae models_vit.py (`forward_features`: `x[:, 1:, :].mean(dim=1)`
// then `fc_norm`, else `norm(x)[:, 0]`), main_finetune.py (`trunc_normal_(head.weight, std=2e-5)`).

import DinoModels
import DinoNN
import DinoTensor
import Foundation

/// What the head reads.
public enum ClassifierPooling: String, Codable, Sendable, CaseIterable {
    /// The mean of the patch tokens (register tokens excluded) before the final norm, then a
    /// new LayerNorm `fc_norm` (MAE's default, `--global_pool`).
    case globalPool = "global_pool"
    /// The class token after the final norm (MAE's `--cls_token`).
    case classToken = "cls_token"
}

/// A ViT or a DINOv3 ConvNeXt with a linear classification head.
public final class ImageClassifier {
    public let backbone: any EmbeddingBackbone
    /// `fc_norm`, present with global pooling.
    public let fcNorm: LayerNorm?
    public let head: Linear
    public let pooling: ClassifierPooling
    public var classes: Int { head.outputDimensions }

    /// Checkpoint prefixes of the head's modules; the backbone's keys are its own (`blocks.0.…`),
    /// so the exported file has MAE's fine-tuned keys.
    public static let fcNormPrefix = "fc_norm.", headPrefix = "head."

    /// - Parameters:
    ///   - backbone: a ViT or a ConvNeXt, loaded or initialised; its drop-path rate is the
    ///     fine-tuning's. A ConvNeXt gets its layer indices here (`assignLayerDecayIndices`).
    ///   - pooling: for a ConvNeXt both read its normed global pool (no `fc_norm`).
    ///   - generator: draws the head's initial weights, N(0, (2·10⁻⁵)²) truncated at ±2 (MAE).
    public init(backbone: any EmbeddingBackbone, classes: Int, pooling: ClassifierPooling, generator: RandomGenerator) {
        precondition(classes >= 1, "ImageClassifier: \(classes) classes")
        precondition(backbone is VisionTransformer || backbone is ConvNeXt, "ImageClassifier: a \(type(of: backbone)) backbone")
        self.backbone = backbone
        self.pooling = pooling
        let d = backbone.embedDimensions
        if let vit = backbone as? VisionTransformer {
            fcNorm = pooling == .globalPool ? LayerNorm(d, eps: vit.config.normEps) : nil
        } else {
            (backbone as? ConvNeXt)?.assignLayerDecayIndices()
            fcNorm = nil
        }
        head = Linear(d, classes)
        head.weight.fillTruncatedNormal(std: 2e-5, generator: generator)
    }

    /// Logits (B, K) of a batch of images (B, 3, S, S).
    public func callAsFunction(_ images: Tensor) -> Tensor {
        head(features(images))
    }

    /// The head's input (B, D).
    public func features(_ images: Tensor) -> Tensor {
        guard let vit = backbone as? VisionTransformer else {
            return backbone.embeddingFeatures(images).classToken                  // (B, D): a ConvNeXt's LN(mean_ij x_ij)
        }
        let f = vit.forwardFeatures(images)
        switch pooling {
        case .classToken:
            return f.classToken                                                   // (B, D)
        case .globalPool:
            let prefix = 1 + vit.numRegisterTokens
            let patches = f.prenorm.slice(axis: 1, start: prefix)                 // (B, hw, D)
            return fcNorm!(patches.mean(axes: [1]))                                // (B, D)
        }
    }

    public func train(_ on: Bool = true) {
        backbone.train(on)
        fcNorm?.train(on)
        head.train(on)
    }

    /// Every trained parameter, named as in the exported file.
    public func namedParameters() -> [(String, Parameter)] {
        backbone.namedParameters()
            + (fcNorm?.namedParameters().map { (Self.fcNormPrefix + $0.0, $0.1) } ?? [])
            + head.namedParameters().map { (Self.headPrefix + $0.0, $0.1) }
    }

    /// The state dict of the exported file: the backbone's official keys, `fc_norm.*`, `head.*`.
    public func stateDict() -> [String: Tensor] {
        var out = backbone.stateDict()
        for (k, p) in fcNorm?.namedTensors() ?? [] { out[Self.fcNormPrefix + k] = p.value }
        for (k, p) in head.namedTensors() { out[Self.headPrefix + k] = p.value }
        return out
    }

    /// The optimiser's groups, MAE's `param_groups_lrd`: learning-rate scale
    /// `layerDecay^(L + 1 − layer)` (embeddings and tokens at layer 0, block i at i + 1, the
    /// final norm, `fc_norm` and the head at L + 1: scale 1; a ConvNeXt's stem at 0, its blocks
    /// one layer each and its downsampling layers with the next block, as timm); no weight decay for 1-D tensors
    /// (biases, norms, LayerScale) and the tokens and position embedding (`no_weight_decay()`:
    /// `pos_embed`, `cls_token`; register and mask tokens are tokens too).
    public func parameterGroups(layerDecay: Double) -> [ParameterGroup] {
        let noDecay: Set<ParameterKind> = [.bias, .normalization, .layerScale, .token, .positionEmbedding]
        var groups = backbone.parameterGroups(layerDecay: layerDecay, noWeightDecay: noDecay)
        if let fcNorm { groups += fcNorm.parameterGroups(prefix: Self.fcNormPrefix, noWeightDecay: noDecay) }
        groups += head.parameterGroups(prefix: Self.headPrefix, noWeightDecay: noDecay)
        return groups.merged()
    }
}

/// Mean soft-target cross-entropy over the batch: `(1/B) Σ_b Σ_k −y_bk log softmax(z_b)_k`.
///
/// With the targets of `mixupTargets` this is timm's `SoftTargetCrossEntropy` (mixup/CutMix
/// on) and, at λ = 1, its `LabelSmoothingCrossEntropy(s)` (`(1 − s)·nll + s·mean(−log p)`).
///
/// Reference: timm/loss/cross_entropy.py.
public func softTargetCrossEntropy(logits: Tensor, targets: Tensor) -> Tensor {
    precondition(logits.rank == 2, "softTargetCrossEntropy: logits \(logits.shape) must be (B, K)")
    return Tensor.crossEntropy(logits: logits, targets: targets.to(logits.dtype), axis: 1).mean()  // ()
}
