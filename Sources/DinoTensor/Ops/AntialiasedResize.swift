// Antialiased bilinear resizing of (N, C, h, w) maps, as two matrix products: DINOv3's
// `teacher_to_student_resolution_scale` shrinks the global crops with
// `F.interpolate(x, scale_factor=1/s, mode="bilinear", antialias=True)`, and its ConvNeXt
// resizes its final map to a ViT's patch grid with the same call (convnext.py
// `_get_intermediate_layers`). Upscaling, the weights are plain bilinear ones.
//
// Reference: PyTorch aten/src/ATen/native/UpSample.h / UpSampleKernel.cpp
// (`_upsample_bilinear2d_aa`, `HelperInterpAALinear`: PIL's triangle filter widened by the
// scale when downscaling); facebookresearch/dinov3 dinov3/train/multidist_meta_arch.py,
// dinov3/models/convnext.py.

/// The (m, n) matrix of antialiased linear resampling from n samples to m: output i is centred
/// at `c = s·(i + ½)`, s = n/m, and reads inputs j in [⌊c − r + ½⌋, ⌊c + r + ½⌋) with
/// r = max(s, 1), weights `max(0, 1 − |j − c + ½| / max(s, 1))` normalised to sum 1.
///
/// Reference: torch `_compute_weights_aa` with `interp_size = 2` and `align_corners=False`.
public func antialiasedLinearResizeMatrix(from n: Int, to m: Int, scale: Double? = nil, dtype: DType = .float32) -> Tensor {
    precondition(n > 0 && m > 0, "antialiasedLinearResizeMatrix: sizes \(n) → \(m) must be positive")
    let s = scale ?? Double(n) / Double(m)
    let support = s >= 1 ? s : 1.0
    let invscale = s >= 1 ? 1 / s : 1.0
    var w = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
        let centre = s * (Double(i) + 0.5)
        let lo = Swift.max(Int(centre - support + 0.5), 0)
        let hi = Swift.min(Int(centre + support + 0.5), n)
        var total = 0.0
        var row = [Double](repeating: 0, count: Swift.max(hi - lo, 0))
        for j in lo..<Swift.max(hi, lo) {
            let x = (Double(j) - centre + 0.5) * invscale
            row[j - lo] = Swift.max(0, 1 - abs(x))
            total += row[j - lo]
        }
        for j in lo..<Swift.max(hi, lo) where total > 0 { w[i * n + j] = row[j - lo] / total }
    }
    return Tensor(doubles: w, shape: [m, n]).to(dtype)
}

/// (N, C, h, w) → (N, C, H, W), antialiased bilinear: `A_h · x · A_wᵀ` per channel, with the
/// matrices of `antialiasedLinearResizeMatrix` (scale factor h/H and w/W).
///
/// Reference: `F.interpolate(x, size=(H, W), mode="bilinear", antialias=True)`.
public func resizeBilinearAntialiased(_ x: Tensor, height: Int, width: Int) -> Tensor {
    precondition(x.rank == 4, "resizeBilinearAntialiased: input must be (N, C, h, w), got \(x.shape)")
    let (h, w) = (x.shape[2], x.shape[3])
    if h == height && w == width { return x }
    return resizeSeparable(x, heightMatrix: antialiasedLinearResizeMatrix(from: h, to: height, dtype: x.dtype),
                           widthMatrix: antialiasedLinearResizeMatrix(from: w, to: width, dtype: x.dtype))
}
