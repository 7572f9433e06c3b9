// State that must be per thread: scratch buffers (so concurrent callers never share one).
#include "ckernels.h"
#include <stdlib.h>

static _Thread_local float *t_scratch[4];
static _Thread_local long t_scratch_size[4];

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
