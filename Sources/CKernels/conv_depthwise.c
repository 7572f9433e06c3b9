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

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

// Channels-last depthwise for AVX-512: 16 channels of one image at a time are copied, padded, into
// a [row][column][16] buffer, so each output pixel of the 16 channels is kh·kw vector FMAs with
// no bounds checks and no short rows (on 7×7 … 28×28 maps a plane's rows are shorter than a
// vector, which left the row kernel above mostly scalar). The 16 results per pixel go to a
// [pixel][16] tile, written back plane by plane.
__attribute__((target("avx512f")))
static void depthwise_block16(const float *x, long C, long H, long W, const float *w, const float *bias, long kh, long kw,
                              long sh, long sw, long ph, long pw, long Ho, long Wo, long c0, float *y, float *pad, float *tile) {
    long nc = C - c0 < 16 ? C - c0 : 16, Hp = H + 2 * ph, Wp = W + 2 * pw, hw = H * W, taps = kh * kw, hwo = Ho * Wo;
    __mmask16 lanes = (__mmask16)((1u << nc) - 1);
    memset(pad, 0, sizeof(float) * (size_t)(Hp * Wp * 16));
    for (long ih = 0; ih < H; ih++) {
        float *row = pad + ((ih + ph) * Wp + pw) * 16;
        for (long c = 0; c < nc; c++) {
            const float *src = x + (c0 + c) * hw + ih * W;
            for (long iw = 0; iw < W; iw++) row[iw * 16 + c] = src[iw];
        }
    }
    __m512 wv[49];
    for (long t = 0; t < taps; t++) {
        float lane[16] = {0};
        for (long c = 0; c < nc; c++) lane[c] = w[(c0 + c) * taps + t];
        wv[t] = _mm512_loadu_ps(lane);
    }
    __m512 b = bias ? _mm512_maskz_loadu_ps(lanes, bias + c0) : _mm512_setzero_ps();
    // eight output pixels at once: eight independent FMA chains hide the FMA latency
    long step = sw * 16;
    for (long oh = 0; oh < Ho; oh++) {
        long ow = 0;
        for (; ow + 8 <= Wo; ow += 8) {
            const float *base = pad + (oh * sh * Wp + ow * sw) * 16;
            __m512 a0 = b, a1 = b, a2 = b, a3 = b, a4 = b, a5 = b, a6 = b, a7 = b;
            for (long i = 0; i < kh; i++) {
                for (long j = 0; j < kw; j++) {
                    const float *q = base + (i * Wp + j) * 16;
                    __m512 wt = wv[i * kw + j];
                    a0 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(q), a0);
                    a1 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(q + step), a1);
                    a2 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(q + 2 * step), a2);
                    a3 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(q + 3 * step), a3);
                    a4 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(q + 4 * step), a4);
                    a5 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(q + 5 * step), a5);
                    a6 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(q + 6 * step), a6);
                    a7 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(q + 7 * step), a7);
                }
            }
            float *t = tile + (oh * Wo + ow) * 16;
            _mm512_storeu_ps(t, a0); _mm512_storeu_ps(t + 16, a1); _mm512_storeu_ps(t + 32, a2); _mm512_storeu_ps(t + 48, a3);
            _mm512_storeu_ps(t + 64, a4); _mm512_storeu_ps(t + 80, a5); _mm512_storeu_ps(t + 96, a6); _mm512_storeu_ps(t + 112, a7);
        }
        for (; ow < Wo; ow++) {
            const float *base = pad + (oh * sh * Wp + ow * sw) * 16;
            __m512 acc = b;
            for (long i = 0; i < kh; i++)
                for (long j = 0; j < kw; j++) acc = _mm512_fmadd_ps(wv[i * kw + j], _mm512_loadu_ps(base + (i * Wp + j) * 16), acc);
            _mm512_storeu_ps(tile + (oh * Wo + ow) * 16, acc);
        }
    }
    for (long c = 0; c < nc; c++) {
        float *dst = y + (c0 + c) * hwo;
        for (long q = 0; q < hwo; q++) dst[q] = tile[q * 16 + c];
    }
}
#endif

int ck_conv_depthwise_cl_available(void) {
#if defined(__x86_64__)
    return ck_gemm_isa() == 2;
#else
    return 0;
#endif
}

long ck_conv_depthwise_cl_scratch(long H, long W, long ph, long pw, long Ho, long Wo) {
    return (H + 2 * ph) * (W + 2 * pw) * 16 + Ho * Wo * 16 + 64;
}

void ck_conv_depthwise_cl(const float *x, long C, long H, long W, const float *w, const float *bias, long kh, long kw,
                          long sh, long sw, long ph, long pw, long Ho, long Wo, long b0, long b1, float *y, float *scratch) {
#if defined(__x86_64__)
    float *pad = scratch, *tile = scratch + (H + 2 * ph) * (W + 2 * pw) * 16;
    for (long blk = b0; blk < b1; blk++)
        depthwise_block16(x, C, H, W, w, bias, kh, kw, sh, sw, ph, pw, Ho, Wo, blk * 16, y, pad, tile);
#else
    (void)x; (void)C; (void)H; (void)W; (void)w; (void)bias; (void)kh; (void)kw; (void)sh; (void)sw; (void)ph; (void)pw;
    (void)Ho; (void)Wo; (void)b0; (void)b1; (void)y; (void)scratch;
#endif
}
