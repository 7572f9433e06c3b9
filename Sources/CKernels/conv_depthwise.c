// Depthwise convolution (one filter per channel, MobileNet's 3×3 layers). The portable and AVX2 kernel:
// each output row is a sum of kh·kw shifted input rows scaled by one weight, so the inner loop is a
// contiguous multiply-add for stride 1 that the compiler vectorises. A GEMM per channel (M = 1) or
// a Winograd transform per channel would spend most of the time on packing. The AVX-512 kernels
// (below) read 3×3 planes where they lie, and other kernels from padded copies of the planes.
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
#include "conv_phases.h"
#endif

#if defined(__x86_64__)
// Depthwise convolution for AVX-512 over each plane's padded phases (conv_phases.h). Output rows
// at least 12 wide are computed along the row, 64 outputs at a time, from aligned loads shifted in
// registers (see DW_ROW_CHUNK). Narrower maps are computed flattened, at o = oh·Wq + ow over whole
// rows of Wq (a 7×7 map fills 63 of 64 lanes, where a vector per row would fill 7 of 16): the
// columns ow ≥ Wo are junk, compressed out as each vector is stored. Either way the epilogue rides
// on the stores.

typedef struct {
    phase_geometry g;
    long kh, kw, Ho, Wo, taps;
    const long *off;          /* per tap: where it reads, from the output's flattened position */
    const uint16_t *keep;     /* flattened mode, per start column: the lanes with ow < Wo */
} dw_plan;

// Stores the nv accumulators a0 … a3 through STORE(v, acc).
#define DW_STORE_ALL(nv, STORE) \
    do { STORE(0, a0); if (nv > 1) STORE(1, a1); if (nv > 2) STORE(2, a2); if (nv > 3) STORE(3, a3); } while (0)

// The outputs at flattened positions o … o + 16·nv − 1: Σ_t w[t] · phases[off[t] + o + ·], each
// vector v stored under keep(v, acc) (row mode: in place; flattened: compressed). nv is a constant
// at each call, so the four accumulators stay in registers.
#define DW_CHUNK(nv, STORE)                                                                          \
    do {                                                                                             \
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                  \
        for (long t = 0; t < taps; t++) {                                                            \
            const float *src = phases + off[t] + o;                                                  \
            __m512 wt = _mm512_set1_ps(w[t]);                                                        \
            a0 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(src), a0);                                      \
            if (nv > 1) a1 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(src + 16), a1);                     \
            if (nv > 2) a2 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(src + 32), a2);                     \
            if (nv > 3) a3 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(src + 48), a3);                     \
        }                                                                                            \
        DW_STORE_ALL(nv, STORE);                                                                     \
    } while (0)

// Row mode: the same sums from aligned loads. Per kernel row and phase column, nv + 1 aligned
// vectors are loaded once; tap j of that phase column reads them shifted by ⌊j/s⌋ lanes (a
// two-source permute), not by a load that straddles two cache lines.
#define DW_ROW_CHUNK(nv, STORE)                                                                      \
    do {                                                                                             \
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                  \
        for (long i = 0; i < KH; i++) {                                                              \
            for (long b = 0; b < S; b++) {                                                           \
                const float *base = phases + ((i % S) * S + b) * P->g.stride + (oh + i / S) * Wq + ow; \
                __m512 v0 = _mm512_load_ps(base), v1 = a0, v2 = a0, v3 = a0, v4 = a0;                \
                if (nv > 1 || KW > S) v1 = _mm512_load_ps(base + 16);                                \
                if (nv > 2 || (nv > 1 && KW > S)) v2 = _mm512_load_ps(base + 32);                    \
                if (nv > 3 || (nv > 2 && KW > S)) v3 = _mm512_load_ps(base + 48);                    \
                if (nv > 3 && KW > S) v4 = _mm512_load_ps(base + 64);                                \
                for (long j = b; j < KW; j += S) {                                                   \
                    __m512 wt = _mm512_set1_ps(w[i * KW + j]);                                       \
                    long sh = j / S;                                                                 \
                    if (sh == 0) {                                                                   \
                        a0 = _mm512_fmadd_ps(wt, v0, a0);                                            \
                        if (nv > 1) a1 = _mm512_fmadd_ps(wt, v1, a1);                                \
                        if (nv > 2) a2 = _mm512_fmadd_ps(wt, v2, a2);                                \
                        if (nv > 3) a3 = _mm512_fmadd_ps(wt, v3, a3);                                \
                    } else {                                                                         \
                        __m512i idx = _mm512_add_epi32(iota, _mm512_set1_epi32((int)sh));            \
                        a0 = _mm512_fmadd_ps(wt, _mm512_permutex2var_ps(v0, idx, v1), a0);           \
                        if (nv > 1) a1 = _mm512_fmadd_ps(wt, _mm512_permutex2var_ps(v1, idx, v2), a1); \
                        if (nv > 2) a2 = _mm512_fmadd_ps(wt, _mm512_permutex2var_ps(v2, idx, v3), a2); \
                        if (nv > 3) a3 = _mm512_fmadd_ps(wt, _mm512_permutex2var_ps(v3, idx, v4), a3); \
                    }                                                                                \
                }                                                                                    \
            }                                                                                        \
        }                                                                                            \
        DW_STORE_ALL(nv, STORE);                                                                     \
    } while (0)

