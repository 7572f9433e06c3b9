// Winograd F(3×3, 3×3) for stride-1, undilated 3×3 layers on AVX-512 (interpolation points 0, 1,
// −1, 2, ∞). Each 3×3 output tile comes from a 5×5 input tile: 25 GEMMs over channels do 25
// multiply-adds per tile and channel pair where direct convolution does 81 (F(2×2, 3×3): 16 per
// 4 outputs, 1.44× more per output). 3 divides ResNet-18/96's maps (24, 12, 6, 3), so no tile is
// wasted on padding, and the 3×3 maps of its last stage take 25 where tap-wise GEMMs take 49.
//
//   Bᵀ = [[2,−1,−2,1,0], [0,−2,−1,1,0], [0,2,−3,1,0], [0,−1,0,1,0], [0,2,−1,−2,1]]
//   G  = [[½,0,0], [−½,−½,−½], [−⅙,⅙,−⅙], [⅙,⅓,⅔], [0,0,1]]
//   Aᵀ = [[1,1,1,1,0], [0,1,−1,2,0], [0,1,1,4,1]]
//
// Tiles are numbered over the batch and processed in blocks and 16-tile vector groups, as in
// winograd.c's AVX-512 path: a piece (the tiles of one tile row in one group) fills its lanes of
// 48-float column windows with masked loads at a shifted address, window A holding a tile's
// columns 3k … 3k+2 at lanes 3l … 3l+2 (l its lane) and window B columns 3k+3, 3k+4 at 3l, 3l+1.
// A stride-3 extraction (one two-source permute and one masked permute) then gives the tile values.
// Only AVX-512 machines run F(3×3) (ConvKernels.winogradTile); elsewhere the entry points are empty
// and never called.
#include "ckernels.h"
#include "winograd_pieces.h"
#include <string.h>

#define XI 25    /* transformed tile elements: 5 × 5 */
#define SIXTH (1.0f / 6.0f)   /* multiplied, not divided: a division per element costs more than the GEMMs on 3×3 maps */

static long packed_stride(long rows, long cols) { return ck_packed_a_size(rows, cols) + 32; }

long ck_winograd3_packed_size(long OC, long C) { return XI * packed_stride(OC, C); }

#if defined(__x86_64__)
// Panels [p0, p1) of all 25 packed matrices, 16 GEMM columns (filters) at a time: the filters are
// gathered lane-wise, transformed as vectors, and each matrix's 6 × 16 block transposed into the
// 96 consecutive floats the packed layout keeps for it (whole cache lines, no read-for-ownership
// of scattered single floats). Padding rows beyond the matrix are written as zeros.
__attribute__((target("avx512f,fma")))
static void pack_panels_avx512(const float *w, long OC, long C, int adjoint, long p0, long p1, float *packed) {
    long rows = adjoint ? C : OC, cols = adjoint ? OC : C, stride = packed_stride(rows, cols);
    transpose6x16 tr = make_transpose6x16();
    const __m512 half = _mm512_set1_ps(0.5f), mhalf = _mm512_set1_ps(-0.5f), sixth = _mm512_set1_ps(SIXTH);
    const __m512 two = _mm512_set1_ps(2.0f), four = _mm512_set1_ps(4.0f);
    __m512 stage[XI][6];
    for (long p = p0; p < p1; p++) {
        for (long k0 = 0; k0 < cols; k0 += 16) {
            long kn = cols - k0 < 16 ? cols - k0 : 16;
            for (int r = 0; r < 6; r++) {
                long row = 6 * p + r;
                if (row >= rows) {
                    for (int xi = 0; xi < XI; xi++) stage[xi][r] = _mm512_setzero_ps();
                    continue;
                }
                __m512 g[9];
                wg_gather_filters(w, rows, cols, adjoint, row, k0, kn, 9, g);
                // U = G g Gᵀ: the columns first (t = G g), then the rows
                __m512 t[5][3];
                for (int j = 0; j < 3; j++) {
                    __m512 g0 = g[j], g1 = g[3 + j], g2 = g[6 + j], s02 = _mm512_add_ps(g0, g2);
                    t[0][j] = _mm512_mul_ps(half, g0);
                    t[1][j] = _mm512_mul_ps(mhalf, _mm512_add_ps(s02, g1));
                    t[2][j] = _mm512_mul_ps(_mm512_sub_ps(g1, s02), sixth);
                    t[3][j] = _mm512_mul_ps(_mm512_fmadd_ps(four, g2, _mm512_fmadd_ps(two, g1, g0)), sixth);
                    t[4][j] = g2;
                }
                for (int i = 0; i < 5; i++) {
                    __m512 a = t[i][0], b = t[i][1], c = t[i][2], sac = _mm512_add_ps(a, c);
                    stage[i * 5 + 0][r] = _mm512_mul_ps(half, a);
                    stage[i * 5 + 1][r] = _mm512_mul_ps(mhalf, _mm512_add_ps(sac, b));
                    stage[i * 5 + 2][r] = _mm512_mul_ps(_mm512_sub_ps(b, sac), sixth);
                    stage[i * 5 + 3][r] = _mm512_mul_ps(_mm512_fmadd_ps(four, c, _mm512_fmadd_ps(two, b, a)), sixth);
                    stage[i * 5 + 4][r] = c;
                }
            }
            long at = ck_packed_a_offset(rows, cols, 6 * p, k0);
            for (int xi = 0; xi < XI; xi++) wg_store_panel(&tr, stage[xi], kn, packed + xi * stride + at);
        }
    }
}
#endif

