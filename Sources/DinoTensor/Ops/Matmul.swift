// Matrix products through BLAS: matmul (2-D and batched with broadcasting) and linear.
// Float32 on oneDNN, Float64 on OpenBLAS (see `gemm`).

import CBLAS
import CDNNL
import CDinoKernels

/// How a 2-D strided view is handed to BLAS without copying, when its strides allow.
struct BLASOperand {
    let tensor: Tensor
    let transposed: Bool
    let ld: Int

    /// Describes `t` (rank 2); copies it to contiguous when neither layout fits.
    init(_ t: Tensor) {
        let (r, c) = (t.shape[0], t.shape[1])
        if t.strides[1] == 1 && t.strides[0] >= max(c, 1) {
            tensor = t; transposed = false; ld = max(t.strides[0], 1)
        } else if t.strides[0] == 1 && t.strides[1] >= max(r, 1) {
            tensor = t; transposed = true; ld = max(t.strides[1], 1)
        } else if r == 1 || c == 1 {
            let cc = t.contiguousCopy()
            tensor = cc; transposed = false; ld = max(c, 1)
        } else {
            let cc = t.contiguousCopy()
            tensor = cc; transposed = false; ld = c
        }
    }
}

/// C (M×N) = alpha · op(A) (M×K) · op(B) (K×N) + beta · C, row-major.
///
/// Float32 runs on oneDNN's `dnnl_sgemm`, measured faster than OpenBLAS on the products of a
/// ViT training step (docs/benchmarks.md): the longer side of C is cut into one block per thread
/// of `parallelFor`, and oneDNN computes each block on the calling thread alone (its OpenMP
/// setting is per thread and set to 1 before each call), so no OpenMP team ever starts and our
/// threads are the only ones running. Float64 runs on OpenBLAS's `cblas_dgemm` with its own
/// pool of `Threads.count` threads, called from one thread, never inside `parallelFor`.
func gemm(_ a: BLASOperand, _ b: BLASOperand, m: Int, n: Int, k: Int,
          into c: UnsafeMutableRawPointer, ldc: Int, dtype: DType, alpha: Double = 1, beta: Double = 0) {
    if m == 0 || n == 0 { return }
    if k == 0 {
        // An empty sum: C = beta · C (oneDNN rejects K = 0).
        switch dtype {
        case .float32: scaleRows(c.assumingMemoryBound(to: Float.self), m: m, n: n, ldc: ldc, by: Float(beta))
        case .float64: scaleRows(c.assumingMemoryBound(to: Double.self), m: m, n: n, ldc: ldc, by: beta)
        }
        return
    }
    switch dtype {
    case .float32:
        // Autocast's products (both operands from `roundedToBFloat16()`): the native bf16
        // kernel where there is one (NativeBF16.swift); alpha is 1 and beta 0 or 1 there.
        if a.tensor.storage.bf16Operand && b.tensor.storage.bf16Operand && alpha == 1 && (beta == 0 || beta == 1)
            && Autocast.native, let native = NativeBF16.shared,
           native.gemm(a, b, m: m, n: n, k: k, into: c.assumingMemoryBound(to: Float.self), ldc: ldc, accumulate: beta == 1) {
            return
        }
        let pc = c.assumingMemoryBound(to: Float.self)
        forEachGemmBlock(m: m, n: n, k: k) { byRows, r in
            sgemmBlock(a, b, byRows: byRows, r, m: m, n: n, k: k, into: pc, ldc: ldc, alpha: Float(alpha), beta: Float(beta))
        }
    case .float64:
        let ta = a.transposed ? CblasTrans : CblasNoTrans
        let tb = b.transposed ? CblasTrans : CblasNoTrans
        cblas_dgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), alpha,
                    a.tensor.pointer(Double.self), Int32(a.ld), b.tensor.pointer(Double.self), Int32(b.ld),
                    beta, c.assumingMemoryBound(to: Double.self), Int32(ldc))
    }
}

/// Cuts C (M×N) into one block per thread of `parallelFor`: rows of C (rows of op(A)) when
/// M ≥ N, else columns of C (columns of op(B)); a block is worth a thread from about 2²⁰
/// multiply-adds on. `body(byRows, range)` computes the rows or columns in `range`.
func forEachGemmBlock(m: Int, n: Int, k: Int, _ body: (_ byRows: Bool, _ range: Range<Int>) -> Void) {
    let byRows = m >= n
    let grain = max(16, (1 << 20) / max(1, (byRows ? n : m) * k))
    parallelFor(byRows ? m : n, grain: grain) { r in body(byRows, r) }
}

