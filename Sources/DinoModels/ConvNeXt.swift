// ConvNeXt backbones as DINOv3 distils them (ConvNeXt-T/S/B/L), with the official state-dict
// keys, so that the released DINOv3 ConvNeXt checkpoints load unchanged.
//
// The reference keeps feature maps as (N, C, H, W) and permutes to channels-last around each
// block's norm and MLP; we keep every map channels-last (B, H, W, C) throughout, which is the
// same arithmetic: the channels-first LayerNorm of the stem and the downsampling layers is a
// LayerNorm over the last dimension here, the 7 × 7 depthwise filter runs on channels-last
// maps (`Tensor.depthwiseConv2d`), and the k = stride convolutions of the stem (4) and the
// downsampling layers (2) are one matrix product over unfolded patches, as `PatchEmbed`.
//
// Reference: Liu et al., "A ConvNet for the 2020s" (2022); dinov3/models/convnext.py,
// dinov3/hub/backbones.py (`dinov3_convnext_*`).

import DinoNN
import DinoTensor
import Foundation

/// The architecture of a ConvNeXt (the reference constructor's arguments).
public struct ConvNeXtConfig: Codable, Equatable, Sendable {
    /// Input image channels (reference: 3).
    public var inChannels = 3
    /// Blocks per stage (ConvNeXt-T: [3, 3, 9, 3]; S/B/L: [3, 3, 27, 3]).
    public var depths = [3, 3, 9, 3]
    /// Channels per stage (T/S: [96, 192, 384, 768]; B: [128, 256, 512, 1024]; L: [192, 384, 768, 1536]).
    public var dims = [96, 192, 384, 768]
    /// Stochastic depth at the last block, rising linearly from 0 over all blocks (hub: 0).
    public var dropPathRate = 0.0
    /// Initial LayerScale γ; nil (the reference's value ≤ 0) for blocks without γ (hub: 1e-6).
    public var layerScaleInit: Double? = 1e-6
    /// Side of the square crop the evaluation transform gives the model (not part of the
    /// reference module; DINOv3 evaluates at 224).
    public var imageSize = 224

    public init() {}

    enum CodingKeys: String, CodingKey {
        case inChannels = "in_chans"
        case depths, dims
        case dropPathRate = "drop_path_rate"
        case layerScaleInit = "layer_scale_init_value"
        case imageSize = "image_size"
    }

    /// Problems that make the config unusable, each naming its key.
    public func validationErrors() -> [String] {
        var errors: [String] = []
        if depths.count != 4 { errors.append("depths: \(depths) must list 4 stages") }
        if dims.count != 4 { errors.append("dims: \(dims) must list 4 stages") }
        if depths.contains(where: { $0 < 0 }) || dims.contains(where: { $0 < 1 }) {
            errors.append("depths/dims: \(depths)/\(dims) must be non-negative/positive")
        }
        if !(0..<1).contains(dropPathRate) { errors.append("drop_path_rate: \(dropPathRate) outside [0, 1)") }
        if inChannels < 1 { errors.append("in_chans: \(inChannels) must be positive") }
        return errors
    }

    /// The total downsampling factor (stem 4, then 2 per downsampling layer): 32.
    public var stride: Int { 32 }
}

/// One ConvNeXt block: `x + drop_path(γ ⊙ pwconv2(GELU(pwconv1(LN(dwconv(x))))))`.
///
/// The depthwise 7 × 7 convolution (padding 3), LayerNorm (eps 1e-6) over channels,
/// a 4× expansion MLP with exact GELU, and per-channel LayerScale γ, on (B, H, W, C) maps.
///
/// Reference: dinov3/models/convnext.py `Block` (implementation (2), channels-last).
public final class ConvNeXtBlock: Module {
    public let gamma: Parameter?
    public let dwconv: DepthwiseConv2d
    public let norm: LayerNorm
    public let pwconv1: Linear
    public let pwconv2: Linear
    @Key("drop_path") public var dropPath: DropPath

    public init(dimensions d: Int, dropPathRate: Double, layerScaleInit: Double?, generator: RandomGenerator) {
        gamma = layerScaleInit.flatMap { $0 > 0 ? Parameter(shape: [d], kind: .layerScale, fill: .constant($0)) : nil }
        dwconv = DepthwiseConv2d(channels: d, kernelSize: 7, padding: 3)
        norm = LayerNorm(d, eps: 1e-6)
        pwconv1 = Linear(d, 4 * d)
        pwconv2 = Linear(4 * d, d)
        super.init()
        dropPath = DropPath(rate: dropPathRate, mode: .perSample, generator: generator)
    }

