// What computes a run's Float32 arithmetic on this machine. oneDNN's sgemm picks its kernels
// by instruction set (AVX-512 and AVX2 kernels block the sums differently), and the fused
// kernels have AVX-512, AVX2+FMA and baseline variants: each choice sums in its own order, so a
// run resumed under another one — or data-parallel ranks on different CPUs — is close to, not
// bit-exact with, one that ran throughout on one. The trainer records this in the train state.

import CDNNL

/// The products' library and instruction set, and the fused kernels' variant.
public enum ComputeBackend {
    /// In words, e.g. `onednn 2.6.3 sgemm avx512_core_bf16, fused kernels avx512, linear bias in
    /// the product (brg:avx512_core)` — what a run started here records.
    public static var description: String { description(linearBiasInProduct: true) }

    /// The description of a run whose Float32 `linear` puts its bias in the product (where this
    /// machine can: `Float32Linear.biasKernel`) or broadcasts it (runs recorded before that route).
    public static func description(linearBiasInProduct: Bool) -> String {
        base + (linearBiasInProduct ? Float32Linear.biasKernel.map { "\(biasMarker) (\($0))" } ?? "" : "")
    }

    /// Whether a recorded description (a checkpoint's) names the bias-in-the-product route; nil
    /// (checkpoints written before the description was saved) does not.
    public static func recordsLinearBiasInProduct(_ description: String?) -> Bool {
        description?.contains(biasMarker) ?? false
    }

    private static let biasMarker = ", linear bias in the product"

    private static let base: String = {
        let v = dnnl_version().pointee
        return "onednn \(v.major).\(v.minor).\(v.patch) sgemm \(isaName(dnnl_get_effective_cpu_isa())), "
            + "fused kernels \(FusedKernels.instructionSet)"
    }()

    static func isaName(_ isa: dnnl_cpu_isa_t) -> String {
        switch isa {
        case dnnl_cpu_isa_all: return "all"
        case dnnl_cpu_isa_sse41: return "sse41"
        case dnnl_cpu_isa_avx: return "avx"
        case dnnl_cpu_isa_avx2: return "avx2"
        case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni"
        case dnnl_cpu_isa_avx512_core: return "avx512_core"
        case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx"
        default: return "isa 0x" + String(isa.rawValue, radix: 16)
        }
    }
}

/// How a Float32 `linear` with a bias computes x · Wᵀ + b. Where oneDNN gives a brgemm kernel
/// for it, the bias is the matmul primitive's bias argument, added as the product is written
/// (no broadcast pass; on Zen 5 the qkv forward of `vit_tiny_patch4` 7–11 % faster, fc1 and fc2
/// level: docs/benchmarks.md);
/// elsewhere — and for runs recorded before this route existed, which must resume bit-exactly —
/// the bias is broadcast into every row of C and `dnnl_sgemm` accumulates the product onto it.
/// The two sum a row's K products in different orders (equal for K up to a kernel's K block,
/// within a few ulps beyond), so a run keeps the route it was started with (the trainer reads it
/// from the checkpoint's `ComputeBackend` description).
public enum Float32Linear {
    /// The implementation oneDNN picks for a Float32 product with a bias (e.g.
    /// `brg:avx512_core`); nil where it is not a brgemm kernel (the broadcast route runs).
    public static let biasKernel: String? = {
        guard let matmul = OneDNNMatmul.shared,
              let name = matmul.implementation(of: OneDNNMatmul.Key(m: 64, n: 64, k: 64, lda: 64, ldb: 64, ldc: 64, aT: false,
                                                                    bT: true, accumulate: false, bias: true, type: .float32)),
              name.hasPrefix("brg") else { return nil }
        return name
    }()

    @TaskLocal static var allowBiasInProduct = true

    /// Whether a Float32 `linear` here may put its bias in the product (true unless inside
    /// `withBiasInProduct(false)`): the route a run started here takes.
    public static var biasInProductAllowed: Bool { allowBiasInProduct }

    /// Whether a Float32 `linear` here puts its bias in the product.
    static var biasInProduct: Bool { allowBiasInProduct && biasKernel != nil }

    /// Runs `body` with the bias in the product (where this machine has the kernel) or broadcast
    /// (the route of runs recorded before it).
    public static func withBiasInProduct<R>(_ inProduct: Bool, _ body: () throws -> R) rethrows -> R {
        try $allowBiasInProduct.withValue(inProduct) { try body() }
    }
}