// S, KH, KW: the stride and kernel size, constants in the common cases' copies (below), so no
// division is left in the loops.
__attribute__((target("avx512f,avx512vl,fma,popcnt"), always_inline))
static inline void dw_plane512(const dw_plan *P, const long S, const long KH, const long KW, const float *x, const float *w,
                               float scale, float shift, const float *res, int relu, int clamp, float lo, float hi, float *y,
                               float *phases) {
    phases512(&P->g, x, phases);
    const __m512 vs = _mm512_set1_ps(scale), vt = _mm512_set1_ps(shift), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    const long Wq = P->g.Wq, Wo = P->Wo, taps = P->taps, *off = P->off;
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    if (Wo >= 12) {
        for (long oh = 0; oh < P->Ho; oh++) {
            float *yr = y + oh * Wo;
            const float *rr = res ? res + oh * Wo : 0;
            for (long ow = 0; ow < Wo; ow += 64) {
                long left = Wo - ow;
#define DW_ROW_STORE(v, acc) \
                epilogue_store512(acc, lanes16(left - 16 * v), vs, vt, rr ? rr + ow + 16 * v : 0, relu, clamp, vlo, vhi, yr + ow + 16 * v)
                if (left > 48) DW_ROW_CHUNK(4, DW_ROW_STORE);
                else if (left > 32) DW_ROW_CHUNK(3, DW_ROW_STORE);
                else if (left > 16) DW_ROW_CHUNK(2, DW_ROW_STORE);
                else DW_ROW_CHUNK(1, DW_ROW_STORE);
#undef DW_ROW_STORE
            }
        }
        return;
    }
    long total = P->Ho * Wq, col = 0, row = 0;                  // col, row: of flattened position o
    for (long o = 0; o < total; o += 64) {
#define DW_FLAT_STORE(v, acc)                                                                          \
        if (o + 16 * v < total) {                                                                      \
            __mmask16 k = P->keep[col] & lanes16(total - o - 16 * v);                                  \
            long dst = row * Wo + (col < Wo ? col : Wo);                                               \
            epilogue_store512(_mm512_maskz_compress_ps(k, acc), lanes16(_mm_popcnt_u32(k)), vs, vt, res ? res + dst : 0, \
                        relu, clamp, vlo, vhi, y + dst);                                               \
            for (col += 16; col >= Wq; col -= Wq) row++;                                               \
        }
        DW_CHUNK(4, DW_FLAT_STORE);
#undef DW_FLAT_STORE
    }
}
__attribute__((target("avx512f,avx512vl,fma,popcnt")))
static void dw_plane512_3x3s1(const dw_plan *P, const float *x, const float *w, float scale, float shift, const float *res,
                              int relu, int clamp, float lo, float hi, float *y, float *phases) {
    dw_plane512(P, 1, 3, 3, x, w, scale, shift, res, relu, clamp, lo, hi, y, phases);
}

__attribute__((target("avx512f,avx512vl,fma,popcnt")))
static void dw_plane512_3x3s2(const dw_plan *P, const float *x, const float *w, float scale, float shift, const float *res,
                              int relu, int clamp, float lo, float hi, float *y, float *phases) {
    dw_plane512(P, 2, 3, 3, x, w, scale, shift, res, relu, clamp, lo, hi, y, phases);
}

__attribute__((target("avx512f,avx512vl,fma,popcnt")))
static void dw_plane512_any(const dw_plan *P, const float *x, const float *w, float scale, float shift, const float *res,
                            int relu, int clamp, float lo, float hi, float *y, float *phases) {
    dw_plane512(P, P->g.s, P->kh, P->kw, x, w, scale, shift, res, relu, clamp, lo, hi, y, phases);
}
#undef DW_CHUNK
#undef DW_ROW_CHUNK
#undef DW_STORE_ALL
#endif


#if defined(__x86_64__)
// 3×3 planes at least 48 wide, read where they lie (no padded copy): four output rows at a time
// share the input rows they read (six at stride 1, nine at stride 2), 16 columns per vector, row
// after row (the order prefetching follows). At stride 1 a tap's 16 inputs are one load; at
// stride 2 the even (j = 0), odd (j = 1) and shifted even (j = 2) lanes of two loaded pairs of
// vectors, picked by permutes instead of a phase-split copy of the plane. Edge columns use masked
// loads (masked lanes read nothing, so no load strays outside the plane) and the rest plain ones:
// a masked load of a line not yet in cache stalls.
__attribute__((target("avx512f,fma"), always_inline))
static inline void dw_rows512_chunk(const int S, const int MASKED, const float *x, long H, long W, const __m512 wv[9], long ph,
                                    long pw, long oh0, long ow0, long Ho, long Wo, __m512 vs, __m512 vt, const float *res,
                                    int relu, int clamp, __m512 vlo, __m512 vhi, float *y) {
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    // the loads, from the row's first input column c0: at 0, 1, 2 (stride 1); at 0, 16, 2, 18 (stride 2)
    const long c0 = S * ow0 - pw, at[4] = { 0, S == 1 ? 1 : 16, 2, 18 }, loads = S == 1 ? 3 : 4;
    __mmask16 m[4] = { 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF };
    if (MASKED)
        for (int q = 0; q < loads; q++) {
            long c = c0 + at[q], lo = c < 0 ? -c : 0, hi = W - c < 16 ? W - c : 16;
            m[q] = hi <= lo ? 0 : (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
        }
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    // input row S·oh0 − ph + k feeds output row oh0 + q through kernel row k − S·q
    for (int k = 0; k < 3 * S + 3; k++) {
        long ih = S * oh0 - ph + k;
        if (ih < 0 || ih >= H) continue;
        const float *src = x + ih * W + c0;
        __m512 l[4];
        for (int q = 0; q < loads; q++) l[q] = MASKED ? _mm512_maskz_loadu_ps(m[q], src + at[q]) : _mm512_loadu_ps(src + at[q]);
        __m512 v0 = l[0], v1 = l[1], v2 = l[2];
        if (S == 2) {
            v0 = _mm512_permutex2var_ps(l[0], even, l[1]); v1 = _mm512_permutex2var_ps(l[0], odd, l[1]);
            v2 = _mm512_permutex2var_ps(l[2], even, l[3]);
        }
#define DW_ROW_TAPS(q, acc) if (k - S * q >= 0 && k - S * q < 3) { \
            acc = _mm512_fmadd_ps(wv[(k - S * q) * 3], v0, acc); acc = _mm512_fmadd_ps(wv[(k - S * q) * 3 + 1], v1, acc); \
            acc = _mm512_fmadd_ps(wv[(k - S * q) * 3 + 2], v2, acc); }
        DW_ROW_TAPS(0, a0) DW_ROW_TAPS(1, a1) DW_ROW_TAPS(2, a2) DW_ROW_TAPS(3, a3)
#undef DW_ROW_TAPS
    }
    __mmask16 keep = lanes16(Wo - ow0);
    __m512 acc[4] = { a0, a1, a2, a3 };
    for (int q = 0; q < 4 && oh0 + q < Ho; q++) {
        long o = (oh0 + q) * Wo + ow0;
        epilogue_store512(acc[q], keep, vs, vt, res ? res + o : 0, relu, clamp, vlo, vhi, y + o);
    }
}