    /// x (B, H, W, C) → (B, H, W, C)
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let branch = pwconv2(pwconv1(norm(dwconv(x))).gelu())           // (B, H, W, C)
        return Tensor.residual(x, branch, scale: gamma?.value, sampleScale: dropPath.sampleScale(like: x))
    }
}

/// The stem: a 4 × 4, stride-4 convolution then a LayerNorm over channels (eps 1e-6),
/// saved as `downsample_layers.0.0` (conv) and `downsample_layers.0.1` (norm).
public final class ConvNeXtStem: Module {
    @Key("0") public var conv: PatchProjection
    @Key("1") public var norm: LayerNorm

    public init(inChannels: Int, dimensions: Int) {
        super.init()
        conv = PatchProjection(inChannels: inChannels, outChannels: dimensions, patchSize: 4)
        norm = LayerNorm(dimensions, eps: 1e-6)
    }

    /// images (B, C, H, W) → (B, ⌊H/4⌋, ⌊W/4⌋, D)
    public func callAsFunction(_ images: Tensor) -> Tensor {
        norm(ConvNeXt.patchify(images, conv, channelsLast: false))
    }
}

/// A downsampling layer: LayerNorm over channels (eps 1e-6), then a 2 × 2, stride-2
/// convolution, saved as `downsample_layers.i.0` (norm) and `downsample_layers.i.1` (conv).
public final class ConvNeXtDownsample: Module {
    @Key("0") public var norm: LayerNorm
    @Key("1") public var conv: PatchProjection

    public init(inDimensions: Int, outDimensions: Int) {
        super.init()
        norm = LayerNorm(inDimensions, eps: 1e-6)
        conv = PatchProjection(inChannels: inDimensions, outChannels: outDimensions, patchSize: 2)
    }

    /// x (B, H, W, C) → (B, ⌊H/2⌋, ⌊W/2⌋, D)
    public func callAsFunction(_ x: Tensor) -> Tensor {
        ConvNeXt.patchify(norm(x), conv, channelsLast: true)
    }
}

/// A DINOv3 ConvNeXt backbone: stem, four stages of blocks with three downsampling layers
/// between them, global average pooling and a final LayerNorm.
///
/// `forwardFeatures` follows the reference `forward_features`: the pooled map (the mean over
/// positions of the last stage's output) is put before the flattened map as a class token
/// and both go through the final norm: `x_norm_clstoken = LN(mean_{ij} x_ij)`,
/// `x_norm_patchtokens = LN(x_ij)` row-major over the final grid (stride 32), no storage
/// tokens, `x_prenorm` = the flattened map before the norm.
///
/// Reference: dinov3/models/convnext.py `ConvNeXt`.
public final class ConvNeXt: Module {
    public let config: ConvNeXtConfig
    @Key("downsample_layers") public var downsampleLayers: [Module]
    @Key("stages.0") public var stage0: [Module]
    @Key("stages.1") public var stage1: [Module]
    @Key("stages.2") public var stage2: [Module]
    @Key("stages.3") public var stage3: [Module]
    public let norm: LayerNorm

    /// - Parameters:
    ///   - config: the architecture; must be valid (`validationErrors()` empty).
    ///   - generator: source of drop-path masks.
    public init(_ config: ConvNeXtConfig, generator: RandomGenerator = RandomGenerator(seed: 0)) {
        let errors = config.validationErrors()
        precondition(errors.isEmpty, "ConvNeXt: invalid config: " + errors.joined(separator: "; "))
        self.config = config
        let dims = config.depths.count == 4 ? config.dims : [1, 1, 1, 1]
        norm = LayerNorm(dims[3], eps: 1e-6)
        super.init()
        downsampleLayers = [ConvNeXtStem(inChannels: config.inChannels, dimensions: dims[0])]
            + (0..<3).map { ConvNeXtDownsample(inDimensions: dims[$0], outDimensions: dims[$0 + 1]) }
        // Drop rates rise linearly over all blocks (np.linspace(0, rate, sum(depths))).
        let total = config.depths.reduce(0, +)
        let rates = (0..<total).map { total > 1 ? config.dropPathRate * Double($0) / Double(total - 1) : 0 }
        var stages: [[Module]] = []
        var cur = 0
        for i in 0..<4 {
            stages.append((0..<config.depths[i]).map {
                ConvNeXtBlock(dimensions: dims[i], dropPathRate: rates[cur + $0], layerScaleInit: config.layerScaleInit,
                              generator: generator)
            })
            cur += config.depths[i]
        }
        stage0 = stages[0]; stage1 = stages[1]; stage2 = stages[2]; stage3 = stages[3]
    }

