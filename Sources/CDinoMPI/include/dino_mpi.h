// The few MPI calls data-parallel training needs, loaded from Open MPI's libmpi at run time.
//
// What it is: a table of function pointers and predefined handles, filled by `dino_mpi_load`
// with dlopen/dlsym, so that swift-dino builds and runs on machines without Open MPI (as MLX's
// distributed/mpi does). Open MPI's ABI is assumed: handles are pointers, and MPI_COMM_WORLD,
// MPI_FLOAT, MPI_SUM … are the addresses of exported globals (`ompi_mpi_comm_world`,
// `ompi_mpi_float`, `ompi_mpi_op_sum`); MPI_IN_PLACE is (void *)1, MPI_STATUS_IGNORE is NULL.
// What it is not: a binding of MPI (no header of it is included), or usable with MPICH, whose
// handles are integers.
// Reference: Open MPI 4.1 mpi.h; ml-explore/mlx mlx/distributed/mpi/mpi.cpp (`MPIWrapper`).

#ifndef DINO_MPI_H
#define DINO_MPI_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void *dino_mpi_handle;  // MPI_Comm, MPI_Datatype, MPI_Op, MPI_Request: pointers in Open MPI

// MPI_THREAD_SINGLE … MPI_THREAD_MULTIPLE (an enum from 0 in Open MPI's mpi.h).
enum { DINO_MPI_THREAD_SINGLE = 0, DINO_MPI_THREAD_FUNNELED = 1, DINO_MPI_THREAD_SERIALIZED = 2, DINO_MPI_THREAD_MULTIPLE = 3 };

// Loads libmpi (the given path, or libmpi.so.40 then libmpi.so) with RTLD_GLOBAL (Open MPI's
// plug-ins resolve libmpi's symbols from the global scope) and resolves every symbol below.
// Returns 0 on success; otherwise writes why into `error` (at most `capacity` bytes).
int dino_mpi_load(const char *path, char *error, size_t capacity);

// 1 when `dino_mpi_load` succeeded.
int dino_mpi_loaded(void);

// Thin forwards to the loaded functions (the handles are the predefined ones named).
int dino_mpi_init_thread(int required, int *provided);
int dino_mpi_finalize(void);
int dino_mpi_rank(int *rank);           // MPI_Comm_rank(MPI_COMM_WORLD)
int dino_mpi_size(int *size);           // MPI_Comm_size(MPI_COMM_WORLD)
// MPI_Iallreduce(MPI_IN_PLACE, buffer, count, float or double, MPI_SUM, MPI_COMM_WORLD, request)
int dino_mpi_iallreduce_sum(void *buffer, long count, int is_double, dino_mpi_handle *request);
// MPI_Iallgather(send, count, float or double, receive, count, float or double, MPI_COMM_WORLD,
// request): every rank's `count` values, in rank order, into `receive` (size × count values).
int dino_mpi_iallgather(const void *send, void *receive, long count, int is_double, dino_mpi_handle *request);
// MPI_Ibcast(buffer, bytes, MPI_BYTE, root, MPI_COMM_WORLD, request)
int dino_mpi_ibcast_bytes(void *buffer, long bytes, int root, dino_mpi_handle *request);
// MPI_Ibarrier(MPI_COMM_WORLD, request)
int dino_mpi_ibarrier(dino_mpi_handle *request);
// MPI_Test(request, flag, MPI_STATUS_IGNORE)
int dino_mpi_test(dino_mpi_handle *request, int *done);
// MPI_Abort(MPI_COMM_WORLD, code)
int dino_mpi_abort(int code);
// MPI_Error_string
void dino_mpi_error_string(int code, char *out, size_t capacity);

#ifdef __cplusplus
}
#endif

#endif
