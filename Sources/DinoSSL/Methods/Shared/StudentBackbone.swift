// What a student backbone gives the DINO and iBOT heads: a global token per crop and patch
// tokens on the teacher's patch grid. A Vision Transformer gives its CLS token and its patch
// tokens (the masked ones replaced by its mask token when masks are given); a DINOv3 ConvNeXt
// gives its normalised pooled feature and its normalised final map, resized to the teacher's
// grid, and takes no masks (it has no mask token; the reference never masks a student of a
// distillation: ssl_meta_arch.py `get_student_output` passes `masks=None` when distilling).
//
// This file is not a model: the architectures live in DinoModels (VisionTransformer.swift,
// ConvNeXt.swift); it only says what the SSL methods ask of them.
//
// Reference: facebookresearch/dinov3 dinov3/train/ssl_meta_arch.py `get_student_output`,
// dinov3/models/convnext.py `forward_features`, `_get_intermediate_layers`.

import DinoModels
import DinoNN
import DinoTensor

/// A backbone that a DINO-family method can train as its student.
public protocol StudentBackbone: Module {
    /// Width D of the global token and of each patch token.
    var embedDimensions: Int { get }
    /// The global token (R, D) and patch tokens (R, N, D) of crops (R, 3, H, W).
    ///
    /// - Parameters:
    ///   - masks: (R, N) iBOT masks (a ViT's masked patches take its mask token), or nil.
    ///   - local: the crops are local ones (DINOv3's untied local CLS norm).
    ///   - patchGrid: the grid the patch tokens must lie on (the teacher's), or nil for the
    ///     backbone's own.
    func studentFeatures(_ images: Tensor, masks: Tensor?, local: Bool,
                         patchGrid: (height: Int, width: Int)?) -> (classToken: Tensor, patchTokens: Tensor)
    /// Draws the reference's initial weights from `generator`.
    func initializeWeights(generator: RandomGenerator)
}

extension VisionTransformer: StudentBackbone {
    /// `x_norm_clstoken` and `x_norm_patchtokens` of `forwardFeatures`; a ViT's tokens lie on
    /// its own patch grid, which must be `patchGrid` when one is asked for.
    public func studentFeatures(_ images: Tensor, masks: Tensor?, local: Bool,
                                patchGrid: (height: Int, width: Int)?) -> (classToken: Tensor, patchTokens: Tensor) {
        let f = forwardFeatures(images, masks: masks, local: local)
        if let patchGrid {
            precondition(f.grid.height == patchGrid.height && f.grid.width == patchGrid.width,
                         "VisionTransformer student: its \(f.grid) patch grid is not the teacher's \(patchGrid)")
        }
        return (f.classToken, f.patchTokens)
    }
}

extension ConvNeXt: StudentBackbone {
    /// The normalised pooled feature and the normalised final map, resized (bilinear,
    /// antialiased) to `patchGrid` when given (`forwardFeatures(_:patchGrid:)`). A ConvNeXt has
    /// no mask token: `masks` must be nil.
    public func studentFeatures(_ images: Tensor, masks: Tensor?, local: Bool,
                                patchGrid: (height: Int, width: Int)?) -> (classToken: Tensor, patchTokens: Tensor) {
        precondition(masks == nil, "ConvNeXt student: a ConvNeXt has no mask token and takes no iBOT masks")
        if let patchGrid { return forwardFeatures(images, patchGrid: patchGrid) }
        let f = forwardFeatures(images)
        return (f.classToken, f.patchTokens)
    }
}
