// A C interface to the few faiss calls swift-dino uses: approximate k-nearest-neighbour
// search by inner product with an IVF-Flat or an HNSW-Flat index. Debian's libfaiss-dev
// (1.7.3) ships C++ headers and a static library without its C API, hence this shim.
#ifndef FAISS_SHIM_H
#define FAISS_SHIM_H

#ifdef __cplusplus
extern "C" {
#endif

/// Index kinds.
enum { FAISS_SHIM_IVF_FLAT = 0, FAISS_SHIM_HNSW_FLAT = 1 };

/// Builds an index of `n` rows of `base` (n × d, row-major) and searches the `m` rows of
/// `queries` for their `k` largest inner products.
///   IVF-Flat:  param1 = number of lists (trained by faiss's k-means on `base`), param2 = lists probed
///   HNSW-Flat: param1 = M (links per node), param2 = efSearch (efConstruction is faiss's default, 40)
/// `labels` (m × k) and `similarities` (m × k) receive the results, best first; missing
/// neighbours are labelled -1. Returns 0, or -1 with a message in `error` (capacity `error_length`).
int faiss_shim_search(int kind, const float *base, long n, int d, const float *queries, long m, int k,
                      int param1, int param2, long *labels, float *similarities, char *error, int error_length);

#ifdef __cplusplus
}
#endif

#endif
