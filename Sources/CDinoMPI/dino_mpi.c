// dlopen/dlsym loader of the MPI calls in dino_mpi.h (Open MPI's ABI; see the header).

#include "dino_mpi.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

typedef int (*init_thread_fn)(int *, char ***, int, int *);
typedef int (*void_fn)(void);
typedef int (*comm_int_fn)(void *, int *);
typedef int (*iallreduce_fn)(const void *, void *, int, void *, void *, void *, void **);
typedef int (*iallgather_fn)(const void *, int, void *, void *, int, void *, void *, void **);
typedef int (*ibcast_fn)(void *, int, void *, int, void *, void **);
typedef int (*ibarrier_fn)(void *, void **);
typedef int (*test_fn)(void **, int *, void *);
typedef int (*abort_fn)(void *, int);
typedef int (*error_string_fn)(int, char *, int *);

static struct {
    int loaded;
    init_thread_fn init_thread;
    void_fn finalize;
    comm_int_fn comm_rank, comm_size;
    iallreduce_fn iallreduce;
    iallgather_fn iallgather;
    ibcast_fn ibcast;
    ibarrier_fn ibarrier;
    test_fn test;
    abort_fn abort_;
    error_string_fn error_string;
    void *comm_world, *type_float, *type_double, *type_byte, *op_sum;
} mpi;

int dino_mpi_load(const char *path, char *error, size_t capacity) {
    if (mpi.loaded) return 0;
    const char *candidates[] = {path, "libmpi.so.40", "libmpi.so"};
    void *lib = NULL;
    const char *tried = "";
    for (int i = 0; i < 3 && lib == NULL; i++) {
        if (candidates[i] == NULL) continue;
        lib = dlopen(candidates[i], RTLD_NOW | RTLD_GLOBAL);
        if (lib == NULL) tried = dlerror();
        if (path != NULL) break;  // an explicit path is the only one tried
    }
    if (lib == NULL) {
        snprintf(error, capacity, "cannot load Open MPI's libmpi (%s); install openmpi-bin and libopenmpi-dev (make setup)", tried);
        return 1;
    }
#define RESOLVE(field, name)                                                              \
    do {                                                                                  \
        *(void **)(&mpi.field) = dlsym(lib, name);                                        \
        if (mpi.field == NULL) {                                                          \
            snprintf(error, capacity, "libmpi has no symbol '%s': is it Open MPI 4 or later?", name); \
            return 2;                                                                     \
        }                                                                                 \
    } while (0)
    RESOLVE(init_thread, "MPI_Init_thread");
    RESOLVE(finalize, "MPI_Finalize");
    RESOLVE(comm_rank, "MPI_Comm_rank");
    RESOLVE(comm_size, "MPI_Comm_size");
    RESOLVE(iallreduce, "MPI_Iallreduce");
    RESOLVE(iallgather, "MPI_Iallgather");
    RESOLVE(ibcast, "MPI_Ibcast");
    RESOLVE(ibarrier, "MPI_Ibarrier");
    RESOLVE(test, "MPI_Test");
    RESOLVE(abort_, "MPI_Abort");
    RESOLVE(error_string, "MPI_Error_string");
    // Predefined handles: the addresses of Open MPI's exported globals.
    RESOLVE(comm_world, "ompi_mpi_comm_world");
    RESOLVE(type_float, "ompi_mpi_float");
    RESOLVE(type_double, "ompi_mpi_double");
    RESOLVE(type_byte, "ompi_mpi_byte");
    RESOLVE(op_sum, "ompi_mpi_op_sum");
#undef RESOLVE
    mpi.loaded = 1;
    return 0;
}

int dino_mpi_loaded(void) { return mpi.loaded; }

int dino_mpi_init_thread(int required, int *provided) { return mpi.init_thread(NULL, NULL, required, provided); }
int dino_mpi_finalize(void) { return mpi.finalize(); }
int dino_mpi_rank(int *rank) { return mpi.comm_rank(mpi.comm_world, rank); }
int dino_mpi_size(int *size) { return mpi.comm_size(mpi.comm_world, size); }

int dino_mpi_iallreduce_sum(void *buffer, long count, int is_double, dino_mpi_handle *request) {
    if (count > INT_MAX) return -1;
    return mpi.iallreduce((void *)1 /* MPI_IN_PLACE */, buffer, (int)count, is_double ? mpi.type_double : mpi.type_float,
                          mpi.op_sum, mpi.comm_world, request);
}

int dino_mpi_iallgather(const void *send, void *receive, long count, int is_double, dino_mpi_handle *request) {
    if (count > INT_MAX) return -1;
    void *type = is_double ? mpi.type_double : mpi.type_float;
    return mpi.iallgather(send, (int)count, type, receive, (int)count, type, mpi.comm_world, request);
}

int dino_mpi_ibcast_bytes(void *buffer, long bytes, int root, dino_mpi_handle *request) {
    if (bytes > INT_MAX) return -1;
    return mpi.ibcast(buffer, (int)bytes, mpi.type_byte, root, mpi.comm_world, request);
}

int dino_mpi_ibarrier(dino_mpi_handle *request) { return mpi.ibarrier(mpi.comm_world, request); }

int dino_mpi_test(dino_mpi_handle *request, int *done) { return mpi.test(request, done, NULL /* MPI_STATUS_IGNORE */); }

int dino_mpi_abort(int code) { return mpi.abort_(mpi.comm_world, code); }

void dino_mpi_error_string(int code, char *out, size_t capacity) {
    if (code == -1) { snprintf(out, capacity, "count above INT_MAX"); return; }
    char buffer[512];  // MPI_MAX_ERROR_STRING is 256 in Open MPI
    int length = 0;
    if (!mpi.loaded || mpi.error_string(code, buffer, &length) != 0) { snprintf(out, capacity, "MPI error %d", code); return; }
    snprintf(out, capacity, "%.*s", length, buffer);
}
