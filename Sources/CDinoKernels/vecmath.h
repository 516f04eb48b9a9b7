// vecmath.h — 16-lane float vectors and the vectorised math the kernels share.
//
// Every kernel body is written once against the `vf` type (16 floats, GCC/Clang vector
// extensions) and instantiated three times by DK_KERNEL: for AVX-512 (one zmm register per
// vf), AVX2+FMA (two ymm) and a generic baseline (four xmm on x86-64 SSE2, NEON elsewhere).
// Helpers here are always inlined, so each instantiation is compiled for its own target.
// `a * b + c` written as one expression is contracted to a fused multiply-add where the
// target has FMA (clang's default -ffp-contract=on), and stays a multiply and an add in the
// generic variant.
//
// Accuracy, measured on 16M points against double-precision libm (scripts/fused-bench/
// accuracy.c): vexp ≤ 0.9 ulp on [−87.3, 88.3] (1.2 generic), subnormals flushed to zero; vphi
// relative error < 4e-7 on the whole line (AVX2/AVX-512), < 1e-6 for |x| ≤ 5 (generic).

#pragma once
#include <stddef.h>
#include <stdint.h>
#include <string.h>

// Helpers are always inlined into their instantiation, so the vector ABI never applies.
#pragma clang diagnostic ignored "-Wpsabi"

#define DK_INLINE static inline __attribute__((always_inline))
#define DK_W 16

typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));
typedef float vf8 __attribute__((vector_size(32)));
typedef float vf4 __attribute__((vector_size(16)));
typedef float vf2 __attribute__((vector_size(8)));

// MARK: Instantiation per instruction set

#if defined(__x86_64__) || defined(__i386__)
#define DK_X86 1
#define DK_TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))
#define DK_TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
#define DK_X86 0
#endif

/// 2: AVX-512, 1: AVX2+FMA, 0: generic. Chosen once at load time (dispatch.c).
int dk_isa_level(void);
/// The level DINO_MAX_ISA caps the kernels to (0 generic, 1 avx2, 2 avx512; 2 when unset).
int dk_isa_cap(void);

#define DK_PARAMS(...) (__VA_ARGS__)

#if DK_X86
/// Defines `public_name` params, dispatching to three instantiations of the always-inline
/// `body` compiled for AVX-512, AVX2+FMA and the baseline.
#define DK_KERNEL(public_name, body, params, args)                    \
    DK_TARGET_AVX512 static void body##_avx512 params { body args; } \
    DK_TARGET_AVX2 static void body##_avx2 params { body args; }     \
    static void body##_generic params { body args; }                 \
    void public_name params {                                        \
        switch (dk_isa_level()) {                                    \
        case 2: body##_avx512 args; return;                          \
        case 1: body##_avx2 args; return;                            \
        default: body##_generic args; return;                        \
        }                                                            \
    }
#else
#define DK_KERNEL(public_name, body, params, args) \
    void public_name params { body args; }
#endif

// MARK: Loads, stores, lane operations

DK_INLINE vf vsplat(float x) { return (vf){0} + x; }
DK_INLINE vf vload(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
DK_INLINE void vstore(float *p, vf v) { memcpy(p, &v, sizeof v); }

/// The first `n` (< 16) elements at `p`, the other lanes set to `fill`.
DK_INLINE vf vload_part(const float *p, long n, float fill) {
    float tmp[DK_W];
    for (int i = 0; i < DK_W; i++) tmp[i] = fill;
    memcpy(tmp, p, (size_t)n * sizeof(float));
    return vload(tmp);
}

DK_INLINE void vstore_part(float *p, vf v, long n) {
    float tmp[DK_W];
    vstore(tmp, v);
    memcpy(p, tmp, (size_t)n * sizeof(float));
}

/// Lane-wise `m ? a : b` for a comparison mask `m` (all ones or all zeros per lane).
DK_INLINE vf vselect(vi m, vf a, vf b) { return (vf)(((vi)a & m) | ((vi)b & ~m)); }
DK_INLINE vf vmax(vf a, vf b) { return vselect(a > b, a, b); }
DK_INLINE vf vmin(vf a, vf b) { return vselect(a < b, a, b); }
DK_INLINE vf vabs(vf x) { return (vf)((vi)x & 0x7fffffff); }

DK_INLINE float vhsum(vf v) {
    vf8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7)
          + __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    vf4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
    vf2 c = __builtin_shufflevector(b, b, 0, 1) + __builtin_shufflevector(b, b, 2, 3);
    return c[0] + c[1];
}

