// Depthwise 2-D convolution (one k × k filter per channel, stride 1, zero padding), on
// channels-last images, forward and backward as direct loops.
//
// Channels-last (B, H, W, C) keeps the innermost loop over contiguous channels, so every
// tap of the filter is one vectorisable multiply-add over a row of C values. The filter is
// stored as `torch.nn.Conv2d(C, C, k, groups=C)` stores it, (C, 1, k, k), and transposed to
// (k, k, C) once per call. Rows of the output (b, y) are computed in parallel; the filter
// and bias gradients sum over fixed blocks of rows, then over the blocks in a fixed order,
// so the result does not depend on the number of threads.
//
// Reference: torch.nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim) in
// dinov3/models/convnext.py `Block.dwconv` (applied there to (N, C, H, W)).

import CDinoKernels

extension Tensor {
    /// Depthwise convolution of channels-last images with one filter per channel.
    ///
    /// `y[b, i, j, c] = bias[c] + Σ_{u,v < k} w[c, 0, u, v] · x[b, i + u − p, j + v − p, c]`,
    /// with `x` zero outside the image (`p = padding`, stride 1, so `H' = H + 2p − k + 1`).
    /// Backward: `dx[b, i', j', c] = Σ_{u,v} w[c, 0, u, v] · dy[b, i' − u + p, j' − v + p, c]`,
    /// `dw[c, 0, u, v] = Σ_{b,i,j} dy[b, i, j, c] · x[b, i + u − p, j + v − p, c]`,
    /// `dbias[c] = Σ_{b,i,j} dy[b, i, j, c]`.
    ///
    /// - Parameters:
    ///   - weight: filters (C, 1, k, k), as `Conv2d(C, C, k, groups=C).weight`.
    ///   - bias: (C), or nil.
    ///   - padding: zeros added on each side of both spatial dimensions.
    /// - Returns: (B, H', W', C), contiguous.
    ///
    /// Reference: `torch.nn.functional.conv2d(x, weight, bias, padding=p, groups=C)` on
    /// `x.permute(0, 3, 1, 2)`; dinov3/models/convnext.py `Block`.
    public func depthwiseConv2d(weight: Tensor, bias: Tensor?, padding: Int) -> Tensor {
        precondition(rank == 4, "depthwiseConv2d: expected channels-last images (B, H, W, C), got \(fmt(shape))")
        let (b, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
        precondition(weight.rank == 4 && weight.shape[0] == c && weight.shape[1] == 1 && weight.shape[2] == weight.shape[3],
                     "depthwiseConv2d: weight \(fmt(weight.shape)) does not match \(c) channels; expected [\(c), 1, k, k]")
        precondition(weight.dtype == dtype, "depthwiseConv2d: weight is \(weight.dtype), input is \(dtype)")
        if let bias {
            precondition(bias.shape == [c], "depthwiseConv2d: bias \(fmt(bias.shape)) does not match \(c) channels")
            precondition(bias.dtype == dtype, "depthwiseConv2d: bias is \(bias.dtype), input is \(dtype)")
        }
        let k = weight.shape[2]
        precondition(padding >= 0, "depthwiseConv2d: negative padding \(padding)")
        let (ho, wo) = (h + 2 * padding - k + 1, w + 2 * padding - k + 1)
        precondition(ho > 0 && wo > 0, "depthwiseConv2d: image \(h)×\(w) is smaller than the filter \(k)×\(k) with padding \(padding)")
        let geometry = DepthwiseGeometry(b: b, h: h, w: w, c: c, k: k, p: padding, ho: ho, wo: wo)
        let x = withNoGrad { contiguous() }                                              // (B, H, W, C)
        let wt = withNoGrad { weight.reshape([c, k * k]).transposed(0, 1).contiguousCopy() } // (k·k, C)
        let bt = bias.map { t in withNoGrad { t.contiguous() } }                          // (C)
        let y = uninitializedTensor([b, ho, wo, c], dtype: dtype)                         // (B, H', W', C)
        switch dtype {
        case .float32:
            DepthwiseKernels.forwardFloat32(x.pointer(Float.self), wt.pointer(Float.self), bt?.pointer(Float.self),
                                            y.pointer(Float.self), geometry)
        case .float64:
            DepthwiseKernels.forward(x.pointer(Double.self), wt.pointer(Double.self), bt?.pointer(Double.self),
                                     y.pointer(Double.self), geometry)
        }
        var inputs = [self, weight]
        if let bias { inputs.append(bias) }
        return Tensor.record(y, op: .depthwiseConv2d, inputs: inputs) { g in
            let dy = withNoGrad { g.contiguous() }                                       // (B, H', W', C)
            let dx = uninitializedTensor([b, h, w, c], dtype: x.dtype)                   // (B, H, W, C)
            let blocks = (b * ho + DepthwiseKernels.block - 1) / DepthwiseKernels.block
            let dwPartial = Tensor(zeros: [blocks, k * k, c], dtype: x.dtype)           // (blocks, k·k, C)
            let dbPartial = Tensor(zeros: [blocks, c], dtype: x.dtype)                  // (blocks, C)
            switch x.dtype {
            case .float32:
                DepthwiseKernels.backwardFloat32(x.pointer(Float.self), wt.pointer(Float.self), dy.pointer(Float.self),
                                                 dx.pointer(Float.self), dwPartial.pointer(Float.self),
                                                 dbPartial.pointer(Float.self), geometry)
            case .float64:
                DepthwiseKernels.backward(x.pointer(Double.self), wt.pointer(Double.self), dy.pointer(Double.self),
                                          dx.pointer(Double.self), dwPartial.pointer(Double.self),
                                          dbPartial.pointer(Double.self), geometry)
            }
            let dw = withNoGrad { dwPartial.sum(axes: [0]).transposed(0, 1).contiguousCopy().reshape([c, 1, k, k]) }
            var grads: [Tensor?] = [dx, dw]
            if bias != nil { grads.append(withNoGrad { dbPartial.sum(axes: [0]) }) }
            return grads
        }
    }
}

/// Sizes of one depthwise convolution.
struct DepthwiseGeometry {
    let b, h, w, c, k, p, ho, wo: Int
}

/// The loops of `depthwiseConv2d`: Float32 on the vectorised C kernels (CDinoKernels
/// `depthwise.c`, AVX-512 / AVX2 / generic), Float64 on the generic loops below, which are also
/// the C kernels' reference — they sum in the same order, so the two agree bit for bit
/// (`DepthwiseConvTests.kernelsMatchTheScalarLoopsBitForBitInEveryVariant`).
enum DepthwiseKernels {
    /// Output rows (b, y) per partial sum of the filter and bias gradients.
    static let block = 8