    /// Width of the pooled feature and of each final-map token (`dims[3]`).
    public var embedDimensions: Int { config.dims[3] }
    /// The total stride of the final feature map (32): what a ViT's patch size is to its tokens.
    public var patchSize: Int { config.stride }
    /// The blocks of each stage.
    public var stages: [[ConvNeXtBlock]] {
        [stage0, stage1, stage2, stage3].map { $0.map { $0 as! ConvNeXtBlock } }
    }

    /// A k = stride convolution of `conv` (weight (D, C, k, k)) over a map, as one GEMM over
    /// unfolded patches; a remainder of rows or columns that does not fill a patch is dropped,
    /// as `Conv2d(kernel_size=k, stride=k)` drops it.
    ///
    /// x (B, C, H, W) when `channelsLast` is false, else (B, H, W, C) → (B, ⌊H/k⌋, ⌊W/k⌋, D)
    static func patchify(_ x: Tensor, _ conv: PatchProjection, channelsLast: Bool) -> Tensor {
        let (d, c, k) = (conv.weight.shape[0], conv.weight.shape[1], conv.weight.shape[2])
        let b = x.shape[0]
        let (hh, ww) = channelsLast ? (x.shape[1], x.shape[2]) : (x.shape[2], x.shape[3])
        let (h, w) = (hh / k, ww / k)
        precondition(h > 0 && w > 0, "ConvNeXt: a \(hh)×\(ww) map is smaller than the \(k)×\(k) stride")
        let hAxis = channelsLast ? 1 : 2
        var x = x
        if hh != h * k { x = x.slice(axis: hAxis, start: 0, end: h * k) }
        if ww != w * k { x = x.slice(axis: hAxis + 1, start: 0, end: w * k) }
        let patches = channelsLast
            ? x.reshape([b, h, k, w, k, c]).permute([0, 1, 3, 5, 2, 4])      // (B, h, w, C, k, k)
            : x.reshape([b, c, h, k, w, k]).permute([0, 2, 4, 1, 3, 5])      // (B, h, w, C, k, k)
        let rows = patches.reshape([b, h, w, c * k * k])                      // (B, h, w, C·k·k)
        let weight = conv.weight.value.reshape([d, c * k * k])                // (D, C·k·k)
        return rows.linear(weight: weight, bias: conv.bias?.value)            // (B, h, w, D)
    }

    /// The last stage's map, channels-last: images (B, C, H, W) → (B, H/32, W/32, dims[3]).
    public func forwardMap(_ images: Tensor) -> Tensor {
        precondition(images.rank == 4 && images.shape[1] == config.inChannels,
                     "ConvNeXt: expected images (B, \(config.inChannels), H, W), got \(images.shape)")
        var x = images
        for (i, stage) in [stage0, stage1, stage2, stage3].enumerated() {
            x = i == 0 ? (downsampleLayers[0] as! ConvNeXtStem)(x) : (downsampleLayers[i] as! ConvNeXtDownsample)(x)
            for block in stage { x = (block as! ConvNeXtBlock)(x) }
        }
        return x
    }

    /// The reference `forward_features`: normalised pooled feature as the class token,
    /// normalised final-map positions as patch tokens (no register tokens).
    public func forwardFeatures(_ images: Tensor) -> VisionTransformerFeatures {
        let map = forwardMap(images)                                          // (B, h, w, C)
        let (b, h, w, c) = (map.shape[0], map.shape[1], map.shape[2], map.shape[3])
        let pooled = map.mean(axes: [1, 2])                                   // (B, C)
        let patches = map.reshape([b, h * w, c])                              // (B, h·w, C)
        let normed = norm(Tensor.concat([pooled.unsqueeze(1), patches], axis: 1))   // (B, 1 + h·w, C)
        return VisionTransformerFeatures(
            classToken: normed.slice(axis: 1, start: 0, end: 1).reshape([b, c]),
            registerTokens: Tensor.zeros([b, 0, c], dtype: normed.dtype),
            patchTokens: normed.slice(axis: 1, start: 1),
            prenorm: patches, grid: (h, w))
    }

