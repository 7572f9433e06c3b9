// Data-movement kernels for convolution (im2col / col2im) and pooling, NCHW planes.
#include "ckernels.h"
#include <string.h>
#include <float.h>
#include <math.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

int ck_gemm_isa(void);

#if defined(__x86_64__)
// Copies a short row with 16-wide masked loads and stores: im2col copies millions of rows of
// 8–60 floats, where a memcpy call or a scalar loop costs more than the data.
__attribute__((target("avx512f")))
static void copy_row_avx512(float *d, const float *s, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, _mm512_loadu_ps(s + i));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(d + i, m, _mm512_maskz_loadu_ps(m, s + i));
    }
}

__attribute__((target("avx512f")))
static void add_row_avx512(float *d, const float *s, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, _mm512_add_ps(_mm512_loadu_ps(d + i), _mm512_loadu_ps(s + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(d + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, d + i), _mm512_maskz_loadu_ps(m, s + i)));
    }
}
#endif

static inline void copy_row(float *restrict d, const float *restrict s, long n, int wide) {
#if defined(__x86_64__)
    if (wide && n >= 12) { copy_row_avx512(d, s, n); return; }
#endif
    (void)wide;
    for (long i = 0; i < n; i++) d[i] = s[i];
}

static inline void add_row(float *restrict d, const float *restrict s, long n, int wide) {
#if defined(__x86_64__)
    if (wide && n >= 12) { add_row_avx512(d, s, n); return; }
#endif
    (void)wide;
    for (long i = 0; i < n; i++) d[i] += s[i];
}

// For small output maps (ResNet's 3×3…12×12 late stages) a per-row copy is mostly overhead:
// instead one table maps every (kernel tap, output position) to its input offset (−1 = padding),
// built once per call and used as a gather for every channel.
#define SMALL_MAP_TABLE 4096
static int small_map_table(long H, long W, long kh, long kw, long ph, long pw, long sh, long sw,
                           long dh, long dw, long Ho, long Wo, int *table) {
    long n = kh * kw * Ho * Wo;
    if (Wo >= 8 || n > SMALL_MAP_TABLE) return 0;
    int *t = table;
    for (long i = 0; i < kh; i++)
        for (long j = 0; j < kw; j++)
            for (long oh = 0; oh < Ho; oh++)
                for (long ow = 0; ow < Wo; ow++) {
                    long ih = oh * sh - ph + i * dh, iw = ow * sw - pw + j * dw;
                    *t++ = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? (int)(ih * W + iw) : -1;
                }
    return 1;
}

void ck_im2col(const float *x, long C, long H, long W, long kh, long kw,
               long ph, long pw, long sh, long sw, long dh, long dw,
               long Ho, long Wo, float *col, long ldcol) {
    int table[SMALL_MAP_TABLE];
    if (small_map_table(H, W, kh, kw, ph, pw, sh, sw, dh, dw, Ho, Wo, table)) {
        long taps = kh * kw, hwo = Ho * Wo;
        for (long c = 0; c < C; c++) {
            const float *xc = x + c * H * W;
            for (long k = 0; k < taps; k++) {
                const int *t = table + k * hwo;
                float *d = col + (c * taps + k) * ldcol;
                for (long p = 0; p < hwo; p++) d[p] = t[p] >= 0 ? xc[t[p]] : 0.0f;
            }
        }
        return;
    }
    long HWo = ldcol;
    int wide = ck_gemm_isa() == 2;
    for (long c = 0; c < C; c++) {
        const float *xc = x + c * H * W;
        for (long i = 0; i < kh; i++) {
            for (long j = 0; j < kw; j++) {
                float *dst = col + ((c * kh + i) * kw + j) * HWo;
                for (long oh = 0; oh < Ho; oh++) {
                    long ih = oh * sh - ph + i * dh;
                    float *d = dst + oh * Wo;
                    if (ih < 0 || ih >= H) { memset(d, 0, (size_t)Wo * sizeof(float)); continue; }
                    const float *row = xc + ih * W;
                    long iw0 = j * dw - pw;
                    if (sw == 1) {
                        // contiguous run: zero the padded ends, copy the middle
                        long lo = iw0 < 0 ? -iw0 : 0;              // first ow inside
                        long hi = W - iw0; if (hi > Wo) hi = Wo;   // one past last ow inside
                        if (hi < lo) hi = lo;
                        if (lo > Wo) lo = Wo;
                        for (long ow = 0; ow < lo; ow++) d[ow] = 0;
                        if (hi > lo) copy_row(d + lo, row + iw0 + lo, hi - lo, wide);
                        for (long ow = hi; ow < Wo; ow++) d[ow] = 0;
                    } else {
                        for (long ow = 0; ow < Wo; ow++) {
                            long iw = iw0 + ow * sw;
                            d[ow] = (iw >= 0 && iw < W) ? row[iw] : 0.0f;
                        }
                    }
                }
            }
        }
    }
}

#if defined(__x86_64__)
// col2im for stride-1, undilated layers on maps at most 16 wide (LeNet's second layer): each input
// row is one register that gathers every tap's shifted output row by masked loads and is stored
// once, where adding row segments into memory would chain each store into the next tap's load.
__attribute__((target("avx512f")))
static void col2im_rows16(const float *col, long C, long H, long W, long kh, long kw, long ph, long pw, long Ho, long Wo,
                          float *x, long ldcol) {
    __mmask16 wm = (__mmask16)((1u << W) - 1), cm[16];
    for (long j = 0; j < kw; j++) {
        // lane iw reads output column iw + pw − j, when it lies in [0, Wo)
        long lo = j - pw < 0 ? 0 : j - pw, hi = Wo + j - pw < W ? Wo + j - pw : W;
        cm[j] = hi > lo ? (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1)) : 0;
    }
    for (long c = 0; c < C; c++) {
        for (long ih = 0; ih < H; ih++) {
            float *row = x + (c * H + ih) * W;
            __m512 acc = _mm512_maskz_loadu_ps(wm, row);
            for (long i = 0; i < kh; i++) {
                long oh = ih + ph - i;
                if (oh < 0 || oh >= Ho) continue;
                const float *src = col + (c * kh + i) * kw * ldcol + oh * Wo + pw;
                for (long j = 0; j < kw; j++, src += ldcol - 1)
                    if (cm[j]) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(cm[j], src));
            }
            _mm512_mask_storeu_ps(row, wm, acc);
        }
    }
}
#endif