/// Where one block of `forEachGemmBlock` starts, in elements from the start of each matrix, and
/// its shape: rows `r` of C are rows `r` of op(A) with all of op(B); columns `r` of C are all
/// of op(A) with columns `r` of op(B). Row i of op(A) starts at column i of A when A is read
/// transposed; column i of op(B) starts at row i of B when B is read transposed. The row bias of
/// a column block starts at its first column. One definition for every product cut this way
/// (`sgemmBlock`, `linear`'s bias in the product, the native bf16 kernel).
struct GemmBlock {
    let a: Int, b: Int, c: Int, bias: Int
    /// The block of C: `m` rows, `n` columns.
    let m: Int, n: Int

    init(byRows: Bool, _ r: Range<Int>, m: Int, n: Int, lda: Int, aTransposed: Bool, ldb: Int, bTransposed: Bool,
         ldc: Int) {
        let i = r.lowerBound
        a = byRows ? (aTransposed ? i : i * lda) : 0
        b = byRows ? 0 : (bTransposed ? i * ldb : i)
        c = byRows ? i * ldc : i
        bias = byRows ? 0 : i
        (self.m, self.n) = byRows ? (r.count, n) : (m, r.count)
    }
}

/// One block of `forEachGemmBlock` in Float32 with oneDNN's `dnnl_sgemm` on the calling thread
/// alone (its OpenMP setting is per thread, set to 1 here): C = alpha · op(A) · op(B) + beta · C
/// over the rows (`byRows`) or columns `r` of C.
func sgemmBlock(_ a: BLASOperand, _ b: BLASOperand, byRows: Bool, _ r: Range<Int>, m: Int, n: Int, k: Int,
                into c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
    let trans = CChar(UInt8(ascii: "T")), plain = CChar(UInt8(ascii: "N"))
    let block = GemmBlock(byRows: byRows, r, m: m, n: n, lda: a.ld, aTransposed: a.transposed, ldb: b.ld,
                          bTransposed: b.transposed, ldc: ldc)
    omp_set_num_threads(1)
    let status = dnnl_sgemm(a.transposed ? trans : plain, b.transposed ? trans : plain,
                            Int64(block.m), Int64(block.n), Int64(k), alpha, a.tensor.pointer(Float.self) + block.a,
                            Int64(a.ld), b.tensor.pointer(Float.self) + block.b, Int64(b.ld), beta, c + block.c, Int64(ldc))
    precondition(status == dnnl_success, "matmul: dnnl_sgemm failed (status \(status.rawValue)) for M \(m), N \(n), K \(k)")
}

/// C (M×N, row stride ldc) = beta · C; zeros when beta is 0, whatever C held.
private func scaleRows<T: TensorScalar>(_ c: UnsafeMutablePointer<T>, m: Int, n: Int, ldc: Int, by beta: T) {
    if beta == 1 { return }
    for i in 0..<m {
        let row = c + i * ldc
        for j in 0..<n { row[j] = beta == 0 ? 0 : beta * row[j] }
    }
}

extension Tensor {
    /// Raw 2-D product off the tape: (M, K) · (K, N) → (M, N).
    static func matmul2D(_ a: Tensor, _ b: Tensor) -> Tensor {
        let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
        let out = uninitializedTensor([m, n], dtype: a.dtype)   // beta 0: BLAS never reads C
        gemm(BLASOperand(a), BLASOperand(b), m: m, n: n, k: k, into: out.storage.raw, ldc: n, dtype: a.dtype)
        return out
    }