void ck_winograd3_pack_weights(const float *w, long OC, long C, int adjoint, long p0, long p1, float *packed) {
#if defined(__x86_64__)
    pack_panels_avx512(w, OC, C, adjoint, p0, p1, packed);
#endif
}

long ck_winograd3_scratch(long C, long OC, long block) {
    return XI * ((C + OC) * block + 64) + 64;
}

long ck_winograd3_dw_scratch(long C, long OC, long block) {
    long panels = (C + 63) / 64;
    return XI * ((C + OC + 64 * panels) * block + 96) + 64;
}

#if defined(__x86_64__)
// dW = Gᵀ M G per (o, c), 16 input channels per vector; the 9 taps go out through scatters 9 floats apart.
__attribute__((target("avx512f,fma")))
static void dw_finish_avx512(const float *acc, long OC, long C, long o0, long o1, float *dw) {
    long stride = OC * C;
    const __m512i nine = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32(9));
    const __m512 half = _mm512_set1_ps(0.5f), mhalf = _mm512_set1_ps(-0.5f), sixth = _mm512_set1_ps(SIXTH);
    const __m512 two = _mm512_set1_ps(2.0f), four = _mm512_set1_ps(4.0f);
    for (long o = o0; o < o1; o++) {
        for (long c0 = 0; c0 < C; c0 += 16) {
            long cn = C - c0 < 16 ? C - c0 : 16;
            __mmask16 km = (__mmask16)((1u << cn) - 1);
            const float *m = acc + o * C + c0;
            __m512 t[3][5];
            for (int j = 0; j < 5; j++) {
                __m512 m0 = _mm512_maskz_loadu_ps(km, m + (0 * 5 + j) * stride), m1 = _mm512_maskz_loadu_ps(km, m + (1 * 5 + j) * stride);
                __m512 m2 = _mm512_maskz_loadu_ps(km, m + (2 * 5 + j) * stride), m3 = _mm512_maskz_loadu_ps(km, m + (3 * 5 + j) * stride);
                __m512 m4 = _mm512_maskz_loadu_ps(km, m + (4 * 5 + j) * stride);
                t[0][j] = _mm512_fmadd_ps(half, _mm512_sub_ps(m0, m1), _mm512_mul_ps(_mm512_sub_ps(m3, m2), sixth));
                t[1][j] = _mm512_fmadd_ps(mhalf, m1, _mm512_mul_ps(_mm512_fmadd_ps(two, m3, m2), sixth));
                t[2][j] = _mm512_add_ps(_mm512_fmadd_ps(mhalf, m1, _mm512_mul_ps(_mm512_fmsub_ps(four, m3, m2), sixth)), m4);
            }
            float *d = dw + (o * C + c0) * 9;
            for (int i = 0; i < 3; i++) {
                __m512 a = t[i][0], b = t[i][1], c = t[i][2], e = t[i][3], f = t[i][4];
                __m512 d0 = _mm512_fmadd_ps(half, _mm512_sub_ps(a, b), _mm512_mul_ps(_mm512_sub_ps(e, c), sixth));
                __m512 d1 = _mm512_fmadd_ps(mhalf, b, _mm512_mul_ps(_mm512_fmadd_ps(two, e, c), sixth));
                __m512 d2 = _mm512_add_ps(_mm512_fmadd_ps(mhalf, b, _mm512_mul_ps(_mm512_fmsub_ps(four, e, c), sixth)), f);
                _mm512_mask_i32scatter_ps(d + i * 3 + 0, km, nine, d0, 4);
                _mm512_mask_i32scatter_ps(d + i * 3 + 1, km, nine, d1, 4);
                _mm512_mask_i32scatter_ps(d + i * 3 + 2, km, nine, d2, 4);
            }
        }
    }
}
#endif

