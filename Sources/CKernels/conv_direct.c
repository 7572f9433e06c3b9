// Direct convolution for layers with at most 16 output channels (LeNet's second convolution):
// one AVX-512 register holds every output channel of a pixel, two rows of 8–14 pixels are
// accumulated at once, and no im2col matrix is built. For such layers the im2col + GEMM route spends more time
// copying than multiplying.
#include "ckernels.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

int ck_conv_direct16_available(void) { return ck_gemm_isa() == 2; }

void ck_pack_conv_direct16(const float *w, long Cout, long C, long kh, long kw, float *packed) {
    long taps = C * kh * kw;
    memset(packed, 0, (size_t)(taps * 16) * sizeof(float));
    for (long co = 0; co < Cout; co++)
        for (long t = 0; t < taps; t++) packed[t * 16 + co] = w[co * taps + t];
}

// Zeros after the padded planes: the last pixel group of a row may read up to 14·sw + kw past it.
static long slack(long sw, long kw) { return 64 + 16 * sw + kw; }

long ck_conv_direct16_scratch(long C, long H, long W, long kh, long kw, long ph, long pw, long sw) {
    (void)kh;
    return C * (H + 2 * ph) * (W + 2 * pw) + slack(sw, kw);
}

#if defined(__x86_64__)
// r[0..15] (rows) → their transpose (r[c] lane p = old r[p] lane c), by 32-bit and 64-bit
// interleaves inside 128-bit lanes, then two rounds of 128-bit lane shuffles: 64 shuffles in all,
// where gathering each column cost 16 gathers of 16 loads.
__attribute__((target("avx512f"), always_inline))
static inline void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int k = 0; k < 8; k++) {
        t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    for (int k = 0; k < 4; k++) {
        __m512d a = _mm512_castps_pd(t[4 * k]), b = _mm512_castps_pd(t[4 * k + 1]);
        __m512d c = _mm512_castps_pd(t[4 * k + 2]), d = _mm512_castps_pd(t[4 * k + 3]);
        u[4 * k] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[4 * k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[4 * k + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[4 * k + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    // u[4k + j], 128-bit lane L: rows 4k … 4k+3 of column 4L + j
    for (int j = 0; j < 4; j++) {
        __m512 v0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x44), v1 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x44);
        __m512 v2 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xEE), v3 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xEE);
        r[j] = _mm512_shuffle_f32x4(v0, v1, 0x88);
        r[4 + j] = _mm512_shuffle_f32x4(v0, v1, 0xDD);
        r[8 + j] = _mm512_shuffle_f32x4(v2, v3, 0x88);
        r[12 + j] = _mm512_shuffle_f32x4(v2, v3, 0xDD);
    }
}

// Writes a block's accumulators (pixel-major: 16 channels per register) to the channel planes of
// y: each channel's P values gathered from a copy of the block and stored as one masked run.
__attribute__((target("avx512f,fma"), always_inline))
static inline void direct16_store_gathered(const int P, const int R, __m512 acc[2][16], long Cout, long oh, long ow0, long npx,
                                           long Ho, long Wo, float *y) {
    long plane = Ho * Wo;
    float tmp[16][16];
    const __m512i rows = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                            _mm512_set1_epi32(16));
    const __mmask16 real = (__mmask16)((1u << npx) - 1);
    for (int r = 0; r < R; r++) {
        for (int p = 0; p < P; p++) _mm512_storeu_ps(tmp[p], acc[r][p]);
        for (long co = 0; co < Cout; co++) {
            __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), real, rows, &tmp[0][co], 4);
            _mm512_mask_storeu_ps(y + co * plane + (oh + r) * Wo + ow0, real, v);
        }
    }
}

// The same through an in-register transpose: faster behind the stride-1 blocks (LeNet's conv2
// forward 176 → 214 GFLOP/s), slower behind the strided ones (RegNet's stride-2 groups took twice
// as long), so each block kind keeps the store that measured faster for it.
__attribute__((target("avx512f,fma"), always_inline))
static inline void direct16_store(const int P, const int R, __m512 acc[2][16], long Cout, long oh, long ow0, long npx, long Ho,
                                  long Wo, float *y) {
    long plane = Ho * Wo;
    const __mmask16 real = (__mmask16)((1u << npx) - 1);
    for (int r = 0; r < R; r++) {
        __m512 m[16];
        for (int p = 0; p < 16; p++) m[p] = p < P ? acc[r][p] : _mm512_setzero_ps();
        transpose16(m);
        for (long co = 0; co < Cout; co++) _mm512_mask_storeu_ps(y + co * plane + (oh + r) * Wo + ow0, real, m[co]);
    }
}

