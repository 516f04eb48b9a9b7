// Checkpoint key layouts: the official hub state dicts, timm's and Hugging Face's.
//
// Our models use the official keys (facebookresearch/dino, dinov2, dinov3). A checkpoint in
// another layout is converted to those keys in two steps: renames, written as data (ordered
// regular-expression rules per layout), then a few structural fixes that renames cannot
// express (split q/k/v fused into qkv, a packed SwiGLU input, timm's class token that already
// holds its position embedding). Buffers a layout does not save (DINOv3's RoPE periods and
// key-bias mask) and tokens it drops (timm's mask token) are taken from the model itself.
//
// Reference: timm/models/vision_transformer.py `_convert_dinov2`, timm/models/eva.py
// `checkpoint_filter_fn`; transformers/models/dinov2/convert_dinov2_to_hf.py,
// dinov3_vit/convert_dinov3_vit_to_hf.py and conversion_mapping.py.

import DinoNN
import DinoTensor
import Foundation

/// The naming scheme of a checkpoint's keys.
public enum CheckpointLayout: String, CaseIterable, Sendable, Codable {
    /// The official hub state dicts (`blocks.0.attn.qkv.weight`); also what we save.
    case official
    /// timm (`vit_small_patch14_dinov2`, `vit_small_patch14_reg4_dinov2`, `vit_small_patch16_dinov3`, …).
    case timm
    /// Hugging Face transformers (`Dinov2Model`, `Dinov2WithRegistersModel`, `DINOv3ViTModel`),
    /// both the saved (hub) names and transformers 5's in-memory names.
    case transformers

    /// Guesses the layout from the keys alone.
    public static func detect(keys: some Collection<String>) -> CheckpointLayout {
        if keys.contains(where: { $0.hasPrefix("embeddings.") }) { return .transformers }
        let timmMarks = ["reg_token", ".gamma_1", ".q_bias", ".fc1_g.", ".fc1_x."]
        if keys.contains(where: { k in timmMarks.contains { k.contains($0) } }) { return .timm }
        // timm's DINOv2 is the official layout without the mask token, which every official
        // DINOv2 (LayerScale) checkpoint has.
        if keys.contains(where: { $0.hasSuffix(".ls1.gamma") }) && !keys.contains("mask_token") { return .timm }
        return .official
    }
}

extension CheckpointLayout {
    /// Guesses a ConvNeXt checkpoint's layout from its keys: timm's `stem.*` / `stages.i.blocks.*`,
    /// transformers' `stages.i.layers.*` / `stages.i.downsample_layers.*` / `layer_norm.*`
    /// (`DINOv3ConvNextModel`) or `embeddings.*` / `encoder.stages.*` (the ImageNet `ConvNextModel`),
    /// else the official `downsample_layers.*` / `stages.i.j.*`.
    public static func detectConvNeXt(keys: some Collection<String>) -> CheckpointLayout {
        func strip(_ k: String) -> Substring {
            for prefix in ["dinov3_convnext.", "convnext."] where k.hasPrefix(prefix) { return k.dropFirst(prefix.count) }
            return Substring(k)
        }
        if keys.contains(where: { $0.hasPrefix("stem.") || ($0.hasPrefix("stages.") && $0.contains(".blocks.")) }) { return .timm }
        if keys.contains(where: { k in
            let s = strip(k)
            return s.hasPrefix("layer_norm.") || (s.hasPrefix("stages.") && (s.contains(".layers.") || s.contains(".downsample_layers.")))
                || s.hasPrefix("embeddings.") || s.hasPrefix("encoder.stages.")
        }) { return .transformers }
        return .official
    }
}

/// Errors of checkpoint conversion.
public struct CheckpointLayoutError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// An ordered rename rule: the first rule whose pattern matches a key rewrites it.
public struct KeyRule: Sendable {
    public let pattern: String
    public let template: String

    public init(_ pattern: String, _ template: String) {
        self.pattern = pattern
        self.template = template
    }
}

