// depthwise.c — depthwise 2-D convolution on channels-last images (one k × k filter per
// channel, stride 1, zero padding): the forward pass, the input gradient and the filter and
// bias gradients' partial sums, each over a range of rows that DepthwiseConv.swift hands to a
// thread.
//
// Every output element sums its terms in the order of the scalar loops in DepthwiseConv.swift
// (taps in (u, v) order; for the filter gradient, rows and columns in order), each term a
// multiply then an add written as two statements, so never contracted to a fused multiply-add:
// all three variants give the scalar loops' values bit for bit, and a run keeps its arithmetic
// whichever variant or version computes it. The vectors run across channels, which the
// channels-last layout keeps contiguous.

#include "dino_kernels.h"
#include "vecmath.h"

/// The first `n` (≤ 16) floats at `p`; a whole vector when `n` is DK_W (a constant at the
/// calls that pass it, so the test folds away after inlining), else zeros in the other lanes.
DK_INLINE vf dw_load(const float *p, long n) { return n == DK_W ? vload(p) : vload_part(p, n, 0.0f); }
DK_INLINE void dw_store(float *p, vf v, long n) {
    if (n == DK_W) vstore(p, v); else vstore_part(p, v, n);
}

/// Channels ch..<ch+n of one output position: init (or 0) + Σ over the valid taps of
/// wt[tap] · src[tap], taps in (u, v) order. Tap (u, v) reads `src` at row r0 + u·rstep and
/// column c0 + v·cstep of the image starting at `base` (rows `src_row`, columns `src_col`
/// floats apart); taps outside [0, rows) × [0, cols) are skipped.
DK_INLINE void dw_gather_lanes(const float *src, const float *wt, const float *init, float *out, long ch, long n,
                               long c, long k, long r0, long rstep, long rows, long c0, long cstep, long cols,
                               long src_row, long src_col, long base) {
    vf acc = init ? dw_load(init + ch, n) : vsplat(0.0f);
    for (long u = 0; u < k; u++) {
        long r = r0 + u * rstep;
        if (r < 0 || r >= rows) continue;
        for (long v = 0; v < k; v++) {
            long q = c0 + v * cstep;
            if (q < 0 || q >= cols) continue;
            vf t = dw_load(wt + (u * k + v) * c + ch, n) * dw_load(src + base + r * src_row + q * src_col + ch, n);
            acc = acc + t;
        }
    }
    dw_store(out + ch, acc, n);
}

/// All C channels of one output position (`dw_gather_lanes` per 16 channels, then the tail).
DK_INLINE void dw_gather(const float *src, const float *wt, const float *init, float *out,
                         long c, long k, long r0, long rstep, long rows, long c0, long cstep, long cols,
                         long src_row, long src_col, long base) {
    long ch = 0;
    for (; ch + DK_W <= c; ch += DK_W)
        dw_gather_lanes(src, wt, init, out, ch, DK_W, c, k, r0, rstep, rows, c0, cstep, cols, src_row, src_col, base);
    if (ch < c)
        dw_gather_lanes(src, wt, init, out, ch, c - ch, c, k, r0, rstep, rows, c0, cstep, cols, src_row, src_col, base);
}

DK_INLINE void dw_forward_body(const float *x, const float *wt, const float *bias, float *y, long h, long w,
                               long c, long k, long p, long ho, long wo, long row0, long row1) {
    for (long row = row0; row < row1; row++) {
        long n = row / ho, i = row % ho;
        for (long j = 0; j < wo; j++)
            // y[n, i, j] gathers x[n, i + u − p, j + v − p].
            dw_gather(x, wt, bias, y + ((n * ho + i) * wo + j) * c, c, k, i - p, 1, h, j - p, 1, w,
                      w * c, c, n * h * w * c);
    }
}

DK_INLINE void dw_backward_input_body(const float *dy, const float *wt, float *dx, long h, long w, long c, long k,
                                      long p, long ho, long wo, long row0, long row1) {
    for (long row = row0; row < row1; row++) {
        long n = row / h, i = row % h;
        for (long j = 0; j < w; j++)
            // dx[n, i, j] gathers dy[n, i − u + p, j − v + p].
            dw_gather(dy, wt, NULL, dx + ((n * h + i) * w + j) * c, c, k, i + p, -1, ho, j + p, -1, wo,
                      wo * c, c, n * ho * wo * c);
    }
}

/// a[ch..<ch+n] += b · s (or += b when s is NULL), a multiply then an add.
DK_INLINE void dw_accumulate_lanes(float *a, const float *b, const float *s, long ch, long n) {
    vf t = s ? dw_load(b + ch, n) * dw_load(s + ch, n) : dw_load(b + ch, n);
    dw_store(a + ch, dw_load(a + ch, n) + t, n);
}

/// a[0..<c] += b[0..<c] · s[0..<c] (or += b when s is NULL).
DK_INLINE void dw_accumulate(float *a, const float *b, const float *s, long c) {
    long ch = 0;
    for (; ch + DK_W <= c; ch += DK_W) dw_accumulate_lanes(a, b, s, ch, DK_W);
    if (ch < c) dw_accumulate_lanes(a, b, s, ch, c - ch);
}

DK_INLINE void dw_backward_filter_body(const float *x, const float *dy, float *dw, float *db, long h, long w, long c,
                                       long k, long p, long ho, long wo, long rows, long block, long blk0,
                                       long blk1) {
    for (long blk = blk0; blk < blk1; blk++) {
        float *dwp = dw + blk * k * k * c, *dbp = db + blk * c;
        long end = (blk + 1) * block < rows ? (blk + 1) * block : rows;
        for (long row = blk * block; row < end; row++) {
            long n = row / ho, i = row % ho;
            for (long j = 0; j < wo; j++) {
                const float *grad = dy + ((n * ho + i) * wo + j) * c;
                dw_accumulate(dbp, grad, NULL, c);
                for (long u = 0; u < k; u++) {
                    long yi = i + u - p;
                    if (yi < 0 || yi >= h) continue;
                    for (long v = 0; v < k; v++) {
                        long xj = j + v - p;
                        if (xj < 0 || xj >= w) continue;
                        dw_accumulate(dwp + (u * k + v) * c, grad, x + ((n * h + yi) * w + xj) * c, c);
                    }
                }
            }
        }
    }
}

DK_KERNEL(dino_depthwise_forward, dw_forward_body,
          DK_PARAMS(const float *x, const float *wt, const float *bias, float *y, long h, long w, long c, long k,
                    long p, long ho, long wo, long row0, long row1),
          (x, wt, bias, y, h, w, c, k, p, ho, wo, row0, row1))
DK_KERNEL(dino_depthwise_backward_input, dw_backward_input_body,
          DK_PARAMS(const float *dy, const float *wt, float *dx, long h, long w, long c, long k, long p, long ho,
                    long wo, long row0, long row1),
          (dy, wt, dx, h, w, c, k, p, ho, wo, row0, row1))
DK_KERNEL(dino_depthwise_backward_filter, dw_backward_filter_body,
          DK_PARAMS(const float *x, const float *dy, float *dw, float *db, long h, long w, long c, long k, long p,
                    long ho, long wo, long rows, long block, long blk0, long blk1),
          (x, dy, dw, db, h, w, c, k, p, ho, wo, rows, block, blk0, blk1))
