// attention.c — scaled dot-product attention, one fused kernel per (batch, head).
//
// Per head, with Q (nq × d), K, V (nk × d):
//   forward   S = scale · Q Kᵀ,  P = softmax(S) (rows; saved),  O = P V
//   backward  dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ⊙ (dP − rowsum(dP ⊙ P)),
//             dQ = scale · dS K,  dK = scale · dSᵀ Q
// The products are small (65 × 64 for a ViT on 32-pixel crops), so they run through
// `small_gemm`, a register-blocked kernel in the same vector code as everything else,
// instead of one BLAS call per head. Buffers are padded to multiples of 16 columns; so are
// the rows of the saved P (pads hold 0), which keeps every row loop free of tails.
// The caller splits heads across threads; each call allocates its own scratch.

#include "dino_kernels.h"
#include "softmax_rows.h"
#include <stdlib.h>

DK_INLINE long round16(long n) { return (n + 15) & ~15L; }

// A block of R rows × 32 columns keeps 2R accumulators of 16 floats: with R = 4, 8 of the 32
// zmm registers of AVX-512, but 16 ymm on AVX2 (all it has, before the B vectors), which spilled
// and ran attention at 35 % of the peak against 62 %. Below AVX-512 (`wide` 0) blocks are
// R × 16 (R ymm pairs). Each element of C sums over p in the same order either way.
#define DK_GEMM_ROWS(R)                                                                   \
    DK_INLINE void gemm_rows##R(long np, long kk, const float *a, long ars, long acs,     \
                                const float *b, long ldb, float *c, long ldc, float alpha,   \
                                int wide) {                                               \
        long j = 0;                                                                       \
        for (; wide && j + 32 <= np; j += 32) {                                           \
            vf acc0[R], acc1[R];                                                          \
            for (int r = 0; r < R; r++) acc0[r] = acc1[r] = vsplat(0.0f);                 \
            for (long p = 0; p < kk; p++) {                                               \
                const float *bp = b + p * ldb + j;                                        \
                vf b0 = vload(bp), b1 = vload(bp + 16);                                   \
                for (int r = 0; r < R; r++) {                                             \
                    float ar = a[r * ars + p * acs];                                      \
                    acc0[r] = b0 * ar + acc0[r];                                          \
                    acc1[r] = b1 * ar + acc1[r];                                          \
                }                                                                         \
            }                                                                             \
            for (int r = 0; r < R; r++) {                                                 \
                vstore(c + r * ldc + j, acc0[r] * alpha);                                 \
                vstore(c + r * ldc + j + 16, acc1[r] * alpha);                            \
            }                                                                             \
        }                                                                                 \
        for (; j < np; j += 16) {                                                         \
            vf acc0[R];                                                                   \
            for (int r = 0; r < R; r++) acc0[r] = vsplat(0.0f);                           \
            for (long p = 0; p < kk; p++) {                                               \
                vf b0 = vload(b + p * ldb + j);                                           \
                for (int r = 0; r < R; r++) acc0[r] = b0 * a[r * ars + p * acs] + acc0[r]; \
            }                                                                             \
            for (int r = 0; r < R; r++) vstore(c + r * ldc + j, acc0[r] * alpha);         \
        }                                                                                 \
    }

DK_GEMM_ROWS(4)
DK_GEMM_ROWS(1)

/// C (m × np) = alpha · A B, where A(i, p) = a[i·ars + p·acs] (m × kk), B (kk × np) is
/// row-major with leading dimension ldb and np is a multiple of 16, C row-major (ldc).
DK_INLINE void small_gemm(long m, long np, long kk, const float *a, long ars, long acs,
                          const float *b, long ldb, float *c, long ldc, float alpha) {
    long i = 0;
    int wide = dk_isa_level() == 2;
    for (; i + 4 <= m; i += 4) gemm_rows4(np, kk, a + i * ars, ars, acs, b, ldb, c + i * ldc, ldc, alpha, wide);
    for (; i < m; i++) gemm_rows1(np, kk, a + i * ars, ars, acs, b, ldb, c + i * ldc, ldc, alpha, wide);
}

