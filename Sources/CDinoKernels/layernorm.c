// layernorm.c — layer norm over the last dimension, forward and backward (after llm.c's
// layernorm_forward / layernorm_backward).
//
// Forward per row: mean = Σx/n, var = Σ(x − mean)²/n (two passes, both over L1-resident
// data), rstd = 1/√(var + eps), x̂ = (x − mean)·rstd, y = x̂·w + b; mean and rstd are saved.
// Backward per row, with dnorm = w ⊙ dy:
//   dx = rstd · (dnorm − mean(dnorm) − x̂ · mean(dnorm ⊙ x̂))   (term 1, term 2, term 3)
//   dw += dy ⊙ x̂,  db += dy.

#include "dino_kernels.h"
#include "softmax_rows.h"
#include <math.h>

DK_INLINE void layernorm_forward_rows(const float *x, const float *w, const float *b, float *y,
                                      float *mean, float *rstd, long rows, long n, float eps) {
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        float m = row_sum(xr, n) / (float)n;
        vf v0 = vsplat(0.0f), v1 = v0;
        long i = 0;
        for (; i + 32 <= n; i += 32) {
            vf d0 = vload(xr + i) - m, d1 = vload(xr + i + 16) - m;
            v0 = d0 * d0 + v0;
            v1 = d1 * d1 + v1;
        }
        for (; i + 16 <= n; i += 16) {
            vf d = vload(xr + i) - m;
            v0 = d * d + v0;
        }
        if (i < n) {
            vf d = vload_part(xr + i, n - i, m) - m;
            v0 = d * d + v0;
        }
        float rs = 1.0f / sqrtf(vhsum(v0 + v1) / (float)n + eps);
        mean[r] = m;
        rstd[r] = rs;
        // y = (x − m)·(rs·w) + b
        for (i = 0; i + 16 <= n; i += 16) {
            vf a = w ? vload(w + i) * rs : vsplat(rs);
            vf c = b ? vload(b + i) : vsplat(0.0f);
            vstore(yr + i, (vload(xr + i) - m) * a + c);
        }
        for (; i < n; i++) {
            float xh = (xr[i] - m) * rs;
            yr[i] = xh * (w ? w[i] : 1.0f) + (b ? b[i] : 0.0f);
        }
    }
}

DK_INLINE void layernorm_backward_rows(const float *x, const float *w, const float *mean,
                                       const float *rstd, const float *dy, float *dx,
                                       float *dw, float *db, long rows, long n) {
    const float invN = 1.0f / (float)n;
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * n, *dyr = dy + r * n;
        float *dxr = dx + r * n;
        const float m = mean[r], rs = rstd[r];
        // Pass 1: the two row means of the backward formula.
        vf s0 = vsplat(0.0f), s1 = s0;
        long i = 0;
        for (; i + 16 <= n; i += 16) {
            vf dnorm = w ? vload(w + i) * vload(dyr + i) : vload(dyr + i);
            vf xh = (vload(xr + i) - m) * rs;
            s0 += dnorm;
            s1 = dnorm * xh + s1;
        }
        float dnormMean = vhsum(s0), dnormNormMean = vhsum(s1);
        for (; i < n; i++) {
            float dnorm = (w ? w[i] : 1.0f) * dyr[i];
            dnormMean += dnorm;
            dnormNormMean += dnorm * ((xr[i] - m) * rs);
        }
        dnormMean *= invN;
        dnormNormMean *= invN;
        // Pass 2: dx, and the parameter gradients.
        for (i = 0; i + 16 <= n; i += 16) {
            vf dyv = vload(dyr + i);
            vf dnorm = w ? vload(w + i) * dyv : dyv;
            vf xh = (vload(xr + i) - m) * rs;
            vf g = dnorm;                  // term 1
            g = g - dnormMean;             // term 2
            g = g - xh * dnormNormMean;    // term 3
            vstore(dxr + i, g * rs);
            if (dw) vstore(dw + i, dyv * xh + vload(dw + i));
            if (db) vstore(db + i, vload(db + i) + dyv);
        }
        for (; i < n; i++) {
            float dnorm = (w ? w[i] : 1.0f) * dyr[i];
            float xh = (xr[i] - m) * rs;
            dxr[i] = (dnorm - dnormMean - xh * dnormNormMean) * rs;
            if (dw) dw[i] += dyr[i] * xh;
            if (db) db[i] += dyr[i];
        }
    }
}

DK_KERNEL(dino_layernorm_forward, layernorm_forward_rows,
          DK_PARAMS(const float *x, const float *weight, const float *bias, float *y, float *mean,
                    float *rstd, long rows, long n, float eps),
          (x, weight, bias, y, mean, rstd, rows, n, eps))
DK_KERNEL(dino_layernorm_backward, layernorm_backward_rows,
          DK_PARAMS(const float *x, const float *weight, const float *mean, const float *rstd,
                    const float *dy, float *dx, float *dweight, float *dbias, long rows, long n),
          (x, weight, mean, rstd, dy, dx, dweight, dbias, rows, n))