/// Rename rules from each layout to the official keys. A key no rule matches is kept.
public enum KeyMaps {
    /// timm DINOv2 (`vision_transformer.py`) and DINOv3 (`eva.py`) models.
    public static func timm(family: ModelFamily, swiglu: Bool) -> [KeyRule] {
        var rules: [KeyRule] = []
        switch family {
        case .dino, .dinov2:
            rules.append(KeyRule(#"^reg_token$"#, "register_tokens"))
            if swiglu {
                rules.append(KeyRule(#"^(blocks\.\d+\.mlp)\.fc1\."#, "$1.w12."))
                rules.append(KeyRule(#"^(blocks\.\d+\.mlp)\.fc2\."#, "$1.w3."))
            }
        case .dinov3:
            rules.append(KeyRule(#"^reg_token$"#, "storage_tokens"))
            rules.append(KeyRule(#"^(blocks\.\d+)\.gamma_1$"#, "$1.ls1.gamma"))
            rules.append(KeyRule(#"^(blocks\.\d+)\.gamma_2$"#, "$1.ls2.gamma"))
            rules.append(KeyRule(#"^(blocks\.\d+\.attn)\.q_bias$"#, "$1.q.bias"))
            rules.append(KeyRule(#"^(blocks\.\d+\.attn)\.v_bias$"#, "$1.v.bias"))
            rules.append(KeyRule(#"^(blocks\.\d+\.mlp)\.fc1_g\."#, "$1.w1."))
            rules.append(KeyRule(#"^(blocks\.\d+\.mlp)\.fc1_x\."#, "$1.w2."))
            if swiglu { rules.append(KeyRule(#"^(blocks\.\d+\.mlp)\.fc2\."#, "$1.w3.")) }
        }
        return rules
    }

    /// Hugging Face `Dinov2Model`/`Dinov2WithRegistersModel` and `DINOv3ViTModel`.
    public static func transformers(family: ModelFamily) -> [KeyRule] {
        let block = family == .dinov3 ? #"^(?:model\.)?layer\.(\d+)\."# : #"^encoder\.layer\.(\d+)\."#
        return [
            KeyRule(#"^embeddings\.cls_token$"#, "cls_token"),
            KeyRule(#"^embeddings\.mask_token$"#, "mask_token"),
            KeyRule(#"^embeddings\.position_embeddings$"#, "pos_embed"),
            KeyRule(#"^embeddings\.register_tokens$"#, family == .dinov3 ? "storage_tokens" : "register_tokens"),
            KeyRule(#"^embeddings\.patch_embeddings\.projection\."#, "patch_embed.proj."),
            KeyRule(#"^embeddings\.patch_embeddings\."#, "patch_embed.proj."),
            KeyRule(#"^layernorm\."#, "norm."),
            KeyRule(block + #"attention\.attention\.query\."#, "blocks.$1.attn.q."),
            KeyRule(block + #"attention\.attention\.key\."#, "blocks.$1.attn.k."),
            KeyRule(block + #"attention\.attention\.value\."#, "blocks.$1.attn.v."),
            KeyRule(block + #"attention\.output\.dense\."#, "blocks.$1.attn.proj."),
            KeyRule(block + #"attention\.q_proj\."#, "blocks.$1.attn.q."),
            KeyRule(block + #"attention\.k_proj\."#, "blocks.$1.attn.k."),
            KeyRule(block + #"attention\.v_proj\."#, "blocks.$1.attn.v."),
            KeyRule(block + #"attention\.o_proj\."#, "blocks.$1.attn.proj."),
            KeyRule(block + #"layer_scale1\.lambda1$"#, "blocks.$1.ls1.gamma"),
            KeyRule(block + #"layer_scale2\.lambda1$"#, "blocks.$1.ls2.gamma"),
            KeyRule(block + #"norm1\."#, "blocks.$1.norm1."),
            KeyRule(block + #"norm2\."#, "blocks.$1.norm2."),
            KeyRule(block + #"mlp\.fc1\."#, "blocks.$1.mlp.fc1."),
            KeyRule(block + #"mlp\.fc2\."#, "blocks.$1.mlp.fc2."),
            // DINOv2 giant, saved names: one packed input, one output.
            KeyRule(block + #"mlp\.weights_in\."#, "blocks.$1.mlp.w12."),
            KeyRule(block + #"mlp\.weights_out\."#, "blocks.$1.mlp.w3."),
            // Gated MLPs, transformers 5 names: gate = w1 (SiLU side), up = w2, down = w3.
            KeyRule(block + #"mlp\.gate_proj\."#, "blocks.$1.mlp.w1."),
            // `up_proj`/`down_proj` name the plain MLP's layers too: resolved by `fuseGatedMLP`.
            KeyRule(block + #"mlp\.up_proj\."#, "blocks.$1.mlp.UP."),
            KeyRule(block + #"mlp\.down_proj\."#, "blocks.$1.mlp.DOWN."),
        ]
    }

    /// timm's ConvNeXt (`timm/models/convnext.py`, also its `convnext_*.dinov3_lvd1689m`) to the
    /// official DINOv3 ConvNeXt keys: the inverse of timm's `checkpoint_filter_fn` (`stem.*` is
    /// `downsample_layers.0.*`, `stages.i.downsample.*` `downsample_layers.i.*`, block j of stage i
    /// `stages.i.blocks.j` with `conv_dw` / `mlp.fc1` / `mlp.fc2` for `dwconv` / `pwconv1` /
    /// `pwconv2`, `head.norm` the final `norm`). timm's classifier `head.fc.*` is no backbone key.
    public static let timmConvNeXt: [KeyRule] = [
        KeyRule(#"^stem\.(\d)\."#, "downsample_layers.0.$1."),
        KeyRule(#"^stages\.(\d+)\.downsample\.(\d)\."#, "downsample_layers.$1.$2."),
        KeyRule(#"^stages\.(\d+)\.blocks\.(\d+)\.conv_dw\."#, "stages.$1.$2.dwconv."),
        KeyRule(#"^stages\.(\d+)\.blocks\.(\d+)\.mlp\.fc(\d)\."#, "stages.$1.$2.pwconv$3."),
        KeyRule(#"^stages\.(\d+)\.blocks\.(\d+)\."#, "stages.$1.$2."),
        KeyRule(#"^head\.norm\."#, "norm."),
    ]

    /// Hugging Face transformers' `DINOv3ConvNextModel` (models/dinov3_convnext: `stages.i` holds
    /// `downsample_layers` and `layers.j` with `depthwise_conv`, `layer_norm`, `pointwise_conv1/2`,
    /// `gamma`; the final norm is `layer_norm`) to the official keys: the inverse of
    /// convert_dinov3_convnext_to_hf.py's `ORIGINAL_TO_CONVERTED_KEY_MAPPING`. A task model's
    /// `dinov3_convnext.` prefix (its `base_model_prefix`) is removed.
    ///
    /// Also transformers' ImageNet ConvNeXt (`ConvNextModel`, models/convnext: facebook/convnext-
    /// tiny-224 …): `embeddings.patch_embeddings` / `embeddings.layernorm` are the stem's convolution
    /// and norm, `encoder.stages.i.downsampling_layer.{0,1}` the norm and convolution before stage
    /// i, `encoder.stages.i.layers.j.{dwconv, layernorm, pwconv1, pwconv2, layer_scale_parameter}` a
    /// block, `layernorm` the final norm; a task model's `convnext.` prefix is removed (its
    /// `classifier.*` is no backbone key).
    public static let transformersConvNeXt: [KeyRule] = {
        let p = #"^(?:dinov3_convnext\.)?"#
        let q = #"^(?:convnext\.)?"#, block = q + #"encoder\.stages\.(\d+)\.layers\.(\d+)\."#
        return [
            KeyRule(p + #"stages\.(\d+)\.downsample_layers\.(\d)\."#, "downsample_layers.$1.$2."),
            KeyRule(p + #"stages\.(\d+)\.layers\.(\d+)\.depthwise_conv\."#, "stages.$1.$2.dwconv."),
            KeyRule(p + #"stages\.(\d+)\.layers\.(\d+)\.layer_norm\."#, "stages.$1.$2.norm."),
            KeyRule(p + #"stages\.(\d+)\.layers\.(\d+)\.pointwise_conv(\d)\."#, "stages.$1.$2.pwconv$3."),
            KeyRule(p + #"stages\.(\d+)\.layers\.(\d+)\.gamma$"#, "stages.$1.$2.gamma"),
            KeyRule(p + #"layer_norm\."#, "norm."),
            KeyRule(q + #"embeddings\.patch_embeddings\."#, "downsample_layers.0.0."),
            KeyRule(q + #"embeddings\.layernorm\."#, "downsample_layers.0.1."),
            KeyRule(q + #"encoder\.stages\.(\d+)\.downsampling_layer\.(\d)\."#, "downsample_layers.$1.$2."),
            KeyRule(block + #"dwconv\."#, "stages.$1.$2.dwconv."),
            KeyRule(block + #"layernorm\."#, "stages.$1.$2.norm."),
            KeyRule(block + #"pwconv(\d)\."#, "stages.$1.$2.pwconv$3."),
            KeyRule(block + #"layer_scale_parameter$"#, "stages.$1.$2.gamma"),
            KeyRule(q + #"layernorm\."#, "norm."),
        ]
    }()

    /// Applies the first matching rule to each key.
    public static func rename(_ keys: [String], rules: [KeyRule]) -> [String: String] {
        let compiled = rules.map { (try! NSRegularExpression(pattern: $0.pattern), $0.template) }
        var out: [String: String] = [:]
        for key in keys {
            var renamed = key
            let range = NSRange(key.startIndex..., in: key)
            for (regex, template) in compiled where regex.firstMatch(in: key, range: range) != nil {
                renamed = regex.stringByReplacingMatches(in: key, range: range, withTemplate: template)
                break
            }
            out[key] = renamed
        }
        return out
    }
}

extension VisionTransformer {
    /// Converts a checkpoint's tensors to this model's official keys.
    ///
    /// - Parameters:
    ///   - tensors: the checkpoint, by key.
    ///   - layout: its layout; detected from the keys when nil.
    /// - Returns: a state dict ready for `load(stateDict:)`; keys the layout cannot account
    ///   for are passed through (and reported as unexpected by a strict load).
    public func officialStateDict(from tensors: [String: Tensor], layout: CheckpointLayout? = nil) throws -> [String: Tensor] {
        let layout = layout ?? CheckpointLayout.detect(keys: tensors.keys)
        if layout == .official { return tensors }
        let swiglu = config.ffnLayer == .swiglu
        let rules = layout == .timm ? KeyMaps.timm(family: config.family, swiglu: swiglu)
                                    : KeyMaps.transformers(family: config.family)
        let names = KeyMaps.rename(Array(tensors.keys), rules: rules)
        var sd: [String: Tensor] = [:]
        for (old, new) in names {
            if sd[new] != nil { throw CheckpointLayoutError("checkpoint keys collide after renaming to '\(new)'") }
            sd[new] = tensors[old]
        }
        let own = stateDict()
        try fuseQKV(&sd, own: own)
        try fuseGatedMLP(&sd)
        if layout == .transformers, let m = sd["mask_token"], m.rank == 3 {
            sd["mask_token"] = m.reshape([1, m.shape[2]])                    // (1, 1, D) → (1, D)
        }
        if layout == .timm, config.learnedPosition != nil, let pos = sd["pos_embed"],
           pos.shape[1] == config.positionGridSize * config.positionGridSize {
            // timm's `no_embed_class` (registers): the class token already includes its position
            // embedding, and pos_embed covers patches only. A zero class position keeps the sum.
            let d = pos.shape[2]
            sd["pos_embed"] = Tensor.concat([Tensor.zeros([1, 1, d], dtype: pos.dtype), pos], axis: 1)
        }
        // Buffers, tokens and training-only norms this layout does not save come from the
        // model as built; a qkv
        // bias it does not have (timm's DINOv3 without biases) is zero.
        for (key, p) in namedTensors() where sd[key] == nil {
            if p.kind == .buffer || key == "mask_token" || key.hasPrefix("local_cls_norm.") {
                sd[key] = own[key]
            } else if key.hasSuffix(".attn.qkv.bias") {
                sd[key] = Tensor.zeros(p.shape, dtype: p.dtype)
            }
        }
        return sd
    }

    /// `attn.q/k/v.{weight,bias}` → `attn.qkv.{weight,bias}`; a missing k (or q, v) bias is zero.
    private func fuseQKV(_ sd: inout [String: Tensor], own: [String: Tensor]) throws {
        for i in 0..<config.depth {
            let prefix = "blocks.\(i).attn"
            for part in ["weight", "bias"] {
                let pieces = ["q", "k", "v"].map { sd.removeValue(forKey: "\(prefix).\($0).\(part)") }
                if pieces.allSatisfy({ $0 == nil }) { continue }
                guard part == "bias" || pieces.allSatisfy({ $0 != nil }) else {
                    throw CheckpointLayoutError("\(prefix): q, k and v weights must all be present")
                }
                let d = config.embedDimensions
                let dtype = pieces.compactMap { $0 }.first!.dtype
                let filled = pieces.map { $0 ?? Tensor.zeros(part == "bias" ? [d] : [d, d], dtype: dtype) }
                sd["\(prefix).qkv.\(part)"] = Tensor.concat(filled, axis: 0)     // (3D, …)
            }
        }
    }

    /// Hugging Face's `up_proj`: the MLP's `fc1` for a plain MLP, or `w2` of a SwiGLU —
    /// and for the packed DINOv2 layout, `w12 = [gate; up]`; `down_proj`: `fc2` or `w3`.
    private func fuseGatedMLP(_ sd: inout [String: Tensor]) throws {
        for i in 0..<config.depth {
            let prefix = "blocks.\(i).mlp"
            for part in ["weight", "bias"] {
                if let down = sd.removeValue(forKey: "\(prefix).DOWN.\(part)") {
                    sd["\(prefix).\(config.ffnLayer == .mlp ? "fc2" : "w3").\(part)"] = down
                }
                guard let up = sd.removeValue(forKey: "\(prefix).UP.\(part)") else { continue }
                switch (config.ffnLayer, config.swigluLayout) {
                case (.mlp, _):
                    sd["\(prefix).fc1.\(part)"] = up
                case (.swiglu, .split):
                    sd["\(prefix).w2.\(part)"] = up
                case (.swiglu, .packed):
                    guard let gate = sd.removeValue(forKey: "\(prefix).w1.\(part)") else {
                        throw CheckpointLayoutError("\(prefix): up_proj without gate_proj")
                    }
                    sd["\(prefix).w12.\(part)"] = Tensor.concat([gate, up], axis: 0)
                }
            }
        }
    }
}