void ck_col2im(const float *col, long C, long H, long W, long kh, long kw,
               long ph, long pw, long sh, long sw, long dh, long dw,
               long Ho, long Wo, float *x, long ldcol) {
    int table[SMALL_MAP_TABLE];
    if (small_map_table(H, W, kh, kw, ph, pw, sh, sw, dh, dw, Ho, Wo, table)) {
        long taps = kh * kw, hwo = Ho * Wo;
        for (long c = 0; c < C; c++) {
            float *xc = x + c * H * W;
            for (long k = 0; k < taps; k++) {
                const int *t = table + k * hwo;
                const float *s = col + (c * taps + k) * ldcol;
                for (long p = 0; p < hwo; p++) if (t[p] >= 0) xc[t[p]] += s[p];
            }
        }
        return;
    }
    long HWo = ldcol;
    int wide = ck_gemm_isa() == 2;
#if defined(__x86_64__)
    if (wide && sh == 1 && sw == 1 && dh == 1 && dw == 1 && W <= 16 && kw <= 16) {
        col2im_rows16(col, C, H, W, kh, kw, ph, pw, Ho, Wo, x, ldcol);
        return;
    }
#endif
    for (long c = 0; c < C; c++) {
        float *xc = x + c * H * W;
        for (long i = 0; i < kh; i++) {
            for (long j = 0; j < kw; j++) {
                const float *src = col + ((c * kh + i) * kw + j) * HWo;
                for (long oh = 0; oh < Ho; oh++) {
                    long ih = oh * sh - ph + i * dh;
                    if (ih < 0 || ih >= H) continue;
                    float *row = xc + ih * W;
                    const float *s = src + oh * Wo;
                    long iw0 = j * dw - pw;
                    if (sw == 1) {
                        long lo = iw0 < 0 ? -iw0 : 0, hi = W - iw0;
                        if (hi > Wo) hi = Wo;
                        if (hi > lo) add_row(row + iw0 + lo, s + lo, hi - lo, wide);
                        continue;
                    }
                    for (long ow = 0; ow < Wo; ow++) {
                        long iw = iw0 + ow * sw;
                        if (iw >= 0 && iw < W) row[iw] += s[ow];
                    }
                }
            }
        }
    }
}

// Row pass of separable max pooling: for every input row and output column, the maximum over
// the kernel's columns and its column index. Offsets outside, positions inside: the inner loops
// run over contiguous outputs with selects, which the compiler vectorises.
static void separable_rows(const float *restrict xp, long H, long W, long kw, long pw, long sw, long Wo,
                           float *restrict hv, int32_t *restrict hi) {
    for (long ih = 0; ih < H; ih++) {
        const float *restrict row = xp + ih * W;
        float *restrict bv = hv + ih * Wo;
        int32_t *restrict bi = hi + ih * Wo;
        for (long ow = 0; ow < Wo; ow++) { bv[ow] = -INFINITY; bi[ow] = -1; }
        for (long j = 0; j < kw; j++) {
            // outputs whose column ow·sw − pw + j lies inside the row
            long lo = pw - j > 0 ? (pw - j + sw - 1) / sw : 0;
            long hi_ = (W - 1 + pw - j) >= 0 ? (W - 1 + pw - j) / sw + 1 : 0;
            if (hi_ > Wo) hi_ = Wo;
            if (sw == 1) {
                for (long ow = lo; ow < hi_; ow++) {
                    float v = row[ow - pw + j];
                    int t = (v > bv[ow]) | (bi[ow] < 0);
                    bv[ow] = t ? v : bv[ow];
                    bi[ow] = t ? (int32_t)(ow - pw + j) : bi[ow];
                }
            } else {
                for (long ow = lo; ow < hi_; ow++) {
                    float v = row[ow * sw - pw + j];
                    int t = (v > bv[ow]) | (bi[ow] < 0);
                    bv[ow] = t ? v : bv[ow];
                    bi[ow] = t ? (int32_t)(ow * sw - pw + j) : bi[ow];
                }
            }
        }
    }
}

// Column pass: for every output, the maximum of the row maxima over the kernel's rows.
static void separable_cols(const float *restrict hv, const int32_t *restrict hi, long H, long W, long kh, long ph, long sh,
                           long Ho, long Wo, float *restrict yp, int32_t *restrict ip) {
    for (long oh = 0; oh < Ho; oh++) {
        long i0 = oh * sh - ph, i1 = i0 + kh;
        if (i0 < 0) i0 = 0;
        if (i1 > H) i1 = H;
        float *restrict by = yp + oh * Wo;
        for (long ow = 0; ow < Wo; ow++) by[ow] = hv[i0 * Wo + ow];
        if (ip) {
            int32_t *restrict bi = ip + oh * Wo;
            for (long ow = 0; ow < Wo; ow++) bi[ow] = (int32_t)(i0 * W) + hi[i0 * Wo + ow];
            for (long i = i0 + 1; i < i1; i++) {
                const float *restrict v = hv + i * Wo;
                const int32_t *restrict h = hi + i * Wo;
                for (long ow = 0; ow < Wo; ow++) {
                    int t = v[ow] > by[ow];
                    by[ow] = t ? v[ow] : by[ow];
                    bi[ow] = t ? (int32_t)(i * W) + h[ow] : bi[ow];
                }
            }
        } else {
            for (long i = i0 + 1; i < i1; i++) {
                const float *restrict v = hv + i * Wo;
                for (long ow = 0; ow < Wo; ow++) by[ow] = v[ow] > by[ow] ? v[ow] : by[ow];
            }
        }
    }
}

#if defined(__x86_64__)
// AVX-512 versions of the two passes (stride 1 or 2 along the row). The row is first copied into
// a buffer padded with −∞ so every load is in bounds; a window whose maximum is −∞ (all inputs
// −∞) is rescanned directly so its index stays inside the row.
// prow = [−∞ × pw, row, −∞ up to `padded`]: every window load of a row pass stays in bounds.
static void pad_row(float *prow, const float *row, long W, long pw, long padded) {
    for (long k = 0; k < pw; k++) prow[k] = -INFINITY;
    memcpy(prow + pw, row, (size_t)W * sizeof(float));
    for (long k = pw + W; k < padded; k++) prow[k] = -INFINITY;
}

__attribute__((target("avx512f")))
static void separable_rows512(const float *xp, long H, long W, long kw, long pw, long sw, long Wo,
                              float *hv, int32_t *hi, float *prow) {
    long padded = (Wo - 1) * sw + kw + 32;
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (long ih = 0; ih < H; ih++) {
        const float *row = xp + ih * W;
        pad_row(prow, row, W, pw, padded);
        float *bv = hv + ih * Wo;
        int32_t *bi = hi + ih * Wo;
        for (long ow0 = 0; ow0 < Wo; ow0 += 16) {
            long n = Wo - ow0 < 16 ? Wo - ow0 : 16;
            __mmask16 m = (__mmask16)((1u << n) - 1);
            __m512 best = _mm512_set1_ps(-INFINITY);
            __m512i arg = _mm512_set1_epi32(-1);
            // column of output lane l at offset j: (ow0 + l)·sw − pw + j
            __m512i base = _mm512_sub_epi32(_mm512_mullo_epi32(_mm512_add_epi32(lane, _mm512_set1_epi32((int)ow0)), _mm512_set1_epi32((int)sw)),
                                            _mm512_set1_epi32((int)pw));
            for (long j = 0; j < kw; j++) {
                const float *p = prow + ow0 * sw + j;
                __m512 v = sw == 1 ? _mm512_loadu_ps(p)
                                   : _mm512_permutex2var_ps(_mm512_loadu_ps(p), even, _mm512_loadu_ps(p + 16));
                __mmask16 t = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ);
                best = _mm512_mask_mov_ps(best, t, v);
                arg = _mm512_mask_mov_epi32(arg, t, _mm512_add_epi32(base, _mm512_set1_epi32((int)j)));
            }
            _mm512_mask_storeu_ps(bv + ow0, m, best);
            _mm512_mask_storeu_epi32(bi + ow0, m, arg);
        }
        for (long ow = 0; ow < Wo; ow++) {
            if (bi[ow] >= 0 && bi[ow] < W) continue;
            long j0 = ow * sw - pw; if (j0 < 0) j0 = 0;
            bv[ow] = row[j0]; bi[ow] = (int32_t)j0;
        }
    }
}