    /// Matrix product with PyTorch's `matmul` semantics for rank ≥ 2 operands:
    /// (…, M, K) · (…, K, N) → (…, M, N), batch dimensions broadcast.
    ///
    /// Inside `withPrecision(.bf16)`, Float32 operands are rounded to bf16 and so is the result
    /// (and, in backward, the gradients): PyTorch's CPU autocast (Autocast.swift).
    public func matmul(_ other: Tensor) -> Tensor {
        if Autocast.bf16(dtype) {
            return withPrecision(.float32) {
                roundedToBFloat16().matmul(other.roundedToBFloat16()).roundedToBFloat16()
            }
        }
        let a = self, b = other
        precondition(a.dtype == b.dtype, "matmul: dtypes \(a.dtype) and \(b.dtype) differ")
        precondition(a.rank >= 2 && b.rank >= 2,
                     "matmul: operands need rank ≥ 2, got \(fmt(a.shape)) and \(fmt(b.shape))")
        let (m, k) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
        let (k2, n) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
        precondition(k == k2, "matmul: inner dimensions differ in \(fmt(a.shape)) · \(fmt(b.shape))")
        let out: Tensor
        if a.rank == 2 && b.rank == 2 {
            out = Tensor.matmul2D(a, b)
        } else {
            guard let batch = broadcastShapes(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2))) else {
                preconditionFailure("matmul: batch dimensions of \(fmt(a.shape)) and \(fmt(b.shape)) cannot broadcast")
            }
            let av = a.expandedView(to: batch + [m, k], op: "matmul")
            let bv = b.expandedView(to: batch + [k, n], op: "matmul")
            out = uninitializedTensor(batch + [m, n], dtype: a.dtype)
            let batches = shapeCount(batch)
            let bstrides = contiguousStrides(batch)
            let es = a.dtype.size
            for i in 0..<batches {
                var ao = av.offset, bo = bv.offset
                var rem = i
                for d in 0..<batch.count {
                    let ix = rem / bstrides[d]
                    rem %= bstrides[d]
                    ao += ix * av.strides[d]
                    bo += ix * bv.strides[d]
                }
                let am = Tensor(storage: a.storage, shape: [m, k], strides: Array(av.strides.suffix(2)), offset: ao)
                let bm = Tensor(storage: b.storage, shape: [k, n], strides: Array(bv.strides.suffix(2)), offset: bo)
                gemm(BLASOperand(am), BLASOperand(bm), m: m, n: n, k: k,
                     into: out.storage.raw + i * m * n * es, ldc: n, dtype: a.dtype)
            }
        }
        return Tensor.record(out, op: .matmul, inputs: [a, b]) { g in
            [a.requiresGrad ? g.matmul(b.transposed()).sum(toShape: a.shape) : nil,
             b.requiresGrad ? a.transposed().matmul(g).sum(toShape: b.shape) : nil]
        }
    }

    /// `x · Wᵀ + b` over the last dimension, as `torch.nn.functional.linear`:
    /// x (…, I), weight (O, I), bias (O) → (…, O).
    ///
    /// Inside `withPrecision(.bf16)`, x, weight, bias and the result are rounded to bf16 (and,
    /// in backward, the gradients): PyTorch's CPU autocast (Autocast.swift).
    public func linear(weight: Tensor, bias: Tensor? = nil) -> Tensor {
        let x = self
        precondition(weight.rank == 2 && x.rank >= 1 && x.shape[x.rank - 1] == weight.shape[1],
                     "linear: input \(fmt(x.shape)) does not match weight \(fmt(weight.shape))")
        if let bias {
            precondition(bias.shape == [weight.shape[0]],
                         "linear: bias \(fmt(bias.shape)) does not match weight \(fmt(weight.shape))")
        }
        if Autocast.bf16(dtype) {
            if Autocast.native, let native = NativeBF16.shared, let y = nativeBF16Linear(native, weight: weight, bias: bias) {
                return y
            }
            return withPrecision(.float32) {
                roundedToBFloat16().linear(weight: weight.roundedToBFloat16(), bias: bias?.roundedToBFloat16())
                    .roundedToBFloat16()
            }
        }
        let (o, i) = (weight.shape[0], weight.shape[1])
        let lead = Array(x.shape.dropLast())
        let rows = shapeCount(lead)
        let x2 = withNoGrad { x.reshape([rows, i]) }
        // Written whole: by the bias copy (then beta = 1), or by the product alone (beta = 0).
        let out = uninitializedTensor(lead + [o], dtype: x.dtype)
        let (a, b) = (BLASOperand(x2), BLASOperand(weight.transposedView()))   // x · Wᵀ
        if let bias, x.dtype == .float32, rows > 0, o > 0, i > 0, Float32Linear.biasInProduct, let matmul = OneDNNMatmul.shared {
            Tensor.productWithBias(matmul, a, b, bias: bias, m: rows, n: o, k: i, into: out.pointer(Float.self))
        } else {
            if let bias {
                // Start from the bias broadcast over rows, then accumulate the product (beta = 1).
                out.reshapedView([rows, o]).copyIn(bias.expandedView(to: [rows, o], op: "linear"))
            }
            gemm(a, b, m: rows, n: o, k: i, into: out.storage.raw, ldc: o, dtype: x.dtype, beta: bias == nil ? 0 : 1)
        }
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        return Tensor.record(out, op: .linear, inputs: inputs) { g in
            let g2 = g.reshape([rows, o])
            let dx = x.requiresGrad ? Tensor.matmul2D(g2, weight).reshape(x.shape) : nil
            let dw = weight.requiresGrad ? Tensor.matmul2D(g2.transposedView(), x2) : nil
            var grads: [Tensor?] = [dx, dw]
            if let bias { grads.append(bias.requiresGrad ? g2.sum(axes: [0]) : nil) }
            return grads
        }
    }

    /// C (M×N, contiguous) = op(A) · op(B) + the row `bias` on every row, in Float32, the bias
    /// in oneDNN's matmul primitive (`Float32Linear`), one block per thread as `gemm` cuts them;
    /// a block oneDNN refuses runs the broadcast route (the bias copied into its rows, then
    /// `dnnl_sgemm` with beta 1).
    private static func productWithBias(_ matmul: OneDNNMatmul, _ a: BLASOperand, _ b: BLASOperand, bias: Tensor,
                                        m: Int, n: Int, k: Int, into c: UnsafeMutablePointer<Float>) {
        let bias = bias.isContiguous ? bias : bias.contiguousCopy()
        let (pa, pb, pbias) = (a.tensor.pointer(Float.self), b.tensor.pointer(Float.self), bias.pointer(Float.self))
        forEachGemmBlock(m: m, n: n, k: k) { byRows, r in
            let block = GemmBlock(byRows: byRows, r, m: m, n: n, lda: a.ld, aTransposed: a.transposed, ldb: b.ld,
                                  bTransposed: b.transposed, ldc: n)
            let (blockC, blockBias) = (c + block.c, pbias + block.bias)
            omp_set_num_threads(1)
            if matmul.run(OneDNNMatmul.Key(m: block.m, n: block.n, k: k, lda: a.ld, ldb: b.ld, ldc: n, aT: a.transposed,
                                           bT: b.transposed, accumulate: false, bias: true, type: .float32),
                          a: UnsafeMutableRawPointer(pa + block.a), b: UnsafeMutableRawPointer(pb + block.b), c: blockC,
                          bias: UnsafePointer(blockBias)) {
                return
            }
            for row in 0..<block.m { (blockC + row * n).update(from: blockBias, count: block.n) }
            sgemmBlock(a, b, byRows: byRows, r, m: m, n: n, k: k, into: c, ldc: n, alpha: 1, beta: 1)
        }
    }

    /// Autocast's linear on the native bf16 kernel: R(R(x) · R(W)ᵀ + R(b)), and backward
    /// dx = R(R(g) · R(W)), dW = R(R(g)ᵀ · R(x)), db = R(Σ_rows R(g)) — the composition above
    /// (`roundedToBFloat16()` around `linear`) without writing the rounded operands: the
    /// kernel's packing rounds each operand as it reads it (`dino_pack_bf16` rounds as `R`
    /// does), the results are rounded in place, and the bias gradient sums the rounded
    /// gradient on the fly. Same products and roundings, hence the same values up to the order
    /// of the Float32 sums; each `R` pass it saves was a full read and write of an activation
    /// or a gradient (docs/precision.md). Shapes are checked by `linear`; nil for an empty
    /// product (the composition handles it).
    private func nativeBF16Linear(_ native: NativeBF16, weight: Tensor, bias: Tensor?) -> Tensor? {
        let x = self
        precondition(weight.dtype == .float32 && (bias?.dtype ?? .float32) == .float32,
                     "linear: a Float32 input needs a Float32 weight and bias, got \(weight.dtype)")
        let (o, i) = (weight.shape[0], weight.shape[1])
        let lead = Array(x.shape.dropLast())
        let rows = shapeCount(lead)
        if rows == 0 || o == 0 || i == 0 { return nil }
        let x2 = withNoGrad { x.reshape([rows, i]) }
        let out = uninitializedTensor(lead + [o], dtype: .float32)
        // The input and the weight packed once, here, and kept for the backward products (the
        // weight does not change before them: the optimiser steps after the backward pass).
        let px = PackedBF16(BLASOperand(x2), rows: rows, cols: i)
        let pw = PackedBF16(BLASOperand(weight), rows: o, cols: i)
        let rb = bias.map { b in withNoGrad { b.roundedToBFloat16().contiguous() } }
        // C = A · B (+ R(b) on every row) on the native kernel, then R(C) in place.
        func roundedProduct(_ a: PackedBF16.Operand, _ b: PackedBF16.Operand, _ m: Int, _ n: Int, _ k: Int, into c: Tensor,
                            bias: Tensor? = nil) {
            native.gemm(a, b, m: m, n: n, k: k, into: c.pointer(Float.self), ldc: n, accumulate: false,
                        bias: bias.map { UnsafePointer($0.pointer(Float.self)) })
            c.roundToBFloat16InPlace()
        }
        roundedProduct(px.operand(), pw.operand(transposed: true), rows, o, i, into: out, bias: rb)   // R(x · Wᵀ + R(b))
        out.storage.holdsBF16Values = true
        out.storage.bf16Operand = true
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        // Only what a backward product reads is kept: the packed input for dW, the weight for dX.
        let (keptX, keptW) = (weight.requiresGrad ? px : nil, x.requiresGrad ? pw : nil)
        return Tensor.record(out, op: .linear, inputs: inputs) { g in
            // Contiguous once: both products and the bias sum read it (a strided gradient, e.g.
            // from attention's head split, would otherwise be copied by each), and packed once
            // for both products.
            let g2 = withNoGrad { (g.isContiguous ? g : g.contiguousCopy()).reshape([rows, o]) }
            let pg = PackedBF16(BLASOperand(g2), rows: rows, cols: o)
            func product(_ a: PackedBF16.Operand, _ b: PackedBF16.Operand, _ m: Int, _ n: Int, _ k: Int) -> Tensor {
                let c = uninitializedTensor([m, n], dtype: .float32)
                roundedProduct(a, b, m, n, k, into: c)
                return c
            }
            let dx = keptW.map { product(pg.operand(), $0.operand(), rows, i, o).reshape(x.shape) }
            let dw = keptX.map { product(pg.operand(transposed: true), $0.operand(), o, i, rows) }
            var grads: [Tensor?] = [dx, dw]
            if let bias {
                var db: Tensor?
                if bias.requiresGrad {
                    let d = uninitializedTensor([o], dtype: .float32)
                    let gp = g2.pointer(Float.self), dp = d.pointer(Float.self)
                    // Column blocks, one per thread; each sums its columns over every row in order.
                    parallelFor(o, grain: Swift.max(16, 65_536 / Swift.max(rows, 1))) { r in
                        dino_sum_rows_bf16(gp + r.lowerBound, rows, r.count, o, dp + r.lowerBound)
                    }
                    d.roundToBFloat16InPlace()
                    db = d
                }
                grads.append(db)
            }
            return grads
        }
    }

    /// Rounds a contiguous Float32 tensor's values to bfloat16 in place (off the tape).
    func roundToBFloat16InPlace() {
        precondition(dtype == .float32 && isContiguous, "roundToBFloat16InPlace: a contiguous Float32 tensor")
        let p = pointer(Float.self)
        parallelFor(shapeCount(shape), grain: 1 << 16) { r in dino_round_bf16(p + r.lowerBound, p + r.lowerBound, r.count) }
    }

    /// Transpose of the last two dimensions, off the tape.
    func transposedView() -> Tensor {
        var s = shape, st = strides
        s.swapAt(rank - 2, rank - 1)
        st.swapAt(rank - 2, rank - 1)
        return Tensor(storage: storage, shape: s, strides: st, offset: offset)
    }

    /// The same elements reinterpreted in `shape` when the layout allows; copies otherwise. Off the tape.
    func reshapedView(_ newShape: [Int]) -> Tensor {
        if newShape == shape { return self }
        let c = isContiguous ? self : contiguousCopy()
        return Tensor(storage: c.storage, shape: newShape, offset: c.offset)
    }
}