    /// The class token and patch tokens on a ViT's patch grid, as the reference's
    /// `get_intermediate_layers(x, n=1, return_class_token=True, norm=True)` with its pseudo
    /// `patch_size`: the pooled feature of the final map (not resized) and the final map resized
    /// to `grid` (bilinear, antialiased; plain bilinear when enlarging), both through the final
    /// norm: `cls = LN(mean_{ij} x_ij)`, `patches = LN(resize(x, grid))` row-major. With the
    /// map's own grid this is `forwardFeatures`.
    ///
    /// images (B, C, H, W) → class token (B, D), patch tokens (B, gh·gw, D)
    ///
    /// Reference: dinov3/models/convnext.py `_get_intermediate_layers` (the
    /// `nn.functional.interpolate(x, size=(h // patch_size, w // patch_size), mode="bilinear",
    /// antialias=True)`), `get_intermediate_layers`.
    public func forwardFeatures(_ images: Tensor, patchGrid grid: (height: Int, width: Int)) -> (classToken: Tensor, patchTokens: Tensor) {
        precondition(grid.height > 0 && grid.width > 0, "ConvNeXt: patch grid \(grid) must be positive")
        let map = forwardMap(images)                                          // (B, h, w, C)
        let (b, h, w, c) = (map.shape[0], map.shape[1], map.shape[2], map.shape[3])
        let pooled = map.mean(axes: [1, 2])                                   // (B, C)
        var grown = map
        if (h, w) != (grid.height, grid.width) {
            grown = resizeBilinearAntialiased(map.permute([0, 3, 1, 2]), height: grid.height, width: grid.width)   // (B, C, gh, gw)
                .permute([0, 2, 3, 1])                                        // (B, gh, gw, C)
        }
        let patches = grown.contiguous().reshape([b, grid.height * grid.width, c])           // (B, gh·gw, C)
        return (norm(pooled), norm(patches))
    }

