// gemm_backends.c — OpenBLAS cblas_sgemm against oneDNN dnnl_sgemm on the matrix products of a
// ViT-Tiny training step (batch 64, 65 tokens → 4160 rows), row-major, with 1 and 2 threads.
//
// It answers one question: which library should `gemm` in Sources/DinoTensor/Ops/Matmul.swift
// call for Float32? It is not part of the package; `make bench-gemm` builds and runs it.
//
// Method: for each shape and thread count, blocks of R calls alternate between the two libraries
// (B blocks each, with a pause between blocks so that the other library's idle threads have gone
// to sleep and the two pools never spin at once); the figure is the median over all timed calls.
// `cpu/wall` is process CPU time over wall time during the timed calls: ≈ the threads really used.
//
// A second table times, with 2 threads, each product followed at once by an elementwise pass
// over 4M floats on 2 threads of our own (as DinoTensor's `parallelFor` would run next): when a
// library's idle workers keep spinning after the call, they slow that pass down.
//
// Build: cc -O2 -fopenmp scripts/gemm_backends.c -o gemm_backends -lopenblas -ldnnl
// Usage: ./gemm_backends [calls-per-block=3] [blocks=6]
// Columns: median ms of each library, then median and best (max) GFLOP/s, then cpu/wall. On a
// shared machine the best rate approximates the uncontended speed; rows whose cpu/wall falls
// well below the thread count were disturbed.

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct { const char *name; int m, n, k; char ta, tb; } Shape;

// C (M×N) = op(A) (M×K) · op(B) (K×N); 'T' marks an operand read through a transposed view.
static const Shape shapes[] = {
    {"qkv fwd x·Wᵀ (4160×192)·(192×576)", 4160, 576, 192, 'N', 'T'},
    {"fc1 fwd x·Wᵀ (4160×192)·(192×768)", 4160, 768, 192, 'N', 'T'},
    {"fc2 fwd x·Wᵀ (4160×768)·(768×192)", 4160, 192, 768, 'N', 'T'},
    {"qkv dX  dY·W (4160×576)·(576×192)", 4160, 192, 576, 'N', 'N'},
    {"qkv dW dYᵀ·X (576×4160)·(4160×192)", 576, 192, 4160, 'T', 'N'},
    {"square       (1024×1024)·(1024×1024)", 1024, 1024, 1024, 'N', 'N'},
};

static double now(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void pause_ms(int ms) {
    struct timespec t = {0, ms * 1000000L};
    nanosleep(&t, NULL);
}

static void call(int lib, const Shape *s, const float *a, const float *b, float *c) {
    // Leading dimensions of row-major storage: A is M×K (or K×M when transposed), B is K×N (or N×K).
    int lda = s->ta == 'N' ? s->k : s->m;
    int ldb = s->tb == 'N' ? s->n : s->k;
    if (lib == 0) {
        cblas_sgemm(CblasRowMajor, s->ta == 'N' ? CblasNoTrans : CblasTrans,
                    s->tb == 'N' ? CblasNoTrans : CblasTrans, s->m, s->n, s->k, 1.0f, a, lda, b, ldb,
                    0.0f, c, s->n);
    } else {
        if (dnnl_sgemm(s->ta, s->tb, s->m, s->n, s->k, 1.0f, a, lda, b, ldb, 0.0f, c, s->n) != dnnl_success) {
            fprintf(stderr, "dnnl_sgemm failed\n");
            exit(1);
        }
    }
}

static void set_threads(int lib, int n) {
    // Each library gets the count; the other is held at 1 so its pool stays asleep.
    openblas_set_num_threads(lib == 0 ? n : 1);
    omp_set_num_threads(lib == 1 ? n : 1);
}

// An elementwise pass y = 1.5·x + 0.5 over `count` floats, split across 2 fresh threads.
typedef struct { const float *x; float *y; size_t start, end; } Slice;

static void *pass_slice(void *arg) {
    Slice *s = arg;
    for (size_t i = s->start; i < s->end; i++) s->y[i] = 1.5f * s->x[i] + 0.5f;
    return NULL;
}

static void elementwise_pass(const float *x, float *y, size_t count) {
    pthread_t t;
    Slice a = {x, y, 0, count / 2}, b = {x, y, count / 2, count};
    pthread_create(&t, NULL, pass_slice, &b);
    pass_slice(&a);
    pthread_join(t, NULL);
}

// Times gemm + elementwise pass with 2 threads; prints the medians of both libraries and of the
// pass alone.
static void mixed(int per_block, int blocks) {
    size_t count = 4u << 20;
    float *x = calloc(count, 4), *y = calloc(count, 4);
    int total = per_block * blocks;
    double *alone = malloc(sizeof(double) * total);
    for (int r = 0; r < total; r++) {
        elementwise_pass(x, y, count);
        double w0 = now(CLOCK_MONOTONIC);
        elementwise_pass(x, y, count);
        alone[r] = now(CLOCK_MONOTONIC) - w0;
    }
    qsort(alone, total, sizeof(double), cmp);
    printf("\nproduct then a 2-thread elementwise pass over 4M floats, 2 threads; pass alone: %.2f ms\n",
           1e3 * alone[total / 2]);
    printf("%-38s %10s %10s %10s %10s\n", "shape", "blas ms", "dnnl ms", "blas pass", "dnnl pass");
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const Shape *s = &shapes[si];
        size_t na = (size_t)s->m * s->k, nb = (size_t)s->k * s->n, nc = (size_t)s->m * s->n;
        float *a = calloc(na, 4), *b = calloc(nb, 4), *c = calloc(nc, 4);
        double *both[2], *pass[2];
        for (int lib = 0; lib < 2; lib++) {
            both[lib] = malloc(sizeof(double) * total);
            pass[lib] = malloc(sizeof(double) * total);
        }
        for (int blk = 0; blk < blocks; blk++) {
            for (int lib = 0; lib < 2; lib++) {
                set_threads(lib, 2);
                pause_ms(150);
                call(lib, s, a, b, c);
                for (int r = 0; r < per_block; r++) {
                    double w0 = now(CLOCK_MONOTONIC);
                    call(lib, s, a, b, c);
                    double w1 = now(CLOCK_MONOTONIC);
                    elementwise_pass(x, y, count);
                    double w2 = now(CLOCK_MONOTONIC);
                    both[lib][blk * per_block + r] = w2 - w0;
                    pass[lib][blk * per_block + r] = w2 - w1;
                }
            }
        }
        double med[2], medp[2];
        for (int lib = 0; lib < 2; lib++) {
            qsort(both[lib], total, sizeof(double), cmp);
            qsort(pass[lib], total, sizeof(double), cmp);
            med[lib] = both[lib][total / 2];
            medp[lib] = pass[lib][total / 2];
            free(both[lib]);
            free(pass[lib]);
        }
        printf("%-38s %10.2f %10.2f %10.2f %10.2f\n", s->name, 1e3 * med[0], 1e3 * med[1], 1e3 * medp[0],
               1e3 * medp[1]);
        fflush(stdout);
        free(a); free(b); free(c);
    }
    free(x); free(y); free(alone);
}