// R output rows × P consecutive output columns (npx of them real) at (oh, ow0): R·P accumulators of
// the 16 output channels, each kernel tap's weights loaded once for all of them. P and R are
// constants at every call (the callers below), so the loops unroll into registers.
__attribute__((target("avx512f,fma"), always_inline))
static inline void direct16_block(const int P, const int R, const float *xp, long C, long Hp, long Wp, const float *wp, __m512 b,
                                  long Cout, long kh, long kw, long sh, long sw, long oh, long ow0, long npx, long Ho, long Wo, float *y) {
    __m512 acc[2][16];
    for (int r = 0; r < R; r++)
        for (int p = 0; p < P; p++) acc[r][p] = b;
    const float *wv = wp;
    for (long c = 0; c < C; c++) {
        for (long i = 0; i < kh; i++) {
            // input pixels of the outputs are sw apart (each is broadcast, so a stride costs nothing)
            const float *row0 = xp + (c * Hp + oh * sh + i) * Wp + ow0 * sw;
            const float *row1 = row0 + sh * Wp;
            for (long j = 0; j < kw; j++) {
                __m512 w = _mm512_loadu_ps(wv);
                wv += 16;
#pragma clang loop unroll(full)
                for (int p = 0; p < P; p++) acc[0][p] = _mm512_fmadd_ps(_mm512_set1_ps(row0[j + p * sw]), w, acc[0][p]);
                if (R == 2)
#pragma clang loop unroll(full)
                    for (int p = 0; p < P; p++) acc[1][p] = _mm512_fmadd_ps(_mm512_set1_ps(row1[j + p * sw]), w, acc[1][p]);
            }
        }
    }
    direct16_store_gathered(P, R, acc, Cout, oh, ow0, npx, Ho, Wo, y);
}

// The same block for stride 1 and a KW-wide kernel: each input value of a kernel row is broadcast
// once and multiplied into every output column that reads it (P + KW − 1 broadcasts per kernel row
// instead of P·KW), with the row's KW weight vectors held in registers.
__attribute__((target("avx512f,fma"), always_inline))
static inline void direct16_block_s1(const int P, const int R, const int KW, const float *xp, long C, long Hp, long Wp,
                                     const float *wp, __m512 b, long Cout, long kh, long sh, long oh, long ow0, long npx, long Ho,
                                     long Wo, float *y) {
    __m512 acc[2][16];
    for (int r = 0; r < R; r++)
        for (int p = 0; p < P; p++) acc[r][p] = b;
    const float *wv = wp;
    for (long c = 0; c < C; c++) {
        for (long i = 0; i < kh; i++) {
            const float *row0 = xp + (c * Hp + oh * sh + i) * Wp + ow0;
            const float *row1 = row0 + sh * Wp;
            __m512 w[8];
#pragma clang loop unroll(full)
            for (int j = 0; j < KW; j++) w[j] = _mm512_loadu_ps(wv + 16 * j);
            wv += 16 * KW;
#pragma clang loop unroll(full)
            for (int q = 0; q < P + KW - 1; q++) {
                __m512 x0 = _mm512_set1_ps(row0[q]);
                __m512 x1 = R == 2 ? _mm512_set1_ps(row1[q]) : x0;
#pragma clang loop unroll(full)
                for (int j = 0; j < KW; j++) {
                    int p = q - j;
                    if (p < 0 || p >= P) continue;
                    acc[0][p] = _mm512_fmadd_ps(x0, w[j], acc[0][p]);
                    if (R == 2) acc[1][p] = _mm512_fmadd_ps(x1, w[j], acc[1][p]);
                }
            }
        }
    }
    direct16_store(P, R, acc, Cout, oh, ow0, npx, Ho, Wo, y);
}

#define DIRECT16_S1_CASE(P, KW) \
    case P: \
        if (R == 2) direct16_block_s1(P, 2, KW, xp, C, Hp, Wp, wp, b, Cout, kh, sh, oh, ow0, npx, Ho, Wo, y); \
        else direct16_block_s1(P, 1, KW, xp, C, Hp, Wp, wp, b, Cout, kh, sh, oh, ow0, npx, Ho, Wo, y); \
        break;

