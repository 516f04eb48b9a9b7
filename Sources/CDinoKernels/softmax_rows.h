// softmax_rows.h — the per-row softmax bodies, shared by softmax.c and attention.c.
//
// Each row makes three passes over L1-resident data: max, exp and sum, scale. Two
// accumulators per pass hide the latency of the running max and sum.

#pragma once
#include "vecmath.h"

#define DK_NEG_INF (-__builtin_inff())

DK_INLINE float row_max(const float *x, long n) {
    vf m0 = vsplat(DK_NEG_INF), m1 = m0;
    long i = 0;
    for (; i + 32 <= n; i += 32) {
        m0 = vmax(m0, vload(x + i));
        m1 = vmax(m1, vload(x + i + 16));
    }
    for (; i + 16 <= n; i += 16) m0 = vmax(m0, vload(x + i));
    if (i < n) m0 = vmax(m0, vload_part(x + i, n - i, DK_NEG_INF));
    return vhmax(vmax(m0, m1));
}

DK_INLINE float row_sum(const float *x, long n) {
    vf s0 = vsplat(0.0f), s1 = s0;
    long i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 += vload(x + i);
        s1 += vload(x + i + 16);
    }
    for (; i + 16 <= n; i += 16) s0 += vload(x + i);
    if (i < n) s0 += vload_part(x + i, n - i, 0.0f);
    return vhsum(s0 + s1);
}

DK_INLINE float row_dot(const float *a, const float *b, long n) {
    vf s0 = vsplat(0.0f), s1 = s0;
    long i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = vload(a + i) * vload(b + i) + s0;
        s1 = vload(a + i + 16) * vload(b + i + 16) + s1;
    }
    for (; i + 16 <= n; i += 16) s0 = vload(a + i) * vload(b + i) + s0;
    if (i < n) s0 = vload_part(a + i, n - i, 0.0f) * vload_part(b + i, n - i, 0.0f) + s0;
    return vhsum(s0 + s1);
}

DK_INLINE void row_scale(float *y, long n, float s) {
    long i = 0;
    for (; i + 16 <= n; i += 16) vstore(y + i, vload(y + i) * s);
    for (; i < n; i++) y[i] *= s;
}

/// y = softmax(x) over one row (y may alias x).
DK_INLINE void softmax_row(const float *x, float *y, long n) {
    float mx = row_max(x, n);
    vf s0 = vsplat(0.0f), s1 = s0;
    long i = 0;
    for (; i + 32 <= n; i += 32) {
        vf e0 = vexp(vload(x + i) - mx);
        vf e1 = vexp(vload(x + i + 16) - mx);
        vstore(y + i, e0);
        vstore(y + i + 16, e1);
        s0 += e0;
        s1 += e1;
    }
    for (; i + 16 <= n; i += 16) {
        vf e = vexp(vload(x + i) - mx);
        vstore(y + i, e);
        s0 += e;
    }
    if (i < n) {
        vf e = vexp(vload_part(x + i, n - i, DK_NEG_INF) - mx);
        vstore_part(y + i, e, n - i);
        s0 += e;
    }
    row_scale(y, n, 1.0f / vhsum(s0 + s1));
}

/// dx = y ⊙ (dy − Σ dy ⊙ y) over one row (dx may alias dy).
DK_INLINE void softmax_backward_row(const float *y, const float *dy, float *dx, long n) {
    float dot = row_dot(dy, y, n);
    long i = 0;
    for (; i + 16 <= n; i += 16) vstore(dx + i, (vload(dy + i) - dot) * vload(y + i));
    for (; i < n; i++) dx[i] = (dy[i] - dot) * y[i];
}
