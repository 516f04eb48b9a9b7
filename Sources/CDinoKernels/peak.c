// peak.c — the machine's arithmetic peak, measured: register-blocked loops of fused
// multiply-adds (Float32) and of bf16 dot products (`vdpbf16ps`), with no memory traffic.
//
// Each loop keeps `acc` independent accumulators in vector registers (enough to cover the FMA
// latency times the number of FMA pipes on current cores: 4 cycles × 2 pipes needs 8; we keep
// 12 ymm or 24 zmm), and updates each once per iteration:
//     FMA:   acc_j ← acc_j · a + b                (per lane, one rounding: fmaf)
//     bf16:  acc_j ← acc_j + a₀b₀ + a₁b₁           (per lane, a, b pairs of bf16; vdpbf16ps)
// so the result is checkable against a scalar recurrence. Variants are compiled per function
// with __attribute__((target(...))) and chosen by the caller from the cpuid bits below.

#include "dino_kernels.h"
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

// MARK: Float32 FMA loops

#define FMA_BODY(ACC, VT, FMADD, SET1, STORE, LANES)                                   \
    VT va = SET1(a), vb = SET1(b), r[ACC];                                             \
    for (int j = 0; j < ACC; j++) r[j] = SET1(init + (float)j);                        \
    for (long i = 0; i < iterations; i++) {                                            \
        _Pragma("clang loop unroll(full)") for (int j = 0; j < ACC; j++)               \
            r[j] = FMADD(r[j], va, vb);                                                \
                                                                                       \
    }                                                                                  \
    for (int j = 0; j < ACC; j++) STORE(out + j * LANES, r[j]);

#if PK_X86
__attribute__((target("avx2,fma"))) static void fma_avx2(long iterations, float init, float a, float b,
                                                          float *out) {
    FMA_BODY(12, __m256, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_storeu_ps, 8)
}

__attribute__((target("avx512f,fma"))) static void fma_avx512(long iterations, float init, float a, float b,
                                                               float *out) {
    FMA_BODY(24, __m512, _mm512_fmadd_ps, _mm512_set1_ps, _mm512_storeu_ps, 16)
}

__attribute__((target("avx512f,avx512bf16"))) static void dp_bf16(long iterations, float init, uint32_t pa,
                                                                   uint32_t pb, float *out) {
    __m512bh va = (__m512bh)_mm512_set1_epi32((int)pa), vb = (__m512bh)_mm512_set1_epi32((int)pb);
    __m512 r[24];
    for (int j = 0; j < 24; j++) r[j] = _mm512_set1_ps(init + (float)j);
    for (long i = 0; i < iterations; i++) {
        _Pragma("clang loop unroll(full)") for (int j = 0; j < 24; j++) r[j] = _mm512_dpbf16_ps(r[j], va, vb);

    }
    for (int j = 0; j < 24; j++) _mm512_storeu_ps(out + j * 16, r[j]);
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
