// A separable resize of (N, C, h, w) maps: one matrix over the rows and one over the columns,
// as two matrix products, so any 1-D interpolation written as a matrix (bilinear, antialiased
// bilinear) resizes images and is differentiable through the products.

/// (N, C, h, w) → (N, C, H, W): `A_h · x · A_wᵀ` per channel.
///
/// - Parameters:
///   - x: (N, C, h, w).
///   - heightMatrix: A_h, (H, h).
///   - widthMatrix: A_w, (W, w).
/// - Returns: (N, C, H, W), differentiable with respect to `x`.
public func resizeSeparable(_ x: Tensor, heightMatrix ah: Tensor, widthMatrix aw: Tensor) -> Tensor {
    precondition(x.rank == 4, "resizeSeparable: input must be (N, C, h, w), got \(x.shape)")
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (height, width) = (ah.shape[0], aw.shape[0])
    precondition(ah.shape == [height, h] && aw.shape == [width, w],
                 "resizeSeparable: matrices \(ah.shape), \(aw.shape) do not fit (\(h), \(w))")
    let rows = x.contiguous().reshape([n * c * h, w]).matmul(aw.transposed(0, 1))         // (N·C·h, W)
    let cols = rows.reshape([n * c, h, width]).permute([0, 2, 1]).contiguous()
        .reshape([n * c * width, h]).matmul(ah.transposed(0, 1))                          // (N·C·W, H)
    return cols.reshape([n, c, width, height]).permute([0, 1, 3, 2]).contiguous()         // (N, C, H, W)
}