    /// The rows of a parallel chunk: about 16 K multiply-adds each.
    static func grain(_ width: Int, _ g: DepthwiseGeometry) -> Int {
        Swift.max(1, 16_384 / Swift.max(width * g.c * g.k * g.k, 1))
    }

    static func forwardFloat32(_ x: UnsafePointer<Float>, _ wt: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                               _ y: UnsafeMutablePointer<Float>, _ g: DepthwiseGeometry) {
        parallelFor(g.b * g.ho, grain: grain(g.wo, g)) { rows in
            dino_depthwise_forward(x, wt, bias, y, g.h, g.w, g.c, g.k, g.p, g.ho, g.wo, rows.lowerBound, rows.upperBound)
        }
    }

    static func backwardFloat32(_ x: UnsafePointer<Float>, _ wt: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                _ dx: UnsafeMutablePointer<Float>, _ dw: UnsafeMutablePointer<Float>,
                                _ db: UnsafeMutablePointer<Float>, _ g: DepthwiseGeometry) {
        parallelFor(g.b * g.h, grain: grain(g.w, g)) { rows in
            dino_depthwise_backward_input(dy, wt, dx, g.h, g.w, g.c, g.k, g.p, g.ho, g.wo, rows.lowerBound, rows.upperBound)
        }
        let rows = g.b * g.ho
        parallelFor((rows + block - 1) / block, grain: Swift.max(1, grain(block * g.wo, g))) { blocks in
            dino_depthwise_backward_filter(x, dy, dw, db, g.h, g.w, g.c, g.k, g.p, g.ho, g.wo, rows, block,
                                           blocks.lowerBound, blocks.upperBound)
        }
    }