__attribute__((target("avx512f,fma"), always_inline))
static inline void dw_rows512_3x3(const int S, const float *x, long H, long W, const float *w, long ph, long pw, long Ho, long Wo,
                                  float scale, float shift, const float *res, int relu, int clamp, float lo, float hi, float *y) {
    const __m512 vs = _mm512_set1_ps(scale), vt = _mm512_set1_ps(shift), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    __m512 wv[9];
    for (int t = 0; t < 9; t++) wv[t] = _mm512_set1_ps(w[t]);
    // a chunk reads columns [S·ow0 − pw, + 18) at stride 1, [·, + 34) at stride 2
    const long span = S == 1 ? 18 : 34;
    for (long oh0 = 0; oh0 < Ho; oh0 += 4) {
        for (long ow0 = 0; ow0 < Wo; ow0 += 16) {
            if (S * ow0 - pw >= 0 && S * ow0 - pw + span <= W)
                dw_rows512_chunk(S, 0, x, H, W, wv, ph, pw, oh0, ow0, Ho, Wo, vs, vt, res, relu, clamp, vlo, vhi, y);
            else
                dw_rows512_chunk(S, 1, x, H, W, wv, ph, pw, oh0, ow0, Ho, Wo, vs, vt, res, relu, clamp, vlo, vhi, y);
        }
    }
}

__attribute__((target("avx512f,fma")))
static void dw_rows512_3x3s1(const float *x, long H, long W, const float *w, long ph, long pw, long Ho, long Wo, float scale,
                             float shift, const float *res, int relu, int clamp, float lo, float hi, float *y) {
    dw_rows512_3x3(1, x, H, W, w, ph, pw, Ho, Wo, scale, shift, res, relu, clamp, lo, hi, y);
}

// Input row k of a pair of output rows (their first input row is k = 0; the second output row's is
// k = `step`, the stride): its taps 0–2 (v0–v2) into the first output row's sum through kernel row
// k and into the second's through kernel row k − step.
__attribute__((target("avx512f,fma"), always_inline))
static inline void dw_pair_row_taps(int k, int step, __m512 v0, __m512 v1, __m512 v2, const __m512 wv[9], __m512 *a0,
                                    __m512 *a1) {
    if (k < 3) {
        *a0 = _mm512_fmadd_ps(wv[k * 3], v0, *a0); *a0 = _mm512_fmadd_ps(wv[k * 3 + 1], v1, *a0);
        *a0 = _mm512_fmadd_ps(wv[k * 3 + 2], v2, *a0);
    }
    if (k >= step) {
        *a1 = _mm512_fmadd_ps(wv[(k - step) * 3], v0, *a1); *a1 = _mm512_fmadd_ps(wv[(k - step) * 3 + 1], v1, *a1);
        *a1 = _mm512_fmadd_ps(wv[(k - step) * 3 + 2], v2, *a1);
    }
}

// Stride 1 (3×3, padding one column, rows at least 16 wide): two output rows at a time from the four
// input rows they read, each row walked one vector at a time, every vector loaded once (aligned
// where the rows are: an unaligned 512-bit load runs at half the rate). Tap 1 is the vector
// itself; taps 0 and 2 (one column left, one right) shift in the last lane of the previous vector
// and the first of the next. A row's last vector loads only its columns.
// PARTIAL: rows not a multiple of 16 wide (whole vectors, with no masks, otherwise).
__attribute__((target("avx512f,fma"), always_inline))
static inline void dw_rows512_3x3s1_walk(const int PARTIAL, const float *x, long H, long W, const float *w, long ph, long Ho,
                                         float scale, float shift, const float *res, int relu, int clamp, float lo, float hi,
                                         float *y) {
    const __m512 vs = _mm512_set1_ps(scale), vt = _mm512_set1_ps(shift), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    const __m512 z = _mm512_setzero_ps();
    __m512 wv[9];
    for (int t = 0; t < 9; t++) wv[t] = _mm512_set1_ps(w[t]);
    for (long oh = 0; oh < Ho; oh += 2) {
        const int two = oh + 1 < Ho;
        const float *r[4];
        __m512 prev[4], cur[4];
        for (int k = 0; k < 4; k++) {
            long ih = oh - ph + k;
            r[k] = ih >= 0 && ih < H && (k < 3 || two) ? x + ih * W : 0;
            prev[k] = z;
            cur[k] = r[k] ? _mm512_loadu_ps(r[k]) : z;
        }
        for (long c = 0; c < W; c += 16) {
            // the next vector: whole, partial (the row's last columns) or past the row
            const long left = W - c - 16;
            const __mmask16 m = PARTIAL ? lanes16(left) : 0xFFFF;
            // even and odd input rows into separate sums: two chains of multiply-adds per output
            // row instead of one nine long
            __m512 a0 = z, a1 = z, b0 = z, b1 = z;
            for (int k = 0; k < 4; k++) {
                if (!r[k]) continue;
                __m512 next = left >= 16 ? _mm512_loadu_ps(r[k] + c + 16)
                              : PARTIAL && left > 0 ? _mm512_maskz_loadu_ps(m, r[k] + c + 16) : z;
                __m512 v0 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(cur[k]), _mm512_castps_si512(prev[k]), 15));
                __m512 v2 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(next), _mm512_castps_si512(cur[k]), 1));
                if (k & 1) dw_pair_row_taps(k, 1, v0, cur[k], v2, wv, &b0, &b1);
                else dw_pair_row_taps(k, 1, v0, cur[k], v2, wv, &a0, &a1);
                prev[k] = cur[k];
                cur[k] = next;
            }
            a0 = _mm512_add_ps(a0, b0);
            a1 = _mm512_add_ps(a1, b1);
            const __mmask16 keep = PARTIAL ? lanes16(W - c) : 0xFFFF;
            long o = oh * W + c;
            epilogue_store512(a0, keep, vs, vt, res ? res + o : 0, relu, clamp, vlo, vhi, y + o);
            if (two) epilogue_store512(a1, keep, vs, vt, res ? res + o + W : 0, relu, clamp, vlo, vhi, y + o + W);
        }
    }
}