__attribute__((target("avx512f")))
static void separable_cols512(const float *hv, const int32_t *hi, long H, long W, long kh, long ph, long sh,
                              long Ho, long Wo, float *yp, int32_t *ip) {
    for (long oh = 0; oh < Ho; oh++) {
        long i0 = oh * sh - ph, i1 = i0 + kh;
        if (i0 < 0) i0 = 0;
        if (i1 > H) i1 = H;
        for (long ow0 = 0; ow0 < Wo; ow0 += 16) {
            long n = Wo - ow0 < 16 ? Wo - ow0 : 16;
            __mmask16 m = (__mmask16)((1u << n) - 1);
            __m512 best = _mm512_maskz_loadu_ps(m, hv + i0 * Wo + ow0);
            __m512i arg = _mm512_add_epi32(_mm512_maskz_loadu_epi32(m, hi + i0 * Wo + ow0), _mm512_set1_epi32((int)(i0 * W)));
            for (long i = i0 + 1; i < i1; i++) {
                __m512 v = _mm512_maskz_loadu_ps(m, hv + i * Wo + ow0);
                __mmask16 t = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ);
                best = _mm512_mask_mov_ps(best, t, v);
                arg = _mm512_mask_mov_epi32(arg, t, _mm512_add_epi32(_mm512_maskz_loadu_epi32(m, hi + i * Wo + ow0),
                                                                     _mm512_set1_epi32((int)(i * W))));
            }
            _mm512_mask_storeu_ps(yp + oh * Wo + ow0, m, best);
            if (ip) _mm512_mask_storeu_epi32(ip + oh * Wo + ow0, m, arg);
        }
    }
}

// Values only (inference: no gradient, so no argmax): NaN propagates through the selection itself
// (v > best or v unordered), so the plane needs no NaN scan first.
__attribute__((target("avx512f")))
static inline __m512 max_nan(__m512 best, __m512 v) {
    __mmask16 t = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    return _mm512_mask_mov_ps(best, t, v);
}

// Values only, one plane: each output row's window rows reduced first (vertical maximum, straight
// into a row padded with −∞), then that row's windows along it (stride 2 through an even-lane
// permute). A plane without NaN takes plain maxima; one with NaN keeps the first NaN, as PyTorch.
__attribute__((target("avx512f")))
static int has_nan512(const float *x, long n) {
    __mmask16 any = 0;
    long i = 0;
    for (; i + 16 <= n; i += 16) { __m512 v = _mm512_loadu_ps(x + i); any |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q); }
    for (; i < n; i++) if (x[i] != x[i]) return 1;
    return any != 0;
}

__attribute__((target("avx512f"), always_inline))
static inline void separable_values512_body(const float *xp, long H, long W, long kh, long kw, long ph, long pw, long sh,
                                            long sw, long Ho, long Wo, float *prow, float *yp, const int nan) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512 lowest = _mm512_set1_ps(-INFINITY);
    for (long k = 0; k < pw; k++) prow[k] = -INFINITY;
    for (long k = pw + W; k < pw + W + 64; k++) prow[k] = -INFINITY;
    // max(v, best) returns best on ties, so the first of equal values (±0) is kept, as the scan does
#define POOL_MAX(best, v) (nan ? max_nan(best, v) : _mm512_max_ps(v, best))
    for (long oh = 0; oh < Ho; oh++) {
        long i0 = oh * sh - ph, i1 = i0 + kh;
        if (i0 < 0) i0 = 0;
        if (i1 > H) i1 = H;
        for (long w0 = 0; w0 < W; w0 += 16) {
            __mmask16 m = (__mmask16)(W - w0 < 16 ? (1u << (W - w0)) - 1 : 0xFFFF);
            __m512 best = _mm512_mask_loadu_ps(lowest, m, xp + i0 * W + w0);
            for (long i = i0 + 1; i < i1; i++) best = POOL_MAX(best, _mm512_mask_loadu_ps(lowest, m, xp + i * W + w0));
            _mm512_mask_storeu_ps(prow + pw + w0, m, best);
        }
        for (long ow0 = 0; ow0 < Wo; ow0 += 16) {
            __mmask16 m = (__mmask16)(Wo - ow0 < 16 ? (1u << (Wo - ow0)) - 1 : 0xFFFF);
            __m512 best = lowest;
            for (long j = 0; j < kw; j++) {
                const float *q = prow + ow0 * sw + j;
                __m512 v = sw == 1 ? _mm512_loadu_ps(q) : _mm512_permutex2var_ps(_mm512_loadu_ps(q), even, _mm512_loadu_ps(q + 16));
                best = POOL_MAX(best, v);
            }
            _mm512_mask_storeu_ps(yp + oh * Wo + ow0, m, best);
        }
    }
#undef POOL_MAX
}

__attribute__((target("avx512f")))
static void separable_values512(const float *xp, long H, long W, long kh, long kw, long ph, long pw, long sh, long sw,
                                long Ho, long Wo, float *prow, float *yp) {
    if (has_nan512(xp, H * W)) separable_values512_body(xp, H, W, kh, kw, ph, pw, sh, sw, Ho, Wo, prow, yp, 1);
    else separable_values512_body(xp, H, W, kh, kw, ph, pw, sh, sw, Ho, Wo, prow, yp, 0);
}
#endif


static int plane_has_nan(const float *x, long n) {
#if defined(__x86_64__)
    if (ck_gemm_isa() == 2) return has_nan512(x, n);
#endif
    for (long i = 0; i < n; i++) if (x[i] != x[i]) return 1;
    return 0;
}

// The direct scan of every window of one plane (any dilation; NaN propagates as in PyTorch).
static void max_pool_plane_direct(const float *xp, long H, long W, long kh, long kw, long ph, long pw, long sh, long sw,
                                  long dh, long dw, long Ho, long Wo, float *yp, int32_t *ip) {
    for (long oh = 0; oh < Ho; oh++) {
        long i0 = 0, i1 = kh;
        while (i0 < kh && oh * sh - ph + i0 * dh < 0) i0++;
        while (i1 > i0 && oh * sh - ph + (i1 - 1) * dh >= H) i1--;
        for (long ow = 0; ow < Wo; ow++) {
            long j0 = 0, j1 = kw;
            while (j0 < kw && ow * sw - pw + j0 * dw < 0) j0++;
            while (j1 > j0 && ow * sw - pw + (j1 - 1) * dw >= W) j1--;
            float best = -FLT_MAX; int32_t arg = -1;
            int nan = 0;
            if (i0 < i1 && j0 < j1) {
                long ih = oh * sh - ph + i0 * dh, iw = ow * sw - pw + j0 * dw;
                best = xp[ih * W + iw]; arg = (int32_t)(ih * W + iw);
            }
            for (long i = i0; i < i1; i++) {
                long ih = oh * sh - ph + i * dh;
                const float *row = xp + ih * W;
                for (long j = j0; j < j1; j++) {
                    long iw = ow * sw - pw + j * dw;
                    float v = row[iw];
                    int take = v > best;               // a select, not a branch
                    best = take ? v : best;
                    arg = take ? (int32_t)(ih * W + iw) : arg;
                    nan |= v != v;
                }
            }
            if (nan) {
                for (long i = i0; i < i1 && nan; i++) {
                    long ih = oh * sh - ph + i * dh;
                    for (long j = j0; j < j1; j++) {
                        long iw = ow * sw - pw + j * dw;
                        float v = xp[ih * W + iw];
                        if (v != v) { best = v; arg = (int32_t)(ih * W + iw); nan = 0; break; }
                    }
                }
            }
            yp[oh * Wo + ow] = best;
            if (ip) ip[oh * Wo + ow] = arg;
        }
    }
}

