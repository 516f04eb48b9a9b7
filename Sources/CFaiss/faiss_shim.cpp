// See include/faiss_shim.h.

#include "faiss_shim.h"

#include <cstdio>
#include <exception>
#include <memory>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>

extern "C" int faiss_shim_search(int kind, const float *base, long n, int d, const float *queries, long m, int k,
                                 int param1, int param2, long *labels, float *similarities, char *error,
                                 int error_length) {
    try {
        std::unique_ptr<faiss::IndexFlatIP> quantizer;
        std::unique_ptr<faiss::Index> index;
        if (kind == FAISS_SHIM_IVF_FLAT) {
            quantizer.reset(new faiss::IndexFlatIP(d));
            auto *ivf = new faiss::IndexIVFFlat(quantizer.get(), d, param1, faiss::METRIC_INNER_PRODUCT);
            index.reset(ivf);
            ivf->cp.verbose = false;
            ivf->train(n, base);
            ivf->nprobe = param2;
        } else if (kind == FAISS_SHIM_HNSW_FLAT) {
            auto *hnsw = new faiss::IndexHNSWFlat(d, param1, faiss::METRIC_INNER_PRODUCT);
            index.reset(hnsw);
            hnsw->hnsw.efSearch = param2;
        } else {
            std::snprintf(error, error_length, "unknown index kind %d", kind);
            return -1;
        }
        index->add(n, base);
        static_assert(sizeof(faiss::Index::idx_t) == sizeof(long), "faiss::Index::idx_t is not a long");
        index->search(m, queries, k, similarities, reinterpret_cast<faiss::Index::idx_t *>(labels));
        return 0;
    } catch (const std::exception &e) {
        std::snprintf(error, error_length, "%s", e.what());
        return -1;
    }
}