#define DIRECT16_CASE(P) \
    case P: \
        if (R == 2) direct16_block(P, 2, xp, C, Hp, Wp, wp, b, Cout, kh, kw, sh, sw, oh, ow0, npx, Ho, Wo, y); \
        else direct16_block(P, 1, xp, C, Hp, Wp, wp, b, Cout, kh, kw, sh, sw, oh, ow0, npx, Ho, Wo, y); \
        break;

// Columns per block: the width from 8 to 14 that wastes the fewest lanes on a row of Wo outputs
// (LeNet's 10-wide rows: one block of 10, where blocks of 8 computed 16).
static int direct16_width(long Wo) {
    int best = 8;
    long bestWaste = (Wo + 7) / 8 * 8 - Wo;
    for (int p = 9; p <= 14; p++) {
        long waste = (Wo + p - 1) / p * p - Wo;
        if (waste <= bestWaste) { best = p; bestWaste = waste; }
    }
    return best;
}

__attribute__((target("avx512f,fma")))
static void direct16_image(const float *x, long C, long H, long W, const float *wp, const float *bias, long Cout,
                           long kh, long kw, long ph, long pw, long sh, long sw, long Ho, long Wo, float *y, float *xp) {
    long Hp = H + 2 * ph, Wp = W + 2 * pw;
    // the image into the padded buffer (whose border and slack the caller zeroed once)
    ck_pad_copy(x, C, H, W, ph, pw, xp);
    __m512 b = _mm512_setzero_ps();
    if (bias) b = _mm512_maskz_loadu_ps((__mmask16)((1u << Cout) - 1), bias);
    int P = direct16_width(Wo);
    // two rows per block share each weight load (2·P accumulators), a last odd row goes alone
    for (long oh = 0; oh < Ho; oh += 2) {
        int R = Ho - oh >= 2 ? 2 : 1;
        for (long ow0 = 0; ow0 < Wo; ow0 += P) {
            long npx = Wo - ow0 < P ? Wo - ow0 : P;
            if (sw == 1 && kw == 5) {
                switch (P) {
                    DIRECT16_S1_CASE(8, 5) DIRECT16_S1_CASE(9, 5) DIRECT16_S1_CASE(10, 5) DIRECT16_S1_CASE(11, 5)
                    DIRECT16_S1_CASE(12, 5) DIRECT16_S1_CASE(13, 5) DIRECT16_S1_CASE(14, 5)
                }
            } else if (sw == 1 && kw == 3) {
                switch (P) {
                    DIRECT16_S1_CASE(8, 3) DIRECT16_S1_CASE(9, 3) DIRECT16_S1_CASE(10, 3) DIRECT16_S1_CASE(11, 3)
                    DIRECT16_S1_CASE(12, 3) DIRECT16_S1_CASE(13, 3) DIRECT16_S1_CASE(14, 3)
                }
            } else {
                switch (P) {
                    DIRECT16_CASE(8) DIRECT16_CASE(9) DIRECT16_CASE(10) DIRECT16_CASE(11)
                    DIRECT16_CASE(12) DIRECT16_CASE(13) DIRECT16_CASE(14)
                }
            }
        }
    }
}
#endif

// Whether ck_conv_direct16 vectorises over output columns (≤ 8 channels, stride 1, rows ≥ 10).
static int rows_forward_applies(long Cout, long sh, long sw, long Wo) {
    return sh == 1 && sw == 1 && Cout <= 8 && Wo >= 10;
}

