// The native bf16 product: oneDNN's matmul primitive with bf16 inputs and Float32 accumulation
// and output (Debian's oneDNN 2.6 picks `brg:avx512_core_bf16`, vdpbf16ps, on CPUs with
// AVX512_BF16). Used by `gemm` when both operands come from `roundedToBFloat16()` (autocast
// products and their backward products) and the CPU has AVX512_BF16; everywhere else the same
// product runs as a Float32 GEMM on the rounded values (the emulated path). The two differ only
// in the order of the Float32 sums: a bf16 × bf16 product is exact in Float32.
//
// Operands are packed to contiguous bf16 (rounded to nearest even as they are read), the
// primitive for each (M, N, K, ldc, beta) is created once and kept, and it runs on oneDNN's
// OpenMP team of `Threads.count` threads, called from one thread (never inside `parallelFor`),
// so one pool runs at a time.

import CDNNL
import CDinoKernels
import Foundation

final class NativeBF16: @unchecked Sendable {
    /// The native kernel where the CPU has AVX512_BF16 and oneDNN gives a bf16 matmul; nil otherwise.
    static let shared: NativeBF16? = {
        guard dino_cpu_features() & Int32(DINO_CPU_AVX512_BF16) != 0 else { return nil }
        return NativeBF16()
    }()

    private var engine: dnnl_engine_t?
    private var stream: dnnl_stream_t?
    private struct Key: Hashable { let m, n, k, ldc: Int; let accumulate: Bool }
    private var primitives: [Key: dnnl_primitive_t] = [:]
    private let lock = NSLock()
    private let execution = NSLock()

    private init?() {
        guard dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success,
              dnnl_stream_create(&stream, engine, UInt32(dnnl_stream_default_flags.rawValue)) == dnnl_success else { return nil }
        // Probe: the implementation oneDNN chooses must be a bf16 one (not a reference kernel).
        guard let p = primitive(Key(m: 16, n: 16, k: 16, ldc: 16, accumulate: false)), implementation(p).contains("bf16") else {
            return nil
        }
    }

    private func implementation(_ p: dnnl_primitive_t) -> String {
        var pd: const_dnnl_primitive_desc_t?
        dnnl_primitive_get_primitive_desc(p, &pd)
        var info: UnsafePointer<CChar>?
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &info)
        return info.map { String(cString: $0) } ?? ""
    }

    /// The primitive C (M×N, row stride ldc, Float32) (+)= A (M×K, bf16) · B (K×N, bf16), both contiguous.
    private func primitive(_ key: Key) -> dnnl_primitive_t? {
        lock.lock()
        defer { lock.unlock() }
        if let p = primitives[key] { return p }
        var a = dnnl_memory_desc_t(), b = dnnl_memory_desc_t(), c = dnnl_memory_desc_t()
        var da: [Int64] = [Int64(key.m), Int64(key.k)], sa: [Int64] = [Int64(key.k), 1]
        var db: [Int64] = [Int64(key.k), Int64(key.n)], sb: [Int64] = [Int64(key.n), 1]
        var dc: [Int64] = [Int64(key.m), Int64(key.n)], sc: [Int64] = [Int64(key.ldc), 1]
        var desc = dnnl_matmul_desc_t()
        var attr: dnnl_primitive_attr_t?
        var postOps: dnnl_post_ops_t?
        var pd: dnnl_primitive_desc_t?
        var p: dnnl_primitive_t?
        defer {
            if let pd { dnnl_primitive_desc_destroy(pd) }
            if let attr { dnnl_primitive_attr_destroy(attr) }
            if let postOps { dnnl_post_ops_destroy(postOps) }
        }
        guard dnnl_memory_desc_init_by_strides(&a, 2, &da, dnnl_bf16, &sa) == dnnl_success,
              dnnl_memory_desc_init_by_strides(&b, 2, &db, dnnl_bf16, &sb) == dnnl_success,
              dnnl_memory_desc_init_by_strides(&c, 2, &dc, dnnl_f32, &sc) == dnnl_success,
              dnnl_matmul_desc_init(&desc, &a, &b, nil, &c) == dnnl_success,
              dnnl_primitive_attr_create(&attr) == dnnl_success else { return nil }
        if key.accumulate {
            guard dnnl_post_ops_create(&postOps) == dnnl_success, dnnl_post_ops_append_sum(postOps, 1) == dnnl_success,
                  dnnl_primitive_attr_set_post_ops(attr, postOps) == dnnl_success else { return nil }
        }
        guard dnnl_primitive_desc_create(&pd, &desc, attr, engine, nil) == dnnl_success,
              dnnl_primitive_create(&p, pd) == dnnl_success, let p else { return nil }
        primitives[key] = p
        return p
    }

    /// C (M×N, row stride ldc) = op(A) · op(B) (+ C when `accumulate`), op(A), op(B) read
    /// through their BLAS layouts and rounded to bf16. False when oneDNN refused (the caller
    /// then runs the Float32 GEMM).
    func gemm(_ a: BLASOperand, _ b: BLASOperand, m: Int, n: Int, k: Int,
              into c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) -> Bool {
        guard let p = primitive(Key(m: m, n: n, k: k, ldc: ldc, accumulate: accumulate)) else { return false }
        let pa = UnsafeMutablePointer<UInt16>.allocate(capacity: m * k)
        let pb = UnsafeMutablePointer<UInt16>.allocate(capacity: k * n)
        defer { pa.deallocate(); pb.deallocate() }
        // op(A)[i, j] is at i·ld + j, or at j·ld + i when A is read transposed.
        let (ars, acs) = a.transposed ? (1, a.ld) : (a.ld, 1)
        let (brs, bcs) = b.transposed ? (1, b.ld) : (b.ld, 1)
        let sa = a.tensor.pointer(Float.self), sb = b.tensor.pointer(Float.self)
        parallelFor(m, grain: max(1, 16_384 / max(k, 1))) { r in
            dino_pack_bf16(sa + r.lowerBound * ars, r.count, k, ars, acs, pa + r.lowerBound * k)
        }
        parallelFor(k, grain: max(1, 16_384 / max(n, 1))) { r in
            dino_pack_bf16(sb + r.lowerBound * brs, r.count, n, brs, bcs, pb + r.lowerBound * n)
        }
        var pd: const_dnnl_primitive_desc_t?
        dnnl_primitive_get_primitive_desc(p, &pd)
        var ma: dnnl_memory_t?, mb: dnnl_memory_t?, mc: dnnl_memory_t?
        defer { dnnl_memory_destroy(ma); dnnl_memory_destroy(mb); dnnl_memory_destroy(mc) }
        guard dnnl_memory_create(&ma, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), engine, pa) == dnnl_success,
              dnnl_memory_create(&mb, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), engine, pb) == dnnl_success,
              dnnl_memory_create(&mc, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), engine, c) == dnnl_success
        else { return false }
        var args = [dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: ma), dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: mb),
                    dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: mc)]
        // One stream: executions are serialised (concurrent callers are tests; a training step
        // calls from one thread).
        execution.lock()
        defer { execution.unlock() }
        omp_set_num_threads(Int32(Threads.count))
        let status = dnnl_primitive_execute(p, stream, 3, &args)
        dnnl_stream_wait(stream)
        return status == dnnl_success
    }
}
