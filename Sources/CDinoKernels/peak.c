// peak.c — the machine's arithmetic peak, measured: register-blocked loops of fused
// multiply-adds (Float32) and of bf16 dot products (`vdpbf16ps`), with no memory traffic.
//
// Each loop keeps independent accumulators in vector registers (enough to cover the FMA
// latency times the number of FMA pipes on current cores: 4 cycles × 2 pipes needs 8; we keep
// 12 ymm or 24 zmm), and updates each once per iteration:
//     FMA:   acc_j ← acc_j · a + b                (per lane, one rounding: fmaf)
//     bf16:  acc_j ← acc_j + a₀b₀ + a₁b₁           (per lane, a, b pairs of bf16; vdpbf16ps)
// so the result is checkable against a scalar recurrence. Variants are compiled per function
// with __attribute__((target(...))) and chosen by the caller from the cpuid bits below.

#include "dino_kernels.h"
#include "vecmath.h"
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define PK_X86 1
#else
#define PK_X86 0
#endif

#if PK_X86
static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

int dino_cpu_features(void) {
    int f = 0;
#if PK_X86
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx) return 0;
    uint64_t xcr0 = xgetbv0();
    int ymm_os = (xcr0 & 0x6) == 0x6;           // SSE and AVX state saved by the OS
    int zmm_os = (xcr0 & 0xE6) == 0xE6;         // and opmask, ZMM_Hi256, Hi16_ZMM
    if (!ymm_os) return 0;
    if (__get_cpuid_max(0, 0) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = (b >> 5) & 1, avx512f = (b >> 16) & 1;
    if (avx2 && fma) f |= DINO_CPU_AVX2_FMA;
    if (avx512f && fma && zmm_os) {
        f |= DINO_CPU_AVX512F;
        unsigned a1, b1, c1, d1;
        __cpuid_count(7, 1, a1, b1, c1, d1);
        if ((a1 >> 5) & 1) f |= DINO_CPU_AVX512_BF16;
        (void)b1; (void)c1; (void)d1;
    }
    // AMX-BF16: leaf 7 EDX bit 22, usable only when the OS enabled tile state (XCR0 bits 17, 18).
    if (((d >> 22) & 1) && (xcr0 & 0x60000) == 0x60000) f |= DINO_CPU_AMX_BF16;
    // DINO_MAX_ISA: the CPU as the kernels are allowed to use it.
    int cap = dk_isa_cap();
    if (cap < 2) f &= DINO_CPU_AVX2_FMA;
    if (cap < 1) f = 0;
#endif
    return f;
}

