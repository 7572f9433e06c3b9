// Open MPI through dlopen/dlsym. The prototypes below are the few functions of the MPI C API this
// package calls, with MPI's opaque handles as `void *` (Open MPI's handles are pointers); the
// predefined handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, …) are, in Open MPI's mpi.h, the
// addresses of exported globals (`&ompi_mpi_comm_world`, …), so they are looked up with dlsym too.
#include "cmpi.h"
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void *Handle;
enum { THREAD_SERIALIZED = 2, MAX_ERROR_STRING = 256 };
#define IN_PLACE ((void *)1)
#define STATUS_IGNORE ((void *)0)

static int (*p_init_thread)(int *, char ***, int, int *);
static int (*p_initialized)(int *);
static int (*p_finalize)(void);
static int (*p_abort)(Handle, int);
static int (*p_comm_rank)(Handle, int *);
static int (*p_comm_size)(Handle, int *);
static int (*p_comm_set_errhandler)(Handle, Handle);
static int (*p_bcast)(void *, int, Handle, int, Handle);
static int (*p_allreduce)(const void *, void *, int, Handle, Handle, Handle);
static int (*p_iallreduce)(const void *, void *, int, Handle, Handle, Handle, Handle *);
static int (*p_test)(Handle *, int *, void *);
static int (*p_wait)(Handle *, void *);
static int (*p_barrier)(Handle);
static int (*p_error_string)(int, char *, int *);
static double (*p_wtime)(void);

static Handle comm_world, type_float, type_double, type_byte, op_sum, errors_return;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const char *load_error = "";
static int loaded = 0;

#define LOAD(ptr, name) (*(void **)(&ptr) = dlsym(lib, name))

static void load(void) {
    const char *names[] = {"libmpi.so.40", "libmpi.so", "libmpi.40.dylib", "libmpi.dylib"};
    // CONVNET_MPI_LIBRARY names the library to use instead (another install, or a test of its absence)
    const char *chosen = getenv("CONVNET_MPI_LIBRARY");
    void *lib = NULL;
    // RTLD_GLOBAL: Open MPI's own components (dlopened by libmpi) resolve libmpi's symbols globally
    if (chosen && *chosen) lib = dlopen(chosen, RTLD_NOW | RTLD_GLOBAL);
    else for (unsigned i = 0; i < sizeof names / sizeof names[0] && !lib; i++) lib = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
    if (!lib) {
        load_error = chosen && *chosen ? "the library named by CONVNET_MPI_LIBRARY cannot be opened"
                                       : "libmpi.so.40 (Open MPI) was not found; install openmpi-bin (Debian) to train with mpirun";
        return;
    }
    int ok = LOAD(p_init_thread, "MPI_Init_thread") && LOAD(p_initialized, "MPI_Initialized") && LOAD(p_finalize, "MPI_Finalize") &&
             LOAD(p_abort, "MPI_Abort") && LOAD(p_comm_rank, "MPI_Comm_rank") && LOAD(p_comm_size, "MPI_Comm_size") &&
             LOAD(p_comm_set_errhandler, "MPI_Comm_set_errhandler") && LOAD(p_bcast, "MPI_Bcast") &&
             LOAD(p_allreduce, "MPI_Allreduce") && LOAD(p_iallreduce, "MPI_Iallreduce") && LOAD(p_test, "MPI_Test") &&
             LOAD(p_wait, "MPI_Wait") && LOAD(p_barrier, "MPI_Barrier") && LOAD(p_error_string, "MPI_Error_string") &&
             LOAD(p_wtime, "MPI_Wtime");
    comm_world = dlsym(lib, "ompi_mpi_comm_world");
    type_float = dlsym(lib, "ompi_mpi_float");
    type_double = dlsym(lib, "ompi_mpi_double");
    type_byte = dlsym(lib, "ompi_mpi_byte");
    op_sum = dlsym(lib, "ompi_mpi_op_sum");
    errors_return = dlsym(lib, "ompi_mpi_errors_return");
    if (!ok || !comm_world || !type_float || !type_double || !type_byte || !op_sum || !errors_return) {
        load_error = "the MPI library found is not Open MPI 3 or newer (a function or predefined handle is missing)";
        return;
    }
    loaded = 1;
}