void ck_winograd3_dw_finish(const float *acc, long OC, long C, long o0, long o1, float *dw) {
#if defined(__x86_64__)
    dw_finish_avx512(acc, OC, C, o0, o1, dw);
#endif
}

#if defined(__x86_64__)
// Stride-3 extraction: lane l of the result is window lane 3l + j, j < 3.
typedef struct { __m512i idx[3]; __mmask16 high[3]; } extract3;

__attribute__((target("avx512f")))
static extract3 make_extract3(void) {
    extract3 e;
    for (int j = 0; j < 3; j++) {
        int v[16];
        unsigned high = 0;
        for (int l = 0; l < 16; l++) {
            v[l] = 3 * l + j;              /* permutes read the low 5 (4) bits */
            if (3 * l + j >= 32) high |= 1u << l;
        }
        e.idx[j] = _mm512_loadu_si512(v);
        e.high[j] = (__mmask16)high;
    }
    return e;
}

__attribute__((target("avx512f")))
static inline __m512 extract(const extract3 *e, const __m512 w[3], int j) {
    __m512 r = _mm512_permutex2var_ps(w[0], e->idx[j], w[1]);
    return _mm512_mask_permutexvar_ps(r, e->high[j], e->idx[j], w[2]);
}

// Interleaving, the inverse: window lane 16q + p is y[(16q+p) mod 3] at lane (16q+p) div 3.
typedef struct { __m512i idx[3]; __mmask16 third[3]; } interleave3;

__attribute__((target("avx512f")))
static interleave3 make_interleave3(void) {
    interleave3 e;
    for (int q = 0; q < 3; q++) {
        int v[16];
        unsigned third = 0;
        for (int p = 0; p < 16; p++) {
            int pos = 16 * q + p, l = pos / 3, k = pos % 3;
            v[p] = l + (k == 1 ? 16 : 0);
            if (k == 2) third |= 1u << p;
        }
        e.idx[q] = _mm512_loadu_si512(v);
        e.third[q] = (__mmask16)third;
    }
    return e;
}

__attribute__((target("avx512f")))
static inline void interleave(const interleave3 *e, __m512 y0, __m512 y1, __m512 y2, __m512 w[3]) {
    for (int q = 0; q < 3; q++) {
        __m512 r = _mm512_permutex2var_ps(y0, e->idx[q], y1);
        w[q] = _mm512_mask_permutexvar_ps(r, e->third[q], e->idx[q], y2);
    }
}

// Bᵀ applied to five vectors.
#define BT5(d0, d1, d2, d3, d4, r0, r1, r2, r3, r4)                                             \
    do {                                                                                      \
        __m512 two = _mm512_set1_ps(2.0f);                                                    \
        __m512 d31 = _mm512_sub_ps(d3, d1), d32 = _mm512_sub_ps(d3, d2);                      \
        r0 = _mm512_fmadd_ps(two, _mm512_sub_ps(d0, d2), d31);                               \
        r1 = _mm512_fnmadd_ps(two, d1, d32);                                                  \
        r2 = _mm512_fmadd_ps(two, _mm512_sub_ps(d1, d2), d32);                               \
        r3 = d31;                                                                             \
        r4 = _mm512_fmadd_ps(two, _mm512_sub_ps(d1, d3), _mm512_sub_ps(d4, d2));             \
    } while (0)

