// The native bf16 product: oneDNN's matmul primitive with bf16 inputs and Float32 accumulation
// and output (Debian's oneDNN 2.6 picks `brg:avx512_core_bf16`, vdpbf16ps, on CPUs with
// AVX512_BF16). Used by `gemm` when both operands come from `roundedToBFloat16()` (autocast
// products and their backward products) and the CPU has AVX512_BF16; everywhere else the same
// product runs as a Float32 GEMM on the rounded values (the emulated path). The two differ only
// in the order of the Float32 sums: a bf16 × bf16 product is exact in Float32.
//
// Operands are packed to contiguous bf16 (rounded to nearest even as they are read). As the
// Float32 route does (Matmul.swift's `gemm`), the longer side of C is cut into one block per
// thread of `parallelFor`, and each block runs a primitive for its shape (created once and
// kept) on the calling thread alone: oneDNN's OpenMP setting is 1 for the call, so its team
// never starts. A team of `Threads.count` OpenMP threads, as this kernel first used, kept
// spinning after every product while our own threads ran the element-wise work between them:
// that took a bf16 step of `vit_tiny_patch4` from 3.7 to 5.1 s (docs/precision.md). Each block
// has its own stream and scratchpad (user mode), so blocks run concurrently.
//
// A packed operand (`PackedBF16`) can serve more than one product: `linear` packs its input and
// weight once in the forward pass and keeps them for the backward products, and packs the
// incoming gradient once for both of them (4 packings of activation-sized operands per layer
// became 2; docs/precision.md). The bias is oneDNN's bias argument, added to the Float32
// accumulator as the product is written, not a broadcast copy into C read back by a sum.
import CDNNL
import CDinoKernels
import Foundation

final class NativeBF16: @unchecked Sendable {
    /// The native kernel where the CPU has AVX512_BF16 and oneDNN gives a bf16 matmul; nil otherwise.
    static let shared: NativeBF16? = {
        guard dino_cpu_features() & Int32(DINO_CPU_AVX512_BF16) != 0, let matmul = OneDNNMatmul.shared,
              // The implementation oneDNN chooses must be a bf16 one (not a reference kernel).
              matmul.implementation(of: OneDNNMatmul.Key(m: 16, n: 16, k: 16, lda: 16, ldb: 16, ldc: 16, aT: false,
                                                         bT: false, accumulate: false, bias: false, type: .bf16))?
                  .contains("bf16") == true else { return nil }
        return NativeBF16(matmul)
    }()

    private let matmul: OneDNNMatmul

    private init(_ matmul: OneDNNMatmul) { self.matmul = matmul }

    /// C (M×N, row stride ldc) = op(A) · op(B) (+ C when `accumulate`), op(A), op(B) read
    /// through their BLAS layouts and rounded to bf16. False when oneDNN refused (the caller
    /// then runs the Float32 GEMM); a block whose primitive oneDNN refuses runs `dnnl_sgemm`
    /// on the rounded Float32 values, the same products.
    func gemm(_ a: BLASOperand, _ b: BLASOperand, m: Int, n: Int, k: Int,
              into c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) -> Bool {
        gemm(PackedBF16(a, rows: m, cols: k).operand(), PackedBF16(b, rows: k, cols: n).operand(), m: m, n: n, k: k,
             into: c, ldc: ldc, accumulate: accumulate)
        return true
    }