int cmpi_available(void) { pthread_once(&once, load); return loaded; }
const char *cmpi_load_error(void) { pthread_once(&once, load); return load_error; }

/// Copies MPI's text for `code` into `message` and returns the code.
static int fail(int code, const char *what, char *message, int cap) {
    if (cap <= 0) return code;
    char text[MAX_ERROR_STRING + 1] = "";
    int len = 0;
    if (!p_error_string || p_error_string(code, text, &len) != 0) snprintf(text, sizeof text, "error %d", code);
    snprintf(message, (size_t)cap, "%s: %s", what, text);
    return code;
}

#define CHECK_LOADED(message, cap) \
    if (!cmpi_available()) { snprintf(message, (size_t)(cap), "%s", load_error); return -1; }

int cmpi_init(int *rank, int *size, char *message, int cap) {
    CHECK_LOADED(message, cap);
    int initialized = 0, provided = 0, r;
    p_initialized(&initialized);
    if (!initialized && (r = p_init_thread(NULL, NULL, THREAD_SERIALIZED, &provided)) != 0) return fail(r, "MPI_Init_thread", message, cap);
    if ((r = p_comm_set_errhandler(comm_world, errors_return)) != 0) return fail(r, "MPI_Comm_set_errhandler", message, cap);
    if ((r = p_comm_rank(comm_world, rank)) != 0) return fail(r, "MPI_Comm_rank", message, cap);
    if ((r = p_comm_size(comm_world, size)) != 0) return fail(r, "MPI_Comm_size", message, cap);
    return 0;
}

int cmpi_finalize(void) { return loaded ? p_finalize() : 0; }

void cmpi_abort(int code) { if (loaded) p_abort(comm_world, code); }

int cmpi_bcast(void *buffer, long bytes, int root, char *message, int cap) {
    CHECK_LOADED(message, cap);
    const long piece = 1L << 30;
    for (long at = 0; at < bytes; at += piece) {
        int n = (int)(bytes - at < piece ? bytes - at : piece);
        int r = p_bcast((char *)buffer + at, n, type_byte, root, comm_world);
        if (r != 0) return fail(r, "MPI_Bcast", message, cap);
    }
    return 0;
}

static int allreduce(void *buffer, long count, size_t size, Handle type, char *message, int cap) {
    CHECK_LOADED(message, cap);
    const long piece = 1L << 28;
    for (long at = 0; at < count; at += piece) {
        int n = (int)(count - at < piece ? count - at : piece);
        int r = p_allreduce(IN_PLACE, (char *)buffer + at * (long)size, n, type, op_sum, comm_world);
        if (r != 0) return fail(r, "MPI_Allreduce", message, cap);
    }
    return 0;
}

int cmpi_allreduce_float(float *buffer, long count, char *message, int cap) {
    return allreduce(buffer, count, sizeof(float), type_float, message, cap);
}

int cmpi_allreduce_double(double *buffer, long count, char *message, int cap) {
    return allreduce(buffer, count, sizeof(double), type_double, message, cap);
}

int cmpi_iallreduce_float(float *buffer, long count, void **request, char *message, int cap) {
    CHECK_LOADED(message, cap);
    if (count < 0 || count > INT_MAX) { snprintf(message, (size_t)cap, "MPI_Iallreduce: %ld elements is more than one call can take", count); return -1; }
    int r = p_iallreduce(IN_PLACE, buffer, (int)count, type_float, op_sum, comm_world, (Handle *)request);
    return r == 0 ? 0 : fail(r, "MPI_Iallreduce", message, cap);
}

int cmpi_test(void **request, int *done, char *message, int cap) {
    CHECK_LOADED(message, cap);
    int r = p_test((Handle *)request, done, STATUS_IGNORE);
    return r == 0 ? 0 : fail(r, "MPI_Test", message, cap);
}

int cmpi_wait(void **request, char *message, int cap) {
    CHECK_LOADED(message, cap);
    int r = p_wait((Handle *)request, STATUS_IGNORE);
    return r == 0 ? 0 : fail(r, "MPI_Wait", message, cap);
}

int cmpi_barrier(char *message, int cap) {
    CHECK_LOADED(message, cap);
    int r = p_barrier(comm_world);
    return r == 0 ? 0 : fail(r, "MPI_Barrier", message, cap);
}

double cmpi_wtime(void) { return loaded ? p_wtime() : 0; }
