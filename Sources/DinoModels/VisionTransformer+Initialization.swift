// Random initialisation of a Vision Transformer, following each family's reference code.

import DinoNN
import DinoTensor

extension VisionTransformer {
    /// Draws the initial weights, in declaration order, from `generator`.
    ///
    /// - Linear weights ~ trunc-normal(0, 0.02²) on [−2, 2], biases 0 (timm
    ///   `init_weights_vit_timm`, all three families); LayerNorm γ = 1, β = 0; LayerScale γ =
    ///   `layerScaleInit`; mask token 0.
    /// - Patch projection weight and bias ~ U(−1/√(C·p²), 1/√(C·p²)) (PyTorch's default
    ///   `Conv2d` init, which DINO and DINOv2 keep; DINOv3's `PatchEmbed.reset_parameters`).
    /// - DINO: class token and position embedding ~ trunc-normal(0, 0.02²).
    /// - DINOv2: position embedding ~ trunc-normal(0, 0.02²); class and register tokens ~ N(0, 1e-6²).
    /// - DINOv3: class and storage tokens ~ N(0, 0.02²).
    ///
    /// Reference: dino/vision_transformer.py `_init_weights`, dinov2 `init_weights`,
    /// dinov3 `DinoVisionTransformer.init_weights`.
    public func initializeWeights(generator: RandomGenerator) {
        for (_, module) in namedModules() {
            switch module {
            case let linear as Linear:
                linear.weight.fillTruncatedNormal(std: 0.02, generator: generator)
                linear.bias?.fillConstant(0)
            case let norm as LayerNorm:
                norm.weight.fillConstant(1)
                norm.bias.fillConstant(0)
            case let scale as LayerScale:
                scale.gamma.fillConstant(config.layerScaleInit ?? 1)
            case let projection as PatchProjection:
                let fanIn = Double(config.inChannels * config.patchSize * config.patchSize)
                let bound = 1 / fanIn.squareRoot()
                projection.weight.fillUniform(low: -bound, high: bound, generator: generator)
                projection.bias?.fillUniform(low: -bound, high: bound, generator: generator)
            default:
                break
            }
        }
        switch config.family {
        case .dino:
            classToken.fillTruncatedNormal(std: 0.02, generator: generator)
        case .dinov2:
            classToken.fillNormal(std: 1e-6, generator: generator)
            registerTokens?.fillNormal(std: 1e-6, generator: generator)
        case .dinov3:
            classToken.fillNormal(std: 0.02, generator: generator)
            registerTokens?.fillNormal(std: 0.02, generator: generator)
        }
        positionEmbedding?.fillTruncatedNormal(std: 0.02, generator: generator)
        maskToken?.fillConstant(0)
    }
}