    /// The outputs of the chosen stages (0-based, in the order given), as the reference's
    /// `get_intermediate_layers(x, n=stages, return_class_token=True, norm=norm)` without a pseudo
    /// patch size: stage i's pooled map as the class token (B, dims[i]) and its map flattened
    /// row-major as patch tokens (B, h_i·w_i, dims[i]) at stride 4·2^i. The reference's `norms`
    /// are three identities and the final norm, so with `norm` only the last stage is normalised:
    /// `cls = LN(mean_{ij} x_ij)`, `patches = LN(x_ij)`; stages 0–2 are returned as they are.
    ///
    /// Reference: dinov3/models/convnext.py `_get_intermediate_layers`, `get_intermediate_layers`
    /// (`self.norms = [Identity] * 3 + [self.norm]`).
    public func intermediateLayers(_ images: Tensor, blocks indices: [Int], norm applyNorm: Bool = true) -> [BlockOutput] {
        for i in indices { precondition(i >= 0 && i < 4, "ConvNeXt.intermediateLayers: stage \(i) outside 0..<4") }
        guard let last = indices.max() else { return [] }
        precondition(images.rank == 4 && images.shape[1] == config.inChannels,
                     "ConvNeXt: expected images (B, \(config.inChannels), H, W), got \(images.shape)")
        var taken: [Int: BlockOutput] = [:]
        var x = images
        for (i, stage) in [stage0, stage1, stage2, stage3].enumerated() where i <= last {
            x = i == 0 ? (downsampleLayers[0] as! ConvNeXtStem)(x) : (downsampleLayers[i] as! ConvNeXtDownsample)(x)
            for block in stage { x = (block as! ConvNeXtBlock)(x) }                    // (B, h_i, w_i, C_i)
            guard indices.contains(i) else { continue }
            let (b, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
            var pooled = x.mean(axes: [1, 2])                                        // (B, C_i)
            var patches = x.contiguous().reshape([b, h * w, c])                      // (B, h_i·w_i, C_i)
            if applyNorm && i == 3 { pooled = norm(pooled); patches = norm(patches) }
            taken[i] = BlockOutput(classToken: pooled, registerTokens: Tensor.zeros([b, 0, c], dtype: x.dtype), patchTokens: patches)
        }
        return indices.map { taken[$0]! }
    }

    /// The normalised pooled feature (B, D): the backbone's image embedding.
    public func callAsFunction(_ images: Tensor) -> Tensor {
        forwardFeatures(images).classToken
    }

    /// The layer index of every parameter for layer-wise learning-rate decay in fine-tuning, as
    /// timm assigns them to its ConvNeXt (`group_matcher(coarse=False)` through
    /// `param_groups_layer_decay`): the stem (`downsample_layers.0`) 0; block j of stage i
    /// `1 + Σ_{k<i} depths[k] + j`; the downsampling layer before stage i (i ≥ 1) with that stage's
    /// first block; the final norm `Σ depths + 1`, with the head (scale 1). Each block is thus one
    /// layer, as a ViT's (MAE/BEiT `param_groups_lrd`), for any depths; the official ConvNeXt's
    /// `get_num_layer_for_convnext` instead folds [3, 3, 27, 3] into 12 groups and refuses other
    /// depths. Set by the fine-tuning classifier only: distillation leaves a ConvNeXt student
    /// without layer indices (no decay), as dinov3's `get_vit_lr_decay_rate` finds no `.blocks.`
    /// in its names.
    ///
    /// - Returns: the layer index of each named parameter.
    @discardableResult
    public func assignLayerDecayIndices() -> [String: Int] {
        let total = config.depths.reduce(0, +)
        setLayerIndex(total + 1)
        (downsampleLayers[0] as Module).setLayerIndex(0)
        var first = 1
        for (i, stage) in stages.enumerated() {
            if i > 0 { (downsampleLayers[i] as Module).setLayerIndex(first) }
            for (j, block) in stage.enumerated() { block.setLayerIndex(first + j) }
            first += stage.count
        }
        return Dictionary(uniqueKeysWithValues: namedParameters().map { ($0.0, $0.1.layerIndex!) })
    }

    /// Draws the initial weights, in declaration order, from `generator`: convolution and
    /// linear weights ~ trunc-normal(0, 0.02²) on [−2, 2], biases 0, LayerNorm γ = 1, β = 0,
    /// LayerScale γ = `layerScaleInit`.
    ///
    /// Reference: dinov3/models/convnext.py `ConvNeXt.init_weights` / `_init_weights`.
    public func initializeWeights(generator: RandomGenerator) {
        for (_, module) in namedModules() {
            switch module {
            case let linear as Linear:
                linear.weight.fillTruncatedNormal(std: 0.02, generator: generator)
                linear.bias?.fillConstant(0)
            case let conv as PatchProjection:
                conv.weight.fillTruncatedNormal(std: 0.02, generator: generator)
                conv.bias?.fillConstant(0)
            case let conv as DepthwiseConv2d:
                conv.weight.fillTruncatedNormal(std: 0.02, generator: generator)
                conv.bias?.fillConstant(0)
            case let norm as LayerNorm:
                norm.weight.fillConstant(1)
                norm.bias.fillConstant(0)
            case let block as ConvNeXtBlock:
                block.gamma?.fillConstant(config.layerScaleInit ?? 0)
            default:
                break
            }
        }
    }
}

/// The DINOv3 ConvNeXt presets.
public enum ConvNeXtPresets {
    /// Every preset, by name: the hub's `dinov3_convnext_{tiny,small,base,large}` sizes
    /// (`convnext_sizes`), layer scale 1e-6, no drop path; and `test_convnext`, a tiny model
    /// for tests.
    public static let all: [String: ConvNeXtConfig] = {
        func make(_ depths: [Int], _ dims: [Int]) -> ConvNeXtConfig {
            var c = ConvNeXtConfig()
            c.depths = depths
            c.dims = dims
            return c
        }
        var presets = [
            "convnext_tiny": make([3, 3, 9, 3], [96, 192, 384, 768]),
            "convnext_small": make([3, 3, 27, 3], [96, 192, 384, 768]),
            "convnext_base": make([3, 3, 27, 3], [128, 256, 512, 1024]),
            "convnext_large": make([3, 3, 27, 3], [192, 384, 768, 1536]),
        ]
        var test = make([1, 1, 2, 1], [8, 16, 24, 32])
        test.imageSize = 64
        presets["test_convnext"] = test
        return presets
    }()

    /// Preset names, sorted.
    public static var names: [String] { all.keys.sorted() }

