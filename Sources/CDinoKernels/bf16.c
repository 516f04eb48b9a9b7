// bf16.c — Float32 → bfloat16 rounding, kept in Float32 storage (the emulated bf16 path).
//
// Round to nearest, ties to even, on the bit pattern (c10::BFloat16's round_to_nearest_even):
//     bf16 = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
// Subnormals are rounded like any other value (not flushed), the largest finite floats round
// to ±inf, and every NaN becomes 0xFFFF (what ATen's vectorised `.to(torch.bfloat16)` writes;
// its scalar path writes 0x7FC0). Bit-exact against torch on the edge values of
// scripts/make_bf16_fixtures.py. The native VCVTNEPS2BF16 is not used: it flushes subnormal
// inputs to zero, which torch does not.

#include "dino_kernels.h"
#include <stdint.h>
#include <string.h>

static inline uint32_t round_bits(uint32_t u) {
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return 0xFFFF0000u;
    return ((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16) << 16;
}

// In place (one pointer): the loop below with y == x fails the vectoriser's overlap check
// and runs scalar, about twice as slow.
static void round_in_place(float *x, long count) {
    for (long i = 0; i < count; i++) {
        uint32_t u;
        memcpy(&u, x + i, 4);
        u = round_bits(u);
        memcpy(x + i, &u, 4);
    }
}

void dino_round_bf16(const float *x, float *y, long count) {
    if (x == y) {
        round_in_place(y, count);
        return;
    }
    for (long i = 0; i < count; i++) {
        uint32_t u;
        memcpy(&u, x + i, 4);
        u = round_bits(u);
        memcpy(y + i, &u, 4);
    }
}

void dino_pack_bf16(const float *src, long rows, long cols, long row_stride, long col_stride, uint16_t *dst) {
    for (long i = 0; i < rows; i++) {
        const float *s = src + i * row_stride;
        uint16_t *d = dst + i * cols;
        for (long j = 0; j < cols; j++) {
            uint32_t u;
            memcpy(&u, s + j * col_stride, 4);
            d[j] = (uint16_t)(round_bits(u) >> 16);
        }
    }
}

void dino_sum_rows_bf16(const float *x, long rows, long cols, long row_stride, float *out) {
    memset(out, 0, (size_t)cols * sizeof(float));
    for (long i = 0; i < rows; i++) {
        const float *s = x + i * row_stride;
        for (long j = 0; j < cols; j++) {
            uint32_t u;
            memcpy(&u, s + j, 4);
            u = round_bits(u);
            float v;
            memcpy(&v, &u, 4);
            out[j] += v;
        }
    }
}
