// State that must be per thread: scratch buffers (so concurrent callers never share one) and the
// no-grad switch (so one thread's evaluation does not stop another's recording).
#include "ckernels.h"
#include <stdlib.h>

static _Thread_local float *t_scratch[4];
static _Thread_local long t_scratch_size[4];
static _Thread_local int t_grad_disabled;

float *ck_scratch(int slot, long count) {
    if (slot < 0 || slot > 3) abort();
    if (t_scratch_size[slot] < count) {
        free(t_scratch[slot]);
        void *p = 0;
        if (posix_memalign(&p, 64, (size_t)(count > 0 ? count : 1) * sizeof(float)) != 0) abort();
        t_scratch[slot] = (float *)p;
        t_scratch_size[slot] = count;
    }
    return t_scratch[slot];
}

int ck_grad_disabled(void) { return t_grad_disabled; }
void ck_set_grad_disabled(int disabled) { t_grad_disabled = disabled; }


static _Thread_local void *t_tracer;
void *ck_thread_tracer(void) { return t_tracer; }
void ck_set_thread_tracer(void *tracer) { t_tracer = tracer; }

static _Thread_local int t_winograd_off, t_fusion_off;
int ck_thread_winograd_off(void) { return t_winograd_off; }
void ck_set_thread_winograd_off(int off) { t_winograd_off = off; }
int ck_thread_fusion_off(void) { return t_fusion_off; }
void ck_set_thread_fusion_off(int off) { t_fusion_off = off; }

static _Thread_local int t_winograd_tile;
int ck_thread_winograd_tile(void) { return t_winograd_tile; }
void ck_set_thread_winograd_tile(int tile) { t_winograd_tile = tile; }