// V[ξ][c][t − t0] = Bᵀ d B for every channel of the block's tiles, group by group.
__attribute__((target("avx512f,fma")))
static void transform_inputs(const float *x, long C, long H, long W, const wg_piece *pieces, const long *first,
                             long groups, long count, long c0, long c1, float *V, long vs, long ldv) {
    extract3 e = make_extract3();
    long plane = H * W;
    for (long c = c0; c < c1; c++) {
        const float *xc = x + c * plane;
        for (long g = 0; g < groups; g++) {
            __m512 d[5][5];
            for (int i = 0; i < 5; i++) {
                __m512 a[3], b[3];
                a[0] = a[1] = a[2] = b[0] = b[1] = b[2] = _mm512_setzero_ps();
                for (long q = first[g]; q < first[g + 1]; q++) {
                    const wg_piece *pc = pieces + q;
                    if (!(pc->rows >> i & 1)) continue;
                    const float *r = xc + pc->in_off + i * W;
                    wg_load_window(a, 3, pc->a, r);
                    wg_load_window(b, 3, pc->b, r + 3);
                    unsigned long long used = pc->a | pc->b;
                    if (c + 1 < c1 && used) {
                        // this row of the next channel: planes are too many streams for the prefetcher
                        const float *next = r + plane;
                        long q0 = __builtin_ctzll(used), q1 = 67 - __builtin_clzll(used);   /* B reads 3 further */
                        for (long q = q0; q < q1; q += 16) _mm_prefetch((const char *)(next + q), _MM_HINT_T0);
                        _mm_prefetch((const char *)(next + q1 - 1), _MM_HINT_T0);
                    }
                }
                d[i][0] = extract(&e, a, 0); d[i][1] = extract(&e, a, 1); d[i][2] = extract(&e, a, 2);
                d[i][3] = extract(&e, b, 0); d[i][4] = extract(&e, b, 1);
            }
            __m512 t[5][5];
            for (int j = 0; j < 5; j++) BT5(d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], t[0][j], t[1][j], t[2][j], t[3][j], t[4][j]);
            long n = count - 16 * g < 16 ? count - 16 * g : 16;
            __mmask16 store = (__mmask16)((1u << n) - 1);
            float *v = V + c * ldv + 16 * g;
            for (int i = 0; i < 5; i++) {
                __m512 r0, r1, r2, r3, r4;
                BT5(t[i][0], t[i][1], t[i][2], t[i][3], t[i][4], r0, r1, r2, r3, r4);
                _mm512_mask_storeu_ps(v + (i * 5 + 0) * vs, store, r0);
                _mm512_mask_storeu_ps(v + (i * 5 + 1) * vs, store, r1);
                _mm512_mask_storeu_ps(v + (i * 5 + 2) * vs, store, r2);
                _mm512_mask_storeu_ps(v + (i * 5 + 3) * vs, store, r3);
                _mm512_mask_storeu_ps(v + (i * 5 + 4) * vs, store, r4);
            }
        }
    }
}

// Aᵀ applied to five vectors.
#define AT5(m0, m1, m2, m3, m4, s0, s1, s2)                                                    \
    do {                                                                                      \
        __m512 p12 = _mm512_add_ps(m1, m2), q12 = _mm512_sub_ps(m1, m2);                      \
        s0 = _mm512_add_ps(_mm512_add_ps(m0, p12), m3);                                       \
        s1 = _mm512_fmadd_ps(_mm512_set1_ps(2.0f), m3, q12);                                  \
        s2 = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(4.0f), m3, p12), m4);               \
    } while (0)

