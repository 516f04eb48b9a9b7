// accuracy.c — accuracy of the vectorised exp and normal CDF in CDinoKernels/vecmath.h,
// per instruction-set variant, against double-precision libm on 16M points.
//
//   clang -O2 accuracy.c -lm -o /tmp/accuracy && /tmp/accuracy

#include "../../Sources/CDinoKernels/vecmath.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

DK_INLINE void body(const float *x, float *e, float *phi, float *gauss, long n) {
    for (long i = 0; i + 16 <= n; i += 16) {
        vf g;
        vstore(e + i, vexp(vload(x + i)));
        vstore(phi + i, vphi(vload(x + i), &g));
        vstore(gauss + i, g);
    }
}
#if DK_X86
DK_TARGET_AVX512 static void run_avx512(const float *x, float *e, float *p, float *g, long n) { body(x, e, p, g, n); }
DK_TARGET_AVX2 static void run_avx2(const float *x, float *e, float *p, float *g, long n) { body(x, e, p, g, n); }
#endif
static void run_generic(const float *x, float *e, float *p, float *g, long n) { body(x, e, p, g, n); }

static double ulp(double r) { float f = (float)fabs(r); return nextafterf(f, INFINITY) - f; }

int main(void) {
    const long n = 1 << 24;
    float *x = malloc(n * 4), *e = malloc(n * 4), *p = malloc(n * 4), *g = malloc(n * 4);
    struct { const char *name; void (*run)(const float *, float *, float *, float *, long); } variants[] = {
#if DK_X86
        {"avx512", run_avx512}, {"avx2", run_avx2},
#endif
        {"generic", run_generic}};
    for (unsigned v = 0; v < sizeof variants / sizeof variants[0]; v++) {
#if DK_X86
        if (v == 0 && !__builtin_cpu_supports("avx512f")) continue;
        if (v == 1 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) continue;
#endif
        for (long i = 0; i < n; i++) x[i] = -87.3f + (88.3f + 87.3f) * (float)i / n;
        variants[v].run(x, e, p, g, n);
        double worstExp = 0;
        for (long i = 0; i < n; i++) {
            double r = exp((double)x[i]);
            worstExp = fmax(worstExp, fabs(e[i] - r) / ulp(r));
        }
        for (long i = 0; i < n; i++) x[i] = -20.f + 40.f * (float)i / n;
        variants[v].run(x, e, p, g, n);
        double worstPhi = 0, worstPhi5 = 0, worstGauss = 0;
        for (long i = 0; i < n; i++) {
            double xd = x[i], r = 0.5 * erfc(-xd / sqrt(2.0)), rg = exp(-xd * xd / 2);
            if (r > 1e-37) {
                double rel = fabs(p[i] - r) / r;
                worstPhi = fmax(worstPhi, rel);
                if (fabs(xd) <= 5) worstPhi5 = fmax(worstPhi5, rel);
            }
            if (rg > 1e-37) worstGauss = fmax(worstGauss, fabs(g[i] - rg) / rg);
        }
        printf("%-8s exp %.2f ulp on [-87.3, 88.3]; Phi rel %.2g on [-20, 20], %.2g on [-5, 5]; "
               "exp(-x²/2) rel %.2g\n", variants[v].name, worstExp, worstPhi, worstPhi5, worstGauss);
    }
    return 0;
}
