#ifndef CMPI_H
#define CMPI_H
// Open MPI reached through dlopen/dlsym, so the package builds and links on machines without MPI
// (no mpi.h, no libmpi at build time); only a run under mpirun needs libmpi.so.40.
//
// Every call returns 0 on success or an MPI error code, with MPI's message copied into `message`
// (size `cap`). Communication is always on MPI_COMM_WORLD, whose error handler is set to
// MPI_ERRORS_RETURN so a failure reaches the caller instead of aborting inside the library.

/// Loads libmpi (once, thread-safe); 1 when usable, else 0 (see cmpi_load_error).
int cmpi_available(void);
/// Why loading failed (a static string), or "" when it did not.
const char *cmpi_load_error(void);

/// MPI_Init_thread (MPI_THREAD_SERIALIZED: one thread at a time calls MPI), then the world's rank
/// and size, and MPI_ERRORS_RETURN on the world communicator.
int cmpi_init(int *rank, int *size, char *message, int cap);
/// MPI_Finalize.
int cmpi_finalize(void);
/// MPI_Abort(MPI_COMM_WORLD, code): ends every rank of the job.
void cmpi_abort(int code);

/// MPI_Bcast of `bytes` bytes from `root` (in pieces of at most 1 GiB).
int cmpi_bcast(void *buffer, long bytes, int root, char *message, int cap);
/// In-place MPI_Allreduce (MPI_SUM) of `count` floats (in pieces of at most 2^28 elements).
int cmpi_allreduce_float(float *buffer, long count, char *message, int cap);
/// In-place MPI_Allreduce (MPI_SUM) of `count` doubles.
int cmpi_allreduce_double(double *buffer, long count, char *message, int cap);
/// In-place MPI_Iallreduce (MPI_SUM) of `count` floats (count < 2^31); `*request` is the handle
/// for cmpi_test / cmpi_wait.
int cmpi_iallreduce_float(float *buffer, long count, void **request, char *message, int cap);
/// MPI_Test: `*done` becomes 1 when the request completed (the handle is then released).
int cmpi_test(void **request, int *done, char *message, int cap);
/// MPI_Wait on a request from cmpi_iallreduce_float.
int cmpi_wait(void **request, char *message, int cap);
/// MPI_Barrier.
int cmpi_barrier(char *message, int cap);
/// MPI_Wtime.
double cmpi_wtime(void);

#endif
