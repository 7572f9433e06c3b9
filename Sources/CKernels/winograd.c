// Winograd F(2×2, 3×3) convolution for stride-1, undilated 3×3 layers (Lavin & Gray, 2015).
// Each 2×2 output tile comes from a 4×4 input tile: V = Bᵀ d B per input channel, U = G g Gᵀ per
// filter, then 16 independent GEMMs M[ξ] = U[ξ] · V[ξ] over channels, and Y = Aᵀ M A. The GEMMs do
// 16 multiply-adds where direct convolution does 36 per tile, channel pair; the transforms are
// additions only and cost per input or output element, not per channel pair.
//
// Tiles are numbered over the whole batch (t = image·TH·TW + th·TW + tw) and processed in blocks,
// so a block's transformed inputs (16 × C × block) and products (16 × OC × block) stay in cache and
// each GEMM sees full 64-column panels however small the feature map is.
#include "ckernels.h"
#include <string.h>

#define TR 2     /* output tile side */
#define TI 4     /* input tile side */

// The 16 packed matrices lie 32 floats apart beyond their size, so the 16 streams a filter
// transform writes do not share L1 sets (as the transforms' V and M below).
static long packed_stride(long rows, long cols) { return ck_packed_a_size(rows, cols) + 32; }

long ck_winograd_packed_size(long OC, long C) { return 16 * packed_stride(OC, C); }

// G g Gᵀ for one 3×3 filter g (row-major), G = [[1,0,0],[½,½,½],[½,−½,½],[0,0,1]].
static void transform_filter(const float g[9], float u[16]) {
    float t[4][3];
    for (int j = 0; j < 3; j++) {
        float g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
        t[0][j] = g0;
        t[1][j] = 0.5f * (g0 + g1 + g2);
        t[2][j] = 0.5f * (g0 - g1 + g2);
        t[3][j] = g2;
    }
    for (int i = 0; i < 4; i++) {
        float a = t[i][0], b = t[i][1], c = t[i][2];
        u[i * 4 + 0] = a;
        u[i * 4 + 1] = 0.5f * (a + b + c);
        u[i * 4 + 2] = 0.5f * (a - b + c);
        u[i * 4 + 3] = c;
    }
}

void ck_winograd_pack_weights(const float *w, long OC, long C, int adjoint, long o0, long o1, float *packed) {
    // GEMM rows are output channels of the pass: OC forward, C for the input gradient
    long rows = adjoint ? C : OC, cols = adjoint ? OC : C, stride = packed_stride(rows, cols);
    for (long o = o0; o < o1; o++) {
        for (long c = 0; c < C; c++) {
            const float *src = w + (o * C + c) * 9;
            float g[9], u[16];
            if (adjoint) {
                // the input gradient correlates with the filter rotated by 180°, channels swapped
                for (int k = 0; k < 9; k++) g[k] = src[8 - k];
            } else {
                memcpy(g, src, sizeof g);
            }
            transform_filter(g, u);
            long at = adjoint ? ck_packed_a_offset(rows, cols, c, o) : ck_packed_a_offset(rows, cols, o, c);
            for (int xi = 0; xi < 16; xi++) packed[xi * stride + at] = u[xi];
        }
    }
}

long ck_winograd_scratch(long C, long OC, long W, long pw, long block) {
    long tw = (W + 2 * pw - 2 + 1) / 2;
    return 16 * ((C + OC) * block + 64) + TI * (2 * tw + 2) + 64;
}

