// Depthwise convolution (one filter per channel, MobileNet's 3×3 layers): each output row is a
// sum of kh·kw shifted input rows scaled by one weight, so the inner loop is a contiguous
// multiply-add for stride 1 that the compiler vectorises. A GEMM per channel (M = 1) or a
// Winograd transform per channel would spend most of the time on packing.
#include "ckernels.h"
#include <stdlib.h>


#define DEPTHWISE_BODY                                                                              \
    /* stride 2: each input row split into its even and odd columns, so every tap reads a        */ \
    /* contiguous run (a strided gather would not vectorise)                                     */ \
    float *split = sw == 2 && dw == 1 ? (float *)malloc(sizeof(float) * (size_t)(H * (W + 2))) : NULL; \
    const long half = (W + 1) / 2;                                                                  \
    for (long p = p0; p < p1; p++) {                                                                \
        const long c = p % C;                                                                       \
        const float *xp = x + p * H * W, *wp = w + c * kh * kw;                                     \
        if (split) {                                                                                \
            for (long r = 0; r < H; r++) {                                                          \
                const float *src = xp + r * W;                                                      \
                float *ev = split + r * 2 * half, *od = ev + half;                                  \
                for (long q = 0; q < W / 2; q++) { ev[q] = src[2 * q]; od[q] = src[2 * q + 1]; }    \
                if (W % 2) ev[W / 2] = src[W - 1];                                                  \
            }                                                                                       \
        }                                                                                           \
        float *yp = y + p * Ho * Wo;                                                                \
        const float b = bias ? bias[c] : 0.0f;                                                      \
        for (long i = 0; i < Ho * Wo; i++) yp[i] = b;                                               \
        for (long j = 0; j < kw; j++) {                                                             \
            /* the output columns whose tap j falls inside the input row */                        \
            const long off = j * dw - pw;                                                           \
            long lo = off >= 0 ? 0 : (-off + sw - 1) / sw;                                          \
            long hi = (W - 1 - off) < 0 ? -1 : (W - 1 - off) / sw;                                  \
            if (hi > Wo - 1) hi = Wo - 1;                                                           \
            if (lo > hi) continue;                                                                  \
            for (long oh = 0; oh < Ho; oh++) {                                                      \
                float *yr = yp + oh * Wo;                                                           \
                for (long i = 0; i < kh; i++) {                                                     \
                    const long ih = oh * sh - ph + i * dh;                                          \
                    if (ih < 0 || ih >= H) continue;                                                \
                    const float wv = wp[i * kw + j];                                                \
                    const float *xr = xp + ih * W + off;                                            \
                    if (sw == 1) {                                                                  \
                        for (long ow = lo; ow <= hi; ow++) yr[ow] += wv * xr[ow];                   \
                    } else if (split) {                                                             \
                        /* column 2·ow + off: even or odd half by off's parity, at ow + ⌊off/2⌋ */   \
                        const long parity = off & 1, base = (off - parity) / 2;                     \
                        const float *hr = split + ih * 2 * half + parity * half + base;             \
                        for (long ow = lo; ow <= hi; ow++) yr[ow] += wv * hr[ow];                   \
                    } else {                                                                        \
                        for (long ow = lo; ow <= hi; ow++) yr[ow] += wv * xr[ow * sw];              \
                    }                                                                               \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
    free(split);

#if defined(__x86_64__)
__attribute__((target("avx2,fma")))
static void depthwise_avx2(const float *x, long p0, long p1, long C, long H, long W, const float *w, const float *bias,
                           long kh, long kw, long sh, long sw, long ph, long pw, long dh, long dw, long Ho, long Wo, float *y) {
    DEPTHWISE_BODY
}
#endif

static void depthwise_portable(const float *x, long p0, long p1, long C, long H, long W, const float *w, const float *bias,
                               long kh, long kw, long sh, long sw, long ph, long pw, long dh, long dw, long Ho, long Wo, float *y) {
    DEPTHWISE_BODY
}

void ck_conv_depthwise(const float *x, long p0, long p1, long C, long H, long W, const float *w, const float *bias,
                       long kh, long kw, long sh, long sw, long ph, long pw, long dh, long dw, long Ho, long Wo, float *y) {
#if defined(__x86_64__)
    if (ck_gemm_isa() >= 1) {
        depthwise_avx2(x, p0, p1, C, H, W, w, bias, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, y);
        return;
    }
#endif
    depthwise_portable(x, p0, p1, C, H, W, w, bias, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, y);
}