#if defined(__x86_64__)
// One output row of 2×2/2 max pooling, 16 outputs per vector: the two input rows are split into
// even and odd columns by permutes and compared as the scalar loop below does (strict >, so ties
// keep the first element in window order). Returns how many outputs it wrote: it stops before a
// chunk holding NaN, which the scalar loop then handles (propagating the first NaN as PyTorch does).
__attribute__((target("avx512f")))
static long maxpool2x2_row512(const float *r0, const float *r1, long W, long Wo, int32_t base, float *y, int32_t *idx) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    // the next output row's two input rows (the loads below otherwise wait on memory)
    for (long q = 0; q < 2 * W; q += 16) _mm_prefetch((const char *)(r0 + 2 * W + q), _MM_HINT_T0);
    for (long ow0 = 0; ow0 < Wo; ow0 += 16) {
        long n = Wo - ow0 < 16 ? Wo - ow0 : 16, cols = 2 * n;
        __mmask16 m = (__mmask16)((1u << n) - 1);
        __mmask16 lo = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1);
        __mmask16 hi = cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1) : 0;
        const float *p0 = r0 + 2 * ow0, *p1 = r1 + 2 * ow0;
        __m512 x0, x1, z0, z1;
        if (n == 16) {
            // plain loads where they can be: masked ones do not train the hardware prefetcher
            x0 = _mm512_loadu_ps(p0); x1 = _mm512_loadu_ps(p0 + 16);
            z0 = _mm512_loadu_ps(p1); z1 = _mm512_loadu_ps(p1 + 16);
        } else {
            x0 = _mm512_maskz_loadu_ps(lo, p0); x1 = _mm512_maskz_loadu_ps(hi, p0 + 16);
            z0 = _mm512_maskz_loadu_ps(lo, p1); z1 = _mm512_maskz_loadu_ps(hi, p1 + 16);
        }
        __m512 a = _mm512_permutex2var_ps(x0, even, x1), b = _mm512_permutex2var_ps(x0, odd, x1);
        __m512 c = _mm512_permutex2var_ps(z0, even, z1), d = _mm512_permutex2var_ps(z0, odd, z1);
        __mmask16 nan = _mm512_mask_cmp_ps_mask(m, a, b, _CMP_UNORD_Q) | _mm512_mask_cmp_ps_mask(m, c, d, _CMP_UNORD_Q);
        if (nan) return ow0;
        __mmask16 ab = _mm512_cmp_ps_mask(b, a, _CMP_GT_OQ), cd = _mm512_cmp_ps_mask(d, c, _CMP_GT_OQ);
        __m512 m0 = _mm512_mask_blend_ps(ab, a, b), m1 = _mm512_mask_blend_ps(cd, c, d);
        __mmask16 up = _mm512_cmp_ps_mask(m1, m0, _CMP_GT_OQ);
        __m512 best = _mm512_mask_blend_ps(up, m0, m1);
        if (n == 16) _mm512_storeu_ps(y + ow0, best);
        else _mm512_mask_storeu_ps(y + ow0, m, best);
        if (idx) {
            __m512i ia = _mm512_add_epi32(_mm512_set1_epi32(base + (int32_t)(2 * ow0)), even);   /* 2·lane */
            __m512i ic = _mm512_add_epi32(ia, _mm512_set1_epi32((int32_t)W));
            __m512i one = _mm512_set1_epi32(1);
            __m512i k0 = _mm512_mask_add_epi32(ia, ab, ia, one), k1 = _mm512_mask_add_epi32(ic, cd, ic, one);
            __m512i arg = _mm512_mask_blend_epi32(up, k0, k1);
            if (n == 16) _mm512_storeu_si512(idx + ow0, arg);
            else _mm512_mask_storeu_epi32(idx + ow0, m, arg);
        }
    }
    return Wo;
}
#endif

#if defined(__x86_64__)
// A whole plane at most 16 wide and 64 tall (GoogLeNet's inception pools on 12×12 … 3×3 maps), one
// register per row: each row's window maxima come from permutes of the row (lane l of tap j reads
// column l·sw − pw + j), then the rows' maxima are combined per output row. The first candidate of a
// window is taken unconditionally and later ones when strictly greater, so ties keep the first
// element in row-major order and windows of −∞ still name an element inside them, as the direct
// scan does. Returns 0, having written nothing, when the plane holds NaN (the direct path handles it).
__attribute__((target("avx512f")))
static int pool_small_plane512(const float *xp, long H, long W, long kh, long kw, long ph, long pw, long sh, long sw,
                               long Ho, long Wo, float *yp, int32_t *ip) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __mmask16 inm = (__mmask16)((1u << W) - 1), outm = (__mmask16)((1u << Wo) - 1);
    __m512 rowmax[64];
    __m512i rowarg[64];
    for (long ih = 0; ih < H; ih++) {
        __m512 v = _mm512_maskz_loadu_ps(inm, xp + ih * W);
        if (_mm512_mask_cmp_ps_mask(inm, v, v, _CMP_UNORD_Q)) return 0;
        __m512 best = _mm512_setzero_ps();
        __m512i arg = _mm512_set1_epi32(-1);
        __mmask16 taken = 0;
        for (long j = 0; j < kw; j++) {
            __m512i col = _mm512_add_epi32(_mm512_mullo_epi32(lane, _mm512_set1_epi32((int)sw)), _mm512_set1_epi32((int)(j - pw)));
            __mmask16 valid = outm & _mm512_cmpge_epi32_mask(col, _mm512_setzero_si512())
                              & _mm512_cmplt_epi32_mask(col, _mm512_set1_epi32((int)W));
            __m512 c = _mm512_permutexvar_ps(col, v);
            __mmask16 take = (valid & ~taken) | _mm512_mask_cmp_ps_mask(valid & taken, c, best, _CMP_GT_OQ);
            best = _mm512_mask_mov_ps(best, take, c);
            arg = _mm512_mask_mov_epi32(arg, take, col);
            taken |= valid;
        }
        rowmax[ih] = best;
        rowarg[ih] = arg;
    }
    for (long oh = 0; oh < Ho; oh++) {
        // a window with no column inside the image (not reachable through maxPool2d's checks) keeps
        // the direct scan's −FLT_MAX and index −1
        __m512 best = _mm512_set1_ps(-FLT_MAX);
        __m512i arg = _mm512_set1_epi32(-1);
        __mmask16 taken = 0;
        for (long i = 0; i < kh; i++) {
            long ih = oh * sh - ph + i;
            if (ih < 0 || ih >= H) continue;
            __mmask16 has = outm & _mm512_cmpge_epi32_mask(rowarg[ih], _mm512_setzero_si512());
            __mmask16 take = (has & ~taken) | _mm512_mask_cmp_ps_mask(has & taken, rowmax[ih], best, _CMP_GT_OQ);
            best = _mm512_mask_mov_ps(best, take, rowmax[ih]);
            arg = _mm512_mask_mov_epi32(arg, take, _mm512_add_epi32(rowarg[ih], _mm512_set1_epi32((int)(ih * W))));
            taken |= has;
        }
        _mm512_mask_storeu_ps(yp + oh * Wo, outm, best);
        if (ip) _mm512_mask_storeu_epi32(ip + oh * Wo, outm, arg);
    }
    return 1;
}
#endif

