// Pictures of what a backbone sees: PCA of patch features as colours, and the class
// token's attention over patches as heat maps.
//
// Reference: DINOv2 paper, Fig. 1 (first three principal components of patch features shown
// as RGB); dino/visualize_attention.py (last-block attention of the class token, per head).

import DinoNN
import DinoTensor
import DinoVision
import Foundation

extension RGBImage {
    /// Images side by side, separated by `gap` black columns; all must have the same height.
    public static func sideBySide(_ images: [RGBImage], gap: Int = 2) -> RGBImage {
        guard let first = images.first else { return RGBImage(width: 0, height: 0) }
        precondition(images.allSatisfy { $0.height == first.height }, "RGBImage.sideBySide: heights differ")
        let width = images.reduce(0) { $0 + $1.width } + gap * (images.count - 1)
        var out = RGBImage(width: width, height: first.height)
        var x0 = 0
        for image in images {
            for y in 0..<image.height {
                let src = y * image.width * 3, dst = (y * width + x0) * 3
                out.pixels.replaceSubrange(dst..<(dst + image.width * 3), with: image.pixels[src..<(src + image.width * 3)])
            }
            x0 += image.width + gap
        }
        return out
    }
}

/// The top principal directions of the rows of a matrix.
///
/// Power iteration with deflation on the covariance `Cᵢⱼ = Σ (x − μ)ᵢ (x − μ)ⱼ / n`, in Double:
/// cheap for widths up to a few thousand and accurate for the leading components.
///
/// - Parameters:
///   - rows: (n, D) values, row-major.
///   - count: number of components.
/// - Returns: the mean (D) and `count` unit vectors (D), by decreasing variance.
public func principalComponents(_ rows: [Float], dimensions d: Int, count: Int,
                                iterations: Int = 200) -> (mean: [Double], components: [[Double]]) {
    let n = rows.count / d
    var mean = [Double](repeating: 0, count: d)
    for i in 0..<n { for j in 0..<d { mean[j] += Double(rows[i * d + j]) } }
    for j in 0..<d { mean[j] /= Double(max(n, 1)) }
    var cov = [Double](repeating: 0, count: d * d)
    var centred = [Double](repeating: 0, count: d)
    for i in 0..<n {
        for j in 0..<d { centred[j] = Double(rows[i * d + j]) - mean[j] }
        for a in 0..<d where centred[a] != 0 {
            let ca = centred[a]
            for b in a..<d { cov[a * d + b] += ca * centred[b] }
        }
    }
    for a in 0..<d { for b in a..<d { cov[a * d + b] /= Double(max(n, 1)); cov[b * d + a] = cov[a * d + b] } }
    var components: [[Double]] = []
    for k in 0..<count {
        var v = (0..<d).map { Double(($0 * 7919 + k * 104_729) % 1000) / 1000 - 0.5 }
        for _ in 0..<iterations {
            var w = [Double](repeating: 0, count: d)
            for a in 0..<d {
                var s = 0.0
                for b in 0..<d { s += cov[a * d + b] * v[b] }
                w[a] = s
            }
            for c in components {                                  // deflation: stay orthogonal
                let dot = zip(w, c).reduce(0) { $0 + $1.0 * $1.1 }
                for a in 0..<d { w[a] -= dot * c[a] }
            }
            let norm = w.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if norm == 0 { break }
            v = w.map { $0 / norm }
        }
        components.append(v)
    }
    return (mean, components)
}

public enum FeatureMaps {
    /// Patch features projected on their first three principal components, each scaled to
    /// [0, 255] over the batch, as the red, green and blue of each patch.
    ///
    /// - Parameters:
    ///   - patchTokens: (B, h·w, D) features of B images with the same grid.
    ///   - grid: (h, w).
    /// - Returns: one h × w raster per image (one pixel per patch).
    public static func pca(_ patchTokens: Tensor, grid: (height: Int, width: Int)) -> [RGBImage] {
        let (b, n, d) = (patchTokens.shape[0], patchTokens.shape[1], patchTokens.shape[2])
        precondition(n == grid.height * grid.width, "FeatureMaps.pca: \(n) tokens for a \(grid.height)×\(grid.width) grid")
        let rows = patchTokens.contiguous().scalars
        let (mean, components) = principalComponents(rows, dimensions: d, count: 3)
        var projected = [[Double]](repeating: [Double](repeating: 0, count: b * n), count: 3)
        for r in 0..<(b * n) {
            for (k, c) in components.enumerated() {
                var s = 0.0
                for j in 0..<d { s += (Double(rows[r * d + j]) - mean[j]) * c[j] }
                projected[k][r] = s
            }
        }
        let scaled = projected.map { values -> [UInt8] in
            let lo = values.min() ?? 0, hi = values.max() ?? 1
            return values.map { UInt8(max(0, min(255, (($0 - lo) / max(hi - lo, 1e-12) * 255).rounded()))) }
        }
        return (0..<b).map { i in
            var raster = RGBImage(width: grid.width, height: grid.height)
            for p in 0..<n {
                for k in 0..<3 { raster.pixels[p * 3 + k] = scaled[k][i * n + p] }
            }
            return raster
        }
    }

