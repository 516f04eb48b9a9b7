// Scaled dot-product attention as one fused op over (batch, head) pairs.
//
// The (B·H) heads are split across threads with parallelFor; inside a head, the Float32
// path runs CDinoKernels/attention.c, whose small register-blocked products replace the
// per-head BLAS calls that would dominate at ViT sizes (65 × 64). Float64 runs the plain
// loops below. Operands may be strided views (for example q, k, v sliced from a permuted
// qkv projection) as long as the last dimension has unit stride; otherwise they are copied.

import CDinoKernels

extension Tensor {
    /// Scaled dot-product attention: `softmax(q kᵀ · scale) v` per batch and head.
    ///
    /// Forward per head: `S = scale · Q Kᵀ` (Nq, Nk), `P = softmax(S)` over the last axis,
    /// `O = P V` (Nq, Dh). Backward: `dV = Pᵀ dO`, `dP = dO Vᵀ`,
    /// `dS = P ⊙ (dP − rowsum(dP ⊙ P))`, `dQ = dS K · scale`, `dK = dSᵀ Q · scale`.
    ///
    /// Memory: the forward pass keeps the attention probabilities P for the backward pass,
    /// B·H·Nq·Nk elements, with Nk rounded up to a multiple of 16 in Float32 (4 MB for
    /// (64, 3, 65, 64)), released with the graph; the per-head scratch is a few
    /// (N, Dh)-sized buffers per thread. No mask and no dropout.
    ///
    /// - Parameters:
    ///   - query: (B, H, Nq, Dh).
    ///   - key: (B, H, Nk, Dh).
    ///   - value: (B, H, Nk, Dh).
    ///   - scale: multiplies the scores; default `1/√Dh`.
    /// - Returns: (B, H, Nq, Dh).
    /// Reference: Vaswani et al., "Attention Is All You Need" (2017), eq. 1;
    /// `torch.nn.functional.scaled_dot_product_attention`.
    public static func scaledDotProductAttention(query: Tensor, key: Tensor, value: Tensor,
                                                 scale: Double? = nil) -> Tensor {
        if Autocast.bf16(query.dtype) {
            // PyTorch's CPU autocast lists scaled_dot_product_attention among the bf16 ops.
            return withPrecision(.float32) {
                scaledDotProductAttention(query: query.roundedToBFloat16(), key: key.roundedToBFloat16(),
                                          value: value.roundedToBFloat16(), scale: scale).roundedToBFloat16()
            }
        }
        let (q, k, v) = (query, key, value)
        precondition(q.rank == 4 && k.rank == 4 && v.rank == 4,
                     "scaledDotProductAttention: query, key and value must be (B, H, N, Dh), got \(fmt(q.shape)), \(fmt(k.shape)), \(fmt(v.shape))")
        precondition(k.shape == v.shape && q.shape[0] == k.shape[0] && q.shape[1] == k.shape[1] && q.shape[3] == k.shape[3],
                     "scaledDotProductAttention: query \(fmt(q.shape)), key \(fmt(k.shape)) and value \(fmt(v.shape)) do not match")
        precondition(k.shape[2] > 0, "scaledDotProductAttention: key \(fmt(k.shape)) has no positions to attend to")
        precondition(q.dtype == k.dtype && k.dtype == v.dtype,
                     "scaledDotProductAttention: dtypes \(q.dtype), \(k.dtype), \(v.dtype) differ")
        let geometry = AttentionGeometry(batch: q.shape[0], heads: q.shape[1], nq: q.shape[2], nk: k.shape[2],
                                         d: q.shape[3], scale: scale ?? 1 / Double(q.shape[3]).squareRoot())
        let (qs, ks, vs) = (q.unitInnerStride(), k.unitInnerStride(), v.unitInnerStride())
        let out = uninitializedTensor([geometry.batch, geometry.heads, geometry.nq, geometry.d], dtype: q.dtype)    // (B, H, Nq, Dh)
        // P saved for backward, (B, H, Nq, Nk'); in Float32 rows are padded to Nk' = Nk rounded up to 16.
        let ld = q.dtype == .float32 ? dino_attention_probs_ld(geometry.nk) : geometry.nk
        let probs = uninitializedTensor([geometry.batch, geometry.heads, geometry.nq, ld], dtype: q.dtype)
        switch q.dtype {
        case .float32:
            geometry.forEachHeadRange { z in
                dino_attention_forward(qs.headOperand(), ks.headOperand(), vs.headOperand(), geometry.heads,
                                       z.lowerBound, z.upperBound, geometry.nq, geometry.nk, geometry.d,
                                       Float(geometry.scale), out.pointer(Float.self), probs.pointer(Float.self))
            }
        case .float64:
            let (qc, kc, vc) = withNoGrad { (q.contiguous(), k.contiguous(), v.contiguous()) }
            geometry.forEachHeadRange { z in
                AttentionLoops.forward(qc.pointer(Double.self), kc.pointer(Double.self), vc.pointer(Double.self),
                                       out.pointer(Double.self), probs.pointer(Double.self), heads: z, geometry)
            }
        }
        return Tensor.record(out, op: .scaledDotProductAttention, inputs: [q, k, v]) { g in
            let dout = g.unitInnerStride()
            let dq = uninitializedTensor(q.shape, dtype: q.dtype)   // (B, H, Nq, Dh)
            let dk = uninitializedTensor(k.shape, dtype: k.dtype)   // (B, H, Nk, Dh)
            let dv = uninitializedTensor(v.shape, dtype: v.dtype)   // (B, H, Nk, Dh)
            switch q.dtype {
            case .float32:
                geometry.forEachHeadRange { z in
                    dino_attention_backward(qs.headOperand(), ks.headOperand(), vs.headOperand(), dout.headOperand(),
                                            probs.pointer(Float.self), geometry.heads, z.lowerBound, z.upperBound,
                                            geometry.nq, geometry.nk, geometry.d, Float(geometry.scale),
                                            dq.pointer(Float.self), dk.pointer(Float.self), dv.pointer(Float.self))
                }
            case .float64:
                let (qc, kc, vc) = withNoGrad { (q.contiguous(), k.contiguous(), v.contiguous()) }
                let gc = withNoGrad { g.contiguous() }
                geometry.forEachHeadRange { z in
                    AttentionLoops.backward(qc.pointer(Double.self), kc.pointer(Double.self), vc.pointer(Double.self),
                                            gc.pointer(Double.self), probs.pointer(Double.self),
                                            dq.pointer(Double.self), dk.pointer(Double.self), dv.pointer(Double.self),
                                            heads: z, geometry)
                }
            }
            return [q.requiresGrad ? dq : nil, k.requiresGrad ? dk : nil, v.requiresGrad ? dv : nil]
        }
    }