#if defined(__x86_64__)
// max(a, b) that keeps a NaN from either side, as PyTorch's pooling does (vmaxps alone returns its
// second operand when either is NaN): a + b is NaN exactly then.
__attribute__((target("avx512f")))
static inline __m512 max_nan512(__m512 a, __m512 b) {
    __mmask16 unordered = _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q);
    return _mm512_mask_add_ps(_mm512_max_ps(a, b), unordered, a, b);
}

// Values only (inference), undilated, on small planes (GoogLeNet's 3×3 pools on 12×12 … 3×3 maps,
// where one plane fills a fraction of a vector): the planes are walked as one flat array, 16
// positions per vector whatever plane they belong to. Pass 1 takes each position's row maximum over
// its kw columns (columns outside the row masked to −∞), pass 2 the maximum of those over kh rows,
// which is the stride-1 window anchored at the position; a strided pool then keeps every sh-th row
// and sw-th column. The caller checks (Ho − 1)·sh < H and (Wo − 1)·sw < W, so every output window
// is one of these and holds at least one element of the image. A chunk of planes holding NaN takes
// the NaN-keeping maximum (three instructions instead of one).
// The maximum along one axis of a window, for every position of `total` (planes laid end to end):
// `posOf` gives each position's coordinate along the axis, `step` is the axis' stride in memory.
// Called once along rows (step 1) and once along columns (step W); `nan` is a constant at each
// call, so each call is inlined with one maximum.
__attribute__((target("avx512f"), always_inline))
static inline void axis_max512(const float *src, float *dst, long total, long hw, const int32_t *posOf,
                               long k, long pad, long extent, long step, int nan) {
    const __m512 lowest = _mm512_set1_ps(-INFINITY);
    // q = e mod hw, kept by subtraction (a division per vector cost more than the maxima)
    for (long e = 0, q = 0; e < total; e += 16, q += 16) {
        while (q >= hw) q -= hw;
        __mmask16 live = total - e >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (total - e)) - 1);
        __m512i pos = _mm512_loadu_si512(posOf + q);
        __m512 m = lowest;
        for (long j = 0; j < k; j++) {
            __m512i c = _mm512_add_epi32(pos, _mm512_set1_epi32((int)(j - pad)));
            __mmask16 ok = live & _mm512_cmpge_epi32_mask(c, _mm512_setzero_si512())
                           & _mm512_cmplt_epi32_mask(c, _mm512_set1_epi32((int)extent));
            __m512 v = _mm512_mask_loadu_ps(lowest, ok, src + e + (j - pad) * step);
            m = nan ? max_nan512(m, v) : _mm512_max_ps(m, v);
        }
        _mm512_mask_storeu_ps(dst + e, live, m);
    }
}

#define MAXPOOL_SMALL_LIMIT 256
__attribute__((target("avx512f")))
static void maxpool_small_values512(const float *x, long planes, long H, long W, long kh, long kw, long ph, long pw,
                                    long sh, long sw, long Ho, long Wo, float *y, float *scratch) {
    long hw = H * W;
    // each position's column and row within its plane, repeated so that 16 lanes read from any
    // start below hw stay inside the tables
    int32_t colOf[MAXPOOL_SMALL_LIMIT + 16], rowOf[MAXPOOL_SMALL_LIMIT + 16];
    for (long q = 0; q < hw + 16; q++) { colOf[q] = (int32_t)((q % hw) % W); rowOf[q] = (int32_t)((q % hw) / W); }
    long chunk = 2048 / hw > 0 ? 2048 / hw : 1;      // planes per pass: both buffers stay in L1
    float *rowmax = scratch, *dense = scratch + chunk * hw + 16;
    int same = sh == 1 && sw == 1 && Ho == H && Wo == W;
    for (long p0 = 0; p0 < planes; p0 += chunk) {
        long np = planes - p0 < chunk ? planes - p0 : chunk, total = np * hw;
        const float *xp = x + p0 * hw;
        float *out = same ? y + p0 * hw : dense;
        __mmask16 nan = 0;
        for (long e = 0; e < total; e += 16) {
            __mmask16 live = total - e >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (total - e)) - 1);
            __m512 v = _mm512_maskz_loadu_ps(live, xp + e);
            nan |= _mm512_mask_cmp_ps_mask(live, v, v, _CMP_UNORD_Q);
        }
        if (nan) {
            axis_max512(xp, rowmax, total, hw, colOf, kw, pw, W, 1, 1);
            axis_max512(rowmax, out, total, hw, rowOf, kh, ph, H, W, 1);
        } else {
            axis_max512(xp, rowmax, total, hw, colOf, kw, pw, W, 1, 0);
            axis_max512(rowmax, out, total, hw, rowOf, kh, ph, H, W, 0);
        }
        if (!same) {
            for (long pl = 0; pl < np; pl++) {
                const float *d = dense + pl * hw;
                float *yp = y + (p0 + pl) * Ho * Wo;
                for (long oh = 0; oh < Ho; oh++)
                    for (long ow = 0; ow < Wo; ow++) yp[oh * Wo + ow] = d[oh * sh * W + ow * sw];
            }
        }
    }
}
#endif

#if defined(__x86_64__)
// The AVX2 forms of the AVX-512 pooling kernels above (8 lanes; a partial vector is loaded and
// stored through a lane mask, its other lanes filled with −∞ where a maximum reads them).
static const int32_t pool_lanes[16] = { -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0 };

__attribute__((target("avx2")))
static inline __m256i lanes_below(long n) { return _mm256_loadu_si256((const __m256i *)(pool_lanes + 8 - (n < 8 ? (n > 0 ? n : 0) : 8))); }

__attribute__((target("avx2")))
static inline __m256 load_or_lowest(const float *p, __m256i m) {
    return _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}

__attribute__((target("avx2")))
static inline __m256 max_nan256(__m256 best, __m256 v) {
    __m256 t = _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    return _mm256_blendv_ps(best, v, t);
}