__attribute__((target("avx512f,fma")))
static void dw_rows512_3x3s1_walked(const float *x, long H, long W, const float *w, long ph, long pw, long Ho, long Wo,
                                    float scale, float shift, const float *res, int relu, int clamp, float lo, float hi, float *y) {
    (void)pw; (void)Wo;   /* one column of padding: Wo = W */
    if (W % 16 == 0 && W >= 16) dw_rows512_3x3s1_walk(0, x, H, W, w, ph, Ho, scale, shift, res, relu, clamp, lo, hi, y);
    else dw_rows512_3x3s1_walk(1, x, H, W, w, ph, Ho, scale, shift, res, relu, clamp, lo, hi, y);
}

// Stride 2 with one column of padding: the same pairs of output rows, each row walked chunk by
// chunk. A chunk's 32 input columns are two loads (aligned where the rows are: an unaligned
// 512-bit load runs at half the rate), whose even and odd columns are taps 1 and 2; tap 0
// (columns 2·ow − 1) is the odd vector shifted up a lane, the lane shifted in being the previous
// chunk's last odd column (the padding zero at the row's start).
__attribute__((target("avx512f,fma")))
static void dw_rows512_3x3s2_walked(const float *x, long H, long W, const float *w, long ph, long pw, long Ho, long Wo,
                                    float scale, float shift, const float *res, int relu, int clamp, float lo, float hi, float *y) {
    (void)pw;             /* one column of padding */
    const __m512 vs = _mm512_set1_ps(scale), vt = _mm512_set1_ps(shift), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    __m512 wv[9];
    for (int t = 0; t < 9; t++) wv[t] = _mm512_set1_ps(w[t]);
    for (long oh = 0; oh < Ho; oh += 2) {
        const int two = oh + 1 < Ho;
        const float *r[5];
        for (int k = 0; k < 5; k++) {
            long ih = 2 * oh - ph + k;
            r[k] = ih >= 0 && ih < H && (k < 3 || two) ? x + ih * W : 0;
        }
        __m512 prev[5];
        for (int k = 0; k < 5; k++) prev[k] = _mm512_setzero_ps();
        for (long ow0 = 0; ow0 < Wo; ow0 += 16) {
            const long c = 2 * ow0;
            const __mmask16 m0 = lanes16(W - c), m1 = lanes16(W - c - 16);
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, b0 = a0, b1 = a0;   /* even, odd input rows (as at stride 1) */
            for (int k = 0; k < 5; k++) {
                if (!r[k]) continue;
                const float *src = r[k] + c;
                __m512 l0 = m0 == 0xFFFF ? _mm512_loadu_ps(src) : _mm512_maskz_loadu_ps(m0, src);
                __m512 l1 = m1 == 0xFFFF ? _mm512_loadu_ps(src + 16) : _mm512_maskz_loadu_ps(m1, src + 16);
                __m512 v1 = _mm512_permutex2var_ps(l0, even, l1), v2 = _mm512_permutex2var_ps(l0, odd, l1);
                __m512 v0 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(v2), _mm512_castps_si512(prev[k]), 15));
                prev[k] = v2;
                if (k & 1) dw_pair_row_taps(k, 2, v0, v1, v2, wv, &b0, &b1);
                else dw_pair_row_taps(k, 2, v0, v1, v2, wv, &a0, &a1);
            }
            a0 = _mm512_add_ps(a0, b0);
            a1 = _mm512_add_ps(a1, b1);
            const __mmask16 keep = lanes16(Wo - ow0);
            long o = oh * Wo + ow0;
            epilogue_store512(a0, keep, vs, vt, res ? res + o : 0, relu, clamp, vlo, vhi, y + o);
            if (two) epilogue_store512(a1, keep, vs, vt, res ? res + o + Wo : 0, relu, clamp, vlo, vhi, y + o + Wo);
        }
    }
}

__attribute__((target("avx512f,fma")))
static void dw_rows512_3x3s2(const float *x, long H, long W, const float *w, long ph, long pw, long Ho, long Wo, float scale,
                             float shift, const float *res, int relu, int clamp, float lo, float hi, float *y) {
    dw_rows512_3x3(2, x, H, W, w, ph, pw, Ho, Wo, scale, shift, res, relu, clamp, lo, hi, y);
}
#endif

#if defined(__x86_64__)
// Small 3×3 maps with padding 1, read where they lie: no transposed tile, no padded copy.
//
// Stride 1 flattens the plane: vector v holds outputs 16v … 16v + 15 in row-major order, and tap
// (i, j) reads the inputs at the same positions shifted by (i − 1)·W + j − 1. A lane whose tap
// falls off the map (above the first row, below the last, left of a row's first column or right of
// its last) is masked out of the multiply-add. The masks depend only on the map's shape and are
// made once per call. Plain loads may read into the neighbouring planes, whose values the masks
// discard; the buffer's first plane and the range's last load through the masks instead, so no
// load reaches outside the tensor.
//
// Stride 2 (even sides) computes an output row from columns 2·ow − 1, 2·ow, 2·ow + 1 of three
// input rows: per input row, two loads and three permutes pick those columns into the lanes. Rows
// of at most 8 outputs go two to a vector (rows oh and oh + 1 from input rows 2 apart).
typedef struct {
    long H, W, nv;
    uint16_t m[128][9];      /* stride 1, per vector and tap: the lanes whose input is on the map */
    uint16_t left[128], right[128];   /* per vector: the lanes with a column left of them, right of them */
    long inner0, inner1;     /* vectors [inner0, inner1): every lane on the map, with a row above and below */
    int32_t lane[3][16];     /* stride 2, per tap column j: each lane's source lane of the two loads (see dw_small512_s2) */
    uint16_t inside[3];      /* stride 2: the lanes whose column 2·ow + j − 1 is on the map */
} dw_small_masks;