#if defined(__x86_64__)
// Few output channels (≤ 8) on rows of ≥ 10 pixels, stride 1 (LeNet's first layer): vectorised over
// output columns instead, two 16-pixel registers per channel, each input vector reused by every
// channel. (The channel-vectorised kernel would fill 6 of 16 lanes and scatter its results.)
__attribute__((target("avx512f,fma"))) __attribute__((always_inline))
static inline void rows_forward(const int CO, const int NV, const float *x, long C, long H, long W, const float *wp, const float *bias,
                                long Cout, long kh, long kw, long ph, long pw, long Ho, long Wo, float *y, float *xp) {
    long Hp = H + 2 * ph, Wp = W + 2 * pw, plane = Ho * Wo;
    ck_pad_copy(x, C, H, W, ph, pw, xp);
    for (long oh = 0; oh < Ho; oh++) {
        for (long ow0 = 0; ow0 < Wo; ow0 += 16 * NV) {
            long n = Wo - ow0 < 16 * NV ? Wo - ow0 : 16 * NV;
            __mmask16 m0 = (__mmask16)(n >= 16 ? 0xFFFF : (1u << n) - 1);
            __mmask16 m1 = (__mmask16)(n <= 16 ? 0 : (n >= 32 ? 0xFFFF : (1u << (n - 16)) - 1));
            __m512 acc[8][2];
            for (int o = 0; o < CO; o++) {
                __m512 b = _mm512_set1_ps(bias && o < Cout ? bias[o] : 0.0f);
                acc[o][0] = b; acc[o][1] = b;
            }
            for (long c = 0; c < C; c++) {
                for (long i = 0; i < kh; i++) {
                    const float *row = xp + (c * Hp + oh + i) * Wp + ow0;
                    const float *wt = wp + (c * kh + i) * kw * 16;
                    for (long j = 0; j < kw; j++, wt += 16) {
                        __m512 x0 = _mm512_maskz_loadu_ps(m0, row + j);
                        __m512 x1 = NV > 1 ? _mm512_maskz_loadu_ps(m1, row + j + 16) : x0;
                        for (int o = 0; o < CO; o++) {
                            __m512 w = _mm512_set1_ps(wt[o]);
                            acc[o][0] = _mm512_fmadd_ps(w, x0, acc[o][0]);
                            if (NV > 1) acc[o][1] = _mm512_fmadd_ps(w, x1, acc[o][1]);
                        }
                    }
                }
            }
            for (int o = 0; o < CO; o++) {
                if (o >= Cout) break;
                float *dst = y + o * plane + oh * Wo + ow0;
                _mm512_mask_storeu_ps(dst, m0, acc[o][0]);
                if (NV > 1) _mm512_mask_storeu_ps(dst + 16, m1, acc[o][1]);
            }
        }
    }
}

__attribute__((target("avx512f,fma")))
static void rows_forward_image(const float *x, long C, long H, long W, const float *wp, const float *bias, long Cout,
                               long kh, long kw, long ph, long pw, long Ho, long Wo, float *y, float *xp) {
    // one register per channel for rows of ≤ 16 pixels, two for longer rows
    if (Wo <= 16) {
        if (Cout <= 4) rows_forward(4, 1, x, C, H, W, wp, bias, Cout, kh, kw, ph, pw, Ho, Wo, y, xp);
        else if (Cout <= 6) rows_forward(6, 1, x, C, H, W, wp, bias, Cout, kh, kw, ph, pw, Ho, Wo, y, xp);
        else rows_forward(8, 1, x, C, H, W, wp, bias, Cout, kh, kw, ph, pw, Ho, Wo, y, xp);
    } else {
        if (Cout <= 4) rows_forward(4, 2, x, C, H, W, wp, bias, Cout, kh, kw, ph, pw, Ho, Wo, y, xp);
        else if (Cout <= 6) rows_forward(6, 2, x, C, H, W, wp, bias, Cout, kh, kw, ph, pw, Ho, Wo, y, xp);
        else rows_forward(8, 2, x, C, H, W, wp, bias, Cout, kh, kw, ph, pw, Ho, Wo, y, xp);
    }
}
#endif

void ck_conv_direct16(const float *x, long images, long C, long H, long W, const float *packed, const float *bias,
                      long Cout, long kh, long kw, long ph, long pw, long sh, long sw, long Ho, long Wo, float *y, float *scratch) {
#if defined(__x86_64__)
    int rows = rows_forward_applies(Cout, sh, sw, Wo);
    // the padding border and the slack past the planes (the last pixel group may read past a
    // row) are zeroed once; each image then fills only the interior
    memset(scratch, 0, (size_t)ck_conv_direct16_scratch(C, H, W, kh, kw, ph, pw, sw) * sizeof(float));
    for (long n = 0; n < images; n++)
        if (rows) rows_forward_image(x + n * C * H * W, C, H, W, packed, bias, Cout, kh, kw, ph, pw, Ho, Wo, y + n * Cout * Ho * Wo,
                                     scratch);
        else direct16_image(x + n * C * H * W, C, H, W, packed, bias, Cout, kh, kw, ph, pw, sh, sw, Ho, Wo, y + n * Cout * Ho * Wo,
                       scratch);
#else
    (void)x; (void)images; (void)C; (void)H; (void)W; (void)packed; (void)bias; (void)Cout; (void)kh; (void)kw;
    (void)ph; (void)pw; (void)sh; (void)sw; (void)Ho; (void)Wo; (void)y; (void)scratch;
#endif
}