// Bᵀ d B for a run of `len` tiles in one tile row. rows[i] points at padded input row i of the
// tile row, already offset to the run's first tile; tile k reads rows[i][2k … 2k+3].
// Bᵀ = [[1,0,−1,0],[0,1,1,0],[0,−1,1,0],[0,1,0,−1]].
#define INPUT_TRANSFORM_BODY                                                                  \
    for (long k = 0; k < len; k++) {                                                          \
        float d[4][4], t[4][4];                                                               \
        for (int i = 0; i < 4; i++)                                                           \
            for (int j = 0; j < 4; j++) d[i][j] = rows[i][2 * k + j];                          \
        for (int j = 0; j < 4; j++) {                                                         \
            t[0][j] = d[0][j] - d[2][j];                                                      \
            t[1][j] = d[1][j] + d[2][j];                                                      \
            t[2][j] = d[2][j] - d[1][j];                                                      \
            t[3][j] = d[1][j] - d[3][j];                                                      \
        }                                                                                     \
        for (int i = 0; i < 4; i++) {                                                         \
            v[i * 4 + 0][k] = t[i][0] - t[i][2];                                          \
            v[i * 4 + 1][k] = t[i][1] + t[i][2];                                          \
            v[i * 4 + 2][k] = t[i][2] - t[i][1];                                          \
            v[i * 4 + 3][k] = t[i][1] - t[i][3];                                          \
        }                                                                                     \
    }

static void input_transform_portable(const float *const rows[4], long len, float *const v[16]) {
    INPUT_TRANSFORM_BODY
}
#if defined(__x86_64__)
__attribute__((target("avx512f,fma")))
static void input_transform_avx512(const float *const rows[4], long len, float *const v[16]) {
    INPUT_TRANSFORM_BODY
}
__attribute__((target("avx2,fma")))
static void input_transform_avx2(const float *const rows[4], long len, float *const v[16]) {
    INPUT_TRANSFORM_BODY
}
#endif

// Aᵀ m A for a run of tiles: m[ξ][k] → the 2×2 outputs (plus bias), written to out0/out1 (the
// tile row's two output rows, offset to the run) at columns 2k, 2k+1. Aᵀ = [[1,1,1,0],[0,1,−1,−1]].
// Aᵀ m A for a run of tiles: m[ξ][k] → the 2×2 outputs, times scale plus bias, plus the residual
// (r0/r1, laid out as the output, or null), then ReLU if asked; written to out0/out1 (the tile
// row's two output rows, offset to the run) at columns 2k, 2k+1. Aᵀ = [[1,1,1,0],[0,1,−1,−1]].
#define OUTPUT_TILE(k)                                                                        \
        float s[2][4];                                                                        \
        for (int j = 0; j < 4; j++) {                                                         \
            s[0][j] = m[0 * 4 + j][k] + m[1 * 4 + j][k] + m[2 * 4 + j][k];                    \
            s[1][j] = m[1 * 4 + j][k] - m[2 * 4 + j][k] - m[3 * 4 + j][k];                    \
        }                                                                                     \
        float y00 = (s[0][0] + s[0][1] + s[0][2]) * scale + bias;                             \
        float y01 = (s[0][1] - s[0][2] - s[0][3]) * scale + bias;                             \
        float y10 = (s[1][0] + s[1][1] + s[1][2]) * scale + bias;                             \
        float y11 = (s[1][1] - s[1][2] - s[1][3]) * scale + bias;
#define OUTPUT_STORE(k)                                                                       \
        if (relu) {                                                                           \
            y00 = y00 > 0 ? y00 : 0; y01 = y01 > 0 ? y01 : 0;                                 \
            y10 = y10 > 0 ? y10 : 0; y11 = y11 > 0 ? y11 : 0;                                 \
        }                                                                                     \
        out0[2 * k] = y00; out0[2 * k + 1] = y01;                                             \
        out1[2 * k] = y10; out1[2 * k + 1] = y11;
#define OUTPUT_TRANSFORM_BODY                                                                 \
    if (r0) {                                                                                 \
        for (long k = 0; k < len; k++) {                                                      \
            OUTPUT_TILE(k)                                                                    \
            y00 += r0[2 * k]; y01 += r0[2 * k + 1]; y10 += r1[2 * k]; y11 += r1[2 * k + 1];   \
            OUTPUT_STORE(k)                                                                   \
        }                                                                                     \
    } else {                                                                                  \
        for (long k = 0; k < len; k++) {                                                      \
            OUTPUT_TILE(k)                                                                    \
            OUTPUT_STORE(k)                                                                   \
        }                                                                                     \
    }

#define OUTPUT_ARGS const float *const m[16], long len, float scale, float bias, int relu, const float *r0, const float *r1, \
                    float *out0, float *out1
