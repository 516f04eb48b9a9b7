// oneDNN from Debian (libdnnl-dev): its row-major sgemm, and the two OpenMP calls that size the
// OpenMP pool it runs on. omp.h lives in GCC's private include folder, which Swift's clang does
// not search, so the two functions of libgomp are declared here.
#include <oneapi/dnnl/dnnl.h>

/// Sets the threads of the next OpenMP parallel region started by the calling thread.
void omp_set_num_threads(int num_threads);
/// The threads the next parallel region of the calling thread would use.
int omp_get_max_threads(void);
