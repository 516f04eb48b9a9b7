// The typed configuration of a Vision Transformer of the DINO family.
//
// One struct covers DINO (v1), DINOv2 (with and without registers, MLP or SwiGLU) and
// DINOv3 (RoPE, storage tokens, masked key bias); the named presets in Presets.swift fill it
// in. JSON keys are snake_case; decoding (`ConfigLoader.decode`, the package's one config
// system in DinoNN/Config) lays a tree over the defaults, rejects unknown keys and validates.

import DinoNN

/// Which paper's conventions a model follows where the architecture alone does not say:
/// the checkpoint name of register tokens and the random initialisation of tokens.
public enum ModelFamily: String, Codable, Sendable, CaseIterable {
    /// DINO (Caron et al., 2021): class token and position embedding ~ trunc-normal(0.02).
    case dino
    /// DINOv2 (Oquab et al., 2024): class and `register_tokens` ~ N(0, 1e-6²).
    case dinov2
    /// DINOv3 (Siméoni et al., 2025): class and `storage_tokens` ~ N(0, 0.02²).
    case dinov3
}

/// The feed-forward layer of each block.
public enum FeedForwardKind: String, Codable, Sendable {
    /// `fc1` → GELU → `fc2`, hidden width `ffnRatio · D`.
    case mlp
    /// SiLU-gated, hidden width `swiGLUHiddenDimensions(ffnRatio · D, alignTo:)`.
    case swiglu
}

/// A learned absolute position embedding over the patch grid of `imageSize` (plus the class token).
public struct LearnedPositionConfig: Codable, Equatable, Sendable {
    /// Added to the target grid size when resizing the grid (DINO, DINOv2 without registers:
    /// 0.1; with registers: 0).
    public var interpolateOffset = 0.1
    /// Antialiased bicubic resizing (DINOv2 with registers: true).
    public var interpolateAntialias = false

    public init(interpolation: PositionInterpolation = .dinoOffset) {
        self.interpolation = interpolation
    }

    /// How the grid is resized for other image sizes (see `PositionInterpolation`).
    public var interpolation: PositionInterpolation {
        get { PositionInterpolation(offset: interpolateOffset, antialias: interpolateAntialias) }
        set {
            interpolateOffset = newValue.offset
            interpolateAntialias = newValue.antialias
        }
    }

    enum CodingKeys: String, CodingKey {
        case interpolateOffset = "interpolate_offset"
        case interpolateAntialias = "interpolate_antialias"
    }
}

/// DINOv3's 2-D rotary position embedding (see `RotaryEmbedding`).
public struct RopeConfig: Codable, Equatable, Sendable {
    /// Period base (DINOv3: 100).
    public var base: Double = 100
    /// Coordinate normalisation (DINOv3: separate).
    public var normalizeCoords: RotaryEmbedding.Normalization = .separate
    /// Training-time shift of coordinates, U(−s, s) per axis (DINOv3 release: none).
    public var shiftCoords: Double? = nil
    /// Training-time log-uniform jitter per axis (DINOv3 release: none).
    public var jitterCoords: Double? = nil
    /// Training-time log-uniform rescale of both axes (DINOv3 release: 2).
    public var rescaleCoords: Double? = 2

    public init(base: Double = 100, normalizeCoords: RotaryEmbedding.Normalization = .separate,
                shiftCoords: Double? = nil, jitterCoords: Double? = nil, rescaleCoords: Double? = 2) {
        self.base = base
        self.normalizeCoords = normalizeCoords
        self.shiftCoords = shiftCoords
        self.jitterCoords = jitterCoords
        self.rescaleCoords = rescaleCoords
    }

    enum CodingKeys: String, CodingKey {
        case base
        case normalizeCoords = "normalize_coords"
        case shiftCoords = "shift_coords"
        case jitterCoords = "jitter_coords"
        case rescaleCoords = "rescale_coords"
    }
}