    static func forward<T: TensorScalar>(_ x: UnsafePointer<T>, _ wt: UnsafePointer<T>, _ bias: UnsafePointer<T>?,
                                         _ y: UnsafeMutablePointer<T>, _ g: DepthwiseGeometry) {
        let (h, w, c, k, p, ho, wo) = (g.h, g.w, g.c, g.k, g.p, g.ho, g.wo)
        parallelFor(g.b * ho, grain: Swift.max(1, 16_384 / Swift.max(wo * c * k * k, 1))) { rows in
            for row in rows {
                let (n, i) = (row / ho, row % ho)
                for j in 0..<wo {
                    let out = y + ((n * ho + i) * wo + j) * c
                    if let bias { for ch in 0..<c { out[ch] = bias[ch] } } else { for ch in 0..<c { out[ch] = 0 } }
                    for u in 0..<k {
                        let yi = i + u - p
                        if yi < 0 || yi >= h { continue }
                        for v in 0..<k {
                            let xj = j + v - p
                            if xj < 0 || xj >= w { continue }
                            let src = x + ((n * h + yi) * w + xj) * c
                            let tap = wt + (u * k + v) * c
                            for ch in 0..<c { out[ch] += tap[ch] * src[ch] }
                        }
                    }
                }
            }
        }
    }

    static func backward<T: TensorScalar>(_ x: UnsafePointer<T>, _ wt: UnsafePointer<T>, _ dy: UnsafePointer<T>,
                                          _ dx: UnsafeMutablePointer<T>, _ dw: UnsafeMutablePointer<T>,
                                          _ db: UnsafeMutablePointer<T>, _ g: DepthwiseGeometry) {
        let (h, w, c, k, p, ho, wo) = (g.h, g.w, g.c, g.k, g.p, g.ho, g.wo)
        // dx: a gather over the output positions each input position feeds.
        parallelFor(g.b * h, grain: Swift.max(1, 16_384 / Swift.max(w * c * k * k, 1))) { rows in
            for row in rows {
                let (n, i) = (row / h, row % h)
                for j in 0..<w {
                    let out = dx + ((n * h + i) * w + j) * c
                    for ch in 0..<c { out[ch] = 0 }
                    for u in 0..<k {
                        let yi = i - u + p
                        if yi < 0 || yi >= ho { continue }
                        for v in 0..<k {
                            let yj = j - v + p
                            if yj < 0 || yj >= wo { continue }
                            let src = dy + ((n * ho + yi) * wo + yj) * c
                            let tap = wt + (u * k + v) * c
                            for ch in 0..<c { out[ch] += tap[ch] * src[ch] }
                        }
                    }
                }
            }
        }
        // dw, dbias: one partial per block of output rows.
        let rows = g.b * ho
        let blocks = (rows + block - 1) / block
        parallelFor(blocks, grain: Swift.max(1, 16_384 / Swift.max(block * wo * c * k * k, 1))) { range in
            for blk in range {
                let dwp = dw + blk * k * k * c, dbp = db + blk * c
                for row in (blk * block)..<Swift.min(rows, (blk + 1) * block) {
                    let (n, i) = (row / ho, row % ho)
                    for j in 0..<wo {
                        let grad = dy + ((n * ho + i) * wo + j) * c
                        for ch in 0..<c { dbp[ch] += grad[ch] }
                        for u in 0..<k {
                            let yi = i + u - p
                            if yi < 0 || yi >= h { continue }
                            for v in 0..<k {
                                let xj = j + v - p
                                if xj < 0 || xj >= w { continue }
                                let src = x + ((n * h + yi) * w + xj) * c
                                let acc = dwp + (u * k + v) * c
                                for ch in 0..<c { acc[ch] += grad[ch] * src[ch] }
                            }
                        }
                    }
                }
            }
        }
    }
}