// The 16 × 16 block transpose: swapK exchanges, between rows a (bit K of the row index
// clear) and b (set), the lanes where bit K of the lane index differs from the row's.
DK_INLINE void swap1(vf *a, vf *b) {
    vf x = __builtin_shufflevector(*a, *b, 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
    vf y = __builtin_shufflevector(*a, *b, 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
    *a = x;
    *b = y;
}
DK_INLINE void swap2(vf *a, vf *b) {
    vf x = __builtin_shufflevector(*a, *b, 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
    vf y = __builtin_shufflevector(*a, *b, 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
    *a = x;
    *b = y;
}
DK_INLINE void swap4(vf *a, vf *b) {
    vf x = __builtin_shufflevector(*a, *b, 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
    vf y = __builtin_shufflevector(*a, *b, 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
    *a = x;
    *b = y;
}
DK_INLINE void swap8(vf *a, vf *b) {
    vf x = __builtin_shufflevector(*a, *b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    vf y = __builtin_shufflevector(*a, *b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    *a = x;
    *b = y;
}

/// dst (d × ldd) = srcᵀ for src (n × d) with row stride sn; columns n..ldd of dst untouched.
/// Full 16 × 16 blocks go through registers (four butterfly stages: each exchanges one bit
/// of the row index with the same bit of the lane index); the edges are copied one by one.
DK_INLINE void transpose_into(const float *src, long sn, long n, long d, float *dst, long ldd) {
    const long n16 = n & ~15L, d16 = d & ~15L;
    for (long j0 = 0; j0 < n16; j0 += 16) {
        for (long p0 = 0; p0 < d16; p0 += 16) {
            vf r[16];
            for (int i = 0; i < 16; i++) r[i] = vload(src + (j0 + i) * sn + p0);
            for (int i = 0; i < 16; i += 2) swap1(&r[i], &r[i + 1]);
            for (int i = 0; i < 16; i += 4) { swap2(&r[i], &r[i + 2]); swap2(&r[i + 1], &r[i + 3]); }
            for (int i = 0; i < 16; i += 8)
                for (int k = 0; k < 4; k++) swap4(&r[i + k], &r[i + k + 4]);
            for (int k = 0; k < 8; k++) swap8(&r[k], &r[k + 8]);
            for (int i = 0; i < 16; i++) vstore(dst + (p0 + i) * ldd + j0, r[i]);
        }
        for (long j = j0; j < j0 + 16; j++)
            for (long p = d16; p < d; p++) dst[p * ldd + j] = src[j * sn + p];
    }
    for (long j = n16; j < n; j++) {
        const float *row = src + j * sn;
        for (long p = 0; p < d; p++) dst[p * ldd + j] = row[p];
    }
}

/// A B-operand view of rows (n × d, row stride sn): the rows themselves when d is a
/// multiple of 16, else a zero-padded copy in `scratch` (n × dp).
DK_INLINE const float *b_operand(const float *src, long sn, long n, long d, long dp,
                                 float *scratch, long *ld) {
    if (d == dp) {
        *ld = sn;
        return src;
    }
    for (long i = 0; i < n; i++) memcpy(scratch + i * dp, src + i * sn, (size_t)d * sizeof(float));
    *ld = dp;
    return scratch;
}

/// Copies a padded product (n × dp) into its contiguous destination (n × d) when they differ.
DK_INLINE void store_rows(const float *src, long dp, float *dst, long n, long d) {
    if (src == dst) return;
    for (long i = 0; i < n; i++) memcpy(dst + i * d, src + i * dp, (size_t)d * sizeof(float));
}

static float *scratch_alloc(long count) {
    void *p = NULL;
    if (posix_memalign(&p, 64, (size_t)(count > 0 ? count : 1) * sizeof(float)) != 0) abort();
    memset(p, 0, (size_t)(count > 0 ? count : 1) * sizeof(float));
    return (float *)p;
}

DK_INLINE const float *head_ptr(dino_head_operand t, long heads, long z) {
    return t.data + (z / heads) * t.sb + (z % heads) * t.sh;
}

DK_INLINE void attention_forward_heads(dino_head_operand q, dino_head_operand k,
                                       dino_head_operand v, long heads, long z0, long z1,
                                       long nq, long nk, long d, float scale, float *out,
                                       float *probs) {
    const long npk = round16(nk), dp = round16(d);
    // Lanes of the last block of a score row that lie beyond nk: masked to −∞.
    vi lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const vi pad = lane >= (vi){0} + (int)(nk - (npk - 16));
    float *kt = scratch_alloc(d * npk);   // Kᵀ (d, npk), zero columns beyond nk
    float *vpad = d == dp ? NULL : scratch_alloc(nk * dp);
    float *opad = d == dp ? NULL : scratch_alloc(nq * dp);
    for (long z = z0; z < z1; z++) {
        const float *qz = head_ptr(q, heads, z), *kz = head_ptr(k, heads, z), *vz = head_ptr(v, heads, z);
        float *pz = probs + z * nq * npk, *oz = out + z * nq * d;
        transpose_into(kz, k.sn, nk, d, kt, npk);
        small_gemm(nq, npk, d, qz, q.sn, 1, kt, npk, pz, npk, scale);   // S = scale · Q Kᵀ (nq, npk)
        for (long i = 0; i < nq; i++) {                                  // P = softmax(S), in place
            float *row = pz + i * npk;
            vstore(row + npk - 16, vselect(pad, vsplat(DK_NEG_INF), vload(row + npk - 16)));
            softmax_row(row, row, npk);
        }
        long ldv;
        const float *vb = b_operand(vz, v.sn, nk, d, dp, vpad, &ldv);
        float *o = d == dp ? oz : opad;
        small_gemm(nq, dp, nk, pz, npk, 1, vb, ldv, o, d == dp ? d : dp, 1.0f);  // O = P V
        store_rows(o, dp, oz, nq, d);
    }
    free(kt);
    free(vpad);
    free(opad);
}

DK_INLINE void attention_backward_heads(dino_head_operand q, dino_head_operand k,
                                        dino_head_operand v, dino_head_operand dout,
                                        const float *probs, long heads, long z0, long z1,
                                        long nq, long nk, long d, float scale, float *dq,
                                        float *dk, float *dv) {
    const long npk = round16(nk), dp = round16(d);
    const int padded = d != dp;
    float *vt = scratch_alloc(d * npk);    // Vᵀ (d, npk)
    float *ds = scratch_alloc(nq * npk);   // dP, then dS (nq, npk)
    float *dopad = padded ? scratch_alloc(nq * dp) : NULL;
    float *kpad = padded ? scratch_alloc(nk * dp) : NULL;
    float *qpad = padded ? scratch_alloc(nq * dp) : NULL;
    float *cpad = padded ? scratch_alloc((nq > nk ? nq : nk) * dp) : NULL;
    for (long z = z0; z < z1; z++) {
        const float *qz = head_ptr(q, heads, z), *kz = head_ptr(k, heads, z);
        const float *vz = head_ptr(v, heads, z), *doz = head_ptr(dout, heads, z);
        const float *pz = probs + z * nq * npk;
        float *dqz = dq + z * nq * d, *dkz = dk + z * nk * d, *dvz = dv + z * nk * d;
        long ldo, ldk, ldq;
        const float *dob = b_operand(doz, dout.sn, nq, d, dp, dopad, &ldo);
        const float *kb = b_operand(kz, k.sn, nk, d, dp, kpad, &ldk);
        const float *qb = b_operand(qz, q.sn, nq, d, dp, qpad, &ldq);
        const long ldc = padded ? dp : d;
        // dV = Pᵀ dO   (nk, d)
        float *c = padded ? cpad : dvz;
        small_gemm(nk, dp, nq, pz, 1, npk, dob, ldo, c, ldc, 1.0f);
        store_rows(c, dp, dvz, nk, d);
        // dP = dO Vᵀ   (nq, npk)
        transpose_into(vz, v.sn, nk, d, vt, npk);
        small_gemm(nq, npk, d, doz, dout.sn, 1, vt, npk, ds, npk, 1.0f);
        // dS = P ⊙ (dP − rowsum(dP ⊙ P)), in place
        for (long i = 0; i < nq; i++) softmax_backward_row(pz + i * npk, ds + i * npk, ds + i * npk, npk);
        // dQ = scale · dS K   (nq, d)
        c = padded ? cpad : dqz;
        small_gemm(nq, dp, nk, ds, npk, 1, kb, ldk, c, ldc, scale);
        store_rows(c, dp, dqz, nq, d);
        // dK = scale · dSᵀ Q   (nk, d)
        c = padded ? cpad : dkz;
        small_gemm(nk, dp, nq, ds, 1, npk, qb, ldq, c, ldc, scale);
        store_rows(c, dp, dkz, nk, d);
    }
    free(vt);
    free(ds);
    free(dopad);
    free(kpad);
    free(qpad);
    free(cpad);
}

long dino_attention_probs_ld(long nk) { return round16(nk); }

DK_KERNEL(dino_attention_forward, attention_forward_heads,
          DK_PARAMS(dino_head_operand q, dino_head_operand k, dino_head_operand v, long heads,
                    long z_begin, long z_end, long nq, long nk, long d, float scale, float *out,
                    float *probs),
          (q, k, v, heads, z_begin, z_end, nq, nk, d, scale, out, probs))
DK_KERNEL(dino_attention_backward, attention_backward_heads,
          DK_PARAMS(dino_head_operand q, dino_head_operand k, dino_head_operand v,
                    dino_head_operand dout, const float *probs, long heads, long z_begin,
                    long z_end, long nq, long nk, long d, float scale, float *dq, float *dk,
                    float *dv),
          (q, k, v, dout, probs, heads, z_begin, z_end, nq, nk, d, scale, dq, dk, dv))