    /// C (M×N, row stride ldc) = op(A) · op(B) (+ C when `accumulate`, + the row `bias` on every
    /// row when given) on packed operands. A block whose primitive oneDNN refuses runs
    /// `dnnl_sgemm` on the packed values widened back to Float32: the same products.
    func gemm(_ a: PackedBF16.Operand, _ b: PackedBF16.Operand, m: Int, n: Int, k: Int,
              into c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, bias: UnsafePointer<Float>? = nil) {
        precondition(!(accumulate && bias != nil), "NativeBF16.gemm: a bias or an accumulation, not both")
        let (pa, pb) = (a.packed.pointer, b.packed.pointer)
        let (lda, ldb) = (a.packed.cols, b.packed.cols)
        // The Float32 route's blocks (`forEachGemmBlock`), one per thread.
        forEachGemmBlock(m: m, n: n, k: k) { byRows, r in
            let block = GemmBlock(byRows: byRows, r, m: m, n: n, lda: lda, aTransposed: a.transposed, ldb: ldb,
                                  bTransposed: b.transposed, ldc: ldc)
            let (blockC, blockBias) = (c + block.c, bias.map { $0 + block.bias })
            omp_set_num_threads(1)
            if matmul.run(OneDNNMatmul.Key(m: block.m, n: block.n, k: k, lda: lda, ldb: ldb, ldc: ldc, aT: a.transposed,
                                           bT: b.transposed, accumulate: accumulate, bias: bias != nil, type: .bf16),
                          a: pa + block.a, b: pb + block.b, c: blockC, bias: blockBias) {
                return
            }
            // oneDNN refused this block: the same product in Float32 on the packed values.
            if let blockBias {
                for row in 0..<block.m { (blockC + row * ldc).update(from: blockBias, count: block.n) }
            }
            sgemmBlock(a.widened(), b.widened(), byRows: byRows, r, m: m, n: n, k: k, into: c, ldc: ldc, alpha: 1,
                       beta: accumulate || bias != nil ? 1 : 0)
        }
    }
}

/// A Float32 matrix's values rounded to bf16 (as `dino_round_bf16`) and packed contiguous in the
/// layout the matrix is stored in, for the native product; it can serve several products.
final class PackedBF16: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<UInt16>
    /// The stored matrix: `rows` rows of `cols` contiguous bf16 values.
    let rows: Int, cols: Int
    /// The packed matrix is the transpose of the one it was made from (that one was read
    /// transposed from its storage).
    let storedTransposed: Bool

    /// Packs op(X) (rows × cols), X read through its BLAS layout: the stored matrix is packed
    /// as it is stored, a transposed operand stays transposed.
    init(_ x: BLASOperand, rows: Int, cols: Int) {
        (self.rows, self.cols) = x.transposed ? (cols, rows) : (rows, cols)
        storedTransposed = x.transposed
        let bytes = max(self.rows * self.cols * 2, 64)
        guard let raw = dino_buffer_allocate(bytes) else {
            fatalError("PackedBF16: out of memory allocating \(bytes) bytes")
        }
        pointer = raw.bindMemory(to: UInt16.self, capacity: self.rows * self.cols)
        let (source, ld, n, dst) = (x.tensor.pointer(Float.self), x.ld, self.cols, pointer)
        parallelFor(self.rows, grain: max(1, 16_384 / max(n, 1))) { r in
            dino_pack_bf16(source + r.lowerBound * ld, r.count, n, ld, 1, dst + r.lowerBound * n)
        }
    }

    deinit { dino_buffer_free(pointer, max(rows * cols * 2, 64)) }

    /// The packed matrix as a product operand: op(X) when `transposed` is false, op(X)ᵀ when true.
    func operand(transposed: Bool = false) -> Operand { Operand(packed: self, transposed: storedTransposed != transposed) }

    /// An operand of the native product: the packed matrix, read transposed when `transposed`.
    struct Operand {
        let packed: PackedBF16
        let transposed: Bool

        /// The operand's bf16 values widened to Float32 (the fallback when oneDNN refuses a block).
        func widened() -> BLASOperand {
            let t = uninitializedTensor([packed.rows, packed.cols], dtype: .float32)
            let p = t.pointer(Float.self)
            for i in 0..<(packed.rows * packed.cols) { p[i] = Float(bitPattern: UInt32(packed.pointer[i]) << 16) }
            return BLASOperand(transposed ? t.transposedView() : t)
        }
    }
}