// Whether the small-map kernels take a layer: a 3×3 kernel, padding 1, whole planes back to back
// (not a band of rows), narrower than the in-place rows' 48; at stride 1 at most 2,048 pixels,
// at stride 2 at most 32 wide.
static int dw_small_takes(long H, long W, long kh, long kw, long s, long ph, long pw, long xPlane, long Ho, long Wo) {
    if (kh != 3 || kw != 3 || ph != 1 || pw != 1 || xPlane != H * W || W >= 48 || H < 2 || W < 2) return 0;
    if (Ho != (H - 1) / s + 1 || Wo != (W - 1) / s + 1) return 0;
    if (s == 1) {
        long nv = (H * W + 15) / 16;
        // a plain load reaches at most 16·nv − H·W + W + 15 past the plane: within the next one
        return nv <= 128 && 16 * nv - H * W + W + 15 <= H * W;
    }
    // a plain load reaches at most 16 − W (paired rows) or 32 − W floats past a plane's last row
    return s == 2 && W <= 32 && (W <= 16 ? 16 : 32) - W <= H * W;
}

static void dw_small_masks_make(long H, long W, long stride, dw_small_masks *F) {
    const long plane = H * W;
    if (stride == 2) {
        // lane l: output column ow = l (or l − Wo, the second row of a pair), from source lane
        // 2·ow + j − 1 (+ 16: the second source). Columns −1 and W are padding: tap j's permute zeroes them.
        const long Wo = (W + 1) / 2, pairs = Wo <= 8;
        F->H = H; F->W = W;
        for (int j = 0; j < 3; j++) {
            unsigned m = 0;
            for (int l = 0; l < 16; l++) {
                long ow = pairs && l >= Wo ? l - Wo : l, base = pairs && l >= Wo ? 16 : 0, c = 2 * ow + j - 1;
                int on = c >= 0 && c < W;
                F->lane[j][l] = (int32_t)(on ? (base + c) & 31 : 0);
                if (on) m |= 1u << l;
            }
            F->inside[j] = (uint16_t)m;
        }
        return;
    }
    F->H = H; F->W = W; F->nv = (plane + 15) / 16;
    uint16_t on[128], left[128], right[128], up[128], down[128];   /* per vector: lane on the map, has a neighbour left, … */
    for (long v = 0; v < F->nv; v++) {
        long n = plane - 16 * v;
        on[v] = n >= 16 ? 0xFFFF : (uint16_t)((1u << n) - 1);
        left[v] = right[v] = up[v] = down[v] = on[v];
    }
    for (long r = 0; r < H; r++) {
        long first = r * W, last = r * W + W - 1;
        left[first >> 4] &= (uint16_t)~(1u << (first & 15));
        right[last >> 4] &= (uint16_t)~(1u << (last & 15));
    }
    for (long q = 0; q < W; q++) {
        up[q >> 4] &= (uint16_t)~(1u << (q & 15));
        long b = plane - W + q;
        down[b >> 4] &= (uint16_t)~(1u << (b & 15));
    }
    F->inner0 = (W + 15) / 16;
    F->inner1 = (plane - W) / 16 >= F->inner0 + 2 ? (plane - W) / 16 : F->inner0;   /* one is not worth a loop */
    for (long v = 0; v < F->nv; v++) {
        F->left[v] = left[v];
        F->right[v] = right[v];
        const uint16_t rows[3] = { up[v], on[v], down[v] }, cols[3] = { left[v], on[v], right[v] };
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) F->m[v][i * 3 + j] = rows[i] & cols[j];
    }
}

// EDGE: every load through its mask (the buffer's first plane, the range's last). INNER: the plane
// has inner vectors (a loop of their own; a separate copy keeps 7×7 planes' code as it was).
__attribute__((target("avx512f,fma"), always_inline))
static inline void dw_small512_s1(const int EDGE, const int INNER, const dw_small_masks *F, const float *x, const float *w, __m512 vs, __m512 vt,
                                  const float *res, int relu, int clamp, __m512 vlo, __m512 vhi, float *y) {
    const long W = F->W, plane = F->H * W;
    const long off[9] = { -W - 1, -W, -W + 1, -1, 0, 1, W - 1, W, W + 1 };
    __m512 wv[9];
    for (int t = 0; t < 9; t++) wv[t] = _mm512_set1_ps(w[t]);
    if (EDGE) {
        for (long v = 0; v < F->nv; v++) {
            const float *src = x + 16 * v;
            __m512 r[3];
            for (int i = 0; i < 3; i++) {
                __m512 a = _mm512_setzero_ps();
                for (int j = 0; j < 3; j++) {
                    int t = i * 3 + j;
                    a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(F->m[v][t], src + off[t]), wv[t], a);
                }
                r[i] = a;
            }
            __m512 a = _mm512_add_ps(_mm512_add_ps(r[0], r[1]), r[2]);
            epilogue_store512(a, lanes16(plane - 16 * v), vs, vt, res ? res + 16 * v : 0, relu, clamp, vlo, vhi, y + 16 * v);
        }
        return;
    }
    // plain loads: per kernel row one load of the 16 inputs from column −1, carried to the next
    // vector as its predecessor; columns 0 and +1 are that pair shifted one and two lanes (an
    // unaligned 512-bit load runs at half the rate, a lane shift at two a cycle). The inner vectors'
    // taps leave the map only left of a row's first column or right of its last, so two masks serve
    // all nine taps (the table's nine mask loads a vector cost a third of the time).
    __m512 u[3];
    for (int i = 0; i < 3; i++) u[i] = _mm512_loadu_ps(x + off[i * 3]);
    __mmask16 kl = 0, kr = 0;