static void output_transform_portable(OUTPUT_ARGS) {
    OUTPUT_TRANSFORM_BODY
}
#if defined(__x86_64__)
#include <immintrin.h>
// The same, 16 tiles per vector under masks (a tile row holds 3–12 tiles in ResNet's maps, fewer
// than a compiler's vector loop needs): the 2×2 outputs of tile k go to columns 2k, 2k+1, one
// two-source permute interleaving each output row's even and odd columns.
__attribute__((target("avx512f,fma")))
static void output_transform_avx512(OUTPUT_ARGS) {
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512 vs = _mm512_set1_ps(scale), vb = _mm512_set1_ps(bias), zero = _mm512_setzero_ps();
    for (long k0 = 0; k0 < len; k0 += 16) {
        long n = len - k0 < 16 ? len - k0 : 16, cols = 2 * n;
        __mmask16 lm = (__mmask16)((1u << n) - 1);
        __mmask16 ma = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1);
        __mmask16 mb = cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1) : 0;
        __m512 s0[4], s1[4];
        for (int j = 0; j < 4; j++) {
            __m512 a = _mm512_maskz_loadu_ps(lm, m[j] + k0), b = _mm512_maskz_loadu_ps(lm, m[4 + j] + k0);
            __m512 c = _mm512_maskz_loadu_ps(lm, m[8 + j] + k0), d = _mm512_maskz_loadu_ps(lm, m[12 + j] + k0);
            s0[j] = _mm512_add_ps(_mm512_add_ps(a, b), c);
            s1[j] = _mm512_sub_ps(_mm512_sub_ps(b, c), d);
        }
        __m512 y00 = _mm512_fmadd_ps(_mm512_add_ps(_mm512_add_ps(s0[0], s0[1]), s0[2]), vs, vb);
        __m512 y01 = _mm512_fmadd_ps(_mm512_sub_ps(_mm512_sub_ps(s0[1], s0[2]), s0[3]), vs, vb);
        __m512 y10 = _mm512_fmadd_ps(_mm512_add_ps(_mm512_add_ps(s1[0], s1[1]), s1[2]), vs, vb);
        __m512 y11 = _mm512_fmadd_ps(_mm512_sub_ps(_mm512_sub_ps(s1[1], s1[2]), s1[3]), vs, vb);
        __m512 o0a = _mm512_permutex2var_ps(y00, lo, y01), o0b = _mm512_permutex2var_ps(y00, hi, y01);
        __m512 o1a = _mm512_permutex2var_ps(y10, lo, y11), o1b = _mm512_permutex2var_ps(y10, hi, y11);
        if (r0) {
            o0a = _mm512_add_ps(o0a, _mm512_maskz_loadu_ps(ma, r0 + 2 * k0));
            o0b = _mm512_add_ps(o0b, _mm512_maskz_loadu_ps(mb, r0 + 2 * k0 + 16));
            o1a = _mm512_add_ps(o1a, _mm512_maskz_loadu_ps(ma, r1 + 2 * k0));
            o1b = _mm512_add_ps(o1b, _mm512_maskz_loadu_ps(mb, r1 + 2 * k0 + 16));
        }
        if (relu) {
            o0a = _mm512_max_ps(o0a, zero); o0b = _mm512_max_ps(o0b, zero);
            o1a = _mm512_max_ps(o1a, zero); o1b = _mm512_max_ps(o1b, zero);
        }
        _mm512_mask_storeu_ps(out0 + 2 * k0, ma, o0a); _mm512_mask_storeu_ps(out0 + 2 * k0 + 16, mb, o0b);
        _mm512_mask_storeu_ps(out1 + 2 * k0, ma, o1a); _mm512_mask_storeu_ps(out1 + 2 * k0 + 16, mb, o1b);
    }
}
__attribute__((target("avx2,fma")))
static void output_transform_avx2(OUTPUT_ARGS) {
    OUTPUT_TRANSFORM_BODY
}
#endif