#if defined(__x86_64__)
// Weight gradient of a narrow layer (≤ 16 output channels, stride 1) without im2col:
// dW[tap][co] += Σ_pixels dY[co, pixel] · x[c, oh+i, ow+j], with the 16 output channels of a
// pixel in one register and one accumulator per kernel column j.
__attribute__((target("avx512f,fma")))
static void dw_direct16_image(const float *x, const float *dy, long C, long H, long W, long Cout, long kh, long kw,
                              long ph, long pw, long sh, long sw, long Ho, long Wo, float *acc, float *xp, float *dyT) {
    long Hp = H + 2 * ph, Wp = W + 2 * pw, plane = Ho * Wo;
    ck_pad_copy(x, C, H, W, ph, pw, xp);
    // output gradient as [pixel][16]
    for (long p = 0; p < plane; p++) {
        float *d = dyT + p * 16;
        long co = 0;
        for (; co < Cout; co++) d[co] = dy[co * plane + p];
        for (; co < 16; co++) d[co] = 0;
    }
    for (long c = 0; c < C; c++) {
        for (long i = 0; i < kh; i++) {
            for (long j0 = 0; j0 < kw; j0 += 8) {
                long nj = kw - j0 < 8 ? kw - j0 : 8;
                // named accumulators (an indexed array would live on the stack)
                __m512 z = _mm512_setzero_ps();
                __m512 a0 = z, a1 = z, a2 = z, a3 = z, a4 = z, a5 = z, a6 = z, a7 = z;
                for (long oh = 0; oh < Ho; oh++) {
                    const float *row = xp + (c * Hp + oh * sh + i) * Wp + j0;
                    const float *g = dyT + oh * Wo * 16;
                    for (long ow = 0; ow < Wo; ow++) {
                        __m512 d = _mm512_loadu_ps(g + ow * 16);
                        const float *r = row + ow * sw;
                        switch (nj) {
                        case 8: a7 = _mm512_fmadd_ps(_mm512_set1_ps(r[7]), d, a7); /* fall through */
                        case 7: a6 = _mm512_fmadd_ps(_mm512_set1_ps(r[6]), d, a6); /* fall through */
                        case 6: a5 = _mm512_fmadd_ps(_mm512_set1_ps(r[5]), d, a5); /* fall through */
                        case 5: a4 = _mm512_fmadd_ps(_mm512_set1_ps(r[4]), d, a4); /* fall through */
                        case 4: a3 = _mm512_fmadd_ps(_mm512_set1_ps(r[3]), d, a3); /* fall through */
                        case 3: a2 = _mm512_fmadd_ps(_mm512_set1_ps(r[2]), d, a2); /* fall through */
                        case 2: a1 = _mm512_fmadd_ps(_mm512_set1_ps(r[1]), d, a1); /* fall through */
                        default: a0 = _mm512_fmadd_ps(_mm512_set1_ps(r[0]), d, a0);
                        }
                    }
                }
                __m512 sums[8] = { a0, a1, a2, a3, a4, a5, a6, a7 };
                for (long j = 0; j < nj; j++) {
                    float *dst = acc + ((c * kh + i) * kw + j0 + j) * 16;
                    _mm512_storeu_ps(dst, _mm512_add_ps(_mm512_loadu_ps(dst), sums[j]));
                }
            }
        }
    }
}

