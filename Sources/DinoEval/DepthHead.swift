// The linear depth heads of DINOv2 and DINOv3 on frozen backbone tokens: per patch, the tokens
// of one or four blocks (with the class token concatenated onto every patch token), optionally
// batch-normalised, a 1×1 projection to 256 depth bins, and the bins' weighted sum.
//
// What it is:
// - DINOv2 `lin.1` / `lin.4` (facebookresearch/dinov2 dinov2/hub/depthers.py
//   `_make_dinov2_linear_depth_head`, dinov2/eval/depth/models/decode_heads/linear_head.py `BNHead`
//   and decode_head.py `depth_pred`): backbone tokens without the final norm
//   (`get_intermediate_layers(..., norm=False, return_class_token=True)`), per block
//   [patch ‖ class] channels, the blocks concatenated, resized bilinearly ×4
//   (`upsample=4`, `align_corners=False`), `conv_depth` 1×1 to 256 bins, no batch norm (its `bn`
//   is commented out in the reference), "UD" bins `linspace(min_depth, max_depth, 256)` with the
//   "linear" normalisation p = (relu(l) + 0.1) / Σ (relu(l) + 0.1), depth = Σₖ pₖ · binₖ.
// - DINOv3's linear depther (dinov3/eval/depth/models/linear_head.py `LinearHead`,
//   models/__init__.py `FeaturesToDepth`, configs/config-nyu.yaml): the final norm applied
//   (`use_backbone_norm`), `SyncBatchNorm` over the channels (`use_batchnorm`), no class token
//   (`use_cls_token: False`), no ×4 upsampling, the same bins and normalisation.
// The 1×1 projection and the bilinear resize are both linear and the resize's rows sum to 1, so
// without batch norm the projection is applied on the patch grid and its 256 bin logits are
// resized: the same numbers as resizing the wide features first, at a fraction of the work. The
// logits stay channels last (N, H, W, K), so the bins' weighted sum is one product per pixel row.
// What it is not: the DPT heads; the reference's `conv_depth` of DINOv2 keeps PyTorch's default
// initialisation, ours is N(0, 0.01²) as DINOv3's `LinearHead` (both zero bias).

import DinoModels
import DinoNN
import DinoTensor
import Foundation

/// Which reference recipe a depth head follows.
public enum DepthHeadRecipe: String, Codable, Sendable, CaseIterable {
    case dinov2, dinov3
}

/// How the bins' logits become weights (decode_head.py / `FeaturesToDepth`).
public enum DepthBinNormalization: String, Codable, Sendable, CaseIterable {
    /// (relu(l) + 0.1) normalised to sum 1 (AdaBins; the default of both references).
    case linear
    case softmax
    /// sigmoid(l) normalised to sum 1.
    case sigmoid
}

/// Settings of a linear depth head. Defaults: DINOv2 `lin.4` on NYU (max depth 10 m).
public struct DepthHeadConfig: Configuration, Equatable, Sendable {
    /// Blocks whose tokens are used: 1 (the last block, `lin.1`) or 4 (`lin.4`: blocks
    /// i·⌊depth/4⌋ − 1 for i = 1…4, DINOv2's [2, 5, 8, 11] for 12 blocks, [4, 11, 17, 23] for 24).
    public var layers = 4
    /// Concatenate the class token onto every patch token (DINOv2: true; DINOv3: false).
    public var useClassToken = true
    /// Apply the backbone's final norm to the tokens (DINOv2 hub: false; DINOv3: true).
    public var backboneNorm = false
    /// Batch norm over the channels before the projection (DINOv2: false; DINOv3: true).
    public var batchNorm = false
    /// Bilinear upsampling factor of the patch grid before the projection (DINOv2: 4; DINOv3: 1).
    public var upsample = 4
    /// Number of depth bins (256).
    public var bins = 256
    /// Depth range of the bins in metres (NYU: 0.001 – 10).
    public var minDepth = 0.001
    public var maxDepth = 10.0
    /// Bin placement: "linear" (`linspace`, DINOv2's "UD") or "log" (DINOv3's log-spaced bins).
    public var binSpacing = "linear"
    /// The normalisation of the bin logits.
    public var normalization = DepthBinNormalization.linear

    public init() {}

    /// DINOv2's `lin.1` (layers 1) or `lin.4` (layers 4).
    public static func dinov2(layers: Int = 4) -> DepthHeadConfig {
        var c = DepthHeadConfig()
        c.layers = layers
        return c
    }