#if defined(__x86_64__)
// Lanes l of a 16-float load at input column `col` (l = 0…15) that fall inside [0, W).
__attribute__((target("avx512f")))
static inline __mmask16 inside(long col, long W) {
    long lo = col < 0 ? -col : 0, hi = W - col;
    if (hi > 16) hi = 16;
    if (hi <= lo) return 0;
    return (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

// Bᵀ d B for `len` consecutive tiles of one tile row, 16 tiles per vector, read straight from the
// input plane: masked loads supply the zero padding, so no padded copy is made. Tile k's rows are
// input rows ih0 … ih0+3 at columns col0 + 2k … col0 + 2k + 3; even and odd columns are separated
// by one two-source permute per row and pair of loads.
__attribute__((target("avx512f")))
static void input_transform_run_avx512(const float *chan, long H, long W, long ih0, long col0, long len, float *const v[16]) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (long k0 = 0; k0 < len; k0 += 16) {
        long n = len - k0 < 16 ? len - k0 : 16;
        __mmask16 store = (__mmask16)((1u << n) - 1);
        __m512 d[4][4];
        long col = col0 + 2 * k0;
        __mmask16 m0 = inside(col, W), m1 = inside(col + 16, W), m2 = inside(col + 2, W), m3 = inside(col + 18, W);
        for (int i = 0; i < 4; i++) {
            long ih = ih0 + i;
            if (ih < 0 || ih >= H) {
                d[i][0] = d[i][1] = d[i][2] = d[i][3] = _mm512_setzero_ps();
                continue;
            }
            const float *row = chan + ih * W + col;
            __m512 a0 = _mm512_maskz_loadu_ps(m0, row), a1 = _mm512_maskz_loadu_ps(m1, row + 16);
            __m512 b0 = _mm512_maskz_loadu_ps(m2, row + 2), b1 = _mm512_maskz_loadu_ps(m3, row + 18);
            d[i][0] = _mm512_permutex2var_ps(a0, even, a1);
            d[i][1] = _mm512_permutex2var_ps(a0, odd, a1);
            d[i][2] = _mm512_permutex2var_ps(b0, even, b1);
            d[i][3] = _mm512_permutex2var_ps(b0, odd, b1);
        }
        for (int j = 0; j < 4; j++) {
            __m512 r0 = _mm512_sub_ps(d[0][j], d[2][j]), r1 = _mm512_add_ps(d[1][j], d[2][j]);
            __m512 r2 = _mm512_sub_ps(d[2][j], d[1][j]), r3 = _mm512_sub_ps(d[1][j], d[3][j]);
            d[0][j] = r0; d[1][j] = r1; d[2][j] = r2; d[3][j] = r3;
        }
        for (int i = 0; i < 4; i++) {
            _mm512_mask_storeu_ps(v[i * 4 + 0] + k0, store, _mm512_sub_ps(d[i][0], d[i][2]));
            _mm512_mask_storeu_ps(v[i * 4 + 1] + k0, store, _mm512_add_ps(d[i][1], d[i][2]));
            _mm512_mask_storeu_ps(v[i * 4 + 2] + k0, store, _mm512_sub_ps(d[i][2], d[i][1]));
            _mm512_mask_storeu_ps(v[i * 4 + 3] + k0, store, _mm512_sub_ps(d[i][1], d[i][3]));
        }
    }
}
#endif

typedef void (*in_fn)(const float *const rows[4], long len, float *const v[16]);
typedef void (*out_fn)(OUTPUT_ARGS);

// A run: the tiles of a block that lie in one tile row, [t, t + len) in batch numbering. The
// transforms loop over channels, then runs; the runs are listed once per block, not per channel.
typedef struct { long t, img, th, tw, len; } tile_run;

static long list_runs(long t0, long count, long TW, long tpi, tile_run *runs) {
    long n = 0;
    for (long t = t0; t < t0 + count; n++) {
        long img = t / tpi, r = t % tpi, th = r / TW, tw = r % TW;
        long len = TW - tw < t0 + count - t ? TW - tw : t0 + count - t;
        runs[n] = (tile_run){ t, img, th, tw, len };
        t += len;
    }
    return n;
}

// V[ξ][c][t − t0] = Bᵀ d B for tiles [t0, t0+count) of every channel (V[ξ] at V + ξ·vs, rows ldv apart).
static void transform_inputs(const float *x, long C, long H, long W, long ph, long pw, long TW, long tpi,
                             long t0, long count, float *V, long vs, long ldv, float *rowbuf) {
    long plane = H * W, wp = 2 * TW + 2;    /* a padded input row covering every tile of the row */
    in_fn in_tr = input_transform_portable;
    int isa = ck_gemm_isa();
#if defined(__x86_64__)
    if (isa == 2) in_tr = input_transform_avx512;
    else if (isa == 1) in_tr = input_transform_avx2;
#endif
    // channel by channel and within a channel run by run (a run is a part of one tile row), so
    // consecutive runs read consecutive rows of one plane: the overlapping rows of neighbouring
    // tile rows hit L1 and the prefetcher sees one stream
    tile_run runs[count];
    long nruns = list_runs(t0, count, TW, tpi, runs);
    for (long c = 0; c < C; c++) {
        for (long ri = 0; ri < nruns; ri++) {
            long t = runs[ri].t, img = runs[ri].img, th = runs[ri].th, tw = runs[ri].tw, len = runs[ri].len;
            long col0 = 2 * tw - pw;            /* input column of the run's first tile */
            long span = 2 * len + 2;
            const float *chan = x + (img * C + c) * plane;
            float *v[16];
            for (int xi = 0; xi < 16; xi++) v[xi] = V + xi * vs + c * ldv + (t - t0);
            if (c + 1 < C) {
                // the next channel's rows for this run: planes are too many streams for the prefetcher
                const float *next = chan + plane;
                long lo = col0 < 0 ? 0 : col0, hi = col0 + span > W ? W : col0 + span;
                for (int i = 0; i < 4; i++) {
                    long ih = 2 * th - ph + i;
                    if (ih < 0 || ih >= H || hi <= lo) continue;
                    for (long q = lo; q < hi; q += 16) __builtin_prefetch(next + ih * W + q);
                    __builtin_prefetch(next + ih * W + hi - 1);
                }
            }
#if defined(__x86_64__)
            if (isa == 2) {
                input_transform_run_avx512(chan, H, W, 2 * th - ph, col0, len, v);
                continue;
            }
#endif
            const float *rows[4];
            for (int i = 0; i < 4; i++) {
                long ih = 2 * th - ph + i;
                float *rb = rowbuf + i * wp;
                if (ih < 0 || ih >= H) {
                    memset(rb, 0, (size_t)span * sizeof(float));
                } else {
                    const float *src = chan + ih * W;
                    long lo = col0 < 0 ? -col0 : 0, hi = W - col0;
                    if (hi > span) hi = span;
                    if (hi < lo) hi = lo;
                    for (long q = 0; q < lo; q++) rb[q] = 0.0f;
                    memcpy(rb + lo, src + col0 + lo, (size_t)(hi - lo) * sizeof(float));
                    for (long q = hi; q < span; q++) rb[q] = 0.0f;
                }
                rows[i] = rb;
            }
            in_tr(rows, len, v);
        }
    }
}

void ck_winograd_conv_block(const float *x, long C, long H, long W, long ph, long pw,
                            long OC, long Ho, long Wo, const float *packed, const float *scale, const float *bias,
                            const float *residual, int relu, long t0, long count, float *y, float *scratch) {
    long TH = (Ho + 1) / 2, TW = (Wo + 1) / 2, tpi = TH * TW;
    long oplane = Ho * Wo;
    long ldv = count;                       /* V[ξ] is C × count, M[ξ] is OC × count */
    // the 16 matrices are 32 floats apart beyond their size: at power-of-two strides the transforms'
    // 16 store (and load) streams would fall into the same L1 sets and evict each other
    long vs = C * ldv + 32, ms = OC * ldv + 32;
    float *V = scratch, *M = V + 16 * vs, *rowbuf = M + 16 * ms;
    out_fn out_tr = output_transform_portable;
#if defined(__x86_64__)
    int isa = ck_gemm_isa();
    if (isa == 2) out_tr = output_transform_avx512;
    else if (isa == 1) out_tr = output_transform_avx2;
#endif
    transform_inputs(x, C, H, W, ph, pw, TW, tpi, t0, count, V, vs, ldv, rowbuf);

    // the 16 products, each [OC × count] = U[ξ] [OC × C] · V[ξ] [C × count]
    long usize = packed_stride(OC, C);
    for (int xi = 0; xi < 16; xi++)
        ck_sgemm_packed(OC, count, C, packed + xi * usize, 0, V + xi * vs, ldv, M + xi * ms, ldv, 0);

    // output transform, plane by plane (sequential writes); a last odd row or column is written
    // through a small tile buffer
    tile_run runs[count];
    long nruns = list_runs(t0, count, TW, tpi, runs);
    for (long o = 0; o < OC; o++) {
        float b = bias ? bias[o] : 0.0f, sc = scale ? scale[o] : 1.0f;
        for (long ri = 0; ri < nruns; ri++) {
            long t = runs[ri].t, img = runs[ri].img, th = runs[ri].th, tw = runs[ri].tw, len = runs[ri].len;
            int lastRow = 2 * th + 1 >= Ho;
            long full = len;
            if (tw + len == TW && (Wo & 1)) full--;       /* the row's last tile sticks out on the right */
            const float *m[16];
            for (int xi = 0; xi < 16; xi++) m[xi] = M + xi * ms + o * ldv + (t - t0);
            float *out0 = y + (img * OC + o) * oplane + 2 * th * Wo + 2 * tw;
            if (o + 1 < OC) {
                // the next plane's rows, for writing
                float *next = out0 + oplane;
                long cols = 2 * len;
                for (int i = 0; i < 2 - lastRow; i++) {
                    for (long q = 0; q < cols; q += 16) __builtin_prefetch(next + i * Wo + q, 1);
                    __builtin_prefetch(next + i * Wo + cols - 1, 1);
                }
            }
            float tmp[2][2 * 64 + 2];
            long k0 = 0;
            while (k0 < len) {
                long n = len - k0 < 64 ? len - k0 : 64;
                long nfull = full - k0 < n ? (full - k0 > 0 ? full - k0 : 0) : n;
                const float *mm[16];
                for (int xi = 0; xi < 16; xi++) mm[xi] = m[xi] + k0;
                const float *res0 = residual ? residual + (out0 - y) + 2 * k0 : 0;
                if (!lastRow && nfull == n) {
                    out_tr(mm, n, sc, b, relu, res0, res0 ? res0 + Wo : 0, out0 + 2 * k0, out0 + Wo + 2 * k0);
                } else {
                    // edge tiles: the residual and ReLU are applied while copying the valid part
                    out_tr(mm, n, sc, b, 0, 0, 0, tmp[0], tmp[1]);
                    long cols = 2 * nfull + (nfull < n ? 1 : 0);
                    for (int rr = 0; rr < 2 - lastRow; rr++) {
                        float *dst = out0 + rr * Wo + 2 * k0;
                        for (long q = 0; q < cols; q++) {
                            float v = tmp[rr][q] + (res0 ? res0[rr * Wo + q] : 0.0f);
                            dst[q] = relu && !(v > 0) ? 0.0f : v;
                        }
                    }
                }
                k0 += n;
            }
        }
    }
}

// ---- weight gradient ----------------------------------------------------------------------
// dW = Gᵀ [Σ_tiles (A dY A ᵀ) ⊙ (Bᵀ d B)] G, the adjoint of the forward pass with respect to the
// filter (A = the transpose of Aᵀ above): per ξ, M[ξ][o][c] = Σ_t Ū[ξ][o][t] · V[ξ][c][t], one GEMM
// over tiles, 4 multiply-adds per output pixel and channel pair where direct correlation does 9.

long ck_winograd_dw_scratch(long C, long OC, long W, long pw, long block) {
    // V (C rows), Ū (OC rows) and Vᵀ in whole 64-channel panels, each of the 16 padded by 32 floats
    long tw = (W + 2 * pw - 2 + 1) / 2, panels = (C + 63) / 64;
    return 16 * ((C + OC + 64 * panels) * block + 96) + TI * (2 * tw + 2) + 64;
}

// Ū = A g Aᵀ for the 2×2 output-gradient tiles of a run of `len` tiles, A = [[1,0],[1,1],[1,−1],[0,−1]]:
// g0/g1 are the tile row's two gradient rows (g1 null past the last row), offset to the run;
// `valid` columns of them exist (2·len, or one less at a right edge).
static void dy_transform_run(const float *g0, const float *g1, long len, long valid, float *const u[16]) {
    for (long k = 0; k < len; k++) {
        float d00 = 2 * k < valid ? g0[2 * k] : 0.0f, d01 = 2 * k + 1 < valid ? g0[2 * k + 1] : 0.0f;
        float d10 = g1 && 2 * k < valid ? g1[2 * k] : 0.0f, d11 = g1 && 2 * k + 1 < valid ? g1[2 * k + 1] : 0.0f;
        // rows: p[i][j] = A[i]·(d0j, d1j)
        float p[4][2] = { { d00, d01 }, { d00 + d10, d01 + d11 }, { d00 - d10, d01 - d11 }, { -d10, -d11 } };
        for (int i = 0; i < 4; i++) {
            u[i * 4 + 0][k] = p[i][0];
            u[i * 4 + 1][k] = p[i][0] + p[i][1];
            u[i * 4 + 2][k] = p[i][0] - p[i][1];
            u[i * 4 + 3][k] = -p[i][1];
        }
    }
}

#if defined(__x86_64__)
// The same, 16 tiles per vector: even and odd gradient columns separated by one permute per row.
__attribute__((target("avx512f")))
static void dy_transform_run_avx512(const float *g0, const float *g1, long len, long valid, float *const u[16]) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (long k0 = 0; k0 < len; k0 += 16) {
        long n = len - k0 < 16 ? len - k0 : 16;
        __mmask16 store = (__mmask16)((1u << n) - 1);
        long v = valid - 2 * k0;              /* gradient columns left from this chunk's first */
        __mmask16 m0 = v >= 16 ? (__mmask16)0xFFFF : (v <= 0 ? 0 : (__mmask16)((1u << v) - 1));
        __mmask16 m1 = v >= 32 ? (__mmask16)0xFFFF : (v <= 16 ? 0 : (__mmask16)((1u << (v - 16)) - 1));
        __m512 a0 = _mm512_maskz_loadu_ps(m0, g0 + 2 * k0), a1 = _mm512_maskz_loadu_ps(m1, g0 + 2 * k0 + 16);
        __m512 d00 = _mm512_permutex2var_ps(a0, even, a1), d01 = _mm512_permutex2var_ps(a0, odd, a1);
        __m512 d10 = _mm512_setzero_ps(), d11 = d10;
        if (g1) {
            __m512 b0 = _mm512_maskz_loadu_ps(m0, g1 + 2 * k0), b1 = _mm512_maskz_loadu_ps(m1, g1 + 2 * k0 + 16);
            d10 = _mm512_permutex2var_ps(b0, even, b1); d11 = _mm512_permutex2var_ps(b0, odd, b1);
        }
        __m512 p[4][2] = { { d00, d01 }, { _mm512_add_ps(d00, d10), _mm512_add_ps(d01, d11) },
                           { _mm512_sub_ps(d00, d10), _mm512_sub_ps(d01, d11) },
                           { _mm512_sub_ps(_mm512_setzero_ps(), d10), _mm512_sub_ps(_mm512_setzero_ps(), d11) } };
        for (int i = 0; i < 4; i++) {
            _mm512_mask_storeu_ps(u[i * 4 + 0] + k0, store, p[i][0]);
            _mm512_mask_storeu_ps(u[i * 4 + 1] + k0, store, _mm512_add_ps(p[i][0], p[i][1]));
            _mm512_mask_storeu_ps(u[i * 4 + 2] + k0, store, _mm512_sub_ps(p[i][0], p[i][1]));
            _mm512_mask_storeu_ps(u[i * 4 + 3] + k0, store, _mm512_sub_ps(_mm512_setzero_ps(), p[i][1]));
        }
    }
}
#endif

