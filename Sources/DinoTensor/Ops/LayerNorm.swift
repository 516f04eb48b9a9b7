// Layer normalisation over the last dimension, as one fused kernel forward and backward.
//
// Forward saves the per-row mean and reciprocal standard deviation; backward recomputes x̂
// from them (llm.c's layernorm_forward / layernorm_backward). Float32 runs the C kernels
// (CDinoKernels/layernorm.c), Float64 the generic Swift loops below.
//
// The weight and bias gradients sum over all rows. Rows are cut into fixed blocks of
// `LayerNormRows.block`; each block sums into its own partial row and the partials are
// summed in a fixed order, so the result does not depend on the number of threads.

import CDinoKernels

extension Tensor {
    /// Layer normalisation over the last dimension, with optional affine parameters.
    ///
    /// `y = (x − E[x]) / √(Var[x] + eps) · weight + bias`, with the mean and the biased
    /// variance taken over the last dimension of each row. Backward, with `x̂` the
    /// normalised input and `dnorm = weight ⊙ dy`:
    /// `dx = rstd · (dnorm − mean(dnorm) − x̂ · mean(dnorm ⊙ x̂))`, `dweight = Σ dy ⊙ x̂`,
    /// `dbias = Σ dy` (sums over rows).
    ///
    /// - Parameters:
    ///   - weight: scale of shape (D), or nil for 1.
    ///   - bias: shift of shape (D), or nil for 0.
    ///   - eps: added to the variance for stability.
    /// - Returns: a tensor of the input's shape (…, D).
    /// Reference: Ba et al., "Layer Normalization" (2016); `torch.nn.functional.layer_norm`;
    /// llm.c `layernorm_forward` / `layernorm_backward`.
    public func layerNorm(weight: Tensor?, bias: Tensor?, eps: Double = 1e-5) -> Tensor {
        precondition(rank >= 1, "layerNorm: input must have at least one dimension, got shape \(fmt(shape))")
        let n = shape[rank - 1]
        for (name, p) in [("weight", weight), ("bias", bias)] {
            guard let p else { continue }
            precondition(p.shape == [n], "layerNorm: \(name) \(fmt(p.shape)) does not match input \(fmt(shape)); expected [\(n)]")
            precondition(p.dtype == dtype, "layerNorm: \(name) is \(p.dtype), input is \(dtype)")
        }
        let rows = n == 0 ? 0 : count / n
        let x = withNoGrad { contiguous() }                   // (rows, D)
        let w = weight.map { p in withNoGrad { p.contiguous() } }
        let b = bias.map { p in withNoGrad { p.contiguous() } }
        let y = uninitializedTensor(shape, dtype: dtype)        // (…, D)
        let mean = uninitializedTensor([rows], dtype: dtype)    // (rows)
        let rstd = uninitializedTensor([rows], dtype: dtype)    // (rows)
        switch dtype {
        case .float32:
            let xp = x.pointer(Float.self), yp = y.pointer(Float.self)
            let wp = w?.pointer(Float.self), bp = b?.pointer(Float.self)
            let mp = mean.pointer(Float.self), rp = rstd.pointer(Float.self)
            let e = Float(eps)
            parallelRows(rows, n: n) { r in
                let o = r.lowerBound
                dino_layernorm_forward(xp + o * n, wp, bp, yp + o * n, mp + o, rp + o, r.count, n, e)
            }
        case .float64:
            let xp = x.pointer(Double.self), yp = y.pointer(Double.self)
            let wp = w?.pointer(Double.self), bp = b?.pointer(Double.self)
            let mp = mean.pointer(Double.self), rp = rstd.pointer(Double.self)
            parallelRows(rows, n: n) { r in
                LayerNormRows.forward(xp, wp, bp, yp, mp, rp, rows: r, n: n, eps: eps)
            }
        }

        var inputs = [self]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        return Tensor.record(y, op: .layerNorm, inputs: inputs) { g in
            let dy = withNoGrad { g.contiguous() }                // (rows, D)
            let dx = uninitializedTensor(x.shape, dtype: x.dtype)
            let needW = weight?.requiresGrad ?? false, needB = bias?.requiresGrad ?? false
            // One partial row per block of rows for each parameter gradient.
            let blocks = (rows + LayerNormRows.block - 1) / LayerNormRows.block
            let dwPartial = needW ? Tensor(zeros: [blocks, n], dtype: x.dtype) : nil   // (blocks, D)
            let dbPartial = needB ? Tensor(zeros: [blocks, n], dtype: x.dtype) : nil   // (blocks, D)
            parallelFor(blocks, grain: Swift.max(1, 16_384 / Swift.max(LayerNormRows.block * n, 1))) { range in
                for blk in range {
                    let r0 = blk * LayerNormRows.block
                    let r = r0..<Swift.min(rows, r0 + LayerNormRows.block)
                    switch x.dtype {
                    case .float32:
                        dino_layernorm_backward(
                            x.pointer(Float.self) + r0 * n, w?.pointer(Float.self),
                            mean.pointer(Float.self) + r0, rstd.pointer(Float.self) + r0,
                            dy.pointer(Float.self) + r0 * n, dx.pointer(Float.self) + r0 * n,
                            dwPartial.map { $0.pointer(Float.self) + blk * n },
                            dbPartial.map { $0.pointer(Float.self) + blk * n }, r.count, n)
                    case .float64:
                        LayerNormRows.backward(
                            x.pointer(Double.self), w?.pointer(Double.self), mean.pointer(Double.self),
                            rstd.pointer(Double.self), dy.pointer(Double.self), dx.pointer(Double.self),
                            dwPartial.map { $0.pointer(Double.self) + blk * n },
                            dbPartial.map { $0.pointer(Double.self) + blk * n }, rows: r, n: n)
                    }
                }
            }
            var grads: [Tensor?] = [dx]                                 // (…, D)
            if weight != nil { grads.append(dwPartial?.sum(axes: [0])) }   // (D)
            if bias != nil { grads.append(dbPartial?.sum(axes: [0])) }     // (D)
            return grads
        }
    }
}

