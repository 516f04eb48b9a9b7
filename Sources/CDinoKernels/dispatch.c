// dispatch.c — which instruction set the kernels run on, chosen once at load time.
//
// The AVX-512 variants need F, DQ, BW and VL (and FMA); the AVX2 variants need AVX2 and FMA.
// __builtin_cpu_supports also checks that the OS saves the wide registers. Tests may pick a
// narrower variant for their own thread (dino_kernels_use_isa), which leaves every other
// thread on the process-wide choice.
//
// DINO_MAX_ISA=avx2 (or generic) caps the process-wide choice, as oneDNN's ONEDNN_MAX_CPU_ISA
// caps oneDNN's: an AVX-512 machine then runs what an AVX2-only one runs. The cap is passed on
// to oneDNN (ONEDNN_MAX_CPU_ISA AVX2 / SSE41, unless the user set it), which reads it when it
// first dispatches, after this constructor; dino_cpu_features reports the capped CPU, so the
// peak loops and the native bf16 product follow too.

#include "dino_kernels.h"
#include "vecmath.h"
#include <stdio.h>
#include <stdlib.h>
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
static void dk_init(void);
static _Thread_local int thread_level = -1;    // per-thread choice, -1 when none
static const char *const names[] = {"generic", "avx2", "avx512"};
static int cap_level = -1;                     // the level DINO_MAX_ISA names, -1 when unset or unknown

/// The level DINO_MAX_ISA names, -1 when unset; an unknown name is reported and ignored.
static int requested_cap(void) {
    const char *v = getenv("DINO_MAX_ISA");
    if (v == NULL || *v == 0) return -1;
    for (int l = 0; l <= 2; l++)
        if (strcmp(v, names[l]) == 0) return l;
    fprintf(stderr, "warning: DINO_MAX_ISA=%s is not one of avx512, avx2, generic; ignored\n", v);
    return -1;
}

const char *dino_kernels_max_isa(void) {
    dk_init();
    return cap_level < 0 ? NULL : names[cap_level];
}

__attribute__((constructor)) static void dk_init(void) {
    if (supported >= 0) return;
    cap_level = requested_cap();
    int detected = detect(), cap = cap_level < 0 ? 2 : cap_level;
    supported = detected < cap ? detected : cap;
    if (supported < detected) setenv("ONEDNN_MAX_CPU_ISA", supported == 1 ? "AVX2" : "SSE41", 0);
}

int dk_isa_cap(void) {
    dk_init();
    return cap_level < 0 ? 2 : cap_level;
}

int dk_isa_level(void) {
    if (__builtin_expect(thread_level >= 0, 0)) return thread_level;
    if (__builtin_expect(supported < 0, 0)) dk_init();  // only if called before the constructor
    return supported;
}

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