void ck_winograd_dw_block(const float *x, const float *dy, long C, long H, long W, long ph, long pw,
                          long OC, long Ho, long Wo, long t0, long count, float *acc, float *scratch) {
    long TH = (Ho + 1) / 2, TW = (Wo + 1) / 2, tpi = TH * TW, oplane = Ho * Wo;
    long ld = count;
    long panels = (C + 63) / 64;
    long vs = C * ld + 32, us = OC * ld + 32, ts = panels * count * 64 + 32;
    float *V = scratch, *U = V + 16 * vs, *Vt = U + 16 * us, *rowbuf = Vt + 16 * ts;
#if defined(__x86_64__)
    int wide = ck_gemm_isa() == 2;
#endif
    transform_inputs(x, C, H, W, ph, pw, TW, tpi, t0, count, V, vs, ld, rowbuf);
    tile_run runs[count];
    long nruns = list_runs(t0, count, TW, tpi, runs);
    for (long o = 0; o < OC; o++) {
        for (long ri = 0; ri < nruns; ri++) {
            long t = runs[ri].t, img = runs[ri].img, th = runs[ri].th, tw = runs[ri].tw, len = runs[ri].len;
            const float *g0 = dy + (img * OC + o) * oplane + 2 * th * Wo + 2 * tw;
            const float *g1 = 2 * th + 1 < Ho ? g0 + Wo : 0;
            long valid = Wo - 2 * tw < 2 * len ? Wo - 2 * tw : 2 * len;
            if (o + 1 < OC) {
                // the next channel's rows: planes are too many streams for the prefetcher
                for (long q = 0; q < valid; q += 16) {
                    __builtin_prefetch(g0 + oplane + q);
                    if (g1) __builtin_prefetch(g1 + oplane + q);
                }
            }
            float *u[16];
            for (int xi = 0; xi < 16; xi++) u[xi] = U + xi * us + o * ld + (t - t0);
#if defined(__x86_64__)
            if (wide) dy_transform_run_avx512(g0, g1, len, valid, u);
            else
#endif
            dy_transform_run(g0, g1, len, valid, u);
        }
    }
    // M[ξ] [OC × C] += Ū[ξ] [OC × count] · V[ξ]ᵀ: V[ξ] transposed into 64-channel panels, Ū[ξ]'s
    // rows read in place by the micro-kernel (no packing of either operand beyond that transpose)
    long accStride = OC * C;
    for (int xi = 0; xi < 16; xi++) {
        float *vt = Vt + xi * ts;
        for (long p = 0; p < panels; p++) {
            long cols = C - 64 * p < 64 ? C - 64 * p : 64;
            ck_transpose(V + xi * vs + 64 * p * ld, cols, count, ld, vt + p * count * 64, 64);
        }
        ck_sgemm_rows_panels(OC, C, count, U + xi * us, ld, vt, acc + xi * accStride, C);
    }
}