#define DW_S1_VECTOR(TWO_MASKS)                                                                                         \
    do {                                                                                                                \
        const float *src = x + 16 * v;                                                                                  \
        __m512 r[3];                                                                                                    \
        for (int i = 0; i < 3; i++) {                                                                                   \
            __m512 a = _mm512_setzero_ps(), next = _mm512_loadu_ps(src + 16 + off[i * 3]);                              \
            __m512 c1 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(next), _mm512_castps_si512(u[i]), 1)); \
            __m512 c2 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(next), _mm512_castps_si512(u[i]), 2)); \
            if (TWO_MASKS) {                                                                                            \
                a = _mm512_mask3_fmadd_ps(u[i], wv[i * 3], a, kl);                                                      \
                a = _mm512_fmadd_ps(c1, wv[i * 3 + 1], a);                                                              \
                a = _mm512_mask3_fmadd_ps(c2, wv[i * 3 + 2], a, kr);                                                    \
            } else {                                                                                                    \
                a = _mm512_mask3_fmadd_ps(u[i], wv[i * 3], a, F->m[v][i * 3]);                                          \
                a = _mm512_mask3_fmadd_ps(c1, wv[i * 3 + 1], a, F->m[v][i * 3 + 1]);                                    \
                a = _mm512_mask3_fmadd_ps(c2, wv[i * 3 + 2], a, F->m[v][i * 3 + 2]);                                    \
            }                                                                                                           \
            u[i] = next;                                                                                                \
            r[i] = a;                                                                                                   \
        }                                                                                                               \
        __m512 a = _mm512_add_ps(_mm512_add_ps(r[0], r[1]), r[2]);                                                      \
        epilogue_store512(a, lanes16(plane - 16 * v), vs, vt, res ? res + 16 * v : 0, relu, clamp, vlo, vhi, y + 16 * v); \
    } while (0)
    long v = 0;
    if (INNER) {
        for (; v < F->inner0; v++) DW_S1_VECTOR(0);
        for (; v < F->inner1; v++) {
            kl = F->left[v];
            kr = F->right[v];
            DW_S1_VECTOR(1);
        }
    }
    for (; v < F->nv; v++) DW_S1_VECTOR(0);
#undef DW_S1_VECTOR
}

__attribute__((target("avx512f,fma"), always_inline))
static inline void dw_small512_s2(const int EDGE, const dw_small_masks *F, const float *x, const float *w, __m512 vs, __m512 vt,
                                  const float *res, int relu, int clamp, __m512 vlo, __m512 vhi, float *y) {
    const long H = F->H, W = F->W, Ho = (H + 1) / 2, Wo = (W + 1) / 2, pairs = Wo <= 8;
    // the lane tables come made (per call, not per plane: making them cost 7×7 planes a third of their time)
    const __m512i idx[3] = { _mm512_loadu_si512(F->lane[0]), _mm512_loadu_si512(F->lane[1]), _mm512_loadu_si512(F->lane[2]) };
    const __mmask16 inside[3] = { F->inside[0], F->inside[1], F->inside[2] };
    __m512 wv[9];
    for (int t = 0; t < 9; t++) wv[t] = _mm512_set1_ps(w[t]);
    const __mmask16 first = lanes16(pairs ? W : 16), second = lanes16(pairs ? W : W - 16);
    // ROWS: whether rows off the map (−1 at the top, H at the bottom of an odd map) may be read;
    // only the first and last vectors, so the rest go without the checks
#define DW_S2_VECTOR(ROWS)                                                                                        \
    do {                                                                                                          \
        __m512 a = _mm512_setzero_ps();                                                                           \
        for (int i = 0; i < 3; i++) {                                                                             \
            const long ih = 2 * oh + i - 1, ih1 = pairs ? ih + 2 : ih;                                            \
            const float *s0 = x + ih * W, *s1 = pairs ? s0 + 2 * W : s0 + 16;                                     \
            __m512 l0 = _mm512_setzero_ps(), l1 = l0;                                                             \
            if (!ROWS || (ih >= 0 && ih < H)) l0 = EDGE ? _mm512_maskz_loadu_ps(first, s0) : _mm512_loadu_ps(s0); \
            if ((rows == 2 || !pairs) && (!ROWS || (ih1 >= 0 && ih1 < H)))                                        \
                l1 = EDGE ? _mm512_maskz_loadu_ps(second, s1) : _mm512_loadu_ps(s1);                              \
            for (int j = 0; j < 3; j++)                                                                           \
                a = _mm512_fmadd_ps(_mm512_maskz_permutex2var_ps(inside[j], l0, idx[j], l1), wv[i * 3 + j], a);  \
        }                                                                                                         \
        epilogue_store512(a, lanes16(rows * Wo), vs, vt, res ? res + oh * Wo : 0, relu, clamp, vlo, vhi, y + oh * Wo); \
    } while (0)
    // sources per kernel row i: input row ih = 2·oh + i − 1 (columns 0–15) and, paired, row ih + 2
    // (the next output row's); unpaired, row ih's columns 16–31
    for (long oh = 0; oh < Ho; oh += pairs ? 2 : 1) {
        const long rows = pairs && oh + 1 < Ho ? 2 : 1;
        if (oh == 0 || 2 * (oh + rows) > H) DW_S2_VECTOR(1);
        else DW_S2_VECTOR(0);
    }
#undef DW_S2_VECTOR
}