// Y = Aᵀ M A for every output channel with the epilogue (scale, bias, residual, ReLU).
__attribute__((target("avx512f,fma")))
static void transform_outputs(const float *M, long ms, long ldv, long Ho, long Wo, const wg_piece *pieces,
                              const long *first, long groups, long count, long o0, long o1, const float *scale,
                              const float *bias, const float *residual, int relu, float *y) {
    interleave3 e = make_interleave3();
    const __m512 zero = _mm512_setzero_ps();
    long oplane = Ho * Wo;
    for (long o = o0; o < o1; o++) {
        __m512 vs = _mm512_set1_ps(scale ? scale[o] : 1.0f), vb = _mm512_set1_ps(bias ? bias[o] : 0.0f);
        float *yo = y + o * oplane;
        const float *ro = residual ? residual + o * oplane : 0;
        for (long g = 0; g < groups; g++) {
            long n = count - 16 * g < 16 ? count - 16 * g : 16;
            __mmask16 lm = (__mmask16)((1u << n) - 1);
            const float *m = M + o * ldv + 16 * g;
            __m512 s[3][5];
            for (int j = 0; j < 5; j++) {
                __m512 m0 = _mm512_maskz_loadu_ps(lm, m + (0 * 5 + j) * ms), m1 = _mm512_maskz_loadu_ps(lm, m + (1 * 5 + j) * ms);
                __m512 m2 = _mm512_maskz_loadu_ps(lm, m + (2 * 5 + j) * ms), m3 = _mm512_maskz_loadu_ps(lm, m + (3 * 5 + j) * ms);
                __m512 m4 = _mm512_maskz_loadu_ps(lm, m + (4 * 5 + j) * ms);
                AT5(m0, m1, m2, m3, m4, s[0][j], s[1][j], s[2][j]);
            }
            for (int i = 0; i < 3; i++) {
                __m512 y0, y1, y2, w[3];
                AT5(s[i][0], s[i][1], s[i][2], s[i][3], s[i][4], y0, y1, y2);
                y0 = _mm512_fmadd_ps(y0, vs, vb); y1 = _mm512_fmadd_ps(y1, vs, vb); y2 = _mm512_fmadd_ps(y2, vs, vb);
                interleave(&e, y0, y1, y2, w);
                if (ro) {
                    __m512 r[3];
                    wg_gather_output_row(pieces, first[g], first[g + 1], ro, Wo, i, 3, r);
                    for (int k = 0; k < 3; k++) w[k] = _mm512_add_ps(w[k], r[k]);
                }
                if (relu)
                    for (int k = 0; k < 3; k++) w[k] = _mm512_max_ps(w[k], zero);
                wg_scatter_output_row(pieces, first[g], first[g + 1], yo, Wo, i, 3, w);
            }
        }
    }
}

// A applied to three vectors (A = Aᵀ transposed, 5 × 3).
#define A3(e0, e1, e2, u0, u1, u2, u3, u4)                                                     \
    do {                                                                                      \
        __m512 p02 = _mm512_add_ps(e0, e2);                                                   \
        u0 = e0;                                                                              \
        u1 = _mm512_add_ps(p02, e1);                                                          \
        u2 = _mm512_sub_ps(p02, e1);                                                          \
        u3 = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), e2, _mm512_fmadd_ps(_mm512_set1_ps(2.0f), e1, e0)); \
        u4 = e2;                                                                              \
    } while (0)

// Ū[ξ][o][t − t0] = A dY Aᵀ for every output channel (the weight gradient's operand).
__attribute__((target("avx512f,fma")))
static void transform_gradients(const float *dy, long Ho, long Wo, const wg_piece *pieces, const long *first,
                                long groups, long count, long o0, long o1, float *U, long us, long ld) {
    extract3 e = make_extract3();
    long oplane = Ho * Wo;
    for (long o = o0; o < o1; o++) {
        const float *go = dy + o * oplane;
        for (long g = 0; g < groups; g++) {
            __m512 d[3][3];
            for (int i = 0; i < 3; i++) {
                __m512 w[3];
                wg_gather_output_row(pieces, first[g], first[g + 1], go, Wo, i, 3, w);
                d[i][0] = extract(&e, w, 0); d[i][1] = extract(&e, w, 1); d[i][2] = extract(&e, w, 2);
            }
            __m512 t[5][3];
            for (int k = 0; k < 3; k++) A3(d[0][k], d[1][k], d[2][k], t[0][k], t[1][k], t[2][k], t[3][k], t[4][k]);
            long n = count - 16 * g < 16 ? count - 16 * g : 16;
            __mmask16 store = (__mmask16)((1u << n) - 1);
            float *u = U + o * ld + 16 * g;
            for (int i = 0; i < 5; i++) {
                __m512 r0, r1, r2, r3, r4;
                A3(t[i][0], t[i][1], t[i][2], r0, r1, r2, r3, r4);
                _mm512_mask_storeu_ps(u + (i * 5 + 0) * us, store, r0);
                _mm512_mask_storeu_ps(u + (i * 5 + 1) * us, store, r1);
                _mm512_mask_storeu_ps(u + (i * 5 + 2) * us, store, r2);
                _mm512_mask_storeu_ps(u + (i * 5 + 3) * us, store, r3);
                _mm512_mask_storeu_ps(u + (i * 5 + 4) * us, store, r4);
            }
        }
    }
}
#endif