int main(int argc, char **argv) {
    int per_block = argc > 1 ? atoi(argv[1]) : 3;
    int blocks = argc > 2 ? atoi(argv[2]) : 6;
    printf("OpenBLAS %s (core %s); oneDNN %d.%d.%d; %d calls × %d blocks, median\n",
           openblas_get_config(), openblas_get_corename(), dnnl_version()->major,
           dnnl_version()->minor, dnnl_version()->patch, per_block, blocks);
    printf("%-38s %3s %8s %8s %8s %8s %8s %8s %8s %8s\n", "shape", "thr", "blas ms", "dnnl ms", "blas GF",
           "dnnl GF", "blas max", "dnnl max", "blas cpu", "dnnl cpu");
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const Shape *s = &shapes[si];
        size_t na = (size_t)s->m * s->k, nb = (size_t)s->k * s->n, nc = (size_t)s->m * s->n;
        float *a = malloc(na * 4), *b = malloc(nb * 4), *c0 = malloc(nc * 4), *c1 = malloc(nc * 4);
        srand(1);
        for (size_t i = 0; i < na; i++) a[i] = (float)rand() / RAND_MAX - 0.5f;
        for (size_t i = 0; i < nb; i++) b[i] = (float)rand() / RAND_MAX - 0.5f;
        for (int threads = 1; threads <= 2; threads++) {
            double *times[2], cpu[2] = {0, 0}, wall[2] = {0, 0};
            int count = per_block * blocks;
            for (int lib = 0; lib < 2; lib++) times[lib] = malloc(sizeof(double) * count);
            for (int blk = 0; blk < blocks; blk++) {
                for (int lib = 0; lib < 2; lib++) {
                    set_threads(lib, threads);
                    pause_ms(150);
                    call(lib, s, a, b, lib ? c1 : c0);  // warm-up
                    for (int r = 0; r < per_block; r++) {
                        double w0 = now(CLOCK_MONOTONIC), p0 = now(CLOCK_PROCESS_CPUTIME_ID);
                        call(lib, s, a, b, lib ? c1 : c0);
                        double w1 = now(CLOCK_MONOTONIC), p1 = now(CLOCK_PROCESS_CPUTIME_ID);
                        times[lib][blk * per_block + r] = w1 - w0;
                        wall[lib] += w1 - w0;
                        cpu[lib] += p1 - p0;
                    }
                }
            }
            double maxdiff = 0;
            for (size_t i = 0; i < nc; i++) {
                double d = c0[i] - c1[i];
                if (d < 0) d = -d;
                if (d > maxdiff) maxdiff = d;
            }
            double med[2], best[2], flop = 2.0 * s->m * s->n * s->k;
            for (int lib = 0; lib < 2; lib++) {
                qsort(times[lib], count, sizeof(double), cmp);
                med[lib] = count % 2 ? times[lib][count / 2]
                                     : 0.5 * (times[lib][count / 2 - 1] + times[lib][count / 2]);
                best[lib] = times[lib][0];
                free(times[lib]);
            }
            printf("%-38s %3d %8.2f %8.2f %8.1f %8.1f %8.1f %8.1f %8.2f %8.2f%s\n", s->name, threads,
                   1e3 * med[0], 1e3 * med[1], flop / med[0] * 1e-9, flop / med[1] * 1e-9,
                   flop / best[0] * 1e-9, flop / best[1] * 1e-9, cpu[0] / wall[0], cpu[1] / wall[1],
                   maxdiff > 1e-3 ? "  RESULTS DIFFER" : "");
            fflush(stdout);
        }
        free(a); free(b); free(c0); free(c1);
    }
    mixed(per_block, blocks);
    return 0;
}