// Planes p0 … p1 − 1 (channel p mod C): the loop over planes in here, with the epilogue's constants
// made once, so a 7×7 plane's four vectors do not also pay for a call.
__attribute__((target("avx512f,fma")))
static void dw_small512(const dw_small_masks *F, long s, const float *x, long xPlane, long p0, long p1, long C, const float *w,
                        const ck_epilogue *ep, float *y, long yPlane) {
    const int relu = ep ? ep->relu : 0, clamp = ep ? ep->clamp : 0;
    const __m512 vlo = _mm512_set1_ps(ep ? ep->lo : 0), vhi = _mm512_set1_ps(ep ? ep->hi : 0);
    for (long p = p0; p < p1; p++) {
        const long c = p % C;
        const int edge = p == 0 || p + 1 == p1;
        const __m512 vs = _mm512_set1_ps(ep && ep->scale ? ep->scale[c] : 1.0f), vt = _mm512_set1_ps(ep && ep->shift ? ep->shift[c] : 0.0f);
        const float *xp = x + p * xPlane, *wp = w + c * 9, *res = ep && ep->residual ? ep->residual + p * yPlane : 0;
        float *yp = y + p * yPlane;
        if (s == 1) {
            if (edge) dw_small512_s1(1, 0, F, xp, wp, vs, vt, res, relu, clamp, vlo, vhi, yp);
            else if (F->inner1 > F->inner0) dw_small512_s1(0, 1, F, xp, wp, vs, vt, res, relu, clamp, vlo, vhi, yp);
            else dw_small512_s1(0, 0, F, xp, wp, vs, vt, res, relu, clamp, vlo, vhi, yp);
        } else {
            if (edge) dw_small512_s2(1, F, xp, wp, vs, vt, res, relu, clamp, vlo, vhi, yp);
            else dw_small512_s2(0, F, xp, wp, vs, vt, res, relu, clamp, vlo, vhi, yp);
        }
    }
}

#endif

#if defined(__x86_64__)
// Floats of a plane's padded phases, tap offsets (longs) and keep table at the start of the scratch.
static long dw_tables_size(const phase_geometry *g, long kh, long kw) {
    return g->s * g->s * g->stride + 2 * kh * kw + g->Wq / 2 + 32;
}
#endif


#if defined(__x86_64__)
// The AVX2 form of the padded-plane kernel: each plane (or band of rows) copied into its padded
// phases (aligned rows), then every output row 16 pixels at a time, the kh·kw taps accumulated in
// two registers from contiguous loads, the epilogue on the stores. 3×3 keeps its nine weights in
// registers.
static const int32_t dw_lanes[16] = { -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0 };

__attribute__((target("avx2,fma"), always_inline))
static inline void dw_store256(__m256 v, long n, __m256 vs, __m256 vt, const float *res, int relu, int clamp, __m256 vlo,
                               __m256 vhi, float *dst) {
    if (n <= 0) return;
    __m256i m = _mm256_loadu_si256((const __m256i *)(dw_lanes + 8 - (n >= 8 ? 8 : n)));
    v = _mm256_fmadd_ps(v, vs, vt);
    if (res) v = _mm256_add_ps(v, n >= 8 ? _mm256_loadu_ps(res) : _mm256_maskload_ps(res, m));
    if (relu) v = _mm256_max_ps(v, _mm256_setzero_ps());
    // max(lo, v), min(hi, ·): the second operand is returned for NaN, so NaN stays NaN
    if (clamp) v = _mm256_min_ps(vhi, _mm256_max_ps(vlo, v));
    if (n >= 8) _mm256_storeu_ps(dst, v); else _mm256_maskstore_ps(dst, m, v);
}

__attribute__((target("avx2,fma"), always_inline))
static inline void dw_plane256_body(const phase_geometry *g, const long *off, const int TAPS9, long taps, const float *w,
                                    long Ho, long Wo, const ck_epilogue *ep, long c, const float *res, float *y,
                                    const float *phases) {
    const __m256 vs = _mm256_set1_ps(ep && ep->scale ? ep->scale[c] : 1.0f), vt = _mm256_set1_ps(ep && ep->shift ? ep->shift[c] : 0.0f);
    const __m256 vlo = _mm256_set1_ps(ep ? ep->lo : 0), vhi = _mm256_set1_ps(ep ? ep->hi : 0);
    const int relu = ep ? ep->relu : 0, clamp = ep ? ep->clamp : 0;
    __m256 w0 = _mm256_setzero_ps(), w1 = w0, w2 = w0, w3 = w0, w4 = w0, w5 = w0, w6 = w0, w7 = w0, w8 = w0;
    long o0 = 0, o1 = 0, o2 = 0, o3 = 0, o4 = 0, o5 = 0, o6 = 0, o7 = 0, o8 = 0;
    if (TAPS9) {
        w0 = _mm256_set1_ps(w[0]); w1 = _mm256_set1_ps(w[1]); w2 = _mm256_set1_ps(w[2]);
        w3 = _mm256_set1_ps(w[3]); w4 = _mm256_set1_ps(w[4]); w5 = _mm256_set1_ps(w[5]);
        w6 = _mm256_set1_ps(w[6]); w7 = _mm256_set1_ps(w[7]); w8 = _mm256_set1_ps(w[8]);
        o0 = off[0]; o1 = off[1]; o2 = off[2]; o3 = off[3]; o4 = off[4]; o5 = off[5]; o6 = off[6]; o7 = off[7]; o8 = off[8];
    }
    for (long oh = 0; oh < Ho; oh++) {
        const float *row = phases + oh * g->Wq;
        float *yr = y + oh * Wo;
        const float *rr = res ? res + oh * Wo : 0;
        for (long ow = 0; ow < Wo; ow += 16) {
            const float *q = row + ow;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0;
            if (TAPS9) {
#define DW_TAP(k) a0 = _mm256_fmadd_ps(w##k, _mm256_loadu_ps(q + o##k), a0); a1 = _mm256_fmadd_ps(w##k, _mm256_loadu_ps(q + o##k + 8), a1);
                DW_TAP(0) DW_TAP(1) DW_TAP(2) DW_TAP(3) DW_TAP(4) DW_TAP(5) DW_TAP(6) DW_TAP(7) DW_TAP(8)
#undef DW_TAP
            } else {
                for (long t = 0; t < taps; t++) {
                    __m256 wt = _mm256_broadcast_ss(w + t);
                    a0 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(q + off[t]), a0);
                    a1 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(q + off[t] + 8), a1);
                }
            }
            dw_store256(a0, Wo - ow, vs, vt, rr ? rr + ow : 0, relu, clamp, vlo, vhi, yr + ow);
            dw_store256(a1, Wo - ow - 8, vs, vt, rr ? rr + ow + 8 : 0, relu, clamp, vlo, vhi, yr + ow + 8);
        }
    }
}

