// The one OpenMP declaration the faiss headers used here need (faiss/impl/HNSW.h names
// omp_lock_t in declarations). GCC's omp.h lives in its private include folder, which Swift's
// clang does not search; this is its definition of omp_lock_t, unchanged (GCC 12, x86-64).
#ifndef CFAISS_OMP_H
#define CFAISS_OMP_H
typedef struct {
    unsigned char _x[4] __attribute__((__aligned__(4)));
} omp_lock_t;
#endif
