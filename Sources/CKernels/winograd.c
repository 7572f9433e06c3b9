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
#include "winograd_pieces.h"
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
__attribute__((target("avx2,fma")))
static void output_transform_avx2(OUTPUT_ARGS) {
    OUTPUT_TRANSFORM_BODY
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

#if defined(__x86_64__)
// ---- AVX-512: tiles in groups of 16 lanes (winograd_pieces.h) --------------------------------
// On small maps a tile row holds few tiles (3 on a 6×6 map), so vectors over one run would waste
// most lanes. Windows are two vectors here; one even/odd permute per window gives the tile values.

// V[ξ][c][t − t0] for every channel, group by group.
__attribute__((target("avx512f")))
static void transform_inputs_grouped(const float *x, long C, long H, long W, const wg_piece *pieces, const long *first,
                                     long groups, long count, float *V, long vs, long ldv) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    long plane = H * W;
    for (long c = 0; c < C; c++) {
        const float *xc = x + c * plane;
        for (long g = 0; g < groups; g++) {
            __m512 a[4][2], b[4][2];
            for (int i = 0; i < 4; i++) a[i][0] = a[i][1] = b[i][0] = b[i][1] = _mm512_setzero_ps();
            for (long q = first[g]; q < first[g + 1]; q++) {
                const wg_piece *pc = pieces + q;
                const float *base = xc + pc->in_off;
                unsigned long long used = pc->a | pc->b;
                if (c + 1 < C && used) {
                    // the next channel's rows: planes are too many streams for the prefetcher
                    long q0 = __builtin_ctzll(used), q1 = 66 - __builtin_clzll(used);   /* B reads 2 further */
                    for (int i = 0; i < 4; i++)
                        if (pc->rows >> i & 1) {
                            _mm_prefetch((const char *)(base + plane + i * W + q0), _MM_HINT_T0);
                            _mm_prefetch((const char *)(base + plane + i * W + q1), _MM_HINT_T0);
                        }
                }
                for (int i = 0; i < 4; i++) {
                    if (!(pc->rows >> i & 1)) continue;
                    wg_load_window(a[i], 2, pc->a, base + i * W);
                    wg_load_window(b[i], 2, pc->b, base + i * W + 2);
                }
            }
            // Bᵀ over the rows, on whole windows; then the columns, after the even/odd split
            __m512 d[4][4];
            for (int h = 0; h < 2; h++) {
                __m512 ta[4] = { _mm512_sub_ps(a[0][h], a[2][h]), _mm512_add_ps(a[1][h], a[2][h]),
                                 _mm512_sub_ps(a[2][h], a[1][h]), _mm512_sub_ps(a[1][h], a[3][h]) };
                __m512 tb[4] = { _mm512_sub_ps(b[0][h], b[2][h]), _mm512_add_ps(b[1][h], b[2][h]),
                                 _mm512_sub_ps(b[2][h], b[1][h]), _mm512_sub_ps(b[1][h], b[3][h]) };
                for (int i = 0; i < 4; i++) { a[i][h] = ta[i]; b[i][h] = tb[i]; }
            }
            for (int i = 0; i < 4; i++) {
                d[i][0] = _mm512_permutex2var_ps(a[i][0], even, a[i][1]);
                d[i][1] = _mm512_permutex2var_ps(a[i][0], odd, a[i][1]);
                d[i][2] = _mm512_permutex2var_ps(b[i][0], even, b[i][1]);
                d[i][3] = _mm512_permutex2var_ps(b[i][0], odd, b[i][1]);
            }
            long n = count - 16 * g < 16 ? count - 16 * g : 16;
            __mmask16 store = (__mmask16)((1u << n) - 1);
            float *v = V + c * ldv + 16 * g;
            for (int i = 0; i < 4; i++) {
                _mm512_mask_storeu_ps(v + (i * 4 + 0) * vs, store, _mm512_sub_ps(d[i][0], d[i][2]));
                _mm512_mask_storeu_ps(v + (i * 4 + 1) * vs, store, _mm512_add_ps(d[i][1], d[i][2]));
                _mm512_mask_storeu_ps(v + (i * 4 + 2) * vs, store, _mm512_sub_ps(d[i][2], d[i][1]));
                _mm512_mask_storeu_ps(v + (i * 4 + 3) * vs, store, _mm512_sub_ps(d[i][1], d[i][3]));
            }
        }
    }
}

