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

// Cross-entropy with class labels, fused: the forward pass keeps the log-sum-exp of each row
// and the log-probability of its label, not the full log-softmax; the backward pass recomputes
// dx = dy − exp(x − lse) Σ dy from the logits, dy = scale at the label (Σ dy = scale) and 0
// elsewhere: the numbers of log_softmax_rows followed by log_softmax_backward_rows on an
// NLL gradient, without materialising either. Rows whose label is outside 0..<n are ignored:
// picked 0, dx 0.

/// The `k` (< 16) elements at `p` and `fill` in the other lanes, as vload_part, from one full
/// load when `p + 16` lies inside the caller's buffer (no round trip through the stack).
DK_INLINE vf ce_load_tail(const float *p, long k, float fill, int full) {
    if (!full) return vload_part(p, k, fill);
    vi lane;
    for (int j = 0; j < DK_W; j++) lane[j] = j;
    return vselect(lane < (vi){0} + (int32_t)k, vload(p), vsplat(fill));
}

DK_INLINE void cross_entropy_rows(const float *x, const long *labels, float *lse_out, float *picked,
                                  long rows, long n) {
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        int full = r * n + n + DK_W <= rows * n;   // a whole vector from the tail is still in x
        // row_max and the exp-sum of log_softmax_rows, lane for lane.
        vf m0 = vsplat(DK_NEG_INF), m1 = m0;
        long i = 0;
        for (; i + 32 <= n; i += 32) {
            m0 = vmax(m0, vload(xr + i));
            m1 = vmax(m1, vload(xr + i + 16));
        }
        for (; i + 16 <= n; i += 16) m0 = vmax(m0, vload(xr + i));
        if (i < n) m0 = vmax(m0, ce_load_tail(xr + i, n - i, DK_NEG_INF, full));
        float mx = vhmax(vmax(m0, m1));
        vf s0 = vsplat(0.0f), s1 = s0;
        i = 0;
        for (; i + 32 <= n; i += 32) {
            s0 += vexp(vload(xr + i) - mx);
            s1 += vexp(vload(xr + i + 16) - mx);
        }
        for (; i + 16 <= n; i += 16) s0 += vexp(vload(xr + i) - mx);
        if (i < n) s0 += vexp(ce_load_tail(xr + i, n - i, DK_NEG_INF, full) - mx);
        float lse = mx + logf(vhsum(s0 + s1));
        lse_out[r] = lse;
        long label = labels[r];
        picked[r] = (label >= 0 && label < n) ? xr[label] - lse : 0.0f;
    }
}

DK_INLINE void cross_entropy_backward_rows(const float *x, const long *labels, const float *lse, float *dx,
                                           long rows, long n, float scale) {
    const vf zero = vsplat(0.0f), sv = vsplat(scale);
    vi lane;
    for (int k = 0; k < DK_W; k++) lane[k] = k;
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *dxr = dx + r * n;
        // A whole vector from the tail is still in x and dx; the lanes past the row's end
        // written here belong to the next rows, each written whole after.
        int full = r * n + n + DK_W <= rows * n;
        long label = labels[r];
        if (label < 0 || label >= n) {
            memset(dxr, 0, (size_t)n * sizeof(float));
            continue;
        }
        float l = lse[r], sum = scale;
        long i = 0;
        for (; i + 16 <= n; i += 16) {
            vf dyv = vselect(lane == (vi){0} + (int32_t)(label - i), sv, zero);
            vstore(dxr + i, dyv - vexp(vload(xr + i) - l) * sum);
        }
        if (i < n) {
            vf dyv = vselect(lane == (vi){0} + (int32_t)(label - i), sv, zero);
            vf e = vexp(ce_load_tail(xr + i, n - i, DK_NEG_INF, full) - l);
            vf d = dyv - e * sum;
            if (full) vstore(dxr + i, d);
            else vstore_part(dxr + i, d, n - i);
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
DK_KERNEL(dino_cross_entropy_forward, cross_entropy_rows,
          DK_PARAMS(const float *x, const long *labels, float *lse, float *picked, long rows, long n),
          (x, labels, lse, picked, rows, n))
DK_KERNEL(dino_cross_entropy_backward, cross_entropy_backward_rows,
          DK_PARAMS(const float *x, const long *labels, const float *lse, float *dx, long rows, long n, float scale),
          (x, labels, lse, dx, rows, n, scale))
