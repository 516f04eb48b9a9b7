// Bicubic resampling of a grid of vectors (position embeddings), as torch's F.interpolate.
//
// Bicubic resampling is linear and separable: out = W_h · X · W_wᵀ for one weight matrix
// per axis. We build the two matrices exactly as PyTorch's CPU kernels compute their taps
// (aten/src/ATen/native/UpSample.h, UpSampleKernel.cpp) and apply them with two matrix
// products, so the result matches `F.interpolate(mode="bicubic")` and autograd comes for
// free (learned position embeddings are trained through it at every crop size).

import DinoTensor

/// How a learned position-embedding grid is resized to another patch grid.
///
/// - DINO and DINOv2 (`interpolate_offset=0.1`): `scale_factor = (h + 0.1) / M`, so the
///   output has h rows but the taps use the slightly larger factor; plain bicubic.
/// - DINOv2 with registers (`interpolate_offset=0`, `interpolate_antialias=True`): output
///   `size=(h, w)` with antialiased bicubic.
/// - Hugging Face `Dinov2Model`: `size=(h, w)`, plain bicubic (offset 0, no antialias).
public struct PositionInterpolation: Codable, Equatable, Sendable {
    /// Added to the target grid size to form the scale factor; 0 resizes to the size exactly.
    public var offset: Double
    /// Antialiased bicubic (Keys a = −0.5, support widened when shrinking) instead of plain
    /// bicubic (a = −0.75, four clamped taps).
    public var antialias: Bool

    public init(offset: Double, antialias: Bool) {
        self.offset = offset
        self.antialias = antialias
    }

    /// DINO v1 and DINOv2 without registers.
    public static let dinoOffset = PositionInterpolation(offset: 0.1, antialias: false)
    /// DINOv2 with registers.
    public static let antialiasedSize = PositionInterpolation(offset: 0, antialias: true)
    /// Hugging Face Dinov2Model.
    public static let plainSize = PositionInterpolation(offset: 0, antialias: false)

    enum CodingKeys: String, CodingKey {
        case offset
        case antialias
    }
}

/// Cubic convolution kernel for |x| ≤ 1 (Keys 1981).
@inline(__always)
private func cubic1(_ x: Double, _ a: Double) -> Double { ((a + 2) * x - (a + 3)) * x * x + 1 }

/// Cubic convolution kernel for 1 < |x| < 2.
@inline(__always)
private func cubic2(_ x: Double, _ a: Double) -> Double { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }

/// The (output × input) matrix of 1-D bicubic resampling from `inputSize` to `outputSize`.
///
/// - Parameters:
///   - scaleFactor: when given, the taps use `1 / scaleFactor` as the source step (as torch
///     does for `scale_factor=`); otherwise `inputSize / outputSize`.
///   - antialias: torch's `antialias=True` bicubic filter.
public func bicubicWeights(inputSize: Int, outputSize: Int, scaleFactor: Double? = nil,
                           antialias: Bool) -> [[Double]] {
    let scale = scaleFactor.map { 1 / $0 } ?? Double(inputSize) / Double(outputSize)
    var w = [[Double]](repeating: [Double](repeating: 0, count: inputSize), count: outputSize)
    for i in 0..<outputSize {
        if !antialias {
            // Source coordinate of the output centre; four taps, indices clamped at the border.
            let real = scale * (Double(i) + 0.5) - 0.5
            let x0 = real.rounded(.down)
            let t = real - x0
            let a = -0.75
            let taps = [cubic2(t + 1, a), cubic1(t, a), cubic1(1 - t, a), cubic2(2 - t, a)]
            for k in 0..<4 {
                let j = min(max(Int(x0) - 1 + k, 0), inputSize - 1)
                w[i][j] += taps[k]
            }
        } else {
            // Filter support widened by the scale when shrinking; weights normalised to sum 1.
            let support = scale >= 1 ? 2 * scale : 2
            let center = scale * (Double(i) + 0.5)
            let invScale = scale >= 1 ? 1 / scale : 1
            let xmin = max(Int(center - support + 0.5), 0)
            let xsize = min(Int(center + support + 0.5), inputSize) - xmin
            var taps = [Double](repeating: 0, count: max(xsize, 0))
            for j in 0..<max(xsize, 0) {
                let x = abs((Double(j + xmin) - center + 0.5) * invScale)
                taps[j] = x < 1 ? cubic1(x, -0.5) : (x < 2 ? cubic2(x, -0.5) : 0)
            }
            let total = taps.reduce(0, +)
            for j in 0..<taps.count { w[i][xmin + j] += total != 0 ? taps[j] / total : taps[j] }
        }
    }
    return w
}

/// Resizes a grid of vectors (M₁, M₂, D) to (h, w, D) with bicubic resampling.
///
/// With `interpolation.offset > 0`, the scale factors are `(h + offset) / M₁` and
/// `(w + offset) / M₂` and the output size is ⌊M · factor⌋ (= h, w for offsets below 1).
/// Differentiable with respect to `grid`.
public func resizePositionGrid(_ grid: Tensor, height h: Int, width w: Int,
                               interpolation: PositionInterpolation) -> Tensor {
    precondition(grid.rank == 3, "resizePositionGrid: expected a (M1, M2, D) grid, got \(grid.shape)")
    let (m1, m2, d) = (grid.shape[0], grid.shape[1], grid.shape[2])
    var sh: Double? = nil, sw: Double? = nil
    var (oh, ow) = (h, w)
    if interpolation.offset != 0 {
        sh = (Double(h) + interpolation.offset) / Double(m1)
        sw = (Double(w) + interpolation.offset) / Double(m2)
        oh = Int((Double(m1) * sh!).rounded(.down))
        ow = Int((Double(m2) * sw!).rounded(.down))
    }
    let wh = bicubicWeights(inputSize: m1, outputSize: oh, scaleFactor: sh, antialias: interpolation.antialias)
    let ww = bicubicWeights(inputSize: m2, outputSize: ow, scaleFactor: sw, antialias: interpolation.antialias)
    func matrix(_ rows: [[Double]], columns: Int) -> Tensor {
        Tensor(doubles: rows.flatMap { $0 }, shape: [rows.count, columns]).to(grid.dtype)
    }
    let rowsResized = matrix(wh, columns: m1)
        .matmul(grid.reshape([m1, m2 * d]))                     // (oh, M2·D)
        .reshape([oh, m2, d])                                   // (oh, M2, D)
    return matrix(ww, columns: m2).matmul(rowsResized)          // (oh, ow, D)
}