DK_INLINE float vhmax(vf v) {
    vf8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7);
    vf8 a2 = __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    a = __builtin_elementwise_max(a, a2);
    vf4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3);
    vf4 b2 = __builtin_shufflevector(a, a, 4, 5, 6, 7);
    b = __builtin_elementwise_max(b, b2);
    float m = b[0];
    for (int i = 1; i < 4; i++) m = b[i] > m ? b[i] : m;
    return m;
}

// MARK: exp

#define DK_EXP_MAX_ARG 88.3762626647949f    // largest x with e^x finite (n = 127)
#define DK_EXP_MIN_ARG (-87.3365478515625f) // smallest x with a normal e^x

/// e^(x + lo) without range checks, for x in [DK_EXP_MIN_ARG, DK_EXP_MAX_ARG]; `lo` is a small
/// correction to the argument carried separately (for arguments computed in two parts).
/// x = n ln2 + r, |r| ≤ ln2/2, e^r by a degree-6 polynomial fitted for relative error
/// (3e-9; 0.71 ulp after rounding), 2ⁿ built in the exponent bits. ≤ 0.9 ulp in all.
DK_INLINE vf vexp_core(vf x, vf lo) {
    const float log2e = 1.44269504088896341f;
    const float ln2Hi = 0.693359375f, ln2Lo = -2.12194440e-4f;
    const float magic = 12582912.0f;  // 1.5 · 2²³: adding it rounds to an integer
    vf v = x * log2e + magic;
    vf n = v - magic;
    vf r = x - n * ln2Hi;             // exact: ln2Hi has 9 significant bits
    r = r - n * ln2Lo;
    r = r + lo;
    vf p = vsplat(1.381440437e-03f);
    p = p * r + 8.368710056e-03f;
    p = p * r + 4.166838899e-02f;
    p = p * r + 1.666652113e-01f;
    p = p * r + 4.999999404e-01f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    vi ni = (vi)v - (vi)vsplat(magic);  // n sits in the low mantissa bits of v
    return p * (vf)((ni + 127) << 23);
}

/// e^(x + lo) on the whole line: NaN propagates; −inf and x below −87.34 give 0 (subnormal
/// results are flushed); x above 88.376 gives +inf. Out-of-range lanes compute garbage
/// that the final selects replace.
DK_INLINE vf vexp2part(vf x, vf lo) {
    vf result = vselect(x < DK_EXP_MIN_ARG, vsplat(0.0f), vexp_core(x, lo));
    return vselect(x > DK_EXP_MAX_ARG, vsplat(__builtin_inff()), result);
}

DK_INLINE vf vexp(vf x) { return vexp2part(x, vsplat(-0.0f)); }  // x + −0 = x: folds away

// MARK: Normal distribution

/// Φ(x), the standard normal CDF, with `*gauss` set to e^(−x²/2).
///
/// Φ(x) = h for x < 0 and 1 − h for x ≥ 0, with h = ½ erfc(|x|/√2) = t · e^(−x²/2) · Q(u),
/// t = 1 / (1 + c |x|), u = 2t − 1, and Q a degree-9 near-minimax fit of ½ erfcx(z)/t
/// (z = |x|/√2) on t ∈ (0, 1] (relative error 3e-8). −x²/2 is carried as hi + lo into the
/// exponential (exact where FMA contracts the residual), so h keeps its relative accuracy
/// far into the negative tail. Measured relative error of Φ: < 4e-7 (about 3 ulp) on the
/// whole line with FMA; the generic variant is within 1e-6 for |x| ≤ 5.
DK_INLINE vf vphi(vf x, vf *gauss) {
    const float c = 0.318198052f;  // 0.45/√2
    vf t = 1.0f / (vabs(x) * c + 1.0f);
    vf u = t * 2.0f - 1.0f;
    vf q = vsplat(-4.045474998e-05f);
    q = q * u + 8.609987162e-06f;
    q = q * u + 3.502404143e-04f;
    q = q * u - 7.360440213e-05f;
    q = q * u - 2.568030264e-03f;
    q = q * u - 1.428376068e-03f;
    q = q * u + 2.106964588e-02f;
    q = q * u + 8.139455318e-02f;
    q = q * u + 1.677172631e-01f;
    q = q * u + 2.335701436e-01f;
    vf xh = x * -0.5f;
    vf hi = xh * x;                 // −x²/2 rounded
    vf lo = xh * x - hi;            // its exact residual where contracted to an FMA, else 0
    vf e = vselect(hi < DK_EXP_MIN_ARG, vsplat(0.0f), vexp_core(hi, lo));
    vf h = q * t * e;
    *gauss = e;
    return vselect(x < 0.0f, h, 1.0f - h);
}
