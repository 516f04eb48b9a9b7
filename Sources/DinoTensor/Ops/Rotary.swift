// Rotary position embedding (RoPE) as one fused op: DINOv3's `rope_apply` on the patch tokens.
//
// Float32 runs the vectorised C kernel (CDinoKernels/rope.c), one pass over the tokens in each
// direction; Float64 (and tables that need gradients) composes the same formula from
// slices, a concatenation and products.

import CDinoKernels

extension Tensor {
    /// Rotates the last `hw` tokens of x (…, N, Dh) by the angles whose sines and cosines are
    /// `sin` and `cos` (hw, Dh), leaving the first N − hw tokens (class and register tokens)
    /// unchanged: `x cos + rotate_half(x) sin`, where `rotate_half([a, b]) = [−b, a]` on the
    /// two halves of the last dimension.
    ///
    /// - Returns: a contiguous tensor of x's shape.
    /// Reference: dinov3/layers/attention.py `rope_apply`, `rope_rotate_half`.
    public func rotaryEmbedding(sin: Tensor, cos: Tensor) -> Tensor {
        let x = self
        precondition(x.rank >= 2 && sin.rank == 2 && sin.shape == cos.shape,
                     "rotaryEmbedding: tokens \(fmt(x.shape)) with tables \(fmt(sin.shape)), \(fmt(cos.shape))")
        let (n, dh, hw) = (x.shape[x.rank - 2], x.shape[x.rank - 1], sin.shape[0])
        precondition(sin.shape[1] == dh && dh % 2 == 0 && hw <= n,
                     "rotaryEmbedding: table \(fmt(sin.shape)) for tokens of shape \(fmt(x.shape))")
        let fast = x.dtype == .float32 && sin.dtype == .float32 && cos.dtype == .float32
            && !sin.requiresGrad && !cos.requiresGrad
        guard fast else { return x.composedRotaryEmbedding(sin: sin, cos: cos) }

        let prefix = n - hw
        let xs = withNoGrad { x.strides[x.rank - 1] == 1 ? x : x.contiguous() }
        let (s, c) = withNoGrad { (sin.contiguous(), cos.contiguous()) }
        let lead = Array(x.shape.dropLast(2))
        let slabs = shapeCount(lead)
        // Offset of each (…) slab's first token, and the token stride, in the input.
        let slabOffsets = Tensor.slabOffsets(shape: lead, strides: Array(xs.strides.dropLast(2)))
        let tokenStride = xs.strides[xs.rank - 2]
        let y = uninitializedTensor(x.shape, dtype: .float32)
        let xp = xs.pointer(Float.self), yp = y.pointer(Float.self)
        let sp = s.pointer(Float.self), cp = c.pointer(Float.self)
        parallelFor(slabs, grain: Swift.max(1, 16_384 / Swift.max(n * dh, 1))) { r in
            for z in r {
                dino_rope_forward(xp + slabOffsets[z], tokenStride, sp, cp, yp + z * n * dh, dh, n, prefix, dh)
            }
        }
        // The closure holds the tables themselves: a table built for one forward pass (RoPE
        // jitter in training) may have no other owner by the time the backward pass runs.
        return Tensor.record(y, op: .rotaryEmbedding, inputs: [x]) { [s, c] g in
            let gc = withNoGrad { g.contiguous() }
            let dx = uninitializedTensor(gc.shape, dtype: .float32)
            let gp = gc.pointer(Float.self), dp = dx.pointer(Float.self)
            let sp = s.pointer(Float.self), cp = c.pointer(Float.self)
            parallelFor(slabs, grain: Swift.max(1, 16_384 / Swift.max(n * dh, 1))) { r in
                for z in r {
                    dino_rope_backward(gp + z * n * dh, dh, sp, cp, dp + z * n * dh, dh, n, prefix, dh)
                }
            }
            return [dx]
        }
    }

    /// The same rotation from slices, a concatenation and products (any dtype, any gradients).
    func composedRotaryEmbedding(sin: Tensor, cos: Tensor) -> Tensor {
        let (n, dh, hw) = (shape[rank - 2], shape[rank - 1], sin.shape[0])
        let prefix = n - hw
        let patches = slice(axis: -2, start: prefix)                              // (…, hw, Dh)
        let x1 = patches.slice(axis: -1, start: 0, end: dh / 2)                   // (…, hw, Dh/2)
        let x2 = patches.slice(axis: -1, start: dh / 2)
        let rotated = Tensor.concat([-x2, x1], axis: -1)                          // (…, hw, Dh)
        let out = patches * cos + rotated * sin
        if prefix == 0 { return out }
        return Tensor.concat([slice(axis: -2, start: 0, end: prefix), out], axis: -2)
    }

    /// Storage offsets (in elements, from the tensor's offset) of every index of the leading
    /// dimensions `shape` with `strides`, in row-major order.
    private static func slabOffsets(shape: [Int], strides: [Int]) -> [Int] {
        var offsets = [0]
        for (d, size) in shape.enumerated() {
            var next = [Int]()
            next.reserveCapacity(offsets.count * size)
            for o in offsets { for i in 0..<size { next.append(o + i * strides[d]) } }
            offsets = next
        }
        return offsets
    }
}
