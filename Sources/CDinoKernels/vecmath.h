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
// Accuracy (measured against double precision, see Tests/DinoTensorTests/FusedTests.swift):
// vexp ≤ 1.1 ulp on [-87.3, 88.3] (Cephes expf polynomial), vphi relative error < 3e-7 on
// the whole line. Subnormal results of vexp are flushed to zero.

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

/// e^(x + lo), where `lo` is a small correction to the argument carried separately (for
/// arguments computed in two parts, such as −x²/2 = hi + lo). ≤ 1.1 ulp; NaN propagates;
/// −inf and arguments below −87.34 give 0; arguments above 88.376 give +inf.
DK_INLINE vf vexp2part(vf x, vf lo) {
    const float maxArg = 88.3762626647949f, minArg = -87.3365478515625f;
    const float log2e = 1.44269504088896341f;
    const float ln2Hi = 0.693359375f, ln2Lo = -2.12194440e-4f;
    const float magic = 12582912.0f;  // 1.5 · 2²³: adding it rounds to an integer
    vi tooBig = x > maxArg;
    vi tooSmall = x < minArg;
    vf xc = vselect(tooBig, vsplat(maxArg), vselect(tooSmall, vsplat(minArg), x));
    // x = n ln2 + r, |r| ≤ ln2/2; the product n·ln2Hi is exact (ln2Hi has 9 bits).
    vf v = xc * log2e + magic;
    vf n = v - magic;
    vf r = xc - n * ln2Hi;
    r = r - n * ln2Lo;
    r = r + lo;
    // Cephes expf: e^r ≈ 1 + r + r²·P(r).
    vf p = vsplat(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r;
    p = p + 1.0f;
    // 2ⁿ from the exponent bits: n sits in the low mantissa bits of v.
    vi ni = (vi)v - (vi)vsplat(magic);
    vf scale = (vf)((ni + 127) << 23);
    vf result = p * scale;
    result = vselect(tooSmall, vsplat(0.0f), result);
    return vselect(tooBig, vsplat(__builtin_inff()), result);
}

DK_INLINE vf vexp(vf x) { return vexp2part(x, vsplat(0.0f)); }

// MARK: Normal distribution

/// Φ(x), the standard normal CDF, with `*gauss` set to e^(−x²/2).
///
/// Φ(x) = h for x < 0 and 1 − h for x ≥ 0, with h = ½ erfc(|x|/√2) = t · e^(−x²/2) · Q(u),
/// t = 1 / (1 + c |x|), u = 2t − 1, and Q a degree-9 near-minimax fit of ½ erfcx(z)/t
/// (z = |x|/√2) on t ∈ (0, 1] (relative error 3e-8). Two corrections keep h accurate in
/// relative terms, also far in the negative tail: −x²/2 is carried as hi + lo into
/// vexp2part, and the rounding error `err` of t (from the FMA residuals of 1 + c|x| and of
/// the division) is applied to first order, h ← h (1 + S(u) err), with S = d ln(tQ)/d ln t
/// ≈ 1.734 + 0.806 u. Measured relative error of Φ: < 3e-7 (about 2 ulp) on the whole line
/// (FMA targets); the generic variant lacks the FMA residuals and is within 1e-6 for |x| ≤ 5.
DK_INLINE vf vphi(vf x, vf *gauss) {
    const float c = 0.318198052f;  // 0.45/√2
    vf ax = vabs(x);
    vf dh = ax * c + 1.0f;
    vf dl = ax * c + (1.0f - dh);  // residual of dh where contracted to an FMA
    vf t = 1.0f / dh;
    vf e1 = 1.0f - dh * t;
    vf err = e1 - dl * t;          // 1/(dh + dl) = t (1 + err) to first order
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
    vf s = u * 0.806f + 1.734f;
    vf g = q * t;
    g = g * (s * err) + g;
    vf sq = x * x;
    vf sqLo = x * x - sq;  // exact residual where contracted to an FMA, 0 otherwise
    vf e = vexp2part(sq * -0.5f, sqLo * -0.5f);
    vf h = g * e;
    *gauss = e;
    return vselect(x < 0.0f, h, 1.0f - h);
}