void ck_winograd3_conv_block(const float *x, long C, long H, long W, long ph, long pw,
                             long OC, long Ho, long Wo, long ngroups, const float *packed, const float *scale,
                             const float *bias, const float *residual, int relu, long t0, long count, float *y, float *scratch) {
#if defined(__x86_64__)
    wg_conv_block(3, 3, XI, packed_stride(OC / ngroups, C / ngroups), transform_inputs, transform_outputs, x, C, H, W, ph, pw,
                  OC, Ho, Wo, ngroups, packed, scale, bias, residual, relu, t0, count, y, scratch);
#endif
}

void ck_winograd3_dw_block(const float *x, const float *dy, long C, long H, long W, long ph, long pw,
                           long OC, long Ho, long Wo, long t0, long count, int accumulate, float *acc,
                           float *scratch) {
#if defined(__x86_64__)
    wg_dw_block(3, 3, XI, transform_inputs, transform_gradients, x, dy, C, H, W, ph, pw, OC, Ho, Wo, t0, count, accumulate,
                acc, scratch);
#endif
}

// ---- few tiles: the three phases as separate calls, each split over threads by its own index ----

void ck_winograd3_inputs(const float *x, long C, long H, long W, long ph, long pw, long OC, long Ho, long Wo,
                         long t0, long count, long c0, long c1, float *V, long vs, long ldv) {
#if defined(__x86_64__)
    wg_piece pieces[2 * count + 1];
    long first[count / 16 + 2];
    long groups = wg_list_pieces(3, 3, t0, count, C, H, W, ph, pw, OC, Ho, Wo, pieces, first);
    transform_inputs(x, C, H, W, pieces, first, groups, count, c0, c1, V, vs, ldv);
#endif
}

void ck_winograd3_outputs(const float *M, long ms, long ldv, long C, long H, long W, long ph, long pw, long OC, long Ho,
                          long Wo, long t0, long count, long o0, long o1, const float *scale, const float *bias,
                          const float *residual, int relu, float *y) {
#if defined(__x86_64__)
    wg_piece pieces[2 * count + 1];
    long first[count / 16 + 2];
    long groups = wg_list_pieces(3, 3, t0, count, C, H, W, ph, pw, OC, Ho, Wo, pieces, first);
    transform_outputs(M, ms, ldv, Ho, Wo, pieces, first, groups, count, o0, o1, scale, bias, residual, relu, y);
#endif
}

void ck_winograd3_gradients(const float *dy, long C, long H, long W, long ph, long pw, long OC, long Ho, long Wo,
                            long t0, long count, long o0, long o1, float *U, long us, long ld) {
#if defined(__x86_64__)
    wg_piece pieces[2 * count + 1];
    long first[count / 16 + 2];
    long groups = wg_list_pieces(3, 3, t0, count, C, H, W, ph, pw, OC, Ho, Wo, pieces, first);
    transform_gradients(dy, Ho, Wo, pieces, first, groups, count, o0, o1, U, us, ld);
#endif
}

void ck_winograd3_dw_gemm(const float *V, long vs, const float *U, long us, long ld, long C, long OC, long count,
                          int xi0, int xi1, float *acc, float *panels) {
    // M[ξ] [OC × C] = Ū[ξ] · V[ξ]ᵀ for ξ in [xi0, xi1), V[ξ] transposed into `panels` first
    long np = (C + 63) / 64;
    for (int xi = xi0; xi < xi1; xi++) {
        for (long p = 0; p < np; p++) {
            long cols = C - 64 * p < 64 ? C - 64 * p : 64;
            ck_transpose(V + xi * vs + 64 * p * ld, cols, count, ld, panels + p * count * 64, 64);
        }
        ck_sgemm_rows_panels(OC, C, count, U + xi * us, ld, panels, acc + xi * OC * C, C, 0);
    }
}