// The same gradient vectorised over output columns instead of channels, for layers with few
// output channels and rows of ≥ 16 pixels (LeNet's first layer: 6 channels, 24-pixel rows):
// dW[co, c, i, j] = Σ_oh Σ_ow dY[co, oh, ow] · x[c, oh+i, ow+j], two registers per kernel column.
__attribute__((target("avx512f,fma")))
static void dw_rows_image(const float *x, const float *dy, long C, long H, long W, long Cout, long kh, long kw,
                          long ph, long pw, long Ho, long Wo, float *acc, float *xp) {
    long Hp = H + 2 * ph, Wp = W + 2 * pw, plane = Ho * Wo;
    ck_pad_copy(x, C, H, W, ph, pw, xp);
    for (long ow0 = 0; ow0 < Wo; ow0 += 32) {
        long n = Wo - ow0 < 32 ? Wo - ow0 : 32;
        __mmask16 m0 = (__mmask16)(n >= 16 ? 0xFFFF : (1u << n) - 1);
        __mmask16 m1 = (__mmask16)(n <= 16 ? 0 : (n >= 32 ? 0xFFFF : (1u << (n - 16)) - 1));
        for (long co = 0; co < Cout; co++) {
            const float *g = dy + co * plane + ow0;
            for (long c = 0; c < C; c++) {
                for (long i = 0; i < kh; i++) {
                    // named accumulators (an indexed array would live on the stack)
                    __m512 z = _mm512_setzero_ps();
                    __m512 p0 = z, p1 = z, p2 = z, p3 = z, p4 = z, p5 = z, p6 = z, p7 = z;
                    __m512 q0 = z, q1 = z, q2 = z, q3 = z, q4 = z, q5 = z, q6 = z, q7 = z;
                    for (long oh = 0; oh < Ho; oh++) {
                        __m512 d0 = _mm512_maskz_loadu_ps(m0, g + oh * Wo), d1 = _mm512_maskz_loadu_ps(m1, g + oh * Wo + 16);
                        const float *r = xp + (c * Hp + oh + i) * Wp + ow0;
#define TAP(J, P, Q) P = _mm512_fmadd_ps(d0, _mm512_maskz_loadu_ps(m0, r + J), P); \
                     Q = _mm512_fmadd_ps(d1, _mm512_maskz_loadu_ps(m1, r + J + 16), Q);
                        switch (kw) {
                        case 8: TAP(7, p7, q7) /* fall through */
                        case 7: TAP(6, p6, q6) /* fall through */
                        case 6: TAP(5, p5, q5) /* fall through */
                        case 5: TAP(4, p4, q4) /* fall through */
                        case 4: TAP(3, p3, q3) /* fall through */
                        case 3: TAP(2, p2, q2) /* fall through */
                        case 2: TAP(1, p1, q1) /* fall through */
                        default: TAP(0, p0, q0)
                        }
#undef TAP
                    }
                    __m512 sums[8] = { _mm512_add_ps(p0, q0), _mm512_add_ps(p1, q1), _mm512_add_ps(p2, q2), _mm512_add_ps(p3, q3),
                                       _mm512_add_ps(p4, q4), _mm512_add_ps(p5, q5), _mm512_add_ps(p6, q6), _mm512_add_ps(p7, q7) };
                    for (long j = 0; j < kw; j++)
                        acc[((c * kh + i) * kw + j) * 16 + co] += _mm512_reduce_add_ps(sums[j]);
                }
            }
        }
    }
}
#endif

// Whether ck_conv_dw_direct16 vectorises over output columns (few channels, long rows, stride 1)
// rather than channels.
static int dw_rows_applies(long Cout, long kw, long sh, long sw, long Wo) {
    return sh == 1 && sw == 1 && Cout < 16 && kw <= 8 && Wo >= 16;
}

long ck_conv_dw_direct16_scratch(long C, long H, long W, long kw, long ph, long pw, long sw, long Ho, long Wo) {
    return C * (H + 2 * ph) * (W + 2 * pw) + slack(sw, kw) + Ho * Wo * 16;
}

void ck_conv_dw_direct16(const float *x, const float *dy, long images, long C, long H, long W, long Cout, long kh, long kw,
                         long ph, long pw, long sh, long sw, long Ho, long Wo, float *acc, float *scratch) {
#if defined(__x86_64__)
    float *xp = scratch, *dyT = scratch + C * (H + 2 * ph) * (W + 2 * pw) + slack(sw, kw);
    int rows = dw_rows_applies(Cout, kw, sh, sw, Wo);
    memset(xp, 0, (size_t)(C * (H + 2 * ph) * (W + 2 * pw) + slack(sw, kw)) * sizeof(float));   /* border and slack, once */
    for (long n = 0; n < images; n++) {
        if (rows) dw_rows_image(x + n * C * H * W, dy + n * Cout * Ho * Wo, C, H, W, Cout, kh, kw, ph, pw, Ho, Wo, acc, xp);
        else dw_direct16_image(x + n * C * H * W, dy + n * Cout * Ho * Wo, C, H, W, Cout, kh, kw, ph, pw, sh, sw, Ho, Wo,
                               acc, xp, dyT);
    }
#else
    (void)x; (void)dy; (void)images; (void)C; (void)H; (void)W; (void)Cout; (void)kh; (void)kw; (void)ph; (void)pw;
    (void)sh; (void)sw; (void)Ho; (void)Wo; (void)acc; (void)scratch;
#endif
}

