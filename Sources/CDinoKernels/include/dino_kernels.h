// dino_kernels.h — vectorised Float32 kernels behind DinoTensor's fused ops.
//
// What this is: the hot loops of softmax, log-softmax, layer norm, GELU and attention, on
// contiguous row-major float buffers. Each kernel body is written once (vecmath.h) and
// compiled for AVX-512, AVX2+FMA and a generic baseline; the variant is chosen once at load
// time from the CPU's features. What this is not: threading (the Swift side splits rows
// across threads and calls these on disjoint ranges), allocation of results, autograd.
//
// Conventions: `rows` rows of `n` contiguous floats; row-range kernels are called with
// pointers already offset to the first row of the range. Backward kernels write (not
// accumulate) input gradients, except the layer-norm parameter gradients (see there).

#pragma once
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Name of the instruction set the kernels dispatch to on the calling thread ("avx512",
/// "avx2" or "generic"): the widest the CPU supports (capped by the environment's DINO_MAX_ISA)
/// unless dino_kernels_use_isa chose another.
const char *dino_kernels_isa(void);

/// Makes kernels called from the calling thread use `name` ("avx512", "avx2" or "generic")
/// when the CPU supports it, for tests and benchmarks that compare the variants; other
/// threads (including the workers of parallel loops) keep the widest. Returns 1 on success.
int dino_kernels_use_isa(const char *name);

/// The cap DINO_MAX_ISA set ("avx512", "avx2" or "generic"), or NULL when it is unset or names
/// none of them (then it is ignored, with a warning on stderr).
const char *dino_kernels_max_isa(void);

/// 1 when this CPU can run the variant `name`, else 0.
int dino_kernels_supports_isa(const char *name);

// MARK: Memory (allocator.c)

/// Makes glibc keep freed blocks of up to 32 MiB in the heap instead of returning them to the
/// OS (mmap threshold 32 MiB, trim threshold 1 GiB), unless the user set MALLOC_MMAP_THRESHOLD_
/// or MALLOC_TRIM_THRESHOLD_. Returns 1 when applied, 0 otherwise (other C libraries too).
int dino_configure_allocator(void);

/// A tensor buffer of `bytes` (64-byte aligned; NULL when out of memory). Blocks of 32 MiB and
/// more come from a cache of freed blocks of the same size (rounded up to 2 MiB) when one is
/// there, so that they are not page-faulted and zero-filled by the kernel again every step.
void *dino_buffer_allocate(size_t bytes);

/// Frees a buffer of `dino_buffer_allocate(bytes)`: blocks of 32 MiB and more are kept for reuse
/// up to a cap (a quarter of physical memory, or DINO_BUFFER_CACHE_MB; the oldest go first).
void dino_buffer_free(void *ptr, size_t bytes);

/// Bytes held in the cache of freed large blocks.
size_t dino_buffer_cache_bytes(void);

/// Returns every cached block to the OS.
void dino_buffer_cache_clear(void);

// MARK: Softmax (softmax.c)

/// y = exp(x − max) / Σ exp(x − max) per row. −inf entries give 0; an all −inf row gives NaN.
void dino_softmax_forward(const float *x, float *y, long rows, long n);
/// dx = y ⊙ (dy − Σ dy ⊙ y) per row, from the forward output y.
void dino_softmax_backward(const float *y, const float *dy, float *dx, long rows, long n);
/// y = x − max − log Σ exp(x − max) per row.
void dino_log_softmax_forward(const float *x, float *y, long rows, long n);
/// dx = dy − exp(y) Σ dy per row, from the forward output y.
void dino_log_softmax_backward(const float *y, const float *dy, float *dx, long rows, long n);
/// Cross-entropy with class labels per row: lse = max + log Σ exp(x − max), picked =
/// x[label] − lse (0 where the label is outside 0..<n, an ignored row).
void dino_cross_entropy_forward(const float *x, const long *labels, float *lse, float *picked, long rows, long n);
/// dx = dy − exp(x − lse) Σ dy per row with dy = scale at the label, 0 elsewhere (the
/// log-softmax backward of an NLL gradient); rows with a label outside 0..<n get dx = 0.
void dino_cross_entropy_backward(const float *x, const long *labels, const float *lse, float *dx, long rows, long n,
                                 float scale);

// MARK: Layer norm (layernorm.c)

/// y = (x − mean) · rstd · weight + bias per row, rstd = 1/√(var + eps) with the biased
/// variance; stores mean and rstd (one per row) for the backward pass. weight and bias may
/// be NULL (taken as 1 and 0).
void dino_layernorm_forward(const float *x, const float *weight, const float *bias, float *y,
                            float *mean, float *rstd, long rows, long n, float eps);
/// dx (written) from dy, x and the saved mean and rstd; weight may be NULL. When dweight /
/// dbias are not NULL, Σ_rows dy ⊙ x̂ and Σ_rows dy are ADDED into them (length n).
void dino_layernorm_backward(const float *x, const float *weight, const float *mean,
                             const float *rstd, const float *dy, float *dx, float *dweight,
                             float *dbias, long rows, long n);

// MARK: AdamW (adamw.c)

/// One AdamW update of `count` parameters in place, in torch.optim.AdamW's operation order:
/// p ← p·decay (if apply_decay), m ← fma(lerp_weight, g − m, m), v ← fma(one_minus_beta2·g, g, v·beta2),
/// p ← p + (neg_step·m) / (√v / bias_correction2_sqrt + eps). The same bits on every CPU.
void dino_adamw_update(float *param, const float *grad, float *exp_avg, float *exp_avg_sq, long count, int apply_decay,
                       float decay, float lerp_weight, float beta2, float one_minus_beta2, float neg_step,
                       float bias_correction2_sqrt, float eps);

// MARK: GELU (gelu.c), elementwise over count floats

/// y = x Φ(x), Φ the standard normal CDF.
void dino_gelu_forward(const float *x, float *y, long count);
/// dx = dy (Φ(x) + x φ(x)), φ the standard normal density.
void dino_gelu_backward(const float *x, const float *dy, float *dx, long count);
/// y = ½ x (1 + tanh(√(2/π) (x + 0.044715 x³))), computed as x · sigmoid(2u).
void dino_gelu_tanh_forward(const float *x, float *y, long count);
/// The derivative of the tanh form, times dy.
void dino_gelu_tanh_backward(const float *x, const float *dy, float *dx, long count);

// MARK: Attention (attention.c)

// MARK: Rotary position embedding (rope.c)

/// DINOv3's RoPE on the `tokens` rows of n floats of one (batch, head) slab, rows `x_stride`
/// (`y_stride`) floats apart: rows t < prefix are copied, row t ≥ prefix becomes
/// x cos + rotate_half(x) sin with table row t − prefix of sin and cos ((tokens − prefix, n),
/// contiguous), rotate_half([a, b]) = [−b, a]. n must be even.
void dino_rope_forward(const float *x, long x_stride, const float *sin, const float *cos, float *y,
                       long y_stride, long tokens, long prefix, long n);
/// dx = dy cos + rotate_halfᵀ(dy sin) for rows t ≥ prefix, dx = dy before (same layout).
void dino_rope_backward(const float *dy, long dy_stride, const float *sin, const float *cos, float *dx,
                        long dx_stride, long tokens, long prefix, long n);

/// One operand of shape (B, H, N, D) with unit stride along D: element [b, h, i, d] is at
/// data[b·sb + h·sh + i·sn + d].
typedef struct {
    const float *data;
    long sb, sh, sn;
} dino_head_operand;

/// Row stride of the saved attention probabilities: nk rounded up to a multiple of 16.
long dino_attention_probs_ld(long nk);

/// Attention for heads z in [z_begin, z_end) of a (B, H, ·, D) problem, z = b·H + h:
/// P = softmax(scale · Q Kᵀ) (nq × nk) and O = P V (nq × d). out (B, H, nq, d) is
/// contiguous; probs (B, H, nq, ld), ld = dino_attention_probs_ld(nk), keeps P for the
/// backward pass with zeros in the columns beyond nk.
void dino_attention_forward(dino_head_operand q, dino_head_operand k, dino_head_operand v,
                            long heads, long z_begin, long z_end, long nq, long nk, long d,
                            float scale, float *out, float *probs);

/// Gradients of attention for heads [z_begin, z_end), from dO and the saved P (as above):
/// dV = Pᵀ dO, dP = dO Vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dQ = scale · dS K,
/// dK = scale · dSᵀ Q. dq (B, H, nq, d), dk and dv (B, H, nk, d) are contiguous and written.
void dino_attention_backward(dino_head_operand q, dino_head_operand k, dino_head_operand v,
                             dino_head_operand dout, const float *probs, long heads,
                             long z_begin, long z_end, long nq, long nk, long d, float scale,
                             float *dq, float *dk, float *dv);

// MARK: CPU features and arithmetic peak (peak.c)

#include <stdint.h>

enum {
    DINO_CPU_AVX2_FMA = 1,      ///< AVX2 and FMA, with the OS saving ymm state
    DINO_CPU_AVX512F = 2,       ///< AVX-512 F (and FMA), with the OS saving zmm and opmask state
    DINO_CPU_AVX512_BF16 = 4,   ///< AVX512_BF16 (vdpbf16ps, vcvtne2ps2bf16): cpuid leaf 7.1 EAX bit 5
    DINO_CPU_AMX_BF16 = 8,      ///< AMX-BF16 with tile state enabled by the OS (not used yet)
};
enum { DINO_PEAK_AVX2 = 1, DINO_PEAK_AVX512 = 2 };

/// The DINO_CPU_* bits of this CPU, from cpuid and xgetbv (0 off x86), as capped by
/// DINO_MAX_ISA (avx2: AVX2_FMA at most; generic: none).
int dino_cpu_features(void);

/// The CPU's brand string (cpuid 0x80000002–4), trimmed, NUL-terminated in `capacity` bytes;
/// empty where there is none.
void dino_cpu_model(char *out, long capacity);

/// Float32 FMA peak loop, variant DINO_PEAK_AVX2 (12 ymm accumulators) or DINO_PEAK_AVX512
/// (24 zmm): every lane of accumulator j starts at init + j and runs `iterations` times
/// acc ← fmaf(acc, a, b). Writes the accumulators to `out` (accumulator-major, lanes
/// contiguous) and returns the number of lanes written (FLOP per iteration = 2 × that), or 0
/// when the CPU lacks the variant (nothing written). `out` must hold 384 floats.
long dino_peak_fma_f32(int variant, long iterations, float init, float a, float b, float *out);

/// bf16 dot-product peak loop (vdpbf16ps, 24 zmm accumulators): every lane of accumulator j
/// starts at init + j and runs `iterations` times acc ← acc + a0·b0 + a1·b1, a0…b1 bf16 bit
/// patterns. Writes 384 floats to `out` and returns the lanes written (FLOP per iteration
/// = 4 × that), or 0 without AVX512_BF16.
long dino_peak_dot_bf16(long iterations, float init, uint16_t a0, uint16_t a1, uint16_t b0, uint16_t b1,
                        float *out);

// MARK: bfloat16 rounding (bf16.c)

/// y[i] = x[i] rounded to bfloat16 (nearest, ties to even; NaN → 0xFFFF, subnormals kept),
/// stored back as float (the low 16 bits zero). x and y may be the same buffer.
void dino_round_bf16(const float *x, float *y, long count);

/// dst (rows × cols, row-major, contiguous) = the bf16 bit patterns of src[i·row_stride +
/// j·col_stride], rounded as dino_round_bf16: the operands of oneDNN's bf16 matmul.
void dino_pack_bf16(const float *src, long rows, long cols, long row_stride, long col_stride, uint16_t *dst);

/// out[j] = Σ_i x[i·row_stride + j] rounded to bfloat16 as dino_round_bf16, i = 0 … rows − 1
/// in order, for j < cols: the bias gradient of autocast's linear, whose incoming gradient is
/// rounded, without writing the rounded rows.
void dino_sum_rows_bf16(const float *x, long rows, long cols, long row_stride, float *out);

// Depthwise 2-D convolution of channels-last images (depthwise.c; DepthwiseConv.swift): one
// k × k filter per channel, stored transposed as wt (k·k, C); stride 1, `p` zeros of padding;
// x (B, H, W, C), y (B, H', W', C). Every variant sums as the scalar loops do, bit for bit.

/// y rows row0..<row1 of the B·H' output rows: bias (or 0) + Σ_{u,v} wt[u·k+v] · x[., i+u−p, j+v−p].
void dino_depthwise_forward(const float *x, const float *wt, const float *bias, float *y, long h, long w, long c,
                            long k, long p, long ho, long wo, long row0, long row1);
/// dx rows row0..<row1 of the B·H input rows: Σ_{u,v} wt[u·k+v] · dy[., i−u+p, j−v+p].
void dino_depthwise_backward_input(const float *dy, const float *wt, float *dx, long h, long w, long c, long k,
                                   long p, long ho, long wo, long row0, long row1);
/// For blocks blk0..<blk1 of `block` output rows (of `rows`): dw[blk] (k·k, C) += Σ dy · x at
/// each tap and db[blk] (C) += Σ dy, over the block's rows and columns in order.
void dino_depthwise_backward_filter(const float *x, const float *dy, float *dw, float *db, long h, long w, long c,
                                    long k, long p, long ho, long wo, long rows, long block, long blk0, long blk1);

#ifdef __cplusplus
}
#endif