// Y = Aᵀ M A for every output channel, group by group, with the epilogue (scale, bias, residual, ReLU).
__attribute__((target("avx512f,fma")))
static void transform_outputs_grouped(const float *M, long ms, long ldv, long OC, long Ho, long Wo,
                                      const wg_piece *pieces, const long *first, long groups, long count,
                                      const float *scale, const float *bias, const float *residual, int relu, float *y) {
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512 zero = _mm512_setzero_ps();
    long oplane = Ho * Wo;
    for (long o = 0; o < OC; o++) {
        __m512 vs = _mm512_set1_ps(scale ? scale[o] : 1.0f), vb = _mm512_set1_ps(bias ? bias[o] : 0.0f);
        float *yo = y + o * oplane;
        const float *ro = residual ? residual + o * oplane : 0;
        for (long g = 0; g < groups; g++) {
            long n = count - 16 * g < 16 ? count - 16 * g : 16;
            __mmask16 lm = (__mmask16)((1u << n) - 1);
            const float *m = M + o * ldv + 16 * g;
            __m512 s[2][4];
            for (int j = 0; j < 4; j++) {
                __m512 a = _mm512_maskz_loadu_ps(lm, m + j * ms), b = _mm512_maskz_loadu_ps(lm, m + (4 + j) * ms);
                __m512 c = _mm512_maskz_loadu_ps(lm, m + (8 + j) * ms), d = _mm512_maskz_loadu_ps(lm, m + (12 + j) * ms);
                s[0][j] = _mm512_add_ps(_mm512_add_ps(a, b), c);
                s[1][j] = _mm512_sub_ps(_mm512_sub_ps(b, c), d);
            }
            for (int i = 0; i < 2; i++) {
                __m512 y0 = _mm512_fmadd_ps(_mm512_add_ps(_mm512_add_ps(s[i][0], s[i][1]), s[i][2]), vs, vb);
                __m512 y1 = _mm512_fmadd_ps(_mm512_sub_ps(_mm512_sub_ps(s[i][1], s[i][2]), s[i][3]), vs, vb);
                __m512 w[2] = { _mm512_permutex2var_ps(y0, lo, y1), _mm512_permutex2var_ps(y0, hi, y1) };
                if (ro) {
                    __m512 r[2];
                    wg_gather_output_row(pieces, first[g], first[g + 1], ro, Wo, i, 2, r);
                    w[0] = _mm512_add_ps(w[0], r[0]); w[1] = _mm512_add_ps(w[1], r[1]);
                }
                if (relu) { w[0] = _mm512_max_ps(w[0], zero); w[1] = _mm512_max_ps(w[1], zero); }
                wg_scatter_output_row(pieces, first[g], first[g + 1], yo, Wo, i, 2, w);
            }
        }
    }
}

// Ū[ξ][o][t − t0] = A dY Aᵀ for every output channel, group by group (the weight gradient's operand).
__attribute__((target("avx512f")))
static void transform_gradients_grouped(const float *dy, long OC, long Ho, long Wo, const wg_piece *pieces,
                                        const long *first, long groups, long count, float *U, long us, long ld) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512 zero = _mm512_setzero_ps();
    long oplane = Ho * Wo;
    for (long o = 0; o < OC; o++) {
        const float *go = dy + o * oplane;
        for (long g = 0; g < groups; g++) {
            __m512 r0[2], r1[2];
            wg_gather_output_row(pieces, first[g], first[g + 1], go, Wo, 0, 2, r0);
            wg_gather_output_row(pieces, first[g], first[g + 1], go, Wo, 1, 2, r1);
            __m512 d00 = _mm512_permutex2var_ps(r0[0], even, r0[1]), d01 = _mm512_permutex2var_ps(r0[0], odd, r0[1]);
            __m512 d10 = _mm512_permutex2var_ps(r1[0], even, r1[1]), d11 = _mm512_permutex2var_ps(r1[0], odd, r1[1]);
            __m512 p[4][2] = { { d00, d01 }, { _mm512_add_ps(d00, d10), _mm512_add_ps(d01, d11) },
                               { _mm512_sub_ps(d00, d10), _mm512_sub_ps(d01, d11) },
                               { _mm512_sub_ps(zero, d10), _mm512_sub_ps(zero, d11) } };
            long n = count - 16 * g < 16 ? count - 16 * g : 16;
            __mmask16 store = (__mmask16)((1u << n) - 1);
            float *u = U + o * ld + 16 * g;
            for (int i = 0; i < 4; i++) {
                _mm512_mask_storeu_ps(u + (i * 4 + 0) * us, store, p[i][0]);
                _mm512_mask_storeu_ps(u + (i * 4 + 1) * us, store, _mm512_add_ps(p[i][0], p[i][1]));
                _mm512_mask_storeu_ps(u + (i * 4 + 2) * us, store, _mm512_sub_ps(p[i][0], p[i][1]));
                _mm512_mask_storeu_ps(u + (i * 4 + 3) * us, store, _mm512_sub_ps(zero, p[i][1]));
            }
        }
    }
}
#endif