    /// The class token's attention to each patch, per head, as heat maps scaled to each
    /// map's maximum (dino/visualize_attention.py).
    ///
    /// - Parameters:
    ///   - attention: (B, H, N, N) last-block attention with N = 1 + R + h·w.
    ///   - registers: number of register tokens R (skipped, as the class token).
    /// - Returns: for each image, one h × w raster per head.
    public static func classAttention(_ attention: Tensor, registers: Int, grid: (height: Int, width: Int)) -> [[RGBImage]] {
        let (b, heads, n) = (attention.shape[0], attention.shape[1], attention.shape[2])
        let patches = grid.height * grid.width
        precondition(n == 1 + registers + patches, "FeatureMaps.classAttention: \(n) tokens for \(registers) registers and \(patches) patches")
        let a = attention.contiguous().scalars
        return (0..<b).map { i in
            (0..<heads).map { h in
                let base = ((i * heads + h) * n) * n + 1 + registers        // row of the class token
                let values = (0..<patches).map { a[base + $0] }
                let top = max(values.max() ?? 1, 1e-12)
                var raster = RGBImage(width: grid.width, height: grid.height)
                for p in 0..<patches {
                    let (r, g, bl) = heat(Double(values[p] / top))
                    raster.pixels[p * 3] = r; raster.pixels[p * 3 + 1] = g; raster.pixels[p * 3 + 2] = bl
                }
                return raster
            }
        }
    }

    /// A black → red → yellow → white colour ramp for t in [0, 1].
    public static func heat(_ t: Double) -> (UInt8, UInt8, UInt8) {
        let x = max(0, min(1, t)) * 3
        func byte(_ v: Double) -> UInt8 { UInt8(max(0, min(255, (v * 255).rounded()))) }
        return (byte(x), byte(x - 1), byte(x - 2))
    }
}

extension EmbeddingBackbone {
    /// A picture of the PCA of patch features: per image, a row with the model's input crop
    /// and the first three principal components (fitted over all the images) as colours,
    /// each patch enlarged to its pixels. The patch features are the normalised patch tokens
    /// (`x_norm_patchtokens`): a ViT's, or a ConvNeXt's final map (stride 32, one cell per
    /// 32 × 32 pixels: 7 × 7 at 224 px).
    public func pcaFigure(_ images: [RGBImage], transform: EvaluationTransform) -> RGBImage {
        let crops = images.map(transform.crop)
        let batch = Tensor.stack(crops.map { transform.normalization.tensor($0) }, axis: 0)   // (B, 3, S, S)
        let wasTraining = training
        eval()
        defer { train(wasTraining) }
        let patches = withNoGrad { embeddingFeatures(batch).patchTokens }                      // (B, h·w, D)
        let grid = (height: transform.imageSize / patchSize, width: transform.imageSize / patchSize)
        let maps = FeatureMaps.pca(patches, grid: grid)
        let rows = zip(crops, maps).map { RGBImage.sideBySide([$0, $1.enlarged(patchSize)]) }
        return RGBImage.stacked(rows)
    }
}

extension VisionTransformer {

    /// A picture of the last block's class-token attention: per image, a row with the input
    /// crop and one heat map per head (dino/visualize_attention.py).
    public func attentionFigure(_ images: [RGBImage], transform: EvaluationTransform) -> RGBImage {
        let crops = images.map(transform.crop)
        let batch = Tensor.stack(crops.map { transform.normalization.tensor($0) }, axis: 0)
        let wasTraining = training
        eval()
        defer { train(wasTraining) }
        let attention = withNoGrad { lastSelfAttention(batch) }                                // (B, H, N, N)
        let grid = (height: transform.imageSize / patchSize, width: transform.imageSize / patchSize)
        let maps = FeatureMaps.classAttention(attention, registers: numRegisterTokens, grid: grid)
        let rows = zip(crops, maps).map { crop, heads in
            RGBImage.sideBySide([crop] + heads.map { $0.enlarged(patchSize) })
        }
        return RGBImage.stacked(rows)
    }
}

extension RGBImage {
    /// Images one above the other, separated by `gap` black rows, left-aligned.
    public static func stacked(_ images: [RGBImage], gap: Int = 2) -> RGBImage {
        let width = images.map(\.width).max() ?? 0
        let height = images.reduce(0) { $0 + $1.height } + gap * max(images.count - 1, 0)
        var out = RGBImage(width: width, height: height)
        var y0 = 0
        for image in images {
            for y in 0..<image.height {
                let src = y * image.width * 3, dst = ((y0 + y) * width) * 3
                out.pixels.replaceSubrange(dst..<(dst + image.width * 3), with: image.pixels[src..<(src + image.width * 3)])
            }
            y0 += image.height + gap
        }
        return out
    }
}
