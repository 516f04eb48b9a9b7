// Named model presets: the released DINO, DINOv2 and DINOv3 backbones, small CIFAR-sized
// models, and tiny test models. Presets are data; each is tested (parameter count against
// the reference implementations, and a forward pass for the small ones).
//
// Reference: dino/hubconf.py, dinov2/hub/backbones.py, dinov3/hub/backbones.py.

import DinoNN

/// Errors of the preset registry.
public enum PresetError: Error, CustomStringConvertible, Equatable {
    case unknown(String, known: [String])

    public var description: String {
        switch self {
        case .unknown(let name, let known):
            return "unknown model preset '\(name)'; known presets: \(known.joined(separator: ", "))"
        }
    }
}

/// The registry of named model configurations.
public enum ModelPresets {
    /// Every preset, by name.
    public static let all: [String: VisionTransformerConfig] = {
        var presets: [String: VisionTransformerConfig] = [:]
        // DINO (v1): facebookresearch/dino hubconf, LayerNorm eps 1e-6, qkv bias, no LayerScale.
        for (name, d, h, p) in [("dino_vits16", 384, 6, 16), ("dino_vits8", 384, 6, 8),
                                ("dino_vitb16", 768, 12, 16), ("dino_vitb8", 768, 12, 8)] {
            presets[name] = dino(dimensions: d, heads: h, patch: p)
        }
        // DINOv2: hub backbones at img_size 518, patch 14, LayerScale (init 1.0 in the hub
        // constructor), mask token; giant with packed SwiGLU. `_reg`: 4 registers and
        // antialiased interpolation without the 0.1 offset.
        for (name, d, depth, h) in [("vits14", 384, 12, 6), ("vitb14", 768, 12, 12),
                                    ("vitl14", 1024, 24, 16), ("vitg14", 1536, 40, 24)] {
            presets["dinov2_\(name)"] = dinov2(dimensions: d, depth: depth, heads: h, registers: 0,
                                               swiglu: name == "vitg14")
            presets["dinov2_\(name)_reg"] = dinov2(dimensions: d, depth: depth, heads: h, registers: 4,
                                                   swiglu: name == "vitg14")
        }
        // DINOv3: hub backbones, RoPE, 4 storage tokens, masked key bias, eps 1e-5.
        presets["dinov3_vits16"] = dinov3(dimensions: 384, depth: 12, heads: 6, ffnRatio: 4, swiglu: false)
        presets["dinov3_vits16plus"] = dinov3(dimensions: 384, depth: 12, heads: 6, ffnRatio: 6, swiglu: true)
        presets["dinov3_vitb16"] = dinov3(dimensions: 768, depth: 12, heads: 12, ffnRatio: 4, swiglu: false)
        presets["dinov3_vitl16"] = dinov3(dimensions: 1024, depth: 24, heads: 16, ffnRatio: 4, swiglu: false)
        // The satellite-imagery ViT-L keeps the norm of local crops' class tokens (unused in evaluation).
        var satellite = dinov3(dimensions: 1024, depth: 24, heads: 16, ffnRatio: 4, swiglu: false)
        satellite.untieGlobalAndLocalClsNorm = true
        presets["dinov3_vitl16_sat493m"] = satellite
        presets["dinov3_vitl16plus"] = dinov3(dimensions: 1024, depth: 24, heads: 16, ffnRatio: 6, swiglu: true)
        presets["dinov3_vith16plus"] = dinov3(dimensions: 1280, depth: 32, heads: 20, ffnRatio: 6, swiglu: true)
        // Small models for 32-pixel images (CIFAR-sized pretraining on a CPU), DINOv2 style.
        presets["vit_tiny_patch4"] = small(dimensions: 192, depth: 12, heads: 3)
        presets["vit_nano_patch4"] = small(dimensions: 128, depth: 6, heads: 4)
        // The same sizes as DINO's ViT (no LayerScale, no mask token, class token ~ trunc-normal
        // 0.02): what `dino train --method dino` trains by default.
        presets["dino_vit_tiny_patch4"] = small32(dino(dimensions: 192, heads: 3, patch: 4), depth: 12)
        presets["dino_vit_nano_patch4"] = small32(dino(dimensions: 128, heads: 4, patch: 4), depth: 6)
        // The same sizes in DINOv3's layout (RoPE, 4 storage tokens, LayerScale, masked key
        // bias): what `dino train --method dinov3` trains by default.
        var nano3 = small32(dinov3(dimensions: 128, depth: 6, heads: 4, ffnRatio: 4, swiglu: false), depth: 6)
        nano3.patchSize = 4
        presets["dinov3_vit_nano_patch4"] = nano3
        var tiny3 = small32(dinov3(dimensions: 192, depth: 12, heads: 3, ffnRatio: 4, swiglu: false), depth: 12)
        tiny3.patchSize = 4
        presets["dinov3_vit_tiny_patch4"] = tiny3
        // Tiny models for tests: every family and feed-forward kind, depth 2.
        presets["test_dino"] = tiny(dino(dimensions: 32, heads: 2, patch: 8))
        presets["test_dinov2"] = tiny(dinov2(dimensions: 32, depth: 2, heads: 2, registers: 0, swiglu: false))
        presets["test_dinov2_reg"] = tiny(dinov2(dimensions: 32, depth: 2, heads: 2, registers: 4, swiglu: false))
        presets["test_dinov2_swiglu"] = tiny(dinov2(dimensions: 32, depth: 2, heads: 2, registers: 0, swiglu: true))
        presets["test_dinov3"] = tiny(dinov3(dimensions: 32, depth: 2, heads: 2, ffnRatio: 4, swiglu: false))
        presets["test_dinov3_swiglu"] = tiny(dinov3(dimensions: 32, depth: 2, heads: 2, ffnRatio: 6, swiglu: true))
        return presets
    }()

