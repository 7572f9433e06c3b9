// Padded, phase-split copies of image planes, shared by the AVX-512 kernels that read a
// convolution's input in place (depthwise, and the implicit GEMM of few-channel layers).
//
// A plane, padded (stride 2: split into its four phases, even/odd rows × even/odd columns), is
// copied with rows Wq long: output (oh, ow) of a stride-s layer then reads tap (i, j) from phase
// (i mod s, j mod s) at (oh + ⌊i/s⌋)·Wq + ow + ⌊j/s⌋, so every tap of 16 neighbouring outputs is
// one contiguous run with no bounds checks.
#ifndef CONV_PHASES_H
#define CONV_PHASES_H
#include "ckernels.h"
#include <immintrin.h>
#include <string.h>

typedef struct {
    long s, ph, pw, H, W;
    long Hq, Wq;              /* a phase's rows and row length */
    long stride;              /* floats from one phase to the next (with slack for the last vectors) */
} phase_geometry;

// `aligned`: rows rounded up to whole vectors, so every row starts on a 64-byte boundary (for
// kernels that walk rows); otherwise rows are exact (for kernels that compute across them).
static inline phase_geometry phase_geometry_make(long H, long W, long kw, long ph, long pw, long s, int aligned) {
    phase_geometry g = { s, ph, pw, H, W, 0, 0, 0 };
    g.Hq = s == 1 ? H + 2 * ph : (H + 2 * ph + 1) / 2;
    g.Wq = s == 1 ? W + 2 * pw : (W + 2 * pw + 1) / 2;
    if (aligned) g.Wq = (g.Wq + 15) / 16 * 16;
    g.stride = (g.Hq * g.Wq + 80 + kw + 15) / 16 * 16;
    return g;
}

// Makes the phases hold `rows` padded input rows when the outputs read more than H + 2·ph: a band of
// a map's last rows is given its real rows and top padding, and its outputs read the padding below
// (rows past H are zeros).
static inline void phase_geometry_cover(phase_geometry *g, long rows, long kw) {
    long hq = g->s == 1 ? rows : (rows + 1) / 2;
    if (hq <= g->Hq) return;
    g->Hq = hq;
    g->stride = (g->Hq * g->Wq + 80 + kw + 15) / 16 * 16;
}

// Where tap (c, i, j) of a kh×kw kernel reads, relative to its output's position o = oh·Wq + ow:
// phase (i mod s, j mod s) of channel c (each channel's s² phases laid one after another), row
// ⌊i/s⌋, column ⌊j/s⌋. off[t] for t = (c·kh + i)·kw + j over C channels.
static inline void phase_tap_offsets(const phase_geometry *g, long C, long kh, long kw, long *off) {
    long s = g->s;
    for (long t = 0; t < C * kh * kw; t++) {
        long c = t / (kh * kw), i = t / kw % kh, j = t % kw;
        off[t] = (c * s * s + (i % s) * s + j % s) * g->stride + (i / s) * g->Wq + j / s;
    }
}

static inline __mmask16 lanes16(long n) { return n >= 16 ? (__mmask16)0xFFFF : (n <= 0 ? 0 : (__mmask16)((1u << n) - 1)); }

// The copies store whole vectors and mask only a row's last one: a masked store costs more than a
// plain one.

// dst[0..<n] = src[0..<n]. `overread`: src has at least 16 readable floats past n, so the tail
// loads a whole vector (see deinterleave512).
__attribute__((target("avx512f")))
static inline void copy512(float *dst, const float *src, long n, int overread) {
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_loadu_ps(src + i));
    if (i < n)
        _mm512_mask_storeu_ps(dst + i, lanes16(n - i), overread ? _mm512_loadu_ps(src + i) : _mm512_maskz_loadu_ps(lanes16(n - i), src + i));
}

// dst[0..<n] = 0, and possibly up to 15 floats past n (the caller's slack or its next row).
__attribute__((target("avx512f")))
static inline void zero512(float *dst, long n) {
    for (long i = 0; i < n; i += 16) _mm512_storeu_ps(dst + i, _mm512_setzero_ps());
}

// The even (ev) and odd (od) elements of x[0..<n], deinterleaved 32 at a time. `overread`: x has
// at least 32 readable floats past n, so the tail loads whole vectors (masked loads of rows not in
// cache stalled the weight gradient's phase copies).
__attribute__((target("avx512f")))
static void deinterleave512(const float *x, long n, float *ev, float *od, int overread) {
    const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    long i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
        _mm512_storeu_ps(ev + i / 2, _mm512_permutex2var_ps(a, ie, b));
        _mm512_storeu_ps(od + i / 2, _mm512_permutex2var_ps(a, io, b));
    }
    if (i < n) {
        long m = n - i;
        __m512 a, b;
        if (overread) { a = _mm512_loadu_ps(x + i); b = _mm512_loadu_ps(x + i + 16); }
        else { a = _mm512_maskz_loadu_ps(lanes16(m), x + i); b = _mm512_maskz_loadu_ps(lanes16(m - 16), x + i + 16); }
        _mm512_mask_storeu_ps(ev + i / 2, lanes16((m + 1) / 2), _mm512_permutex2var_ps(a, ie, b));
        _mm512_mask_storeu_ps(od + i / 2, lanes16(m / 2), _mm512_permutex2var_ps(a, io, b));
    }
}

