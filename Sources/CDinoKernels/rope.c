// rope.c — rotary position embedding (RoPE) of DINOv3, forward and backward, per token row.
//
// With the head dimension split in halves x = [a, b] (h = n/2 each) and the table rows
// sin = [s₁, s₂], cos = [c₁, c₂]:
//   forward   y = x cos + rotate_half(x) sin,  rotate_half([a, b]) = [−b, a]
//             y₁ = a c₁ − b s₁,  y₂ = b c₂ + a s₂
//   backward  dx = dy cos + rotate_halfᵀ(dy sin),  rotate_halfᵀ([u, v]) = [v, −u]
//             da = g₁ c₁ + g₂ s₂,  db = g₂ c₂ − g₁ s₁
// One call handles `tokens` rows of one (batch, head) slab: rows before `prefix` (class and
// register tokens) are copied unchanged, row t ≥ prefix uses table row t − prefix.

#include "dino_kernels.h"
#include "vecmath.h"

DK_INLINE void rope_forward_body(const float *x, long x_stride, const float *sin, const float *cos,
                                 float *y, long y_stride, long tokens, long prefix, long n) {
    long h = n / 2;
    for (long t = 0; t < tokens; t++) {
        const float *xr = x + t * x_stride;
        float *yr = y + t * y_stride;
        if (t < prefix) {
            for (long j = 0; j < n; j++) yr[j] = xr[j];
            continue;
        }
        const float *s = sin + (t - prefix) * n, *c = cos + (t - prefix) * n;
        long j = 0;
        for (; j + DK_W <= h; j += DK_W) {
            vf a = vload(xr + j), b = vload(xr + h + j);
            vstore(yr + j, a * vload(c + j) - b * vload(s + j));
            vstore(yr + h + j, b * vload(c + h + j) + a * vload(s + h + j));
        }
        if (j < h) {
            long m = h - j;
            vf a = vload_part(xr + j, m, 0.0f), b = vload_part(xr + h + j, m, 0.0f);
            vstore_part(yr + j, a * vload_part(c + j, m, 0.0f) - b * vload_part(s + j, m, 0.0f), m);
            vstore_part(yr + h + j, b * vload_part(c + h + j, m, 0.0f) + a * vload_part(s + h + j, m, 0.0f), m);
        }
    }
}

DK_INLINE void rope_backward_body(const float *dy, long dy_stride, const float *sin, const float *cos,
                                  float *dx, long dx_stride, long tokens, long prefix, long n) {
    long h = n / 2;
    for (long t = 0; t < tokens; t++) {
        const float *gr = dy + t * dy_stride;
        float *dr = dx + t * dx_stride;
        if (t < prefix) {
            for (long j = 0; j < n; j++) dr[j] = gr[j];
            continue;
        }
        const float *s = sin + (t - prefix) * n, *c = cos + (t - prefix) * n;
        long j = 0;
        for (; j + DK_W <= h; j += DK_W) {
            vf g1 = vload(gr + j), g2 = vload(gr + h + j);
            vstore(dr + j, g1 * vload(c + j) + g2 * vload(s + h + j));
            vstore(dr + h + j, g2 * vload(c + h + j) - g1 * vload(s + j));
        }
        if (j < h) {
            long m = h - j;
            vf g1 = vload_part(gr + j, m, 0.0f), g2 = vload_part(gr + h + j, m, 0.0f);
            vstore_part(dr + j, g1 * vload_part(c + j, m, 0.0f) + g2 * vload_part(s + h + j, m, 0.0f), m);
            vstore_part(dr + h + j, g2 * vload_part(c + h + j, m, 0.0f) - g1 * vload_part(s + j, m, 0.0f), m);
        }
    }
}

DK_KERNEL(dino_rope_forward, rope_forward_body,
          DK_PARAMS(const float *x, long x_stride, const float *sin, const float *cos, float *y,
                    long y_stride, long tokens, long prefix, long n),
          (x, x_stride, sin, cos, y, y_stride, tokens, prefix, n))
DK_KERNEL(dino_rope_backward, rope_backward_body,
          DK_PARAMS(const float *dy, long dy_stride, const float *sin, const float *cos, float *dx,
                    long dx_stride, long tokens, long prefix, long n),
          (dy, dy_stride, sin, cos, dx, dx_stride, tokens, prefix, n))
