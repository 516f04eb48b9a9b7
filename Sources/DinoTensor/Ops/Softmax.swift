// Softmax and log-softmax along any axis, as fused kernels.
//
// Both are normalised along one axis and computed row by row after moving that axis last:
// Float32 rows go through the vectorised C kernels (CDinoKernels/softmax.c), Float64 rows
// through the generic Swift loops below (the same math, used by gradient checks). The
// backward passes use the saved output, as PyTorch's `_softmax_backward_data`.

import CDinoKernels

extension Tensor {
    /// Softmax along `axis`: the exponentials normalised to sum to one.
    ///
    /// `softmax(x)ᵢ = exp(xᵢ − m) / Σⱼ exp(xⱼ − m)` with `m = maxⱼ xⱼ`, so that no exponential
    /// overflows. Entries of −∞ (masked) get probability 0; a row of only −∞ gives NaN, as
    /// in PyTorch. Backward: `dx = y ⊙ (dy − Σ dy ⊙ y)`.
    ///
    /// - Parameter axis: the dimension to normalise over (negative counts from the end).
    /// - Returns: a tensor of the input's shape.
    /// Reference: `torch.nn.functional.softmax`.
    public func softmax(axis: Int = -1) -> Tensor {
        softmaxFamily(axis: axis, log: false)
    }

    /// Log-softmax along `axis`: `x − m − log Σⱼ exp(xⱼ − m)`, `m = maxⱼ xⱼ`.
    ///
    /// More accurate than `softmax(axis:).log()` (no underflow to log 0 for very negative
    /// logits). Backward: `dx = dy − exp(y) Σ dy`.
    ///
    /// - Parameter axis: the dimension to normalise over (negative counts from the end).
    /// - Returns: a tensor of the input's shape.
    /// Reference: `torch.nn.functional.log_softmax`.
    public func logSoftmax(axis: Int = -1) -> Tensor {
        softmaxFamily(axis: axis, log: true)
    }

    private func softmaxFamily(axis: Int, log: Bool) -> Tensor {
        let op: GradOp = log ? .logSoftmax : .softmax
        // A scalar is a row of one.
        let layout = LastAxisLayout(shape: shape, axis: normalizeAxis(axis, rank: Swift.max(rank, 1), op: op.rawValue))
        let x = layout.toLast(self)                           // (rows, n)
        let y = uninitializedTensor(x.shape, dtype: dtype)    // (rows, n)
        let (rows, n) = (layout.rows, layout.n)
        switch dtype {
        case .float32:
            let xp = x.pointer(Float.self), yp = y.pointer(Float.self)
            parallelRows(rows, n: n) { r in
                let o = r.lowerBound * n
                if log {
                    dino_log_softmax_forward(xp + o, yp + o, r.count, n)
                } else {
                    dino_softmax_forward(xp + o, yp + o, r.count, n)
                }
            }
        case .float64:
            let xp = x.pointer(Double.self), yp = y.pointer(Double.self)
            parallelRows(rows, n: n) { r in
                for row in r {
                    SoftmaxRows.forward(xp + row * n, yp + row * n, n: n, log: log)
                }
            }
        }
        // The closure keeps a detached handle on y: capturing the output tensor itself would
        // make it own its own tape node (a reference cycle when no backward pass runs).
        let saved = y.detach()
        return Tensor.record(layout.fromLast(y), op: op, inputs: [self]) { g in
            let dy = layout.toLast(g)                            // (rows, n)
            let dx = uninitializedTensor(dy.shape, dtype: dy.dtype)
            switch dy.dtype {
            case .float32:
                let yp = saved.pointer(Float.self), gp = dy.pointer(Float.self), dp = dx.pointer(Float.self)
                parallelRows(rows, n: n) { r in
                    let o = r.lowerBound * n
                    if log {
                        dino_log_softmax_backward(yp + o, gp + o, dp + o, r.count, n)
                    } else {
                        dino_softmax_backward(yp + o, gp + o, dp + o, r.count, n)
                    }
                }
            case .float64:
                let yp = saved.pointer(Double.self), gp = dy.pointer(Double.self), dp = dx.pointer(Double.self)
                parallelRows(rows, n: n) { r in
                    for row in r {
                        SoftmaxRows.backward(yp + row * n, gp + row * n, dp + row * n, n: n, log: log)
                    }
                }
            }
            return [layout.fromLast(dx)]
        }
    }
}

/// Softmax rows in plain Swift, generic over the element type (the Float64 path).
enum SoftmaxRows {
    static func forward<T: TensorScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, n: Int, log: Bool) {
        var m = -T.infinity
        for i in 0..<n where x[i] > m || x[i].isNaN { m = x[i] }
        var s: T = 0
        for i in 0..<n { s += T.exp(x[i] - m) }
        if log {
            let lse = m + T.log(s)
            for i in 0..<n { y[i] = x[i] - lse }
        } else {
            let inv = 1 / s
            for i in 0..<n { y[i] = T.exp(x[i] - m) * inv }
        }
    }

    static func backward<T: TensorScalar>(_ y: UnsafePointer<T>, _ dy: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>,
                                          n: Int, log: Bool) {
        if log {
            var s: T = 0
            for i in 0..<n { s += dy[i] }
            for i in 0..<n { dx[i] = dy[i] - T.exp(y[i]) * s }
        } else {
            var dot: T = 0
            for i in 0..<n { dot += dy[i] * y[i] }
            for i in 0..<n { dx[i] = (dy[i] - dot) * y[i] }
        }
    }
}