// Direct convolution over output channels in blocks of 32 (two AVX-512 registers per pixel), for
// strided layers whose im2col gather costs about as much as the GEMM (ResNet's stride-2 3×3
// layers): each broadcast input value feeds both halves of a block, so a tap costs one load per
// two multiply-adds, and no column matrix is built.
void ck_pack_conv_direct32(const float *w, long Cout, long C, long kh, long kw, float *packed) {
    long taps = C * kh * kw, blocks = (Cout + 31) / 32;
    memset(packed, 0, (size_t)(blocks * taps * 32) * sizeof(float));
    for (long co = 0; co < Cout; co++)
        for (long t = 0; t < taps; t++) packed[((co / 32) * taps + t) * 32 + co % 32] = w[co * taps + t];
}

#if defined(__x86_64__)
// One output row × P columns of a 32-channel block (`cout` ≤ 32 of them real, npx columns real).
__attribute__((target("avx512f,fma"), always_inline))
static inline void direct32_block(const int P, const float *xp, long C, long Hp, long Wp, const float *wp, __m512 b0, __m512 b1,
                                  long cout, long kh, long kw, long sh, long sw, long oh, long ow0, long npx, long plane,
                                  long rowStride, long pxStride, float *y) {
    __m512 acc[2][16];
#pragma clang loop unroll(full)
    for (int p = 0; p < P; p++) { acc[0][p] = b0; acc[1][p] = b1; }
    const float *wv = wp;
    for (long c = 0; c < C; c++) {
        for (long i = 0; i < kh; i++) {
            const float *row = xp + (c * Hp + oh * sh + i) * Wp + ow0 * sw;
            for (long j = 0; j < kw; j++) {
                __m512 w0 = _mm512_loadu_ps(wv), w1 = _mm512_loadu_ps(wv + 16);
                wv += 32;
#pragma clang loop unroll(full)
                for (int p = 0; p < P; p++) {
                    __m512 xb = _mm512_set1_ps(row[j + p * sw]);
                    acc[0][p] = _mm512_fmadd_ps(xb, w0, acc[0][p]);
                    acc[1][p] = _mm512_fmadd_ps(xb, w1, acc[1][p]);
                }
            }
        }
    }
    float tmp[16][16];
    for (int half = 0; half < 2 && half * 16 < cout; half++) {
        for (int p = 0; p < P; p++) _mm512_storeu_ps(tmp[p], acc[half][p]);
        long n = cout - half * 16 < 16 ? cout - half * 16 : 16;
        for (long co = 0; co < n; co++) {
            float *dst = y + (half * 16 + co) * plane + oh * rowStride + ow0 * pxStride;
            if (pxStride == 1) {
                for (long p = 0; p < npx; p++) dst[p] = tmp[p][co];
            } else {
                // scalar: the vectoriser's scatter of these few stores cost more than the stores
#pragma clang loop vectorize(disable)
                for (long p = 0; p < npx; p++) dst[p * pxStride] = tmp[p][co];
            }
        }
    }
}

#define DIRECT32_CASE(P) \
    case P: direct32_block(P, xp, C, Hp, Wp, wb, b0, b1, cout, kh, kw, sh, sw, oh, ow0, npx, plane, rowStride, pxStride, yb); break;

// Every 32-channel block of Cout outputs over Ho × Wo from the padded input xp (C channels, Hp × Wp
// each); output (oh, ow) of channel co at y[co·plane + oh·rowStride + ow·pxStride].
__attribute__((target("avx512f,fma"), always_inline))
static inline void direct32_blocks(const float *xp, long C, long Hp, long Wp, const float *packed, const float *bias, long Cout,
                                   long kh, long kw, long sh, long sw, long Ho, long Wo, float *y, long plane, long rowStride,
                                   long pxStride) {
    long taps = C * kh * kw;
    int P = direct16_width(Wo);
    for (long ob = 0; ob * 32 < Cout; ob++) {
        long cout = Cout - ob * 32 < 32 ? Cout - ob * 32 : 32;
        __m512 b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();
        if (bias) {
            b0 = _mm512_maskz_loadu_ps((__mmask16)(cout >= 16 ? 0xFFFF : (1u << cout) - 1), bias + ob * 32);
            if (cout > 16) b1 = _mm512_maskz_loadu_ps((__mmask16)(cout >= 32 ? 0xFFFF : (1u << (cout - 16)) - 1), bias + ob * 32 + 16);
        }
        const float *wb = packed + ob * taps * 32;
        float *yb = y + ob * 32 * plane;
        for (long oh = 0; oh < Ho; oh++) {
            for (long ow0 = 0; ow0 < Wo; ow0 += P) {
                long npx = Wo - ow0 < P ? Wo - ow0 : P;
                switch (P) {
                    DIRECT32_CASE(8) DIRECT32_CASE(9) DIRECT32_CASE(10) DIRECT32_CASE(11)
                    DIRECT32_CASE(12) DIRECT32_CASE(13) DIRECT32_CASE(14)
                }
            }
        }
    }
}
#undef DIRECT32_CASE