/// Layer-norm rows in plain Swift, generic over the element type (the Float64 path).
enum LayerNormRows {
    /// Rows per partial sum of the parameter gradients.
    static let block = 64

    static func forward<T: TensorScalar>(_ x: UnsafePointer<T>, _ w: UnsafePointer<T>?, _ b: UnsafePointer<T>?,
                                         _ y: UnsafeMutablePointer<T>, _ mean: UnsafeMutablePointer<T>,
                                         _ rstd: UnsafeMutablePointer<T>, rows: Range<Int>, n: Int, eps: Double) {
        for row in rows {
            let xr = x + row * n, yr = y + row * n
            var s: T = 0
            for i in 0..<n { s += xr[i] }
            let m = s / T(n)
            var v: T = 0
            for i in 0..<n { v += (xr[i] - m) * (xr[i] - m) }
            let rs = 1 / (v / T(n) + T(eps)).squareRoot()
            mean[row] = m
            rstd[row] = rs
            for i in 0..<n {
                yr[i] = (xr[i] - m) * rs * (w?[i] ?? 1) + (b?[i] ?? 0)
            }
        }
    }

    static func backward<T: TensorScalar>(_ x: UnsafePointer<T>, _ w: UnsafePointer<T>?, _ mean: UnsafePointer<T>,
                                          _ rstd: UnsafePointer<T>, _ dy: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>,
                                          _ dw: UnsafeMutablePointer<T>?, _ db: UnsafeMutablePointer<T>?,
                                          rows: Range<Int>, n: Int) {
        for row in rows {
            let xr = x + row * n, dyr = dy + row * n, dxr = dx + row * n
            let m = mean[row], rs = rstd[row]
            var dnormMean: T = 0, dnormNormMean: T = 0
            for i in 0..<n {
                let dnorm = (w?[i] ?? 1) * dyr[i]
                dnormMean += dnorm
                dnormNormMean += dnorm * (xr[i] - m) * rs
            }
            dnormMean /= T(n)
            dnormNormMean /= T(n)
            for i in 0..<n {
                let xhat = (xr[i] - m) * rs
                let dnorm = (w?[i] ?? 1) * dyr[i]
                var g = dnorm            // term 1
                g -= dnormMean           // term 2
                g -= xhat * dnormNormMean // term 3
                dxr[i] = g * rs
                dw?[i] += dyr[i] * xhat
                db?[i] += dyr[i]
            }
        }
    }
}
