// A small thread pool for the kernels' parallel regions (Threads.parallelChunks).
//
// Why not libdispatch: on this kind of machine a sleeping worker takes about 45 µs to wake, so a
// region of 100 µs of work ran no faster on two threads than on one, and a LeNet training step has
// two dozen such regions. Here a worker that finishes a region spins for a short while (100 µs)
// waiting for the next one before it sleeps on a futex.
//
// Tasks are claimed, not assigned: the caller and the workers take task indices from one atomic
// word, so a worker that is asleep or descheduled (another process on its core) never holds up a
// region; the caller runs what nobody has taken and waits only for tasks already running. Which
// thread runs a task does not change what it computes, so results stay reproducible.
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE 1   /* sched_getaffinity, CPU_COUNT (before any system header) */
#endif
#include "ckernels.h"

#if defined(__linux__) && defined(__x86_64__)
#include <immintrin.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 63
#define SPIN_NS 100000L   /* how long an idle worker polls before sleeping */

// The claim word: job id (24 bits) · task count (20 bits) · next task (20 bits). One compare-and-
// swap both checks that a task still belongs to the job a thread woke for and takes it.
static _Atomic uint64_t claim_word;
static _Atomic uint32_t job_gen;          /* futex word: the current job id */
static _Atomic long remaining;            /* tasks of the current job not finished */
static _Atomic int sleepers;
static ck_task_fn job_fn;
static void *job_ctx;
static uint32_t last_job;
static int started;
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local int in_pool;

static inline uint64_t pack(uint64_t job, uint64_t n, uint64_t next) { return job << 40 | n << 20 | next; }

static long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

// Runs tasks of job `job` while any are unclaimed.
static void run_claims(uint64_t job) {
    for (;;) {
        uint64_t w = atomic_load_explicit(&claim_word, memory_order_acquire);
        uint64_t n = (w >> 20) & 0xFFFFF, next = w & 0xFFFFF;
        if (w >> 40 != job || next >= n) return;
        if (!atomic_compare_exchange_weak_explicit(&claim_word, &w, w + 1, memory_order_acq_rel, memory_order_acquire)) continue;
        // the job's function and context were published before the claim word, and stay until
        // this task is counted finished
        job_fn(job_ctx, (long)next);
        atomic_fetch_sub_explicit(&remaining, 1, memory_order_release);
    }
}

// Polling only pays while every pooled thread has a core of its own: with more threads than
// cores (CONVNET_NUM_THREADS above the core count) a polling worker would take time from a working one.
static _Atomic long spin_ns = SPIN_NS;

static void *worker_main(void *arg) {
    (void)arg;
    in_pool = 1;
    uint32_t seen = atomic_load_explicit(&job_gen, memory_order_acquire);
    for (;;) {
        uint32_t g;
        long deadline = now_ns() + atomic_load_explicit(&spin_ns, memory_order_relaxed);
        int polls = 0;
        while ((g = atomic_load_explicit(&job_gen, memory_order_acquire)) == seen) {
            _mm_pause();
            if (++polls < 64) continue;
            polls = 0;
            if (now_ns() < deadline) continue;
            atomic_fetch_add_explicit(&sleepers, 1, memory_order_seq_cst);
            syscall(SYS_futex, &job_gen, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
            atomic_fetch_sub(&sleepers, 1);
            deadline = now_ns() + atomic_load_explicit(&spin_ns, memory_order_relaxed);
        }
        seen = g;
        run_claims(g);
    }
    return NULL;
}

// Starts workers until there are `want` (never stopped: they sleep when idle).
static int ensure_workers(int want) {
    if (want > MAX_WORKERS) want = MAX_WORKERS;
    if (started >= want) return started;
    pthread_mutex_lock(&start_lock);
    while (started < want) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 8u << 20);   /* kernels keep tile lists on the stack */
        int ok = pthread_create(&t, &attr, worker_main, NULL) == 0;
        pthread_attr_destroy(&attr);
        if (!ok) break;
        pthread_detach(t);
        started++;
    }
    // the cores this process may run on (taskset, container cpusets), not the machine's
    cpu_set_t set;
    long cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : sysconf(_SC_NPROCESSORS_ONLN);
    if (cores > 0 && started + 1 > cores) atomic_store(&spin_ns, 0L);
    pthread_mutex_unlock(&start_lock);
    return started;
}

int ck_pool_run(long n, ck_task_fn fn, void *ctx) {
    // nested regions, and regions started while another thread's region runs, go serially
    if (n <= 1 || n > 0xFFFFF || in_pool || pthread_mutex_trylock(&run_lock) != 0) {
        for (long i = 0; i < n; i++) fn(ctx, i);
        return 0;
    }
    ensure_workers((int)(n - 1));
    job_fn = fn;
    job_ctx = ctx;
    atomic_store_explicit(&remaining, n, memory_order_relaxed);
    uint32_t job = (last_job + 1) & 0xFFFFFF;
    if (job == 0) job = 1;
    last_job = job;
    atomic_store_explicit(&claim_word, pack(job, (uint64_t)n, 0), memory_order_release);
    // sequentially consistent, with the sleepers count read after it: a worker announces itself in
    // sleepers before its futex wait re-reads job_gen, so either it sees this job or it is woken
    atomic_store_explicit(&job_gen, job, memory_order_seq_cst);
    if (atomic_load_explicit(&sleepers, memory_order_seq_cst) > 0)
        syscall(SYS_futex, &job_gen, FUTEX_WAKE_PRIVATE, (int)(n - 1), NULL, NULL, 0);
    in_pool = 1;
    run_claims(job);
    in_pool = 0;
    // only tasks already running are left: wait for them, politely if they take long
    long polls = 0;
    while (atomic_load_explicit(&remaining, memory_order_acquire) > 0) {
        if (++polls < 20000) _mm_pause();
        else sched_yield();
    }
    pthread_mutex_unlock(&run_lock);
    return 1;
}

int ck_pool_available(void) { return 1; }

#else

int ck_pool_run(long n, ck_task_fn fn, void *ctx) {
    for (long i = 0; i < n; i++) fn(ctx, i);
    return 0;
}

int ck_pool_available(void) { return 0; }

#endif
