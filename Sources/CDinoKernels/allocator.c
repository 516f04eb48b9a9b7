// allocator.c — keep freed tensor buffers in the heap for reuse.
//
// A training step allocates and frees the same few hundred buffers of 0.1–30 MB every step.
// glibc serves blocks above its mmap threshold (128 KiB at first, raised adaptively) with
// fresh mmap'd pages, which the kernel zero-fills on first touch and unmaps on free: page
// faults and page clearing took about a tenth of a vit_tiny_patch4 DINO step. Raising the
// threshold to its 64-bit maximum (32 MiB) and the trim threshold far above it keeps those
// blocks in the heap, where the next step finds them already mapped.

#include "dino_kernels.h"
#include <malloc.h>
#include <stdlib.h>

int dino_configure_allocator(void) {
#if defined(__GLIBC__)
    // The user's own MALLOC_* settings win.
    if (getenv("MALLOC_MMAP_THRESHOLD_") || getenv("MALLOC_TRIM_THRESHOLD_")) return 0;
    int ok = mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    ok &= mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
    return ok ? 1 : 0;
#else
    return 0;
#endif
}