// lanes 0, 2, …, 14 of the 16 floats at q (lo = q[0..7], hi = q[8..15]); with 0xDD the odd ones
#define EVEN256(lo, hi) _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0x88)), 0xD8))
#define ODD256(lo, hi) _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0xDD)), 0xD8))

__attribute__((target("avx2")))
static int has_nan256(const float *x, long n) {
    __m256 any = _mm256_setzero_ps();
    long i = 0;
    for (; i + 8 <= n; i += 8) { __m256 v = _mm256_loadu_ps(x + i); any = _mm256_or_ps(any, _mm256_cmp_ps(v, v, _CMP_UNORD_Q)); }
    for (; i < n; i++) if (x[i] != x[i]) return 1;
    return _mm256_movemask_ps(any) != 0;
}

// separable_values512_body with 8 lanes
__attribute__((target("avx2"), always_inline))
static inline void separable_values256_body(const float *xp, long H, long W, long kh, long kw, long ph, long pw, long sh,
                                            long sw, long Ho, long Wo, float *prow, float *yp, const int nan) {
    for (long k = 0; k < pw; k++) prow[k] = -INFINITY;
    for (long k = pw + W; k < pw + W + 64; k++) prow[k] = -INFINITY;
#define POOL_MAX256(best, v) (nan ? max_nan256(best, v) : _mm256_max_ps(v, best))
    for (long oh = 0; oh < Ho; oh++) {
        long i0 = oh * sh - ph, i1 = i0 + kh;
        if (i0 < 0) i0 = 0;
        if (i1 > H) i1 = H;
        long w0 = 0;
        for (; w0 + 8 <= W; w0 += 8) {
            __m256 best = _mm256_loadu_ps(xp + i0 * W + w0);
            for (long i = i0 + 1; i < i1; i++) best = POOL_MAX256(best, _mm256_loadu_ps(xp + i * W + w0));
            _mm256_storeu_ps(prow + pw + w0, best);
        }
        if (w0 < W) {
            __m256i m = lanes_below(W - w0);
            __m256 best = load_or_lowest(xp + i0 * W + w0, m);
            for (long i = i0 + 1; i < i1; i++) best = POOL_MAX256(best, load_or_lowest(xp + i * W + w0, m));
            _mm256_maskstore_ps(prow + pw + w0, m, best);
        }
        for (long ow0 = 0; ow0 < Wo; ow0 += 8) {
            __m256 best = _mm256_set1_ps(-INFINITY);
            for (long j = 0; j < kw; j++) {
                const float *q = prow + ow0 * sw + j;
                __m256 v = sw == 1 ? _mm256_loadu_ps(q) : EVEN256(_mm256_loadu_ps(q), _mm256_loadu_ps(q + 8));
                best = POOL_MAX256(best, v);
            }
            if (Wo - ow0 >= 8) _mm256_storeu_ps(yp + oh * Wo + ow0, best);
            else _mm256_maskstore_ps(yp + oh * Wo + ow0, lanes_below(Wo - ow0), best);
        }
    }
#undef POOL_MAX256
}

__attribute__((target("avx2")))
static void separable_values256(const float *xp, long H, long W, long kh, long kw, long ph, long pw, long sh, long sw,
                                long Ho, long Wo, float *prow, float *yp) {
    if (has_nan256(xp, H * W)) separable_values256_body(xp, H, W, kh, kw, ph, pw, sh, sw, Ho, Wo, prow, yp, 1);
    else separable_values256_body(xp, H, W, kh, kw, ph, pw, sh, sw, Ho, Wo, prow, yp, 0);
}

// max_nan512 with 8 lanes
__attribute__((target("avx2")))
static inline __m256 max_nan256b(__m256 a, __m256 b) {
    __m256 unordered = _mm256_cmp_ps(a, b, _CMP_UNORD_Q);
    return _mm256_blendv_ps(_mm256_max_ps(a, b), _mm256_add_ps(a, b), unordered);
}

// axis_max512 with 8 lanes
__attribute__((target("avx2"), always_inline))
static inline void axis_max256(const float *src, float *dst, long total, long hw, const int32_t *posOf,
                               long k, long pad, long extent, long step, int nan) {
    const __m256 lowest = _mm256_set1_ps(-INFINITY);
    for (long e = 0, q = 0; e < total; e += 8, q += 8) {
        while (q >= hw) q -= hw;
        __m256i live = lanes_below(total - e);
        __m256i pos = _mm256_loadu_si256((const __m256i *)(posOf + q));
        __m256 m = lowest;
        for (long j = 0; j < k; j++) {
            __m256i c = _mm256_add_epi32(pos, _mm256_set1_epi32((int)(j - pad)));
            __m256i ok = _mm256_and_si256(live, _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), c),
                                                                    _mm256_cmpgt_epi32(_mm256_set1_epi32((int)extent), c)));
            __m256 v = load_or_lowest(src + e + (j - pad) * step, ok);
            m = nan ? max_nan256b(m, v) : _mm256_max_ps(m, v);
        }
        // (a masked store is microcoded on AMD: only the last vector takes one)
        if (total - e >= 8) _mm256_storeu_ps(dst + e, m); else _mm256_maskstore_ps(dst + e, live, m);
    }
}

// maxpool_small_values512 with 8 lanes
__attribute__((target("avx2")))
static void maxpool_small_values256(const float *x, long planes, long H, long W, long kh, long kw, long ph, long pw,
                                    long sh, long sw, long Ho, long Wo, float *y, float *scratch) {
    long hw = H * W;
    int32_t colOf[MAXPOOL_SMALL_LIMIT + 16], rowOf[MAXPOOL_SMALL_LIMIT + 16];
    for (long q = 0; q < hw + 16; q++) { colOf[q] = (int32_t)((q % hw) % W); rowOf[q] = (int32_t)((q % hw) / W); }
    long chunk = 2048 / hw > 0 ? 2048 / hw : 1;
    float *rowmax = scratch, *dense = scratch + chunk * hw + 16;
    int same = sh == 1 && sw == 1 && Ho == H && Wo == W;
    for (long p0 = 0; p0 < planes; p0 += chunk) {
        long np = planes - p0 < chunk ? planes - p0 : chunk, total = np * hw;
        const float *xp = x + p0 * hw;
        float *out = same ? y + p0 * hw : dense;
        if (has_nan256(xp, total)) {
            axis_max256(xp, rowmax, total, hw, colOf, kw, pw, W, 1, 1);
            axis_max256(rowmax, out, total, hw, rowOf, kh, ph, H, W, 1);
        } else {
            axis_max256(xp, rowmax, total, hw, colOf, kw, pw, W, 1, 0);
            axis_max256(rowmax, out, total, hw, rowOf, kh, ph, H, W, 0);
        }
        if (!same) {
            for (long pl = 0; pl < np; pl++) {
                const float *d = dense + pl * hw;
                float *yp = y + (p0 + pl) * Ho * Wo;
                for (long oh = 0; oh < Ho; oh++)
                    for (long ow = 0; ow < Wo; ow++) yp[oh * Wo + ow] = d[oh * sh * W + ow * sw];
            }
        }
    }
}

