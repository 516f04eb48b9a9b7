// The Vision Transformer backbone of DINO, DINOv2 and DINOv3, with their checkpoint keys.
//
// Token sequence: [class, registers…, patches…]. DINO and DINOv2 add a learned position
// embedding (resized bicubically to the image's patch grid) to the class and patch tokens;
// registers get none. DINOv3 adds no position embedding and rotates queries and keys of
// patch tokens in every block instead (RoPE). Masked patches (for iBOT-style masked image
// modelling) are replaced by the mask token before the position embedding.
//
// Reference: dino/vision_transformer.py, dinov2/models/vision_transformer.py,
// dinov3/models/vision_transformer.py.

import DinoNN
import DinoTensor

/// Normalised outputs of the backbone for one batch of images.
public struct VisionTransformerFeatures {
    /// Normalised class token (B, D).
    public let classToken: Tensor
    /// Normalised register tokens (B, R, D) (R may be 0).
    public let registerTokens: Tensor
    /// Normalised patch tokens (B, h·w, D), row-major over the patch grid.
    public let patchTokens: Tensor
    /// All tokens before the final norm (B, 1 + R + h·w, D).
    public let prenorm: Tensor
    /// Patch grid (rows, columns).
    public let grid: (height: Int, width: Int)
}

/// The tokens of one block's output, optionally normalised by the final norm.
public struct BlockOutput {
    public let classToken: Tensor      // (B, D)
    public let registerTokens: Tensor  // (B, R, D)
    public let patchTokens: Tensor     // (B, h·w, D)
}

/// A DINO-family Vision Transformer, built from a `VisionTransformerConfig`.
public final class VisionTransformer: Module {
    public let config: VisionTransformerConfig

    @Key("cls_token") public var classToken: Parameter
    @Key("pos_embed") public var positionEmbedding: Parameter?
    /// `register_tokens` (DINOv2) or `storage_tokens` (DINOv3).
    @Key("register_tokens") public var registerTokens: Parameter?
    @Key("mask_token") public var maskToken: Parameter?
    @Key("patch_embed") public var patchEmbed: PatchEmbed
    @Key("rope_embed") public var rotaryEmbedding: RotaryEmbedding?
    public let blocks: [TransformerBlock]
    public let norm: LayerNorm
    @Key("cls_norm") public var classNorm: LayerNorm?
    @Key("local_cls_norm") public var localClassNorm: LayerNorm?

    /// - Parameters:
    ///   - config: the architecture; must be valid (`validationErrors()` empty).
    ///   - generator: source of drop-path masks and RoPE coordinate augmentation.
    public init(_ config: VisionTransformerConfig, generator: RandomGenerator = RandomGenerator(seed: 0)) {
        let errors = config.validationErrors()
        precondition(errors.isEmpty, "VisionTransformer: invalid config: " + errors.joined(separator: "; "))
        self.config = config
        let d = config.embedDimensions
        let rates = DropPath.rates(maxRate: config.dropPathRate, depth: config.depth, uniform: config.dropPathUniform)
        blocks = (0..<config.depth).map {
            TransformerBlock(config: config, dropPathRate: rates[$0], generator: generator)
        }
        norm = LayerNorm(d, eps: config.normEps)
        super.init()
        patchEmbed = PatchEmbed(patchSize: config.patchSize, inChannels: config.inChannels, dimensions: d)
        classToken = Parameter(shape: [1, 1, d], kind: .token)
        if config.learnedPosition != nil {
            let m = config.positionGridSize
            positionEmbedding = Parameter(shape: [1, 1 + m * m, d], kind: .positionEmbedding)
        }
        if config.numRegisterTokens > 0 {
            _registerTokens = Key(wrappedValue: Parameter(shape: [1, config.numRegisterTokens, d], kind: .token),
                                  config.family == .dinov3 ? "storage_tokens" : "register_tokens")
        }
        if config.maskToken { maskToken = Parameter(shape: [1, d], kind: .token) }
        if let rope = config.rope {
            rotaryEmbedding = RotaryEmbedding(
                headDimensions: d / config.numHeads, base: rope.base, normalization: rope.normalizeCoords,
                shift: rope.shiftCoords, jitter: rope.jitterCoords, rescale: rope.rescaleCoords,
                generator: generator)
        }
        if config.untieClsAndPatchNorms { classNorm = LayerNorm(d, eps: config.normEps) }
        if config.untieGlobalAndLocalClsNorm { localClassNorm = LayerNorm(d, eps: config.normEps) }
        assignLayerIndices()
    }

