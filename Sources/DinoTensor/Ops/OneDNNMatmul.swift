// oneDNN's matmul primitive, one block of a product on the calling thread: the native bf16
// product (NativeBF16.swift) and the Float32 `linear` with its bias in the product
// (`Float32Linear`, Matmul.swift) run through it. Each block's primitive is created once for its
// shape and kept; each call has its own stream and scratchpad (user mode), so the blocks of
// `forEachGemmBlock` run concurrently, one per thread, with oneDNN's OpenMP setting at 1.
import CDNNL
import Foundation

final class OneDNNMatmul: @unchecked Sendable {
    /// oneDNN's CPU engine; nil where it cannot be created.
    static let shared: OneDNNMatmul? = OneDNNMatmul()

    /// The operands' type: bf16 (Float32 accumulation and output) or Float32 throughout.
    enum OperandType: Hashable { case bf16, float32 }

    /// A block C (m×n, row stride ldc) (+)= A (m×k) · B (k×n) (+ a bias row): A[i, j] at i·lda + j,
    /// or at j·lda + i when `aT` (A stored transposed); B likewise with ldb and `bT`; C and the
    /// bias Float32.
    struct Key: Hashable { let m, n, k, lda, ldb, ldc: Int; let aT, bT, accumulate, bias: Bool; let type: OperandType }

    private var engine: dnnl_engine_t?
    private var primitives: [Key: dnnl_primitive_t] = [:]
    private let lock = NSLock()

    private init?() {
        guard dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success else { return nil }
    }

    /// The name of the implementation oneDNN chooses for `key` (e.g. `brg:avx512_core_bf16`);
    /// nil when it refuses the primitive.
    func implementation(of key: Key) -> String? {
        guard let p = primitive(key) else { return nil }
        var pd: const_dnnl_primitive_desc_t?
        dnnl_primitive_get_primitive_desc(p, &pd)
        var info: UnsafePointer<CChar>?
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &info)
        return info.map { String(cString: $0) } ?? ""
    }

    /// The primitive of `key`, with a user-provided scratchpad; nil when oneDNN refuses it.
    private func primitive(_ key: Key) -> dnnl_primitive_t? {
        lock.lock()
        defer { lock.unlock() }
        if let p = primitives[key] { return p }
        let type = key.type == .bf16 ? dnnl_bf16 : dnnl_f32
        var a = dnnl_memory_desc_t(), b = dnnl_memory_desc_t(), c = dnnl_memory_desc_t()
        var da: [Int64] = [Int64(key.m), Int64(key.k)], sa: [Int64] = key.aT ? [1, Int64(key.lda)] : [Int64(key.lda), 1]
        var db: [Int64] = [Int64(key.k), Int64(key.n)], sb: [Int64] = key.bT ? [1, Int64(key.ldb)] : [Int64(key.ldb), 1]
        var dc: [Int64] = [Int64(key.m), Int64(key.n)], sc: [Int64] = [Int64(key.ldc), 1]
        var bias = dnnl_memory_desc_t()
        var dbias: [Int64] = [1, Int64(key.n)], sbias: [Int64] = [Int64(key.n), 1]
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
        guard dnnl_memory_desc_init_by_strides(&a, 2, &da, type, &sa) == dnnl_success,
              dnnl_memory_desc_init_by_strides(&b, 2, &db, type, &sb) == dnnl_success,
              dnnl_memory_desc_init_by_strides(&c, 2, &dc, dnnl_f32, &sc) == dnnl_success,
              !key.bias || dnnl_memory_desc_init_by_strides(&bias, 2, &dbias, dnnl_f32, &sbias) == dnnl_success,
              withUnsafePointer(to: &bias, { pbias in dnnl_matmul_desc_init(&desc, &a, &b, key.bias ? pbias : nil, &c) })
                == dnnl_success,
              dnnl_primitive_attr_create(&attr) == dnnl_success,
              dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success else { return nil }
        if key.accumulate {
            guard dnnl_post_ops_create(&postOps) == dnnl_success, dnnl_post_ops_append_sum(postOps, 1) == dnnl_success,
                  dnnl_primitive_attr_set_post_ops(attr, postOps) == dnnl_success else { return nil }
        }
        guard dnnl_primitive_desc_create(&pd, &desc, attr, engine, nil) == dnnl_success,
              dnnl_primitive_create(&p, pd) == dnnl_success, let p else { return nil }
        primitives[key] = p
        return p
    }

    /// Runs the block `key` on the calling thread with its own stream and scratchpad (the caller
    /// sets oneDNN's OpenMP threads to 1); false if oneDNN refused (C is then untouched).
    func run(_ key: Key, a: UnsafeMutableRawPointer, b: UnsafeMutableRawPointer, c: UnsafeMutablePointer<Float>,
             bias: UnsafePointer<Float>?) -> Bool {
        guard let engine, let p = primitive(key) else { return false }
        var pd: const_dnnl_primitive_desc_t?
        dnnl_primitive_get_primitive_desc(p, &pd)
        var stream: dnnl_stream_t?
        var ma: dnnl_memory_t?, mb: dnnl_memory_t?, mc: dnnl_memory_t?, ms: dnnl_memory_t?, mbias: dnnl_memory_t?
        let scratchMD = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)
        let scratchBytes = scratchMD.map { dnnl_memory_desc_get_size($0) } ?? 0
        let scratch = scratchBytes > 0 ? UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 64) : nil
        defer {
            dnnl_memory_destroy(ma); dnnl_memory_destroy(mb); dnnl_memory_destroy(mc); dnnl_memory_destroy(ms)
            dnnl_memory_destroy(mbias)
            if let stream { dnnl_stream_destroy(stream) }
            scratch?.deallocate()
        }
        guard dnnl_stream_create(&stream, engine, UInt32(dnnl_stream_default_flags.rawValue)) == dnnl_success,
              dnnl_memory_create(&ma, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), engine, a) == dnnl_success,
              dnnl_memory_create(&mb, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), engine, b) == dnnl_success,
              dnnl_memory_create(&mc, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), engine, c) == dnnl_success
        else { return false }
        var args = [dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: ma), dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: mb),
                    dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: mc)]
        if let bias {
            guard dnnl_memory_create(&mbias, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1), engine,
                                     UnsafeMutableRawPointer(mutating: bias)) == dnnl_success else { return false }
            args.append(dnnl_exec_arg_t(arg: DNNL_ARG_BIAS, memory: mbias))
        }
        if let scratch {
            guard dnnl_memory_create(&ms, scratchMD, engine, scratch) == dnnl_success else { return false }
            args.append(dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: ms))
        }
        let status = dnnl_primitive_execute(p, stream, Int32(args.count), &args)
        dnnl_stream_wait(stream)
        return status == dnnl_success
    }
}