// Plane x [H×W] → its padded phases (each Hq·Wq floats, zeros outside the map, then slack).
__attribute__((target("avx512f")))
static void phases512_rows(const phase_geometry *P, const float *x, float *phases, long r0, long r1) {
    long s = P->s, Wq = P->Wq, W = P->W, pw = P->pw;
    for (long r = r0; r < r1; r++) {
        long ih = r - P->ph;
        float *row0 = phases + (r % s) * s * P->stride + (r / s) * Wq;   // phase (r mod s, 0); (·, 1) a stride on
        if (ih < 0 || ih >= P->H) {
            for (long b = 0; b < s; b++) zero512(row0 + b * P->stride, Wq);
            continue;
        }
        const float *src = x + ih * W;
        // zeros first (whole vectors, spilling into the next row, written later), then the data
        for (long b = 0; b < s; b++) zero512(row0 + b * P->stride, Wq);
        if (s == 1) {
            copy512(row0 + pw, src, W, (P->H - 1 - ih) * W >= 16);
        } else {
            // column iw sits at padded column iw + pw: phase (iw + pw) mod 2, index ⌊(iw + pw)/2⌋
            deinterleave512(src, W, row0 + (pw & 1) * P->stride + (pw >> 1), row0 + ((pw + 1) & 1) * P->stride + ((pw + 1) >> 1),
                            (P->H - 1 - ih) * W >= 32);
        }
    }
    // the slack the last vectors read past a phase feeds only junk lanes; zeros keep them cheap
    if (r1 == s * P->Hq)
        for (long q = 0; q < s * s; q++) zero512(phases + q * P->stride + P->Hq * Wq, P->stride - P->Hq * Wq - 16);
}


// The AVX2 form of phases512_rows (8 lanes; the zero fills and copies write whole vectors too).
__attribute__((target("avx2")))
static void phases256_rows(const phase_geometry *P, const float *x, float *phases, long r0, long r1) {
    long s = P->s, Wq = P->Wq, W = P->W, pw = P->pw;
    const __m256 z = _mm256_setzero_ps();
    for (long r = r0; r < r1; r++) {
        long ih = r - P->ph;
        float *row0 = phases + (r % s) * s * P->stride + (r / s) * Wq;
        for (long b = 0; b < s; b++)
            for (long i = 0; i < Wq; i += 8) _mm256_storeu_ps(row0 + b * P->stride + i, z);
        if (ih < 0 || ih >= P->H) continue;
        const float *src = x + ih * W;
        if (s == 1) {
            memcpy(row0 + pw, src, (size_t)W * sizeof(float));
        } else {
            float *ev = row0 + (pw & 1) * P->stride + (pw >> 1), *od = row0 + ((pw + 1) & 1) * P->stride + ((pw + 1) >> 1);
            long i = 0;
            for (; i + 16 <= W; i += 16) {
                __m256 a = _mm256_loadu_ps(src + i), b = _mm256_loadu_ps(src + i + 8);
                __m256 e = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
                __m256 o = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
                _mm256_storeu_ps(ev + i / 2, e);
                _mm256_storeu_ps(od + i / 2, o);
            }
            for (; i < W; i++) (i % 2 ? od : ev)[i / 2] = src[i];
        }
    }
    if (r1 == s * P->Hq)
        for (long q = 0; q < s * s; q++) {
            float *t = phases + q * P->stride + P->Hq * Wq;
            for (long i = 0; i < P->stride - P->Hq * Wq - 16; i += 8) _mm256_storeu_ps(t + i, z);
        }
}
static inline void phases512(const phase_geometry *P, const float *x, float *phases) {
    phases512_rows(P, x, phases, 0, P->s * P->Hq);
}

// One output vector through a convolution's epilogue (scale, shift, residual `res` at the same
// place, ReLU, clamp), stored under `k`.
__attribute__((target("avx512f,fma"), always_inline))
static inline void epilogue_store512(__m512 v, __mmask16 k, __m512 vs, __m512 vt, const float *res, int relu, int clamp,
                               __m512 vlo, __m512 vhi, float *dst) {
    v = _mm512_fmadd_ps(v, vs, vt);
    if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, res));
    if (relu) v = _mm512_max_ps(v, _mm512_setzero_ps());
    // max(lo, v), min(hi, ·): the second operand is returned for NaN, so NaN stays NaN
    if (clamp) v = _mm512_min_ps(vhi, _mm512_max_ps(vlo, v));
    if (k == 0xFFFF) _mm512_storeu_ps(dst, v); else _mm512_mask_storeu_ps(dst, k, v);
}

#endif