// maxpool2x2_row512 with 8 lanes: the same comparisons, so the same values and indices
__attribute__((target("avx2")))
static long maxpool2x2_row256(const float *r0, const float *r1, long W, long Wo, int32_t base, float *y, int32_t *idx) {
    const __m256i twice = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    for (long ow0 = 0; ow0 < Wo; ow0 += 8) {
        long n = Wo - ow0 < 8 ? Wo - ow0 : 8, cols = 2 * n;
        const float *p0 = r0 + 2 * ow0, *p1 = r1 + 2 * ow0;
        __m256 x0, x1, z0, z1;
        __m256i m = lanes_below(n);
        if (n == 8) {
            x0 = _mm256_loadu_ps(p0); x1 = _mm256_loadu_ps(p0 + 8);
            z0 = _mm256_loadu_ps(p1); z1 = _mm256_loadu_ps(p1 + 8);
        } else {
            __m256i lo = lanes_below(cols), hi = lanes_below(cols - 8);
            x0 = _mm256_maskload_ps(p0, lo); x1 = _mm256_maskload_ps(p0 + 8, hi);
            z0 = _mm256_maskload_ps(p1, lo); z1 = _mm256_maskload_ps(p1 + 8, hi);
        }
        __m256 a = EVEN256(x0, x1), b = ODD256(x0, x1), c = EVEN256(z0, z1), d = ODD256(z0, z1);
        __m256 nan = _mm256_and_ps(_mm256_castsi256_ps(m), _mm256_or_ps(_mm256_cmp_ps(a, b, _CMP_UNORD_Q), _mm256_cmp_ps(c, d, _CMP_UNORD_Q)));
        if (_mm256_movemask_ps(nan)) return ow0;
        __m256 ab = _mm256_cmp_ps(b, a, _CMP_GT_OQ), cd = _mm256_cmp_ps(d, c, _CMP_GT_OQ);
        __m256 m0 = _mm256_blendv_ps(a, b, ab), m1 = _mm256_blendv_ps(c, d, cd);
        __m256 up = _mm256_cmp_ps(m1, m0, _CMP_GT_OQ);
        __m256 best = _mm256_blendv_ps(m0, m1, up);
        if (n == 8) _mm256_storeu_ps(y + ow0, best);
        else _mm256_maskstore_ps(y + ow0, m, best);
        if (idx) {
            __m256i ia = _mm256_add_epi32(_mm256_set1_epi32(base + (int32_t)(2 * ow0)), twice);
            __m256i ic = _mm256_add_epi32(ia, _mm256_set1_epi32((int32_t)W));
            // a true comparison is −1 in every bit: subtracting it adds one
            __m256i k0 = _mm256_sub_epi32(ia, _mm256_castps_si256(ab)), k1 = _mm256_sub_epi32(ic, _mm256_castps_si256(cd));
            __m256i arg = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(k0), _mm256_castsi256_ps(k1), up));
            if (n == 8) _mm256_storeu_si256((__m256i *)(idx + ow0), arg);
            else _mm256_maskstore_epi32(idx + ow0, m, arg);
        }
    }
    return Wo;
}
#endif

long ck_maxpool2d_scratch(long H, long W) {
    long hw = H * W, chunk = 2048 / (hw > 0 ? hw : 1);
    if (chunk < 1) chunk = 1;
    return 2 * (chunk * hw + 16);
}

void ck_maxpool2d(const float *x, long planes, long H, long W, long kh, long kw,
                  long ph, long pw, long sh, long sw, long dh, long dw,
                  long Ho, long Wo, float *y, int32_t *indices) {
#if defined(__x86_64__)
    if (!indices && ck_gemm_isa() == 2 && dh == 1 && dw == 1 && H * W <= MAXPOOL_SMALL_LIMIT && (Ho - 1) * sh < H && (Wo - 1) * sw < W
        && ph < kh && pw < kw) {
        maxpool_small_values512(x, planes, H, W, kh, kw, ph, pw, sh, sw, Ho, Wo, y, ck_scratch(3, ck_maxpool2d_scratch(H, W)));
        return;
    }
    if (!indices && ck_gemm_isa() == 1 && dh == 1 && dw == 1 && H * W <= MAXPOOL_SMALL_LIMIT && (Ho - 1) * sh < H && (Wo - 1) * sw < W
        && ph < kh && pw < kw) {
        maxpool_small_values256(x, planes, H, W, kh, kw, ph, pw, sh, sw, Ho, Wo, y, ck_scratch(3, ck_maxpool2d_scratch(H, W)));
        return;
    }
#endif
    int wide = ck_gemm_isa() == 2, wide2 = ck_gemm_isa() == 1;   /* once per call, not per row or plane */
    if (kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && dh == 1 && dw == 1) {
        // the common 2×2/2 case: four candidates, no bounds checks, selects instead of branches
        // (random data makes comparisons unpredictable); NaN is rare and handled after the fact
        for (long pl = 0; pl < planes; pl++) {
            const float *xp = x + pl * H * W;
            float *yp = y + pl * Ho * Wo;
            int32_t *ip = indices ? indices + pl * Ho * Wo : 0;
            if (2 * Ho > H || 2 * Wo > W) goto general; // ceil mode partial windows
            for (long oh = 0; oh < Ho; oh++) {
                const float *r0 = xp + 2 * oh * W, *r1 = r0 + W;
                int32_t base = (int32_t)(2 * oh * W);
                long ow = 0;
#if defined(__x86_64__)
                if (wide) ow = maxpool2x2_row512(r0, r1, W, Wo, base, yp + oh * Wo, ip ? ip + oh * Wo : 0);
                else if (wide2) ow = maxpool2x2_row256(r0, r1, W, Wo, base, yp + oh * Wo, ip ? ip + oh * Wo : 0);
#endif
                for (; ow < Wo; ow++) {
                    long i0 = 2 * ow;
                    float a = r0[i0], b = r0[i0 + 1], c = r1[i0], d = r1[i0 + 1];
                    int ab = b > a, cd = d > c;
                    float m0 = ab ? b : a, m1 = cd ? d : c;
                    int32_t k0 = base + (int32_t)i0 + ab, k1 = base + (int32_t)(W + i0) + cd;
                    int hi = m1 > m0;
                    float best = hi ? m1 : m0;
                    int32_t arg = hi ? k1 : k0;
                    if (best != best || a != a || b != b || c != c || d != d) {
                        // propagate NaN like PyTorch: the first NaN in window order
                        if (a != a) { best = a; arg = base + (int32_t)i0; }
                        else if (b != b) { best = b; arg = base + (int32_t)i0 + 1; }
                        else if (c != c) { best = c; arg = base + (int32_t)(W + i0); }
                        else { best = d; arg = base + (int32_t)(W + i0) + 1; }
                    }
                    yp[oh * Wo + ow] = best;
                    if (ip) ip[oh * Wo + ow] = arg;
                }
            }
        }
        return;
    }
    if (dh == 1 && dw == 1 && kh * kw >= 4) {
        // separable: the maximum over a window is the maximum over its rows' maxima, so each row
        // is reduced once per output column and the rows once per output. Ties keep the first
        // element in row-major order, as the direct scan does. A plane holding NaN takes the
        // direct path below, which propagates it.
        float *hv = ck_scratch(3, H * Wo * 2 + W + 2 * pw + 64);
        int32_t *hi = (int32_t *)(hv + H * Wo);
        int vec = wide && (sw == 1 || sw == 2);  /* the AVX-512 row kernels take strides 1 and 2 */
        int small = vec && W <= 16 && Wo <= 16 && H <= 64;
        for (long pl = 0; pl < planes; pl++) {
            const float *xp = x + pl * H * W;
#if defined(__x86_64__)
            if (small && pool_small_plane512(xp, H, W, kh, kw, ph, pw, sh, sw, Ho, Wo, y + pl * Ho * Wo,
                                             indices ? indices + pl * Ho * Wo : 0)) continue;
            if (!indices && vec) {
                separable_values512(xp, H, W, kh, kw, ph, pw, sh, sw, Ho, Wo, hv + 2 * H * Wo, y + pl * Ho * Wo);
                continue;
            }
            if (!indices && wide2 && (sw == 1 || sw == 2)) {
                separable_values256(xp, H, W, kh, kw, ph, pw, sh, sw, Ho, Wo, hv + 2 * H * Wo, y + pl * Ho * Wo);
                continue;
            }
#endif
            int nan = plane_has_nan(xp, H * W);
            if (nan) { max_pool_plane_direct(xp, H, W, kh, kw, ph, pw, sh, sw, dh, dw, Ho, Wo,
                                             y + pl * Ho * Wo, indices ? indices + pl * Ho * Wo : 0); continue; }
#if defined(__x86_64__)
            if (vec) {
                separable_rows512(xp, H, W, kw, pw, sw, Wo, hv, hi, hv + 2 * H * Wo);
                separable_cols512(hv, hi, H, W, kh, ph, sh, Ho, Wo, y + pl * Ho * Wo, indices ? indices + pl * Ho * Wo : 0);
                continue;
            }
#endif
            separable_rows(xp, H, W, kw, pw, sw, Wo, hv, hi);
            separable_cols(hv, hi, H, W, kh, ph, sh, Ho, Wo, y + pl * Ho * Wo, indices ? indices + pl * Ho * Wo : 0);
        }
        return;
    }
general:;
    for (long pl = 0; pl < planes; pl++)
        max_pool_plane_direct(x + pl * H * W, H, W, kh, kw, ph, pw, sh, sw, dh, dw, Ho, Wo,
                              y + pl * Ho * Wo, indices ? indices + pl * Ho * Wo : 0);
}