    /// Preset names, sorted.
    public static var names: [String] { all.keys.sorted() }

    /// The configuration of a named preset.
    public static func config(named name: String) throws -> VisionTransformerConfig {
        guard let c = all[name] else { throw PresetError.unknown(name, known: names) }
        return c
    }

    // MARK: Families

    static func dino(dimensions: Int, heads: Int, patch: Int) -> VisionTransformerConfig {
        var c = VisionTransformerConfig()
        c.family = .dino
        c.imageSize = 224
        c.patchSize = patch
        c.embedDimensions = dimensions
        c.depth = 12
        c.numHeads = heads
        c.layerScaleInit = nil
        c.normEps = 1e-6
        c.maskToken = false
        c.learnedPosition = LearnedPositionConfig(interpolation: .dinoOffset)
        return c
    }

    static func dinov2(dimensions: Int, depth: Int, heads: Int, registers: Int, swiglu: Bool) -> VisionTransformerConfig {
        var c = VisionTransformerConfig()
        c.family = .dinov2
        c.imageSize = 518
        c.patchSize = 14
        c.embedDimensions = dimensions
        c.depth = depth
        c.numHeads = heads
        c.layerScaleInit = 1.0
        c.normEps = 1e-6
        c.maskToken = true
        c.numRegisterTokens = registers
        c.learnedPosition = LearnedPositionConfig(interpolation: registers > 0 ? .antialiasedSize : .dinoOffset)
        if swiglu {
            c.ffnLayer = .swiglu
            c.swigluLayout = .packed
        }
        return c
    }

    static func dinov3(dimensions: Int, depth: Int, heads: Int, ffnRatio: Double, swiglu: Bool) -> VisionTransformerConfig {
        var c = VisionTransformerConfig()
        c.family = .dinov3
        c.imageSize = 224
        c.patchSize = 16
        c.embedDimensions = dimensions
        c.depth = depth
        c.numHeads = heads
        c.ffnRatio = ffnRatio
        c.layerScaleInit = 1e-5
        c.normEps = 1e-5
        c.maskToken = true
        c.numRegisterTokens = 4
        c.learnedPosition = nil
        c.rope = RopeConfig(base: 100, normalizeCoords: .separate, rescaleCoords: 2)
        c.maskKeyBias = true
        if swiglu {
            c.ffnLayer = .swiglu
            c.swigluLayout = .split
        }
        return c
    }

    /// `c` for 32-pixel images with `depth` blocks.
    static func small32(_ c: VisionTransformerConfig, depth: Int) -> VisionTransformerConfig {
        var c = c
        c.imageSize = 32
        c.depth = depth
        return c
    }

    static func small(dimensions: Int, depth: Int, heads: Int) -> VisionTransformerConfig {
        var c = dinov2(dimensions: dimensions, depth: depth, heads: heads, registers: 0, swiglu: false)
        c.imageSize = 32
        c.patchSize = 4
        c.layerScaleInit = 1e-5
        return c
    }

    static func tiny(_ base: VisionTransformerConfig) -> VisionTransformerConfig {
        var c = base
        c.depth = 2
        c.imageSize = 32
        c.patchSize = base.family == .dinov2 ? 4 : 8
        return c
    }
}