    /// This tensor when its last dimension has unit stride, else a contiguous copy (off the tape).
    fileprivate func unitInnerStride() -> Tensor {
        strides[rank - 1] == 1 || shape[rank - 1] <= 1 ? self : withNoGrad { contiguous() }
    }

    /// The C kernels' view of a (B, H, N, Dh) tensor with unit stride along Dh.
    fileprivate func headOperand() -> dino_head_operand {
        dino_head_operand(data: pointer(Float.self), sb: strides[0], sh: strides[1], sn: strides[2])
    }
}

/// Sizes of one attention problem.
struct AttentionGeometry {
    let batch: Int, heads: Int, nq: Int, nk: Int, d: Int
    let scale: Double

    /// Calls `body` on disjoint ranges of the flattened head index z = b·H + h, in parallel.
    func forEachHeadRange(_ body: (Range<Int>) -> Void) {
        let work = max(1, nq * nk * d)
        parallelFor(batch * heads, grain: max(1, 65_536 / work), body)
    }
}

/// Attention heads in plain Swift on contiguous (B, H, N, Dh) buffers (the Float64 path).
enum AttentionLoops {
    static func forward<T: TensorScalar>(_ q: UnsafePointer<T>, _ k: UnsafePointer<T>, _ v: UnsafePointer<T>,
                                         _ out: UnsafeMutablePointer<T>, _ probs: UnsafeMutablePointer<T>,
                                         heads: Range<Int>, _ g: AttentionGeometry) {
        let (nq, nk, d) = (g.nq, g.nk, g.d)
        let scale = T(g.scale)
        for z in heads {
            let qz = q + z * nq * d, kz = k + z * nk * d, vz = v + z * nk * d
            let pz = probs + z * nq * nk, oz = out + z * nq * d
            for i in 0..<nq {
                let row = pz + i * nk
                for j in 0..<nk {
                    var s: T = 0
                    for p in 0..<d { s += qz[i * d + p] * kz[j * d + p] }
                    row[j] = s * scale
                }
                SoftmaxRows.forward(row, row, n: nk, log: false)
                for p in 0..<d {
                    var o: T = 0
                    for j in 0..<nk { o += row[j] * vz[j * d + p] }
                    oz[i * d + p] = o
                }
            }
        }
    }

    static func backward<T: TensorScalar>(_ q: UnsafePointer<T>, _ k: UnsafePointer<T>, _ v: UnsafePointer<T>,
                                          _ dout: UnsafePointer<T>, _ probs: UnsafePointer<T>,
                                          _ dq: UnsafeMutablePointer<T>, _ dk: UnsafeMutablePointer<T>,
                                          _ dv: UnsafeMutablePointer<T>, heads: Range<Int>, _ g: AttentionGeometry) {
        let (nq, nk, d) = (g.nq, g.nk, g.d)
        let scale = T(g.scale)
        var ds = [T](repeating: 0, count: nq * nk)   // (Nq, Nk)
        for z in heads {
            let qz = q + z * nq * d, kz = k + z * nk * d, vz = v + z * nk * d, doz = dout + z * nq * d
            let pz = probs + z * nq * nk
            let dqz = dq + z * nq * d, dkz = dk + z * nk * d, dvz = dv + z * nk * d
            // dV = Pᵀ dO
            for j in 0..<nk {
                for p in 0..<d {
                    var s: T = 0
                    for i in 0..<nq { s += pz[i * nk + j] * doz[i * d + p] }
                    dvz[j * d + p] = s
                }
            }
            // dP = dO Vᵀ, then dS = P ⊙ (dP − rowsum(dP ⊙ P))
            for i in 0..<nq {
                var dot: T = 0
                for j in 0..<nk {
                    var s: T = 0
                    for p in 0..<d { s += doz[i * d + p] * vz[j * d + p] }
                    ds[i * nk + j] = s
                    dot += s * pz[i * nk + j]
                }
                for j in 0..<nk { ds[i * nk + j] = pz[i * nk + j] * (ds[i * nk + j] - dot) }
            }
            // dQ = dS K · scale, dK = dSᵀ Q · scale
            for i in 0..<nq {
                for p in 0..<d {
                    var s: T = 0
                    for j in 0..<nk { s += ds[i * nk + j] * kz[j * d + p] }
                    dqz[i * d + p] = s * scale
                }
            }
            for j in 0..<nk {
                for p in 0..<d {
                    var s: T = 0
                    for i in 0..<nq { s += ds[i * nk + j] * qz[i * d + p] }
                    dkz[j * d + p] = s * scale
                }
            }
        }
    }
}