    /// Layer indices for layer-wise learning-rate decay: embeddings and tokens 0, block i
    /// i + 1, final norms depth + 1 (dinov2/utils/param_groups.py `get_vit_lr_decay_rate`).
    private func assignLayerIndices() {
        setLayerIndex(config.depth + 1)
        for p in [classToken, positionEmbedding, registerTokens, maskToken].compactMap({ $0 }) {
            p.layerIndex = 0
        }
        patchEmbed.setLayerIndex(0)
        rotaryEmbedding?.setLayerIndex(0)
        for (i, b) in blocks.enumerated() { b.setLayerIndex(i + 1) }
    }

    public var embedDimensions: Int { config.embedDimensions }
    public var numRegisterTokens: Int { config.numRegisterTokens }
    public var patchSize: Int { config.patchSize }

    // MARK: Tokens

    /// The position embedding for an h × w patch grid (1, 1 + h·w, D): the stored one when
    /// the grid and image are the stored size, else the patch part resized bicubically.
    ///
    /// As the reference, interpolation is skipped only when the number of patches matches
    /// and the image is square.
    public func interpolatedPositionEmbedding(height h: Int, width w: Int) -> Tensor? {
        guard let pos = positionEmbedding?.value, let learned = config.learnedPosition else { return nil }
        let d = embedDimensions
        let m = config.positionGridSize
        if h * w == m * m && h == w { return pos }
        let classPart = pos.slice(axis: 1, start: 0, end: 1)                              // (1, 1, D)
        let grid = pos.slice(axis: 1, start: 1).reshape([m, m, d])                        // (M, M, D)
        let resized = resizePositionGrid(grid, height: h, width: w,
                                         interpolation: learned.interpolation)            // (h, w, D)
        precondition(resized.shape[0] == h && resized.shape[1] == w,
                     "positionEmbedding: resized grid \(resized.shape) for a \(h)×\(w) patch grid")
        return Tensor.concat([classPart, resized.reshape([1, h * w, d])], axis: 1)        // (1, 1+hw, D)
    }

    /// The token sequence entering the first block (B, 1 + R + h·w, D) and the patch grid.
    ///
    /// - Parameter masks: optional (B, h·w) 0/1 tensor; 1 replaces the patch embedding by
    ///   the mask token (before the position embedding, as DINOv2/DINOv3).
    public func prepareTokens(_ images: Tensor, masks: Tensor? = nil) -> (Tensor, (height: Int, width: Int)) {
        let (h, w) = patchEmbed.grid(height: images.shape[2], width: images.shape[3])
        let b = images.shape[0], d = embedDimensions
        var patches = patchEmbed(images)                                                  // (B, hw, D)
        if let masks {
            guard let maskToken else { preconditionFailure("prepareTokens: masks given to a model without a mask token") }
            precondition(masks.shape == [b, h * w],
                         "prepareTokens: masks \(masks.shape) for \(b) images of \(h)×\(w) patches")
            patches = Tensor.where(masks.unsqueeze(-1), maskToken.value.unsqueeze(0), patches)
        }
        var cls = classToken.value.expand([b, 1, d])                                      // (B, 1, D)
        if let pos = interpolatedPositionEmbedding(height: h, width: w) {
            cls = cls + pos.slice(axis: 1, start: 0, end: 1)
            patches = patches + pos.slice(axis: 1, start: 1)
        }
        var parts = [cls]
        if let registerTokens {
            parts.append(registerTokens.value.expand([b, config.numRegisterTokens, d]))  // (B, R, D)
        }
        parts.append(patches)
        return (Tensor.concat(parts, axis: 1), (h, w))                                    // (B, 1+R+hw, D)
    }