__attribute__((target("avx2,fma")))
static void dw_planes256(const float *x, long xPlane, long p0, long p1, long C, long H, long W, const float *w, long kh, long kw,
                         long s, long ph, long pw, long Ho, long Wo, const ck_epilogue *ep, float *y, long yPlane, float *scratch) {
    phase_geometry g = phase_geometry_make(H, W, kw, ph, pw, s, 1);
    phase_geometry_cover(&g, (Ho - 1) * s + kh, kw);
    long *off = (long *)(scratch + s * s * g.stride), taps = kh * kw;
    phase_tap_offsets(&g, 1, kh, kw, off);
    for (long p = p0; p < p1; p++) {
        long c = p % C;
        phases256_rows(&g, x + p * xPlane, scratch, 0, s * g.Hq);
        const float *res = ep && ep->residual ? ep->residual + p * yPlane : 0;
        if (taps == 9) dw_plane256_body(&g, off, 1, 9, w + c * taps, Ho, Wo, ep, c, res, y + p * yPlane, scratch);
        else dw_plane256_body(&g, off, 0, taps, w + c * taps, Ho, Wo, ep, c, res, y + p * yPlane, scratch);
    }
}
#endif

int ck_conv_depthwise_padded_available(void) {
#if defined(__x86_64__)
    return ck_gemm_isa() >= 1;
#else
    return 0;
#endif
}

long ck_conv_depthwise_padded_scratch(long H, long W, long kh, long kw, long ph, long pw, long s, long Wo) {
#if defined(__x86_64__)
    if (ck_gemm_isa() == 1) {
        phase_geometry g = phase_geometry_make(H, W, kw, ph, pw, s, 1);
        return s * s * g.stride + 2 * kh * kw + 16;
    }
    // row mode (outputs ≥ 12 wide) walks aligned rows; flattened mode computes across exact rows
    phase_geometry g = phase_geometry_make(H, W, kw, ph, pw, s, Wo >= 12);
    return dw_tables_size(&g, kh, kw);
#else
    (void)H; (void)W; (void)kh; (void)kw; (void)ph; (void)pw; (void)s; (void)Wo;
    return 1;
#endif
}

void ck_conv_depthwise_padded(const float *x, long xPlane, long p0, long p1, long C, long H, long W, const float *w, long kh,
                              long kw, long s, long ph, long pw, long Ho, long Wo, const ck_epilogue *ep, float *y, long yPlane,
                              float *scratch) {
#if defined(__x86_64__)
    if (ck_gemm_isa() == 1) {
        dw_planes256(x, xPlane, p0, p1, C, H, W, w, kh, kw, s, ph, pw, Ho, Wo, ep, y, yPlane, scratch);
        return;
    }
    if (dw_small_takes(H, W, kh, kw, s, ph, pw, xPlane, Ho, Wo)) {
        dw_small_masks F;
        dw_small_masks_make(H, W, s, &F);
        dw_small512(&F, s, x, xPlane, p0, p1, C, w, ep, y, yPlane);
        return;
    }
    // 3×3 planes at least 48 wide are read in place (narrower rows are mostly edge chunks, whose
    // masked loads stall on data not yet in cache), with no tables to make: with one column of
    // padding each row is walked loading every vector once, otherwise four output rows at a time
    if (kh == 3 && kw == 3 && W >= 48) {
        void (*rows)(const float *, long, long, const float *, long, long, long, long, float, float, const float *, int, int,
                     float, float, float *) = pw == 1 ? (s == 1 ? dw_rows512_3x3s1_walked : dw_rows512_3x3s2_walked)
                                                      : (s == 1 ? dw_rows512_3x3s1 : dw_rows512_3x3s2);
        for (long p = p0; p < p1; p++) {
            long c = p % C;
            rows(x + p * xPlane, H, W, w + c * kh * kw, ph, pw, Ho, Wo, ep && ep->scale ? ep->scale[c] : 1.0f,
                 ep && ep->shift ? ep->shift[c] : 0.0f, ep && ep->residual ? ep->residual + p * yPlane : 0,
                 ep ? ep->relu : 0, ep ? ep->clamp : 0, ep ? ep->lo : 0, ep ? ep->hi : 0, y + p * yPlane);
        }
        return;
    }
    dw_plan P = { phase_geometry_make(H, W, kw, ph, pw, s, Wo >= 12), kh, kw, Ho, Wo, kh * kw, 0, 0 };
    phase_geometry_cover(&P.g, (Ho - 1) * s + kh, kw);
    long *off = (long *)(scratch + s * s * P.g.stride);
    uint16_t *keep = (uint16_t *)(off + P.taps);
    phase_tap_offsets(&P.g, 1, kh, kw, off);
    for (long c0 = 0; c0 < P.g.Wq; c0++) {
        unsigned m = 0;
        for (long l = 0, c = c0; l < 16; l++, c = c + 1 == P.g.Wq ? 0 : c + 1) if (c < Wo) m |= 1u << l;
        keep[c0] = (uint16_t)m;
    }
    P.off = off; P.keep = keep;
    void (*plane)(const dw_plan *, const float *, const float *, float, float, const float *, int, int, float, float, float *,
                  float *) = kh == 3 && kw == 3 ? (s == 1 ? dw_plane512_3x3s1 : dw_plane512_3x3s2) : dw_plane512_any;
    for (long p = p0; p < p1; p++) {
        long c = p % C;
        plane(&P, x + p * xPlane, w + c * kh * kw, ep && ep->scale ? ep->scale[c] : 1.0f, ep && ep->shift ? ep->shift[c] : 0.0f,
              ep && ep->residual ? ep->residual + p * yPlane : 0, ep ? ep->relu : 0, ep ? ep->clamp : 0,
              ep ? ep->lo : 0, ep ? ep->hi : 0, y + p * yPlane, scratch);
    }
#else
    (void)x; (void)xPlane; (void)p0; (void)p1; (void)C; (void)H; (void)W; (void)w; (void)kh; (void)kw; (void)s; (void)ph; (void)pw;
    (void)Ho; (void)Wo; (void)ep; (void)y; (void)yPlane; (void)scratch;
#endif
}
