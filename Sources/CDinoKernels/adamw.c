// adamw.c — AdamW's element update, fused: what torch.optim.AdamW (foreach=False) does to one
// parameter, in its operation order, as DinoNN's AdamW computes it element by element:
//
//   p ← p · (1 − lr·wd)                       (when wd ≠ 0; `param.mul_(1 - lr * weight_decay)`)
//   m ← fma(w, g − m, m),  w = 1 − β₁         (`exp_avg.lerp_(grad, 1 - beta1)`, ATen's fused lerp)
//   v ← fma((1 − β₂)·g, g, v·β₂)              (`exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)`)
//   p ← p + (−step·m) / (√v / bc₂ + ε)        (`param.addcdiv_(exp_avg, denom, value=-step_size)`)
//
// Every fused multiply-add is explicit (__builtin_elementwise_fma: one instruction with FMA,
// libm's correctly rounded fmaf in the generic variant) and nothing else is contracted (each
// product stands alone in its statement or meets a division), so the three variants give the
// same bits as each other and as the Swift element loop (AdamWTests).

#include "dino_kernels.h"
#include "vecmath.h"

DK_INLINE void adamw_lanes(float *p, const float *g, float *m, float *v, long n, int apply_decay, float decay,
                           float w, float b2, float c2, float neg_step, float bc2, float eps) {
    vf gi, pi, mi, vi_;
    if (n == DK_W) {
        gi = vload(g); pi = vload(p); mi = vload(m); vi_ = vload(v);
    } else {
        gi = vload_part(g, n, 0.0f); pi = vload_part(p, n, 0.0f);
        mi = vload_part(m, n, 0.0f); vi_ = vload_part(v, n, 0.0f);
    }
    if (apply_decay) pi = pi * decay;
    vf mn = __builtin_elementwise_fma(vsplat(w), gi - mi, mi);
    vf gc = gi * c2;
    vf vb = vi_ * b2;
    vf vn = __builtin_elementwise_fma(gc, gi, vb);
    vf root = __builtin_elementwise_sqrt(vn);
    vf denom = root / bc2;
    denom = denom + eps;
    vf step = mn * neg_step;
    vf update = step / denom;
    vf pn = pi + update;
    if (n == DK_W) {
        vstore(m, mn); vstore(v, vn); vstore(p, pn);
    } else {
        vstore_part(m, mn, n); vstore_part(v, vn, n); vstore_part(p, pn, n);
    }
}

DK_INLINE void adamw_body(float *p, const float *g, float *m, float *v, long count, int apply_decay, float decay,
                          float w, float b2, float c2, float neg_step, float bc2, float eps) {
    long i = 0;
    for (; i + DK_W <= count; i += DK_W)
        adamw_lanes(p + i, g + i, m + i, v + i, DK_W, apply_decay, decay, w, b2, c2, neg_step, bc2, eps);
    if (i < count)
        adamw_lanes(p + i, g + i, m + i, v + i, count - i, apply_decay, decay, w, b2, c2, neg_step, bc2, eps);
}

DK_KERNEL(dino_adamw_update, adamw_body,
          DK_PARAMS(float *param, const float *grad, float *exp_avg, float *exp_avg_sq, long count, int apply_decay,
                    float decay, float lerp_weight, float beta2, float one_minus_beta2, float neg_step,
                    float bias_correction2_sqrt, float eps),
          (param, grad, exp_avg, exp_avg_sq, count, apply_decay, decay, lerp_weight, beta2, one_minus_beta2, neg_step,
           bias_correction2_sqrt, eps))