__attribute__((target("avx512f,fma")))
static void direct32_image(const float *x, long C, long H, long W, const float *packed, const float *bias, long Cout,
                           long kh, long kw, long ph, long pw, long sh, long sw, long Ho, long Wo, float *y, float *xp) {
    ck_pad_copy(x, C, H, W, ph, pw, xp);
    direct32_blocks(xp, C, H + 2 * ph, W + 2 * pw, packed, bias, Cout, kh, kw, sh, sw, Ho, Wo, y, Ho * Wo, Wo, 1);
}
#endif

void ck_conv_direct32(const float *x, long images, long C, long H, long W, const float *packed, const float *bias,
                      long Cout, long kh, long kw, long ph, long pw, long sh, long sw, long Ho, long Wo, float *y, float *scratch) {
#if defined(__x86_64__)
    // the same padded-image buffer as the 16-channel kernel: border and slack zeroed once
    memset(scratch, 0, (size_t)ck_conv_direct16_scratch(C, H, W, kh, kw, ph, pw, sw) * sizeof(float));
    for (long n = 0; n < images; n++)
        direct32_image(x + n * C * H * W, C, H, W, packed, bias, Cout, kh, kw, ph, pw, sh, sw, Ho, Wo, y + n * Cout * Ho * Wo, scratch);
#else
    (void)x; (void)images; (void)C; (void)H; (void)W; (void)packed; (void)bias; (void)Cout; (void)kh; (void)kw;
    (void)ph; (void)pw; (void)sh; (void)sw; (void)Ho; (void)Wo; (void)y; (void)scratch;
#endif
}

#if defined(__x86_64__)
// One image's input gradient by phases, from dY (C channels) padded by one zero row and column on
// each side (xpad, Hp × Wp per channel): phase (r, s) reads dY at offsets 0 and +1 below and right
// of the padding, and writes every other pixel of every other row of dx (Cdx channels).
__attribute__((target("avx512f,fma")))
static void stride2_input_grad_image(const float *xpad, long C, long Hp, long Wp, const float *const packed[4], long Cdx,
                                     long Ho, long Wo, float *dx) {
    long H = 2 * Ho, W = 2 * Wo;
    for (int r = 0; r < 2; r++)
        for (int s = 0; s < 2; s++)
            direct32_blocks(xpad + Wp + 1, C, Hp, Wp, packed[2 * r + s], 0, Cdx, 1 + r, 1 + s, 1, 1, Ho, Wo, dx + r * W + s,
                            H * W, 2 * W, 2);
}
#endif

void ck_conv_direct32_stride2_input_grad(const float *gy, long images, long Cout, long Ho, long Wo, const float *const packed[4],
                                         long C, float *gx, float *scratch) {
#if defined(__x86_64__)
    long Hp = Ho + 2, Wp = Wo + 2;
    // the padding rows and columns stay zero: each image's copy writes only the interior
    memset(scratch, 0, (size_t)ck_conv_direct16_scratch(Cout, Ho, Wo, 3, 3, 1, 1, 1) * sizeof(float));
    for (long n = 0; n < images; n++) {
        ck_pad_copy(gy + n * Cout * Ho * Wo, Cout, Ho, Wo, 1, 1, scratch);
        stride2_input_grad_image(scratch, Cout, Hp, Wp, packed, C, Ho, Wo, gx + n * C * 4 * Ho * Wo);
    }
#else
    (void)gy; (void)images; (void)Cout; (void)Ho; (void)Wo; (void)packed; (void)C; (void)gx; (void)scratch;
#endif
}