// V[ξ][c][t − t0] = Bᵀ d B for tiles [t0, t0+count) of every channel (V[ξ] at V + ξ·vs, rows ldv apart).
static void transform_inputs(const float *x, long C, long H, long W, long ph, long pw, long TW, long tpi,
                             long t0, long count, float *V, long vs, long ldv, float *rowbuf) {
    long plane = H * W, wp = 2 * TW + 2;    /* a padded input row covering every tile of the row */
    in_fn in_tr = input_transform_portable;
#if defined(__x86_64__)
    if (ck_gemm_isa() == 1) in_tr = input_transform_avx2;
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
    // AVX-512 transforms whole 16-tile groups; the others go run by run
    int grouped = 0;
#if defined(__x86_64__)
    grouped = ck_gemm_isa() == 2;
    wg_piece pieces[grouped ? 2 * count + 1 : 1];
    long first[grouped ? count / 16 + 2 : 1], groups = 0;
    if (grouped) {
        groups = wg_list_pieces(2, 3, t0, count, C, H, W, ph, pw, OC, Ho, Wo, pieces, first);
        transform_inputs_grouped(x, C, H, W, pieces, first, groups, count, V, vs, ldv);
    }
#endif
    if (!grouped) transform_inputs(x, C, H, W, ph, pw, TW, tpi, t0, count, V, vs, ldv, rowbuf);

    // the 16 products, each [OC × count] = U[ξ] [OC × C] · V[ξ] [C × count]
    long usize = packed_stride(OC, C);
    for (int xi = 0; xi < 16; xi++)
        ck_sgemm_packed(OC, count, C, packed + xi * usize, 0, V + xi * vs, ldv, M + xi * ms, ldv, 0, 0);

#if defined(__x86_64__)
    if (grouped) {
        transform_outputs_grouped(M, ms, ldv, OC, Ho, Wo, pieces, first, groups, count, scale, bias, residual, relu, y);
        return;
    }
#endif
    out_fn out_tr = output_transform_portable;
#if defined(__x86_64__)
    if (ck_gemm_isa() == 1) out_tr = output_transform_avx2;
#endif
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

// Ū[ξ][o][t − t0] for every output channel, run by run (the weight gradient's operand).
static void transform_gradients(const float *dy, long OC, long Ho, long Wo, long t0, long count, float *U, long us, long ld) {
    long TW = (Wo + 1) / 2, tpi = ((Ho + 1) / 2) * TW, oplane = Ho * Wo;
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
            dy_transform_run(g0, g1, len, valid, u);
        }
    }
}

void ck_winograd_dw_block(const float *x, const float *dy, long C, long H, long W, long ph, long pw,
                          long OC, long Ho, long Wo, long t0, long count, int accumulate, float *acc,
                          float *scratch) {
    long TW = (Wo + 1) / 2, tpi = ((Ho + 1) / 2) * TW;
    long ld = count;
    long panels = (C + 63) / 64;
    long vs = C * ld + 32, us = OC * ld + 32, ts = panels * count * 64 + 32;
    float *V = scratch, *U = V + 16 * vs, *Vt = U + 16 * us, *rowbuf = Vt + 16 * ts;
#if defined(__x86_64__)
    if (ck_gemm_isa() == 2) {
        wg_piece pieces[2 * count + 1];
        long first[count / 16 + 2];
        long groups = wg_list_pieces(2, 3, t0, count, C, H, W, ph, pw, OC, Ho, Wo, pieces, first);
        transform_inputs_grouped(x, C, H, W, pieces, first, groups, count, V, vs, ld);
        transform_gradients_grouped(dy, OC, Ho, Wo, pieces, first, groups, count, U, us, ld);
    } else
#endif
    {
        transform_inputs(x, C, H, W, ph, pw, TW, tpi, t0, count, V, vs, ld, rowbuf);
        transform_gradients(dy, OC, Ho, Wo, t0, count, U, us, ld);
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
        ck_sgemm_rows_panels(OC, C, count, U + xi * us, ld, vt, acc + xi * accStride, C, accumulate);
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
