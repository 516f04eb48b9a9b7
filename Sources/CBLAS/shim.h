// The system CBLAS interface of OpenBLAS (Debian: libopenblas-dev).
#include <cblas.h>
// OpenBLAS extensions for thread control; declared in OpenBLAS's cblas.h.