void ck_maxpool2d_backward(const float *gy, const int32_t *indices, long planes,
                           long H, long W, long Ho, long Wo, float *gx) {
    for (long pl = 0; pl < planes; pl++) {
        const float *g = gy + pl * Ho * Wo;
        const int32_t *ip = indices + pl * Ho * Wo;
        float *d = gx + pl * H * W;
        for (long o = 0; o < Ho * Wo; o++) if (ip[o] >= 0) d[ip[o]] += g[o];
    }
}

static inline long lmin(long a, long b) { return a < b ? a : b; }
static inline long lmax(long a, long b) { return a > b ? a : b; }

// PyTorch's divisor: with padding counted, the window clipped to the padded input; otherwise the valid part.
static inline long pool_divisor(long oh, long ow, long H, long W, long kh, long kw, long ph, long pw,
                                long sh, long sw, int countIncludePad) {
    long h0 = oh * sh - ph, w0 = ow * sw - pw;
    long h1 = lmin(h0 + kh, H + ph), w1 = lmin(w0 + kw, W + pw);
    long padded = (h1 - h0) * (w1 - w0);
    if (countIncludePad) return padded;
    long hs = lmax(h0, 0), ws = lmax(w0, 0), he = lmin(h1, H), we = lmin(w1, W);
    return (he - hs) * (we - ws);
}

void ck_avgpool2d(const float *x, long planes, long H, long W, long kh, long kw,
                  long ph, long pw, long sh, long sw, long Ho, long Wo,
                  int countIncludePad, float *y) {
    if (kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && 2 * Ho <= H && 2 * Wo <= W) {
        // D2L LeNet's 2×2/2 pooling: every window is whole, the divisor is 4
        for (long pl = 0; pl < planes; pl++) {
            const float *xp = x + pl * H * W;
            float *yp = y + pl * Ho * Wo;
            for (long oh = 0; oh < Ho; oh++) {
                const float *r0 = xp + 2 * oh * W, *r1 = r0 + W;
                for (long ow = 0; ow < Wo; ow++)
                    yp[oh * Wo + ow] = 0.25f * (r0[2 * ow] + r0[2 * ow + 1] + r1[2 * ow] + r1[2 * ow + 1]);
            }
        }
        return;
    }
    for (long pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * H * W;
        float *yp = y + pl * Ho * Wo;
        for (long oh = 0; oh < Ho; oh++) {
            for (long ow = 0; ow < Wo; ow++) {
                long h0 = oh * sh - ph, w0 = ow * sw - pw;
                long hs = lmax(h0, 0), ws = lmax(w0, 0), he = lmin(h0 + kh, H), we = lmin(w0 + kw, W);
                float s = 0;
                for (long ih = hs; ih < he; ih++)
                    for (long iw = ws; iw < we; iw++) s += xp[ih * W + iw];
                long div = pool_divisor(oh, ow, H, W, kh, kw, ph, pw, sh, sw, countIncludePad);
                yp[oh * Wo + ow] = div > 0 ? s / (float)div : 0.0f;
            }
        }
    }
}

void ck_avgpool2d_backward(const float *gy, long planes, long H, long W, long kh, long kw,
                           long ph, long pw, long sh, long sw, long Ho, long Wo,
                           int countIncludePad, float *gx) {
    if (kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && 2 * Ho <= H && 2 * Wo <= W) {
        for (long pl = 0; pl < planes; pl++) {
            const float *g = gy + pl * Ho * Wo;
            float *d = gx + pl * H * W;
            for (long oh = 0; oh < Ho; oh++) {
                float *r0 = d + 2 * oh * W, *r1 = r0 + W;
                for (long ow = 0; ow < Wo; ow++) {
                    float v = 0.25f * g[oh * Wo + ow];
                    r0[2 * ow] += v; r0[2 * ow + 1] += v; r1[2 * ow] += v; r1[2 * ow + 1] += v;
                }
            }
        }
        return;
    }
    for (long pl = 0; pl < planes; pl++) {
        const float *g = gy + pl * Ho * Wo;
        float *d = gx + pl * H * W;
        for (long oh = 0; oh < Ho; oh++) {
            for (long ow = 0; ow < Wo; ow++) {
                long h0 = oh * sh - ph, w0 = ow * sw - pw;
                long hs = lmax(h0, 0), ws = lmax(w0, 0), he = lmin(h0 + kh, H), we = lmin(w0 + kw, W);
                long div = pool_divisor(oh, ow, H, W, kh, kw, ph, pw, sh, sw, countIncludePad);
                if (div <= 0) continue;
                float v = g[oh * Wo + ow] / (float)div;
                for (long ih = hs; ih < he; ih++)
                    for (long iw = ws; iw < we; iw++) d[ih * W + iw] += v;
            }
        }
    }
}
