// gemm_backends.c — Float32 matrix products of a ViT-Tiny training step (batch 64, 65 tokens →
// 4160 rows), row-major, with 1 and 2 threads, through three routes:
//   blas   OpenBLAS cblas_sgemm on its own pthread pool (openblas_set_num_threads)
//   dnnl   oneDNN dnnl_sgemm on its OpenMP (libgomp) team (omp_set_num_threads)
//   split  oneDNN dnnl_sgemm with one OpenMP thread, on row blocks of C run by threads of our own
//          (as DinoTensor's `parallelFor` would), so that no OpenMP team ever starts
// It answers one question: which route should `gemm` in Sources/DinoTensor/Ops/Matmul.swift take
// for Float32? It is not part of the package; `make bench-gemm` builds and runs it.
//
// Method: for each shape and thread count, blocks of calls alternate between the routes (with a
// pause before each block, so that the idle workers of the previous route have gone to sleep);
// figures are over all timed calls. Columns: median ms; median and best GFLOP/s; "cpu GF", the
// median of 2·M·N·K / (process CPU time of the call / threads), which a busy machine disturbs far
// less than wall time; and cpu/wall. Rows whose cpu/wall falls well below the thread count were
// disturbed by other work on the machine: trust their best and cpu GF over their medians.
//
// A second table times, with 2 threads, each product followed at once by an elementwise pass
// over 4M floats on 2 threads of our own: when a library's idle workers keep spinning after the
// call (libgomp spins ~300k pauses by default), they slow that pass down.
//
// With -DWITH_BLIS, a fourth route:
//   blis   BLIS's typed API (bli_sgemm, strides given directly) on its own OpenMP team
//          (bli_thread_set_num_threads); Debian's libblis-dev 0.9.0 picks its sub-configuration
//          at load time (BLIS_ARCH_DEBUG=1 prints it: `zen3`, AVX2 kernels, on Zen 4)
//
// Build: cc -O2 -fopenmp scripts/gemm_backends.c -o gemm_backends -lopenblas -ldnnl -lpthread
//        (-DWITH_BLIS -idirafter /usr/include/x86_64-linux-gnu/blis-openmp … -lopenblas -ldnnl
//         -L/usr/lib/x86_64-linux-gnu/blis-openmp -lblis -lm: OpenBLAS first, so that
//         cblas_sgemm, which BLIS also exports, is OpenBLAS's)
// Usage: ./gemm_backends [calls-per-block=3] [blocks=6]

#include <cblas.h>  // OpenBLAS's (with openblas_set_num_threads), before blis.h brings its own
#ifdef WITH_BLIS
#include <blis.h>
#endif
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
#ifdef WITH_BLIS
enum { ROUTES = 4 };
static const char *route_names[ROUTES] = {"blas", "dnnl", "split", "blis"};
#else
enum { ROUTES = 3 };
static const char *route_names[ROUTES] = {"blas", "dnnl", "split"};
#endif

