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

// MARK: Blocks above the mmap threshold
//
// Blocks of 32 MiB and more (a vit_small step at 224 px has dozens: every activation and
// gradient of the 1536-wide MLP of a global-crop batch) are mmap'd by glibc whatever
// mallopt says, so each one is page-faulted and zero-filled by the kernel on first touch and
// unmapped on free, every step: 7.9 million page faults and 32 s of system time in a 3-step
// dino_vits16 run of 76 s. They are kept here instead, by size (rounded up to 2 MiB), for the
// next allocation of the same size, up to a cap on the bytes kept (the oldest go first).

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define DK_LARGE_MIN ((size_t)32 << 20)
#define DK_LARGE_ROUND ((size_t)2 << 20)
#define DK_LARGE_SLOTS 512

static struct { void *ptr; size_t bytes; } dk_cache[DK_LARGE_SLOTS];
static int dk_cache_count;
static size_t dk_cache_bytes;
static pthread_mutex_t dk_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t dk_cache_once = PTHREAD_ONCE_INIT;
static size_t dk_cache_cap;

static void dk_cache_init(void) {
    const char *env = getenv("DINO_BUFFER_CACHE_MB");
    if (env && *env) {
        dk_cache_cap = (size_t)strtoull(env, NULL, 10) << 20;
        return;
    }
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    size_t physical = pages > 0 && size > 0 ? (size_t)pages * (size_t)size : (size_t)8 << 30;
    dk_cache_cap = physical / 4;
}

static size_t dk_rounded(size_t bytes) { return (bytes + DK_LARGE_ROUND - 1) / DK_LARGE_ROUND * DK_LARGE_ROUND; }

void *dino_buffer_allocate(size_t bytes) {
    if (bytes >= DK_LARGE_MIN) {
        pthread_once(&dk_cache_once, dk_cache_init);
        size_t rounded = dk_rounded(bytes);
        void *found = NULL;
        pthread_mutex_lock(&dk_cache_lock);
        for (int i = dk_cache_count - 1; i >= 0; i--) {          // the most recently freed first
            if (dk_cache[i].bytes == rounded) {
                found = dk_cache[i].ptr;
                memmove(&dk_cache[i], &dk_cache[i + 1], (size_t)(dk_cache_count - 1 - i) * sizeof dk_cache[0]);
                dk_cache_count--;
                dk_cache_bytes -= rounded;
                break;
            }
        }
        pthread_mutex_unlock(&dk_cache_lock);
        if (found) return found;
        void *p = NULL;
        return posix_memalign(&p, DK_LARGE_ROUND, rounded) == 0 ? p : NULL;
    }
    void *p = NULL;
    return posix_memalign(&p, 64, bytes < 64 ? 64 : bytes) == 0 ? p : NULL;
}

void dino_buffer_free(void *ptr, size_t bytes) {
    if (!ptr) return;
    if (bytes < DK_LARGE_MIN) {
        free(ptr);
        return;
    }
    pthread_once(&dk_cache_once, dk_cache_init);
    size_t rounded = dk_rounded(bytes);
    void *evicted[DK_LARGE_SLOTS];
    int nevicted = 0;
    int kept = 0;
    pthread_mutex_lock(&dk_cache_lock);
    if (rounded <= dk_cache_cap) {
        // Make room: the oldest blocks go back to the OS.
        while (dk_cache_count > 0 && (dk_cache_count == DK_LARGE_SLOTS || dk_cache_bytes + rounded > dk_cache_cap)) {
            evicted[nevicted++] = dk_cache[0].ptr;
            dk_cache_bytes -= dk_cache[0].bytes;
            memmove(&dk_cache[0], &dk_cache[1], (size_t)(dk_cache_count - 1) * sizeof dk_cache[0]);
            dk_cache_count--;
        }
        dk_cache[dk_cache_count].ptr = ptr;
        dk_cache[dk_cache_count].bytes = rounded;
        dk_cache_count++;
        dk_cache_bytes += rounded;
        kept = 1;
    }
    pthread_mutex_unlock(&dk_cache_lock);
    for (int i = 0; i < nevicted; i++) free(evicted[i]);
    if (!kept) free(ptr);
}

size_t dino_buffer_cache_bytes(void) {
    pthread_mutex_lock(&dk_cache_lock);
    size_t b = dk_cache_bytes;
    pthread_mutex_unlock(&dk_cache_lock);
    return b;
}

void dino_buffer_cache_clear(void) {
    pthread_mutex_lock(&dk_cache_lock);
    for (int i = 0; i < dk_cache_count; i++) free(dk_cache[i].ptr);
    dk_cache_count = 0;
    dk_cache_bytes = 0;
    pthread_mutex_unlock(&dk_cache_lock);
}