    /// The RoPE table for a grid (a new draw per call in training), or nil without RoPE.
    private func rope(_ grid: (height: Int, width: Int)) -> RotaryTable? {
        rotaryEmbedding?(height: grid.height, width: grid.width)
    }

    /// Runs the blocks, calling `visit(i, x)` after block i.
    private func runBlocks(_ x: Tensor, grid: (height: Int, width: Int), visit: (Int, Tensor) -> Void = { _, _ in }) -> Tensor {
        var x = x
        // Without training-time augmentation the table is the same for every block.
        let shared = training ? nil : rope(grid)
        for (i, block) in blocks.enumerated() {
            x = block(x, rope: shared ?? rope(grid))
            visit(i, x)
        }
        return x
    }

    /// Final normalisation of a token sequence, with the untied class norms when present.
    /// - Parameter local: use `local_cls_norm` for class and register tokens (training, local crops).
    public func normalize(_ x: Tensor, local: Bool = false) -> Tensor {
        let prefix = 1 + numRegisterTokens
        let clsNorm = (local && training ? localClassNorm : nil) ?? classNorm
        guard let clsNorm else { return norm(x) }
        return Tensor.concat([clsNorm(x.slice(axis: 1, start: 0, end: prefix)),
                              norm(x.slice(axis: 1, start: prefix))], axis: 1)
    }

    private func split(_ x: Tensor) -> BlockOutput {
        let r = numRegisterTokens
        return BlockOutput(classToken: x.slice(axis: 1, start: 0, end: 1).squeeze(1),
                           registerTokens: x.slice(axis: 1, start: 1, end: 1 + r),
                           patchTokens: x.slice(axis: 1, start: 1 + r))
    }

    // MARK: Forward

    /// Normalised class, register and patch tokens of a batch of images.
    ///
    /// - Parameters:
    ///   - images: (B, C, H, W), H and W multiples of the patch size.
    ///   - masks: optional (B, h·w) 0/1 mask of patches to replace by the mask token.
    ///   - local: the batch holds local crops (selects `local_cls_norm` when training).
    public func forwardFeatures(_ images: Tensor, masks: Tensor? = nil, local: Bool = false) -> VisionTransformerFeatures {
        let (tokens, grid) = prepareTokens(images, masks: masks)
        let x = runBlocks(tokens, grid: grid)                                             // (B, 1+R+hw, D)
        let parts = split(normalize(x, local: local))
        return VisionTransformerFeatures(classToken: parts.classToken, registerTokens: parts.registerTokens,
                                         patchTokens: parts.patchTokens, prenorm: x, grid: grid)
    }

    /// The normalised class token (B, D): the backbone's image embedding.
    public func callAsFunction(_ images: Tensor) -> Tensor {
        forwardFeatures(images).classToken
    }

    /// Outputs of the chosen blocks (0-based indices), normalised by the final norm when `norm`.
    public func intermediateLayers(_ images: Tensor, blocks indices: [Int], norm applyNorm: Bool = true) -> [BlockOutput] {
        for i in indices {
            precondition(i >= 0 && i < config.depth, "intermediateLayers: block \(i) outside 0..<\(config.depth)")
        }
        guard let last = indices.max() else { return [] }
        let (tokens, grid) = prepareTokens(images)
        var taken: [Int: Tensor] = [:]
        var x = tokens
        let shared = training ? nil : rope(grid)
        for i in 0...last {
            x = blocks[i](x, rope: shared ?? rope(grid))
            if indices.contains(i) { taken[i] = x }
        }
        return indices.map { i in split(applyNorm ? normalize(taken[i]!) : taken[i]!) }
    }

    /// Attention probabilities of the last block (B, H, N, N), N = 1 + R + h·w.
    public func lastSelfAttention(_ images: Tensor) -> Tensor {
        let (tokens, grid) = prepareTokens(images)
        var x = tokens
        let shared = training ? nil : rope(grid)
        for block in blocks.dropLast() { x = block(x, rope: shared ?? rope(grid)) }
        let last = blocks[blocks.count - 1]
        return last.attn.attentionWeights(last.norm1(x), rope: shared ?? rope(grid))
    }
}