static double now(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Sorts `v` and returns its median.
static double median(double *v, int n) {
    qsort(v, n, sizeof(double), cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void pause_ms(int ms) {
    struct timespec t = {0, ms * 1000000L};
    nanosleep(&t, NULL);
}

// One row block [r0, r1) of C through oneDNN on the calling thread alone.
typedef struct { const Shape *s; const float *a, *b; float *c; int r0, r1; } Block;

static void *dnnl_block(void *arg) {
    Block *k = arg;
    const Shape *s = k->s;
    int lda = s->ta == 'N' ? s->k : s->m, ldb = s->tb == 'N' ? s->n : s->k;
    // Rows r0… of op(A): rows of A, or columns of A when it is read transposed.
    const float *a = s->ta == 'N' ? k->a + (size_t)k->r0 * lda : k->a + k->r0;
    omp_set_num_threads(1);  // per calling thread: no OpenMP team
    if (dnnl_sgemm(s->ta, s->tb, k->r1 - k->r0, s->n, s->k, 1.0f, a, lda, k->b, ldb, 0.0f,
                   k->c + (size_t)k->r0 * s->n, s->n) != dnnl_success) {
        fprintf(stderr, "dnnl_sgemm failed\n");
        exit(1);
    }
    return NULL;
}

static void call(int route, int threads, const Shape *s, const float *a, const float *b, float *c) {
    // Leading dimensions of row-major storage: A is M×K (or K×M when transposed), B is K×N (or N×K).
    int lda = s->ta == 'N' ? s->k : s->m;
    int ldb = s->tb == 'N' ? s->n : s->k;
    if (route == 0) {
        openblas_set_num_threads(threads);
        cblas_sgemm(CblasRowMajor, s->ta == 'N' ? CblasNoTrans : CblasTrans,
                    s->tb == 'N' ? CblasNoTrans : CblasTrans, s->m, s->n, s->k, 1.0f, a, lda, b, ldb,
                    0.0f, c, s->n);
    } else if (route == 1) {
        omp_set_num_threads(threads);
        if (dnnl_sgemm(s->ta, s->tb, s->m, s->n, s->k, 1.0f, a, lda, b, ldb, 0.0f, c, s->n) != dnnl_success) {
            fprintf(stderr, "dnnl_sgemm failed\n");
            exit(1);
        }
#ifdef WITH_BLIS
    } else if (route == 3) {
        // Row-major storage as strides: element (i, j) of A at i·lda + j, or at j·lda + i when
        // A is read transposed (then BLIS is told to transpose it); likewise B.
        float one = 1.0f, zero = 0.0f;
        bli_thread_set_num_threads(threads);
        bli_sgemm(s->ta == 'N' ? BLIS_NO_TRANSPOSE : BLIS_TRANSPOSE, s->tb == 'N' ? BLIS_NO_TRANSPOSE : BLIS_TRANSPOSE,
                  s->m, s->n, s->k, &one, (float *)a, lda, 1, (float *)b, ldb, 1, &zero, c, s->n, 1);
#endif
    } else {
        Block blocks[8];
        pthread_t tids[8];
        int per = (s->m + threads - 1) / threads;
        for (int t = 0; t < threads; t++) {
            int r0 = t * per, r1 = r0 + per < s->m ? r0 + per : s->m;
            blocks[t] = (Block){s, a, b, c, r0, r1};
            if (t > 0) pthread_create(&tids[t], NULL, dnnl_block, &blocks[t]);
        }
        dnnl_block(&blocks[0]);
        for (int t = 1; t < threads; t++) pthread_join(tids[t], NULL);
    }
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

static void fill(float *v, size_t n) {
    for (size_t i = 0; i < n; i++) v[i] = (float)rand() / RAND_MAX - 0.5f;
}

static void products(int per_block, int blocks) {
    printf("%-36s %3s %-5s %8s %8s %8s %8s %5s\n", "shape", "thr", "route", "ms", "GF", "best GF",
           "cpu GF", "c/w");
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const Shape *s = &shapes[si];
        size_t na = (size_t)s->m * s->k, nb = (size_t)s->k * s->n, nc = (size_t)s->m * s->n;
        float *a = malloc(na * 4), *b = malloc(nb * 4), *c[ROUTES];
        srand(1);
        fill(a, na);
        fill(b, nb);
        for (int r = 0; r < ROUTES; r++) c[r] = malloc(nc * 4);
        for (int threads = 1; threads <= 2; threads++) {
            int count = per_block * blocks;
            double *times[ROUTES], *cputimes[ROUTES], cpu[ROUTES] = {0}, wall[ROUTES] = {0};
            for (int r = 0; r < ROUTES; r++) {
                times[r] = malloc(sizeof(double) * count);
                cputimes[r] = malloc(sizeof(double) * count);
            }
            for (int blk = 0; blk < blocks; blk++) {
                for (int r = 0; r < ROUTES; r++) {
                    pause_ms(150);
                    call(r, threads, s, a, b, c[r]);  // warm-up
                    for (int i = 0; i < per_block; i++) {
                        double w0 = now(CLOCK_MONOTONIC), p0 = now(CLOCK_PROCESS_CPUTIME_ID);
                        call(r, threads, s, a, b, c[r]);
                        double w1 = now(CLOCK_MONOTONIC), p1 = now(CLOCK_PROCESS_CPUTIME_ID);
                        times[r][blk * per_block + i] = w1 - w0;
                        cputimes[r][blk * per_block + i] = (p1 - p0) / threads;
                        wall[r] += w1 - w0;
                        cpu[r] += p1 - p0;
                    }
                }
            }
            double flop = 2.0 * s->m * s->n * s->k;
            for (int r = 0; r < ROUTES; r++) {
                double maxdiff = 0;
                for (size_t i = 0; i < nc; i++) {
                    double d = c[r][i] - c[0][i];
                    if (d < 0) d = -d;
                    if (d > maxdiff) maxdiff = d;
                }
                double med = median(times[r], count), best = times[r][0], medcpu = median(cputimes[r], count);
                printf("%-36s %3d %-5s %8.2f %8.1f %8.1f %8.1f %5.2f%s\n", r == 0 ? s->name : "", threads,
                       route_names[r], 1e3 * med, flop / med * 1e-9, flop / best * 1e-9,
                       flop / medcpu * 1e-9, cpu[r] / wall[r], maxdiff > 1e-3 ? "  RESULTS DIFFER" : "");
                free(times[r]);
                free(cputimes[r]);
            }
            fflush(stdout);
        }
        free(a); free(b);
        for (int r = 0; r < ROUTES; r++) free(c[r]);
    }
}

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
    printf("\nproduct, then at once a 2-thread elementwise pass over 4M floats; 2 threads; median ms\n"
           "(the pass alone: %.2f ms)\n", 1e3 * median(alone, total));
    printf("%-36s", "shape");
    for (int r = 0; r < ROUTES; r++) printf(" %6s both", route_names[r]);
    for (int r = 0; r < ROUTES; r++) printf(" %6s pass", route_names[r]);
    printf("\n");
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const Shape *s = &shapes[si];
        size_t na = (size_t)s->m * s->k, nb = (size_t)s->k * s->n, nc = (size_t)s->m * s->n;
        float *a = calloc(na, 4), *b = calloc(nb, 4), *c = calloc(nc, 4);
        double *both[ROUTES], *pass[ROUTES];
        for (int r = 0; r < ROUTES; r++) {
            both[r] = malloc(sizeof(double) * total);
            pass[r] = malloc(sizeof(double) * total);
        }
        for (int blk = 0; blk < blocks; blk++) {
            for (int r = 0; r < ROUTES; r++) {
                pause_ms(150);
                call(r, 2, s, a, b, c);
                for (int i = 0; i < per_block; i++) {
                    double w0 = now(CLOCK_MONOTONIC);
                    call(r, 2, s, a, b, c);
                    double w1 = now(CLOCK_MONOTONIC);
                    elementwise_pass(x, y, count);
                    double w2 = now(CLOCK_MONOTONIC);
                    both[r][blk * per_block + i] = w2 - w0;
                    pass[r][blk * per_block + i] = w2 - w1;
                }
            }
        }
        printf("%-36s", s->name);
        for (int r = 0; r < ROUTES; r++) printf(" %11.2f", 1e3 * median(both[r], total));
        for (int r = 0; r < ROUTES; r++) printf(" %11.2f", 1e3 * median(pass[r], total));
        printf("\n");
        fflush(stdout);
        for (int r = 0; r < ROUTES; r++) { free(both[r]); free(pass[r]); }
        free(a); free(b); free(c);
    }
    free(x); free(y); free(alone);
}

int main(int argc, char **argv) {
    int per_block = argc > 1 ? atoi(argv[1]) : 3;
    int blocks = argc > 2 ? atoi(argv[2]) : 6;
    if (per_block < 1 || blocks < 1) {
        fprintf(stderr, "usage: gemm_backends [calls-per-block ≥ 1] [blocks ≥ 1]\n");
        return 2;
    }
    printf("OpenBLAS %s (core %s); oneDNN %d.%d.%d; %d calls × %d blocks per route\n",
           openblas_get_config(), openblas_get_corename(), dnnl_version()->major,
           dnnl_version()->minor, dnnl_version()->patch, per_block, blocks);
    products(per_block, blocks);
    mixed(per_block, blocks);
    return 0;
}
