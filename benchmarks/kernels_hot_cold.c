// One C kernel alone, its data hot (the same buffers, call after call) or cold (64 MiB touched
// between calls, so inputs and outputs come from memory): the measurements behind the fifth
// session's notes in benchmarks/README.md. Best of 50 calls, one thread.
//
//   clang -O2 -I Sources/CKernels/include benchmarks/kernels_hot_cold.c Sources/CKernels/*.c \
//         -o /tmp/kernels_hot_cold -lpthread -lm
//   /tmp/kernels_hot_cold gemm M K N [cold]     C[M×N] = A[M×K]·B[K×N], A packed, epilogue ReLU6
//   /tmp/kernels_hot_cold dw C H W S [cold]     depthwise 3×3, stride S, padding 1, epilogue ReLU6
#include "ckernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static float *filled(long n, int mod, float step) {
    float *p = aligned_alloc(64, (size_t)((n * 4 + 63) / 64 * 64 + 64));
    for (long i = 0; i < n; i++) p[i] = (float)(i % mod) * step;
    return p;
}

// Touches every cache line of 64 MiB (read and write: memset's streaming stores would leave the
// caches as they were).
static void evict(void) {
    static char *junk;
    const long size = 64L << 20;
    if (!junk) junk = calloc(1, size);
    for (long q = 0; q < size; q += 64) junk[q] += 1;
}

int main(int argc, char **argv) {
    if (argc >= 5 && strcmp(argv[1], "gemm") == 0) {
        long M = atol(argv[2]), K = atol(argv[3]), N = atol(argv[4]);
        int cold = argc > 5 && atoi(argv[5]);
        float *a = filled(M * K, 7, 0.1f), *b = filled(K * N, 5, 0.1f), *c = filled(M * N, 1, 0);
        float *scale = filled(M, 1, 0), *shift = filled(M, 3, 0.1f);
        for (long i = 0; i < M; i++) scale[i] = 1;
        float *ap = aligned_alloc(64, (size_t)ck_packed_a_size(M, K) * 4 + 64);
        ck_pack_a(0, M, K, a, K, ap);
        ck_epilogue ep = { scale, shift, 0, 0, 1, 0, 6 };
        double best = 1e9;
        for (int r = 0; r < 50; r++) {
            if (cold) evict();
            double t0 = now();
            ck_sgemm_packed(M, N, K, ap, 0, b, N, c, N, 0, &ep);
            double t = now() - t0;
            if (t < best) best = t;
        }
        printf("gemm %ld×%ld×%ld %s: %.1f µs, %.0f GFLOP/s\n", M, K, N, cold ? "cold" : "hot", best * 1e6, 2.0 * M * N * K / best * 1e-9);
        return 0;
    }
    if (argc >= 6 && strcmp(argv[1], "dw") == 0) {
        long C = atol(argv[2]), H = atol(argv[3]), W = atol(argv[4]), s = atol(argv[5]);
        int cold = argc > 6 && atoi(argv[6]);
        if (!ck_conv_depthwise_padded_available()) { fprintf(stderr, "the depthwise kernel needs AVX-512 or AVX2\n"); return 1; }
        long Ho = (H + 2 - 3) / s + 1, Wo = (W + 2 - 3) / s + 1;
        float *x = filled(C * H * W, 7, 0.1f), *y = filled(C * Ho * Wo, 1, 0), *w = filled(C * 9, 5, 0.01f);
        float *scale = filled(C, 1, 0), *shift = filled(C, 1, 0);
        for (long i = 0; i < C; i++) { scale[i] = 1; shift[i] = 0.1f; }
        ck_epilogue ep = { scale, shift, 0, 0, 1, 0, 6 };
        float *scratch = aligned_alloc(64, (size_t)ck_conv_depthwise_padded_scratch(H, W, 3, 3, 1, 1, s, Wo) * 4 + 64);
        double best = 1e9;
        for (int r = 0; r < 50; r++) {
            if (cold) evict();
            double t0 = now();
            ck_conv_depthwise_padded(x, H * W, 0, C, C, H, W, w, 3, 3, s, 1, 1, Ho, Wo, &ep, y, Ho * Wo, scratch);
            double t = now() - t0;
            if (t < best) best = t;
        }
        printf("depthwise %ld×%ld×%ld /%ld %s: %.1f µs\n", C, H, W, s, cold ? "cold" : "hot", best * 1e6);
        return 0;
    }
    fprintf(stderr, "usage: %s gemm M K N [cold] | dw C H W S [cold]\n", argv[0]);
    return 2;
}