void dino_cpu_model(char *out, long capacity) {
    if (capacity <= 0) return;
    out[0] = 0;
#if PK_X86
    unsigned r[12];
    if (__get_cpuid_max(0x80000000, 0) < 0x80000004) return;
    for (unsigned i = 0; i < 3; i++)
        __get_cpuid(0x80000002 + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
    char s[49];
    memcpy(s, r, 48);
    s[48] = 0;
    const char *p = s;
    while (*p == ' ') p++;
    long n = (long)strlen(p);
    while (n > 0 && p[n - 1] == ' ') n--;
    if (n >= capacity) n = capacity - 1;
    memcpy(out, p, (size_t)n);
    out[n] = 0;
#endif
}

// MARK: Peak loops
//
// The loops are inline assembly, not intrinsics: SwiftPM compiles C targets at -O0 in debug
// builds, where intrinsics would load and store every accumulator on each iteration. Here the
// accumulators live in fixed registers (zmm0–23 or ymm0–11) whatever the optimisation level.
//   vfmadd213ps b, a, acc:  acc ← acc · a + b (one rounding)
//   vdpbf16ps  b, a, acc:   acc ← acc + a[2i]·b[2i] + a[2i+1]·b[2i+1] per Float32 lane

#if PK_X86
__attribute__((target("avx2,fma"))) static void fma_avx2(long iterations, float init, float a, float b, float *out) {
    float ab[2] = {a, b};
    float inits[12];
    for (int j = 0; j < 12; j++) inits[j] = init + (float)j;
    __asm__ volatile(
        "vbroadcastss 0(%[ab]), %%ymm14\n\t"
        "vbroadcastss 4(%[ab]), %%ymm15\n\t"
        "vbroadcastss 0(%[in]), %%ymm0\n\t"
        "vbroadcastss 4(%[in]), %%ymm1\n\t"
        "vbroadcastss 8(%[in]), %%ymm2\n\t"
        "vbroadcastss 12(%[in]), %%ymm3\n\t"
        "vbroadcastss 16(%[in]), %%ymm4\n\t"
        "vbroadcastss 20(%[in]), %%ymm5\n\t"
        "vbroadcastss 24(%[in]), %%ymm6\n\t"
        "vbroadcastss 28(%[in]), %%ymm7\n\t"
        "vbroadcastss 32(%[in]), %%ymm8\n\t"
        "vbroadcastss 36(%[in]), %%ymm9\n\t"
        "vbroadcastss 40(%[in]), %%ymm10\n\t"
        "vbroadcastss 44(%[in]), %%ymm11\n\t"
        "test %[n], %[n]\n\t"
        "jle 2f\n\t"
        "1:\n\t"
        "vfmadd213ps %%ymm15, %%ymm14, %%ymm0\n\t"
        "vfmadd213ps %%ymm15, %%ymm14, %%ymm1\n\t"
        "vfmadd213ps %%ymm15, %%ymm14, %%ymm2\n\t"
        "vfmadd213ps %%ymm15, %%ymm14, %%ymm3\n\t"
        "vfmadd213ps %%ymm15, %%ymm14, %%ymm4\n\t"
        "vfmadd213ps %%ymm15, %%ymm14, %%ymm5\n\t"
        "vfmadd213ps %%ymm15, %%ymm14, %%ymm6\n\t"
        "vfmadd213ps %%ymm15, %%ymm14, %%ymm7\n\t"
        "vfmadd213ps %%ymm15, %%ymm14, %%ymm8\n\t"
        "vfmadd213ps %%ymm15, %%ymm14, %%ymm9\n\t"
        "vfmadd213ps %%ymm15, %%ymm14, %%ymm10\n\t"
        "vfmadd213ps %%ymm15, %%ymm14, %%ymm11\n\t"
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        "2:\n\t"
        "vmovups %%ymm0, 0(%[out])\n\t"
        "vmovups %%ymm1, 32(%[out])\n\t"
        "vmovups %%ymm2, 64(%[out])\n\t"
        "vmovups %%ymm3, 96(%[out])\n\t"
        "vmovups %%ymm4, 128(%[out])\n\t"
        "vmovups %%ymm5, 160(%[out])\n\t"
        "vmovups %%ymm6, 192(%[out])\n\t"
        "vmovups %%ymm7, 224(%[out])\n\t"
        "vmovups %%ymm8, 256(%[out])\n\t"
        "vmovups %%ymm9, 288(%[out])\n\t"
        "vmovups %%ymm10, 320(%[out])\n\t"
        "vmovups %%ymm11, 352(%[out])\n\t"
        : [n] "+r"(iterations)
        : [ab] "r"(ab), [in] "r"(inits), [out] "r"(out)
        : "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm14", "xmm15");
}

__attribute__((target("avx512f,fma"))) static void fma_avx512(long iterations, float init, float a, float b, float *out) {
    float ab[2] = {a, b};
    float inits[24];
    for (int j = 0; j < 24; j++) inits[j] = init + (float)j;
    __asm__ volatile(
        "vbroadcastss 0(%[ab]), %%zmm30\n\t"
        "vbroadcastss 4(%[ab]), %%zmm31\n\t"
        "vbroadcastss 0(%[in]), %%zmm0\n\t"
        "vbroadcastss 4(%[in]), %%zmm1\n\t"
        "vbroadcastss 8(%[in]), %%zmm2\n\t"
        "vbroadcastss 12(%[in]), %%zmm3\n\t"
        "vbroadcastss 16(%[in]), %%zmm4\n\t"
        "vbroadcastss 20(%[in]), %%zmm5\n\t"
        "vbroadcastss 24(%[in]), %%zmm6\n\t"
        "vbroadcastss 28(%[in]), %%zmm7\n\t"
        "vbroadcastss 32(%[in]), %%zmm8\n\t"
        "vbroadcastss 36(%[in]), %%zmm9\n\t"
        "vbroadcastss 40(%[in]), %%zmm10\n\t"
        "vbroadcastss 44(%[in]), %%zmm11\n\t"
        "vbroadcastss 48(%[in]), %%zmm12\n\t"
        "vbroadcastss 52(%[in]), %%zmm13\n\t"
        "vbroadcastss 56(%[in]), %%zmm14\n\t"
        "vbroadcastss 60(%[in]), %%zmm15\n\t"
        "vbroadcastss 64(%[in]), %%zmm16\n\t"
        "vbroadcastss 68(%[in]), %%zmm17\n\t"
        "vbroadcastss 72(%[in]), %%zmm18\n\t"
        "vbroadcastss 76(%[in]), %%zmm19\n\t"
        "vbroadcastss 80(%[in]), %%zmm20\n\t"
        "vbroadcastss 84(%[in]), %%zmm21\n\t"
        "vbroadcastss 88(%[in]), %%zmm22\n\t"
        "vbroadcastss 92(%[in]), %%zmm23\n\t"
        "test %[n], %[n]\n\t"
        "jle 2f\n\t"
        "1:\n\t"
        "vfmadd213ps %%zmm31, %%zmm30, %%zmm0\n\t"
        "vfmadd213ps %%zmm31, %%zmm30, %%zmm1\n\t"
        "vfmadd213ps %%zmm31, %%zmm30, %%zmm2\n\t"
        "vfmadd213ps %%zmm31, %%zmm30, %%zmm3\n\t"
        "vfmadd213ps %%zmm31, %%zmm30, %%zmm4\n\t"
        "vfmadd213ps %%zmm31, %%zmm30, %%zmm5\n\t"
        "vfmadd213ps %%zmm31, %%zmm30, %%zmm6\n\t"
        "vfmadd213ps %%zmm31, %%zmm30, %%zmm7\n\t"
        "vfmadd213ps %%zmm31, %%zmm30, %%zmm8\n\t"
        "vfmadd213ps %%zmm31, %%zmm30, %%zmm9\n\t"
        "vfmadd213ps %%zmm31, %%zmm30, %%zmm10\n\t"
        "vfmadd213ps %%zmm31, %%zmm30, %%zmm11\n\t"
        "vfmadd213ps %%zmm31, %%zmm30, %%zmm12\n\t"
        "vfmadd213ps %%zmm31, %%zmm30, %%zmm13\n\t"
        "vfmadd213ps %%zmm31, %%zmm30, %%zmm14\n\t"
        "vfmadd213ps %%zmm31, %%zmm30, %%zmm15\n\t"
        "vfmadd213ps %%zmm31, %%zmm30, %%zmm16\n\t"
        "vfmadd213ps %%zmm31, %%zmm30, %%zmm17\n\t"
        "vfmadd213ps %%zmm31, %%zmm30, %%zmm18\n\t"
        "vfmadd213ps %%zmm31, %%zmm30, %%zmm19\n\t"
        "vfmadd213ps %%zmm31, %%zmm30, %%zmm20\n\t"
        "vfmadd213ps %%zmm31, %%zmm30, %%zmm21\n\t"
        "vfmadd213ps %%zmm31, %%zmm30, %%zmm22\n\t"
        "vfmadd213ps %%zmm31, %%zmm30, %%zmm23\n\t"
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        "2:\n\t"
        "vmovups %%zmm0, 0(%[out])\n\t"
        "vmovups %%zmm1, 64(%[out])\n\t"
        "vmovups %%zmm2, 128(%[out])\n\t"
        "vmovups %%zmm3, 192(%[out])\n\t"
        "vmovups %%zmm4, 256(%[out])\n\t"
        "vmovups %%zmm5, 320(%[out])\n\t"
        "vmovups %%zmm6, 384(%[out])\n\t"
        "vmovups %%zmm7, 448(%[out])\n\t"
        "vmovups %%zmm8, 512(%[out])\n\t"
        "vmovups %%zmm9, 576(%[out])\n\t"
        "vmovups %%zmm10, 640(%[out])\n\t"
        "vmovups %%zmm11, 704(%[out])\n\t"
        "vmovups %%zmm12, 768(%[out])\n\t"
        "vmovups %%zmm13, 832(%[out])\n\t"
        "vmovups %%zmm14, 896(%[out])\n\t"
        "vmovups %%zmm15, 960(%[out])\n\t"
        "vmovups %%zmm16, 1024(%[out])\n\t"
        "vmovups %%zmm17, 1088(%[out])\n\t"
        "vmovups %%zmm18, 1152(%[out])\n\t"
        "vmovups %%zmm19, 1216(%[out])\n\t"
        "vmovups %%zmm20, 1280(%[out])\n\t"
        "vmovups %%zmm21, 1344(%[out])\n\t"
        "vmovups %%zmm22, 1408(%[out])\n\t"
        "vmovups %%zmm23, 1472(%[out])\n\t"
        : [n] "+r"(iterations)
        : [ab] "r"(ab), [in] "r"(inits), [out] "r"(out)
        : "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm30", "xmm31");
}

__attribute__((target("avx512f,avx512bf16"))) static void dp_bf16(long iterations, float init, uint32_t pa, uint32_t pb, float *out) {
    uint32_t ab[2] = {pa, pb};
    float inits[24];
    for (int j = 0; j < 24; j++) inits[j] = init + (float)j;
    __asm__ volatile(
        "vpbroadcastd 0(%[ab]), %%zmm30\n\t"
        "vpbroadcastd 4(%[ab]), %%zmm31\n\t"
        "vbroadcastss 0(%[in]), %%zmm0\n\t"
        "vbroadcastss 4(%[in]), %%zmm1\n\t"
        "vbroadcastss 8(%[in]), %%zmm2\n\t"
        "vbroadcastss 12(%[in]), %%zmm3\n\t"
        "vbroadcastss 16(%[in]), %%zmm4\n\t"
        "vbroadcastss 20(%[in]), %%zmm5\n\t"
        "vbroadcastss 24(%[in]), %%zmm6\n\t"
        "vbroadcastss 28(%[in]), %%zmm7\n\t"
        "vbroadcastss 32(%[in]), %%zmm8\n\t"
        "vbroadcastss 36(%[in]), %%zmm9\n\t"
        "vbroadcastss 40(%[in]), %%zmm10\n\t"
        "vbroadcastss 44(%[in]), %%zmm11\n\t"
        "vbroadcastss 48(%[in]), %%zmm12\n\t"
        "vbroadcastss 52(%[in]), %%zmm13\n\t"
        "vbroadcastss 56(%[in]), %%zmm14\n\t"
        "vbroadcastss 60(%[in]), %%zmm15\n\t"
        "vbroadcastss 64(%[in]), %%zmm16\n\t"
        "vbroadcastss 68(%[in]), %%zmm17\n\t"
        "vbroadcastss 72(%[in]), %%zmm18\n\t"
        "vbroadcastss 76(%[in]), %%zmm19\n\t"
        "vbroadcastss 80(%[in]), %%zmm20\n\t"
        "vbroadcastss 84(%[in]), %%zmm21\n\t"
        "vbroadcastss 88(%[in]), %%zmm22\n\t"
        "vbroadcastss 92(%[in]), %%zmm23\n\t"
        "test %[n], %[n]\n\t"
        "jle 2f\n\t"
        "1:\n\t"
        "vdpbf16ps %%zmm31, %%zmm30, %%zmm0\n\t"
        "vdpbf16ps %%zmm31, %%zmm30, %%zmm1\n\t"
        "vdpbf16ps %%zmm31, %%zmm30, %%zmm2\n\t"
        "vdpbf16ps %%zmm31, %%zmm30, %%zmm3\n\t"
        "vdpbf16ps %%zmm31, %%zmm30, %%zmm4\n\t"
        "vdpbf16ps %%zmm31, %%zmm30, %%zmm5\n\t"
        "vdpbf16ps %%zmm31, %%zmm30, %%zmm6\n\t"
        "vdpbf16ps %%zmm31, %%zmm30, %%zmm7\n\t"
        "vdpbf16ps %%zmm31, %%zmm30, %%zmm8\n\t"
        "vdpbf16ps %%zmm31, %%zmm30, %%zmm9\n\t"
        "vdpbf16ps %%zmm31, %%zmm30, %%zmm10\n\t"
        "vdpbf16ps %%zmm31, %%zmm30, %%zmm11\n\t"
        "vdpbf16ps %%zmm31, %%zmm30, %%zmm12\n\t"
        "vdpbf16ps %%zmm31, %%zmm30, %%zmm13\n\t"
        "vdpbf16ps %%zmm31, %%zmm30, %%zmm14\n\t"
        "vdpbf16ps %%zmm31, %%zmm30, %%zmm15\n\t"
        "vdpbf16ps %%zmm31, %%zmm30, %%zmm16\n\t"
        "vdpbf16ps %%zmm31, %%zmm30, %%zmm17\n\t"
        "vdpbf16ps %%zmm31, %%zmm30, %%zmm18\n\t"
        "vdpbf16ps %%zmm31, %%zmm30, %%zmm19\n\t"
        "vdpbf16ps %%zmm31, %%zmm30, %%zmm20\n\t"
        "vdpbf16ps %%zmm31, %%zmm30, %%zmm21\n\t"
        "vdpbf16ps %%zmm31, %%zmm30, %%zmm22\n\t"
        "vdpbf16ps %%zmm31, %%zmm30, %%zmm23\n\t"
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        "2:\n\t"
        "vmovups %%zmm0, 0(%[out])\n\t"
        "vmovups %%zmm1, 64(%[out])\n\t"
        "vmovups %%zmm2, 128(%[out])\n\t"
        "vmovups %%zmm3, 192(%[out])\n\t"
        "vmovups %%zmm4, 256(%[out])\n\t"
        "vmovups %%zmm5, 320(%[out])\n\t"
        "vmovups %%zmm6, 384(%[out])\n\t"
        "vmovups %%zmm7, 448(%[out])\n\t"
        "vmovups %%zmm8, 512(%[out])\n\t"
        "vmovups %%zmm9, 576(%[out])\n\t"
        "vmovups %%zmm10, 640(%[out])\n\t"
        "vmovups %%zmm11, 704(%[out])\n\t"
        "vmovups %%zmm12, 768(%[out])\n\t"
        "vmovups %%zmm13, 832(%[out])\n\t"
        "vmovups %%zmm14, 896(%[out])\n\t"
        "vmovups %%zmm15, 960(%[out])\n\t"
        "vmovups %%zmm16, 1024(%[out])\n\t"
        "vmovups %%zmm17, 1088(%[out])\n\t"
        "vmovups %%zmm18, 1152(%[out])\n\t"
        "vmovups %%zmm19, 1216(%[out])\n\t"
        "vmovups %%zmm20, 1280(%[out])\n\t"
        "vmovups %%zmm21, 1344(%[out])\n\t"
        "vmovups %%zmm22, 1408(%[out])\n\t"
        "vmovups %%zmm23, 1472(%[out])\n\t"
        : [n] "+r"(iterations)
        : [ab] "r"(ab), [in] "r"(inits), [out] "r"(out)
        : "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm30", "xmm31");
}
#endif

long dino_peak_fma_f32(int variant, long iterations, float init, float a, float b, float *out) {
    int f = dino_cpu_features();
#if PK_X86
    if (variant == DINO_PEAK_AVX512 && (f & DINO_CPU_AVX512F)) {
        fma_avx512(iterations, init, a, b, out);
        return 24 * 16;
    }
    if (variant == DINO_PEAK_AVX2 && (f & DINO_CPU_AVX2_FMA)) {
        fma_avx2(iterations, init, a, b, out);
        return 12 * 8;
    }
#endif
    (void)f; (void)iterations; (void)init; (void)a; (void)b; (void)out;
    return 0;
}

long dino_peak_dot_bf16(long iterations, float init, uint16_t a0, uint16_t a1, uint16_t b0, uint16_t b1,
                        float *out) {
#if PK_X86
    if (dino_cpu_features() & DINO_CPU_AVX512_BF16) {
        // Element 2j of a pair is the low half of the 32-bit lane.
        dp_bf16(iterations, init, (uint32_t)a0 | ((uint32_t)a1 << 16), (uint32_t)b0 | ((uint32_t)b1 << 16), out);
        return 24 * 16;
    }
#endif
    (void)iterations; (void)init; (void)a0; (void)a1; (void)b0; (void)b1; (void)out;
    return 0;
}
