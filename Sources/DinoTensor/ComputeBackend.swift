// What computes a run's Float32 arithmetic on this machine. oneDNN's sgemm picks its kernels
// by instruction set (AVX-512 and AVX2 kernels block the sums differently), and the fused
// kernels have AVX-512, AVX2+FMA and baseline variants: each choice sums in its own order, so a
// run resumed under another one — or data-parallel ranks on different CPUs — is close to, not
// bit-exact with, one that ran throughout on one. The trainer records this in the train state.

import CDNNL

/// The products' library and instruction set, and the fused kernels' variant.
public enum ComputeBackend {
    /// In words, e.g. `onednn 2.6.3 sgemm avx512_core_bf16, fused kernels avx512`.
    public static let description: String = {
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
