// Patch embedding: a strided convolution written as one matrix product.

import DinoTensor

/// The weights of a `kernel = stride = p` convolution, saved as `torch.nn.Conv2d` saves them:
/// weight (D, C, p, p), bias (D).
public final class PatchProjection: Module {
    public let weight: Parameter
    public let bias: Parameter?

    public init(inChannels: Int, outChannels: Int, patchSize: Int, bias: Bool = true) {
        weight = Parameter(shape: [outChannels, inChannels, patchSize, patchSize], kind: .weight)
        self.bias = bias ? Parameter(shape: [outChannels], kind: .bias) : nil
    }
}

/// Splits images into non-overlapping p × p patches and projects each to D dimensions.
///
/// `y[b, (i, j)] = W · vec(x[b, :, ip:(i+1)p, jp:(j+1)p]) + β`, which is
/// `Conv2d(C, D, kernel_size=p, stride=p)` followed by flattening the grid row-major, as
/// DINO's `PatchEmbed`. The patches are unfolded into rows of C·p·p values (channel, row,
/// column — the order of the convolution weight) and multiplied by the weight in one GEMM.
///
/// Reference: Dosovitskiy et al., ViT (2021); dinov2/layers/patch_embed.py.
public final class PatchEmbed: Module {
    public let proj: PatchProjection
    public let patchSize: Int
    public let inChannels: Int
    public let dimensions: Int

    public init(patchSize: Int, inChannels: Int = 3, dimensions: Int) {
        self.patchSize = patchSize
        self.inChannels = inChannels
        self.dimensions = dimensions
        proj = PatchProjection(inChannels: inChannels, outChannels: dimensions, patchSize: patchSize)
        super.init()
        markPatchEmbedding()
    }

    /// Patch grid (rows, columns) of an image of `height` × `width` pixels.
    public func grid(height: Int, width: Int) -> (Int, Int) {
        (height / patchSize, width / patchSize)
    }

    /// images (B, C, H, W) → tokens (B, h·w, D), with h = H/p, w = W/p.
    public func callAsFunction(_ images: Tensor) -> Tensor {
        precondition(images.rank == 4 && images.shape[1] == inChannels,
                     "PatchEmbed: expected images (B, \(inChannels), H, W), got \(images.shape)")
        let (b, c, hh, ww) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
        let p = patchSize
        precondition(hh % p == 0 && ww % p == 0,
                     "PatchEmbed: image size \(hh)×\(ww) is not a multiple of the patch size \(p)")
        let (h, w) = (hh / p, ww / p)
        let patches = images
            .reshape([b, c, h, p, w, p])                        // (B, C, h, p, w, p)
            .permute([0, 2, 4, 1, 3, 5])                        // (B, h, w, C, p, p)
            .reshape([b, h * w, c * p * p])                     // (B, N, C·p·p)
        let weight = proj.weight.value.reshape([dimensions, c * p * p])   // (D, C·p·p)
        return patches.linear(weight: weight, bias: proj.bias?.value)     // (B, N, D)
    }
}