    /// DINOv3's linear depther (config-nyu.yaml: last block, backbone norm, batch norm, no class token).
    public static func dinov3(layers: Int = 1) -> DepthHeadConfig {
        var c = DepthHeadConfig()
        c.layers = layers
        c.useClassToken = false
        c.backboneNorm = true
        c.batchNorm = true
        c.upsample = 1
        return c
    }

    /// The recipe's settings.
    public static func recipe(_ r: DepthHeadRecipe, layers: Int) -> DepthHeadConfig {
        r == .dinov2 ? dinov2(layers: layers) : dinov3(layers: layers)
    }

    /// The backbone blocks (0-based) whose outputs feed the head, for a backbone of `depth` blocks.
    public func blockIndices(depth: Int) -> [Int] {
        precondition(layers == 1 || layers == 4, "DepthHeadConfig: layers must be 1 or 4, got \(layers)")
        if layers == 1 { return [depth - 1] }
        precondition(depth >= 4, "DepthHeadConfig: 4 layers need a backbone of at least 4 blocks, got \(depth)")
        if depth == 24 { return [4, 11, 17, 23] }   // dinov2 hub and dinov3 FOUR_EVEN_INTERVALS for ViT-L
        return (1...4).map { $0 * (depth / 4) - 1 }
    }

    /// The bin centres in metres (K).
    public func binCentres() -> [Double] {
        let k = bins
        func lin(_ a: Double, _ b: Double, _ i: Int) -> Double { k == 1 ? a : a + (b - a) * Double(i) / Double(k - 1) }
        switch binSpacing {
        case "log": return (0..<k).map { Foundation.exp(lin(Foundation.log(minDepth), Foundation.log(maxDepth), $0)) }
        default: return (0..<k).map { lin(minDepth, maxDepth, $0) }
        }
    }

    enum CodingKeys: String, CodingKey {
        case layers, upsample, bins, normalization
        case useClassToken = "use_cls_token", backboneNorm = "use_backbone_norm", batchNorm = "use_batchnorm"
        case minDepth = "min_depth", maxDepth = "max_depth", binSpacing = "bins_strategy"
    }

    /// Checks the values with a valid range, naming the key of the first bad one.
    public func validate() throws {
        guard layers == 1 || layers == 4 else { throw ConfigError.invalidValue(path: "layers", message: "must be 1 or 4, got \(layers)") }
        guard ["linear", "log"].contains(binSpacing) else {
            throw ConfigError.invalidValue(path: "bins_strategy", message: "must be linear or log, got '\(binSpacing)'")
        }
    }
}

/// The linear depth head.
///
///     x  = ‖_blocks [patch ‖ class]              (N, h, w, C),  C = L · D · (2 if class token)
///     x' = BN(resize×u(x))                        (N, u·h, u·w, C)   (BN only in DINOv3's variant)
///     l  = W x' + b                                (N, u·h, u·w, K)   (channels last)
///     p  = (relu(l) + 0.1) / Σₖ (relu(lₖ) + 0.1)   ("linear" normalisation)
///     d  = Σₖ pₖ · binₖ,  bins = linspace(min_depth, max_depth, K)
///
/// Reference: dinov2/eval/depth/models/decode_heads (BNHead, `depth_pred`);
/// dinov3/eval/depth/models (LinearHead, FeaturesToDepth); Bhat et al., "AdaBins" (2021).
public final class LinearDepthHead {
    public let config: DepthHeadConfig
    /// C, the width of the concatenated features.
    public let dimensions: Int
    public let batchNorm: BatchNormRows?
    /// Projection W (K, C) and b (K) (`conv_depth`).
    public let weight: Tensor, bias: Tensor
    /// Bin centres (K), metres.
    public let binCentres: Tensor

    /// - Parameters:
    ///   - embedDimensions: D, the backbone's width.
    ///   - config: the head's settings.
    public init(embedDimensions: Int, config: DepthHeadConfig, generator: RandomGenerator) {
        self.config = config
        dimensions = config.layers * embedDimensions * (config.useClassToken ? 2 : 1)
        batchNorm = config.batchNorm ? BatchNormRows(dimensions: dimensions) : nil
        weight = (generator.normal([config.bins, dimensions]) * 0.01).requiringGrad()
        bias = Tensor.zeros([config.bins]).requiringGrad()
        binCentres = Tensor(doubles: config.binCentres(), shape: [config.bins])
    }

