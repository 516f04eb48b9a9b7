// dispatch.c — which instruction set the kernels run on, chosen once at load time.
//
// The AVX-512 variants need F, DQ, BW and VL (and FMA); the AVX2 variants need AVX2 and FMA.
// __builtin_cpu_supports also checks that the OS saves the wide registers. Tests may pick a
// narrower variant for their own thread (dino_kernels_use_isa), which leaves every other
// thread on the process-wide choice.

#include "dino_kernels.h"
#include "vecmath.h"
#include <string.h>

static int detect(void) {
#if DK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")
        && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("fma"))
        return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

static int supported = -1;                     // set before main, read-only afterwards
static _Thread_local int thread_level = -1;    // per-thread choice, -1 when none

__attribute__((constructor)) static void dk_init(void) {
    if (supported < 0) supported = detect();
}

int dk_isa_level(void) {
    if (__builtin_expect(thread_level >= 0, 0)) return thread_level;
    if (__builtin_expect(supported < 0, 0)) dk_init();  // only if called before the constructor
    return supported;
}

static const char *const names[] = {"generic", "avx2", "avx512"};

const char *dino_kernels_isa(void) { return names[dk_isa_level()]; }

int dino_kernels_supports_isa(const char *name) {
    dk_init();
    for (int l = 0; l <= supported; l++)
        if (strcmp(name, names[l]) == 0) return 1;
    return 0;
}

int dino_kernels_use_isa(const char *name) {
    dk_init();
    for (int l = 0; l <= supported; l++) {
        if (strcmp(name, names[l]) == 0) {
            thread_level = l == supported ? -1 : l;
            return 1;
        }
    }
    return 0;
}
