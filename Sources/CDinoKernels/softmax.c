// softmax.c — softmax and log-softmax over rows, forward and backward.
//
// Forward: y = exp(x − m) / Σ exp(x − m), m the row maximum (so no exp overflows);
// log-softmax: y = x − m − log Σ exp(x − m). Backward from the saved output y:
// softmax dx = y ⊙ (dy − Σ dy ⊙ y); log-softmax dx = dy − exp(y) Σ dy.

#include "dino_kernels.h"
#include "softmax_rows.h"
#include <math.h>

DK_INLINE void softmax_rows(const float *x, float *y, long rows, long n) {
    for (long r = 0; r < rows; r++) softmax_row(x + r * n, y + r * n, n);
}

DK_INLINE void softmax_backward_rows(const float *y, const float *dy, float *dx, long rows, long n) {
    for (long r = 0; r < rows; r++) softmax_backward_row(y + r * n, dy + r * n, dx + r * n, n);
}

DK_INLINE void log_softmax_rows(const float *x, float *y, long rows, long n) {
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        float mx = row_max(xr, n);
        vf s0 = vsplat(0.0f), s1 = s0;
        long i = 0;
        for (; i + 32 <= n; i += 32) {
            s0 += vexp(vload(xr + i) - mx);
            s1 += vexp(vload(xr + i + 16) - mx);
        }
        for (; i + 16 <= n; i += 16) s0 += vexp(vload(xr + i) - mx);
        if (i < n) s0 += vexp(vload_part(xr + i, n - i, DK_NEG_INF) - mx);
        float lse = mx + logf(vhsum(s0 + s1));
        for (i = 0; i + 16 <= n; i += 16) vstore(yr + i, vload(xr + i) - lse);
        for (; i < n; i++) yr[i] = xr[i] - lse;
    }
}

DK_INLINE void log_softmax_backward_rows(const float *y, const float *dy, float *dx, long rows, long n) {
    for (long r = 0; r < rows; r++) {
        const float *yr = y + r * n, *dyr = dy + r * n;
        float *dxr = dx + r * n;
        float sum = row_sum(dyr, n);
        long i = 0;
        for (; i + 16 <= n; i += 16) vstore(dxr + i, vload(dyr + i) - vexp(vload(yr + i)) * sum);
        if (i < n) {
            vf e = vexp(vload_part(yr + i, n - i, DK_NEG_INF));
            vstore_part(dxr + i, vload_part(dyr + i, n - i, 0.0f) - e * sum, n - i);
        }
    }
}

DK_KERNEL(dino_softmax_forward, softmax_rows,
          DK_PARAMS(const float *x, float *y, long rows, long n), (x, y, rows, n))
DK_KERNEL(dino_softmax_backward, softmax_backward_rows,
          DK_PARAMS(const float *y, const float *dy, float *dx, long rows, long n), (y, dy, dx, rows, n))
DK_KERNEL(dino_log_softmax_forward, log_softmax_rows,
          DK_PARAMS(const float *x, float *y, long rows, long n), (x, y, rows, n))
DK_KERNEL(dino_log_softmax_backward, log_softmax_backward_rows,
          DK_PARAMS(const float *y, const float *dy, float *dx, long rows, long n), (y, dy, dx, rows, n))