/// Everything that defines a DINO-family Vision Transformer backbone.
public struct VisionTransformerConfig: Configuration, Equatable, Sendable {
    /// Conventions for token names and initialisation.
    public var family: ModelFamily = .dinov2
    /// Image side the learned position embedding is made for (DINO 224, DINOv2 518, DINOv3 224).
    public var imageSize: Int = 224
    /// Side of the square patches (14 for DINOv2, 16 for DINO/DINOv3, 8 for DINO ViT-S/8).
    public var patchSize: Int = 16
    /// Input channels.
    public var inChannels: Int = 3
    /// Token width D.
    public var embedDimensions: Int = 384
    /// Number of transformer blocks.
    public var depth: Int = 12
    /// Attention heads (D must be a multiple).
    public var numHeads: Int = 6
    /// Hidden width of the feed-forward layer over D (before the SwiGLU rounding).
    public var ffnRatio: Double = 4
    /// Feed-forward layer kind.
    public var ffnLayer: FeedForwardKind = .mlp
    /// On-disk layout of a SwiGLU layer: `packed` `w12` (DINOv2) or `split` `w1`/`w2` (DINOv3).
    public var swigluLayout: SwiGLU.Layout = .packed
    /// SwiGLU hidden width rounded up to a multiple of this (8; DINOv3 7B: 64).
    public var swigluAlignTo: Int = 8
    /// Learned bias on q, k, v.
    public var qkvBias: Bool = true
    /// Bias on the attention output projection.
    public var projBias: Bool = true
    /// Biases in the feed-forward layer.
    public var ffnBias: Bool = true
    /// LayerScale initial value; nil for no LayerScale (DINO v1).
    public var layerScaleInit: Double? = nil
    /// LayerNorm epsilon (DINO/DINOv2 1e-6, DINOv3 1e-5).
    public var normEps: Double = 1e-6
    /// Register ("storage") tokens after the class token; they get no position embedding.
    public var numRegisterTokens: Int = 0
    /// Whether the model has a mask token for masked image modelling (DINOv2, DINOv3).
    public var maskToken: Bool = true
    /// Learned absolute position embedding (DINO, DINOv2); exclusive with `rope`.
    public var learnedPosition: LearnedPositionConfig? = LearnedPositionConfig()
    /// Rotary position embedding (DINOv3); exclusive with `learnedPosition`.
    public var rope: RopeConfig? = nil
    /// Keep the key part of the qkv bias at zero through a saved mask (DINOv3).
    public var maskKeyBias: Bool = false
    /// A separate final norm (`cls_norm`) for class and register tokens.
    public var untieClsAndPatchNorms: Bool = false
    /// A separate final norm (`local_cls_norm`) for class tokens of local crops in training.
    public var untieGlobalAndLocalClsNorm: Bool = false
    /// Largest stochastic-depth rate.
    public var dropPathRate: Double = 0
    /// Same drop rate for every block instead of rising linearly from 0.
    public var dropPathUniform: Bool = false
    /// How stochastic depth picks the dropped samples: `per_sample` (a Bernoulli mask per
    /// sample, DINO; the default), `batch_subset` (an exact random subset of ⌊B(1 − p)⌋
    /// samples through each branch, rescaled by B / subset: dinov3/layers/block.py) or
    /// `dinov2` (the subset above rate 0.1, the mask at or below: dinov2/layers/block.py).
    public var dropPathMode: DropPath.Mode = .perSample

    public init() {}

    /// Hidden width of each block's feed-forward layer.
    public var ffnHiddenDimensions: Int {
        let hidden = Int(Double(embedDimensions) * ffnRatio)
        switch ffnLayer {
        case .mlp: return hidden
        case .swiglu: return swiGLUHiddenDimensions(hidden, alignTo: swigluAlignTo)
        }
    }

    /// Patches per side of the position-embedding grid.
    public var positionGridSize: Int { imageSize / patchSize }

    /// Problems that make the configuration unusable, each naming the key; empty when valid.
    public func validationErrors() -> [String] {
        var errors: [String] = []
        if embedDimensions <= 0 || depth <= 0 || numHeads <= 0 || patchSize <= 0 || imageSize <= 0 {
            errors.append("embed_dim, depth, num_heads, patch_size and img_size must be positive")
        } else if embedDimensions % numHeads != 0 {
            errors.append("embed_dim \(embedDimensions) is not a multiple of num_heads \(numHeads)")
        }
        if (learnedPosition == nil) == (rope == nil) {
            errors.append("exactly one of learned_position and rope must be set")
        }
        if rope != nil && embedDimensions % (4 * max(numHeads, 1)) != 0 {
            errors.append("rope needs embed_dim \(embedDimensions) to be a multiple of 4 × num_heads")
        }
        if numRegisterTokens < 0 { errors.append("num_register_tokens must be ≥ 0") }
        if !(0..<1).contains(dropPathRate) { errors.append("drop_path_rate \(dropPathRate) outside [0, 1)") }
        if maskKeyBias && !qkvBias { errors.append("mask_k_bias needs qkv_bias") }
        return errors
    }

    enum CodingKeys: String, CodingKey {
        case family
        case imageSize = "img_size"
        case patchSize = "patch_size"
        case inChannels = "in_chans"
        case embedDimensions = "embed_dim"
        case depth
        case numHeads = "num_heads"
        case ffnRatio = "ffn_ratio"
        case ffnLayer = "ffn_layer"
        case swigluLayout = "swiglu_layout"
        case swigluAlignTo = "swiglu_align_to"
        case qkvBias = "qkv_bias"
        case projBias = "proj_bias"
        case ffnBias = "ffn_bias"
        case layerScaleInit = "layerscale_init"
        case normEps = "norm_eps"
        case numRegisterTokens = "num_register_tokens"
        case maskToken = "mask_token"
        case learnedPosition = "learned_position"
        case rope
        case maskKeyBias = "mask_k_bias"
        case untieClsAndPatchNorms = "untie_cls_and_patch_norms"
        case untieGlobalAndLocalClsNorm = "untie_global_and_local_cls_norm"
        case dropPathRate = "drop_path_rate"
        case dropPathUniform = "drop_path_uniform"
        case dropPathMode = "drop_path_mode"
    }

    /// The defaults a tree is laid over: a tree that sets `rope` gets RoPE's defaults under it
    /// and, unless it sets `learned_position` too (an error), no learned position embedding
    /// (the two exclude each other).
    public static func defaults(under tree: JSONValue) throws -> JSONValue {
        guard case .object(var d) = try JSONValue(encoding: VisionTransformerConfig()) else { preconditionFailure() }
        if let rope = tree["rope"], rope != .null {
            if tree["learned_position"] == nil { d[CodingKeys.learnedPosition.rawValue] = nil }
            d[CodingKeys.rope.rawValue] = try JSONValue(encoding: RopeConfig())
        }
        return .object(d)
    }

    /// Throws `ConfigError.invalidValue` listing `validationErrors()` when there are any.
    public func validate() throws {
        let errors = validationErrors()
        guard errors.isEmpty else {
            throw ConfigError.invalidValue(path: "model", message: "invalid model config: " + errors.joined(separator: "; "))
        }
    }
}
