// gelu.c — GELU, exact (erf) and tanh forms, forward and backward, elementwise.
//
// Exact:  y = x Φ(x),  dy/dx = Φ(x) + x φ(x),  φ(x) = e^(−x²/2)/√(2π)   (vphi, vecmath.h).
// Tanh:   u = √(2/π)(x + 0.044715 x³),  y = ½x(1 + tanh u) = x s,  s = 1/(1 + e^(−2u)),
//         dy/dx = s + 2x s (1 − s) u',  u' = √(2/π)(1 + 3·0.044715 x²),  1 − s = e^(−2u) s.
// The sigmoid form has no cancellation for x ≪ 0, where ½(1 + tanh u) loses all digits.

#include "dino_kernels.h"
#include "vecmath.h"

#define DK_INV_SQRT_2PI 0.3989422804014327f
#define DK_K0 0.7978845608028654f            // √(2/π)
#define DK_K1 (0.7978845608028654f * 0.044715f)

DK_INLINE vf gelu_value(vf x) {
    vf gauss;
    return x * vphi(x, &gauss);
}

DK_INLINE vf gelu_grad(vf x, vf dy) {
    vf gauss;
    vf phi = vphi(x, &gauss);
    return dy * (x * (gauss * DK_INV_SQRT_2PI) + phi);
}

DK_INLINE vf gelu_tanh_value(vf x) {
    vf u = x * (x * x * DK_K1 + DK_K0);
    return x / (vexp(u * -2.0f) + 1.0f);
}

DK_INLINE vf gelu_tanh_grad(vf x, vf dy) {
    vf u = x * (x * x * DK_K1 + DK_K0);
    // e^(−2u) clamped to [e^−88, e^88] so that e·s stays finite; beyond, the second term
    // is below 1e-34 and s is exact to that level.
    vf z = vmin(vmax(u * -2.0f, vsplat(-88.0f)), vsplat(88.0f));
    vf e = vexp(z);
    vf s = 1.0f / (e + 1.0f);
    vf xc = vmin(vmax(x, vsplat(-30.0f)), vsplat(30.0f));
    vf du = xc * xc * (3.0f * DK_K1) + DK_K0;
    return dy * ((xc * 2.0f) * s * (e * s) * du + s);
}

#define DK_MAP(name, expr)                                         \
    DK_INLINE void name(const float *x, float *y, long count) {    \
        long i = 0;                                                \
        for (; i + 16 <= count; i += 16) {                         \
            vf v = vload(x + i);                                   \
            vstore(y + i, expr);                                   \
        }                                                          \
        if (i < count) {                                           \
            vf v = vload_part(x + i, count - i, 0.0f);             \
            vstore_part(y + i, expr, count - i);                   \
        }                                                          \
    }

#define DK_MAP2(name, expr)                                                     \
    DK_INLINE void name(const float *x, const float *dy, float *dx, long count) { \
        long i = 0;                                                             \
        for (; i + 16 <= count; i += 16) {                                      \
            vf v = vload(x + i), g = vload(dy + i);                             \
            vstore(dx + i, expr);                                               \
        }                                                                       \
        if (i < count) {                                                        \
            vf v = vload_part(x + i, count - i, 0.0f);                          \
            vf g = vload_part(dy + i, count - i, 0.0f);                         \
            vstore_part(dx + i, expr, count - i);                               \
        }                                                                       \
    }

DK_MAP(gelu_forward_body, gelu_value(v))
DK_MAP2(gelu_backward_body, gelu_grad(v, g))
DK_MAP(gelu_tanh_forward_body, gelu_tanh_value(v))
DK_MAP2(gelu_tanh_backward_body, gelu_tanh_grad(v, g))

DK_KERNEL(dino_gelu_forward, gelu_forward_body,
          DK_PARAMS(const float *x, float *y, long count), (x, y, count))
DK_KERNEL(dino_gelu_backward, gelu_backward_body,
          DK_PARAMS(const float *x, const float *dy, float *dx, long count), (x, dy, dx, count))
DK_KERNEL(dino_gelu_tanh_forward, gelu_tanh_forward_body,
          DK_PARAMS(const float *x, float *y, long count), (x, y, count))
DK_KERNEL(dino_gelu_tanh_backward, gelu_tanh_backward_body,
          DK_PARAMS(const float *x, const float *dy, float *dx, long count), (x, dy, dx, count))