    /// The trained tensors with the reference's names.
    public var namedParameters: [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        if let bn = batchNorm { out += [("batchnorm_layer.weight", bn.weight), ("batchnorm_layer.bias", bn.bias)] }
        return out + [("conv_depth.weight", weight), ("conv_depth.bias", bias)]
    }

    /// The head's input from the tokens of its blocks: per block (patch tokens (N, h, w, D), class
    /// token (N, D)) → (N, h, w, C), channels ordered [patch₀ ‖ class₀ ‖ patch₁ ‖ class₁ …] as
    /// the reference concatenates them.
    public func input(patchTokens: [Tensor], classTokens: [Tensor]) -> Tensor {
        precondition(patchTokens.count == config.layers && (!config.useClassToken || classTokens.count == config.layers),
                     "LinearDepthHead: \(patchTokens.count) patch and \(classTokens.count) class token sets for \(config.layers) layers")
        var parts: [Tensor] = []
        for (l, p) in patchTokens.enumerated() {
            parts.append(p)
            if config.useClassToken {
                let (n, h, w, d) = (p.shape[0], p.shape[1], p.shape[2], p.shape[3])
                parts.append(classTokens[l].reshape([n, 1, 1, d]).expand([n, h, w, d]))   // (N, h, w, D)
            }
        }
        let x = parts.count == 1 ? parts[0] : Tensor.concat(parts, axis: 3)              // (N, h, w, C)
        precondition(x.shape[3] == dimensions, "LinearDepthHead: input has \(x.shape[3]) channels, the head \(dimensions)")
        return x
    }

    /// Bin logits on the upsampled grid, channels last: (N, h, w, C) → (N, u·h, u·w, K).
    public func logits(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.rank == 4 && x.shape[3] == dimensions, "LinearDepthHead: input must be (N, h, w, \(dimensions)), got \(x.shape)")
        let (n, h, w) = (x.shape[0], x.shape[1], x.shape[2])
        let (uh, uw) = (h * config.upsample, w * config.upsample)
        let k = config.bins
        if let bn = batchNorm {
            // Batch statistics are those of the resized features, so resize first.
            let grid = resizeBilinearChannelsLast(x, height: uh, width: uw)                 // (N, uh, uw, C)
            let rows = bn(grid.reshape([n * uh * uw, dimensions]), training: training)       // (R, C)
            return rows.linear(weight: weight, bias: bias).reshape([n, uh, uw, k])           // (N, uh, uw, K)
        }
        let l = x.reshape([n * h * w, dimensions]).linear(weight: weight, bias: bias)       // (n·h·w, K)
        return resizeBilinearChannelsLast(l.reshape([n, h, w, k]), height: uh, width: uw)   // (N, uh, uw, K)
    }

    /// Depth from channels-last bin logits: (N, H, W, K) → (N, 1, H, W), metres.
    public func depth(fromLogits l: Tensor) -> Tensor {
        let k = config.bins
        precondition(l.rank == 4 && l.shape[3] == k, "LinearDepthHead: logits must be (N, H, W, \(k)), got \(l.shape)")
        let (n, hh, ww) = (l.shape[0], l.shape[1], l.shape[2])
        let rows = l.reshape([n * hh * ww, k])                                               // (R, K)
        let p: Tensor
        switch config.normalization {
        case .linear:
            let q = rows.relu() + 0.1
            p = q / q.sum(axes: [1], keepDims: true)
        case .softmax: p = rows.softmax(axis: 1)
        case .sigmoid:
            let q = rows.sigmoid()
            p = q / q.sum(axes: [1], keepDims: true)
        }
        return p.matmul(binCentres.to(l.dtype).reshape([k, 1])).reshape([n, 1, hh, ww])     // (N, 1, H, W)
    }

    /// Depth on the head's grid: (N, h, w, C) → (N, 1, u·h, u·w).
    public func callAsFunction(_ x: Tensor, training: Bool) -> Tensor {
        depth(fromLogits: logits(x, training: training))
    }

    /// Depth at the label size (N, 1, H, W): the head's output resized bilinearly, as the
    /// references compare it with the ground truth.
    public func depth(_ x: Tensor, height: Int, width: Int, training: Bool) -> Tensor {
        resizeBilinear(self(x, training: training), height: height, width: width)
    }
}