    /// The configuration of a named preset.
    public static func config(named name: String) throws -> ConvNeXtConfig {
        guard let c = all[name] else { throw PresetError.unknown(name, known: names) }
        return c
    }
}

extension ConvNeXt {
    /// Loads weights from a safetensors file in the official layout (the hub state dict,
    /// `downsample_layers.0.0.weight`, `stages.0.0.dwconv.weight`, …), timm's (`stem.0.weight`,
    /// `stages.0.blocks.0.conv_dw.weight`, …, `head.norm.*`; its classifier `head.fc.*` left out)
    /// or transformers' `DINOv3ConvNextModel` (`stages.0.layers.0.depthwise_conv.weight`, …,
    /// `layer_norm.*`) or ImageNet `ConvNextModel` (`embeddings.patch_embeddings.weight`,
    /// `encoder.stages.0.layers.0.dwconv.weight`, …, `layernorm.*`; its final norm's eps is 1e-12
    /// where ours is 1e-6, which moves features of unit variance by about 5e-7 relative), after removing
    /// the training wrappers' `module.` / `backbone.` prefixes.
    ///
    /// - Parameter layout: the key layout; nil detects it (`CheckpointLayout.detectConvNeXt`).
    /// - Throws: `SafeTensorsError` for a bad file, `StateDictError` listing missing,
    ///   unexpected and mis-shaped keys.
    ///
    /// The reference state dict lists the final norm twice, as `norm.*` and `norms.3.*` (one
    /// module, `self.norms[3] = self.norm`); `norms.3.*` is read as `norm.*` when `norm.*` is
    /// absent and otherwise must hold the same values.
    public func loadWeights(from url: URL, layout: CheckpointLayout? = nil, strict: Bool = true) throws {
        let file = try SafeTensors.read(from: url)
        let (tensors, _) = CheckpointKeys.stripWrapperPrefixes(file.tensors)
        let official = try Self.officialKeys(tensors, layout: layout ?? CheckpointLayout.detectConvNeXt(keys: tensors.keys))
        try load(stateDict: try Self.foldingNormAlias(official, file: url.lastPathComponent), strict: strict,
                 takingOwnership: true)
    }

    /// `tensors` renamed from `layout` to the official keys (`KeyMaps.timmConvNeXt`,
    /// `KeyMaps.transformersConvNeXt`), timm's classifier `head.fc.*` and transformers'
    /// `classifier.*` dropped.
    static func officialKeys(_ tensors: [String: Tensor], layout: CheckpointLayout) throws -> [String: Tensor] {
        let rules: [KeyRule]
        switch layout {
        case .official: return tensors
        case .timm: rules = KeyMaps.timmConvNeXt
        case .transformers: rules = KeyMaps.transformersConvNeXt
        }
        // Classifiers are no backbone keys: timm's `head.fc.*`, a transformers task model's `classifier.*`.
        let kept = tensors.filter { !(layout == .timm && $0.key.hasPrefix("head.fc."))
            && !(layout == .transformers && $0.key.hasPrefix("classifier.")) }
        let names = KeyMaps.rename(Array(kept.keys), rules: rules)
        var out: [String: Tensor] = [:]
        for (k, t) in kept {
            let n = names[k]!
            guard out.updateValue(t, forKey: n) == nil else {
                throw CheckpointLayoutError("two \(layout.rawValue) keys become '\(n)'; is this a ConvNeXt in the \(layout.rawValue) layout?")
            }
        }
        return out
    }

    /// `tensors` without the `norms.3.*` alias of `norm.*` (see `loadWeights`).
    static func foldingNormAlias(_ tensors: [String: Tensor], file: String) throws -> [String: Tensor] {
        var out = tensors
        for suffix in ["weight", "bias"] {
            guard let alias = out.removeValue(forKey: "norms.3.\(suffix)") else { continue }
            if let main = out["norm.\(suffix)"] {
                guard main.shape == alias.shape, main.scalars == alias.scalars else {
                    throw CheckpointLayoutError("\(file): norms.3.\(suffix) differs from norm.\(suffix); the reference holds one final norm under both keys")
                }
            } else {
                out["norm.\(suffix)"] = alias
            }
        }
        return out
    }

    /// A model from a preset name and a weights file (official, timm or transformers keys;
    /// `layout` nil detects them), or random initial weights seeded by `seed`; in evaluation
    /// mode, without drop path.
    public static func load(preset: String, weights: URL?, seed: UInt64 = 0, layout: CheckpointLayout? = nil) throws -> ConvNeXt {
        var config = try ConvNeXtPresets.config(named: preset)
        config.dropPathRate = 0
        let model = ConvNeXt(config, generator: RandomGenerator(seed: seed))
        if let weights {
            try model.loadWeights(from: weights, layout: layout)
        } else {
            model.initializeWeights(generator: RandomGenerator(seed: seed))
        }
        model.eval()
        return model
    }
}