void ck_winograd_dw_finish(const float *acc, long OC, long C, long o0, long o1, float *dw) {
    // Gᵀ M G per (o, c), G = [[1,0,0],[½,½,½],[½,−½,½],[0,0,1]]; vectorised over c
    long stride = OC * C;
    for (long o = o0; o < o1; o++) {
        const float *m = acc + o * C;
        for (long c = 0; c < C; c++) {
            float mm[4][4], t[3][4];
            for (int xi = 0; xi < 16; xi++) mm[xi / 4][xi % 4] = m[xi * stride + c];
            for (int j = 0; j < 4; j++) {
                t[0][j] = mm[0][j] + 0.5f * (mm[1][j] + mm[2][j]);
                t[1][j] = 0.5f * (mm[1][j] - mm[2][j]);
                t[2][j] = 0.5f * (mm[1][j] + mm[2][j]) + mm[3][j];
            }
            float *d = dw + (o * C + c) * 9;
            for (int i = 0; i < 3; i++) {
                d[i * 3 + 0] = t[i][0] + 0.5f * (t[i][1] + t[i][2]);
                d[i * 3 + 1] = 0.5f * (t[i][1] - t[i][2]);
                d[i * 3 + 2] = 0.5f * (t[i][1] + t[i][2]) + t[i][3];
            }
        }
    }
}
