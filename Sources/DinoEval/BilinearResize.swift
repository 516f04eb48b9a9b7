// Bilinear resizing of image-shaped tensors as two matrix products, so that it is
// differentiable by composition (the backward pass is the transposed products).
//
// What it is: `torch.nn.functional.interpolate(x, size, mode="bilinear", align_corners=False)`
// without antialiasing — the upsampling of segmentation logits to the label size in mmseg's
// `resize` and DINOv2's linear segmentation head.
// What it is not: an image-quality resampler for downscaling (no antialias); DinoVision's
// Resample.swift does that for images.

import DinoTensor

/// The (m, n) matrix that resamples n samples to m by linear interpolation, PyTorch's
/// `align_corners=False` convention: output i reads input position `(i + ½)·n/m − ½`, clamped
/// at 0, between its two neighbours (the last one repeated at the edge).
///
/// - Parameters:
///   - n: input length.
///   - m: output length.
/// - Returns: (m, n); every row sums to 1.
/// Reference: PyTorch aten/src/ATen/native/UpSample.h (`area_pixel_compute_source_index`,
/// `upsample_bilinear2d`).
public func linearResizeMatrix(from n: Int, to m: Int, dtype: DType = .float32) -> Tensor {
    precondition(n > 0 && m > 0, "linearResizeMatrix: sizes \(n) → \(m) must be positive")
    var w = [Double](repeating: 0, count: m * n)
    let scale = Double(n) / Double(m)
    for i in 0..<m {
        let source = Swift.max((Double(i) + 0.5) * scale - 0.5, 0)
        let i0 = Swift.min(Int(source), n - 1)
        let i1 = Swift.min(i0 + 1, n - 1)
        let lambda = source - Double(i0)
        w[i * n + i0] += 1 - lambda
        w[i * n + i1] += lambda
    }
    return Tensor(doubles: w, shape: [m, n]).to(dtype)
}

/// Bilinear resize of (N, C, h, w) to (N, C, H, W): `A_h · x · A_wᵀ` per channel, with the
/// matrices of `linearResizeMatrix`.
///
/// - Parameters:
///   - x: (N, C, h, w).
///   - height: H.
///   - width: W.
/// - Returns: (N, C, H, W), differentiable with respect to `x`.
/// Reference: `F.interpolate(x, (H, W), mode="bilinear", align_corners=False)`.
public func resizeBilinear(_ x: Tensor, height: Int, width: Int) -> Tensor {
    precondition(x.rank == 4, "resizeBilinear: input must be (N, C, h, w), got \(x.shape)")
    let (h, w) = (x.shape[2], x.shape[3])
    if h == height && w == width { return x }
    return resizeSeparable(x, heightMatrix: linearResizeMatrix(from: h, to: height, dtype: x.dtype),
                           widthMatrix: linearResizeMatrix(from: w, to: width, dtype: x.dtype))
}

/// Bilinear resize of channels-last (N, h, w, C) to (N, H, W, C), the same numbers as
/// `resizeBilinear` on the channels-first layout: `A_w` applied along w as a product batched over
/// the N·h rows, then `A_h` along h batched over N, with no transposes.
///
/// - Returns: (N, H, W, C), differentiable with respect to `x`.
public func resizeBilinearChannelsLast(_ x: Tensor, height: Int, width: Int) -> Tensor {
    precondition(x.rank == 4, "resizeBilinearChannelsLast: input must be (N, h, w, C), got \(x.shape)")
    let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    if h == height && w == width { return x }
    let aw = linearResizeMatrix(from: w, to: width, dtype: x.dtype)                 // (W, w)
    let ah = linearResizeMatrix(from: h, to: height, dtype: x.dtype)                // (H, h)
    let rows = aw.matmul(x.contiguous().reshape([n * h, w, c]))                      // (N·h, W, C)
    return ah.matmul(rows.reshape([n, h, width * c])).reshape([n, height, width, c])  // (N, H, W, C)
}
