// Winograd F(2×2, 5×5) for stride-1, undilated 5×5 layers on AVX-512 (points 0, ±1, ±2, ∞): each
// 2×2 output tile comes from a 6×6 input tile, and 36 GEMMs over channels do 36 multiply-adds per
// tile and channel pair where direct convolution does 100 (NiN's and AlexNet's 96 → 256 layer).
//
//   Bᵀ = [[4,0,−5,0,1,0], [0,−4,−4,1,1,0], [0,4,−4,−1,1,0], [0,−2,−1,2,1,0], [0,2,−1,−2,1,0], [0,4,0,−5,0,1]]
//   G  = [[¼,0,0,0,0], [−⅙,−⅙,−⅙,−⅙,−⅙], [−⅙,⅙,−⅙,⅙,−⅙], [1/24,1/12,⅙,⅓,⅔], [1/24,−1/12,⅙,−⅓,⅔], [0,0,0,0,1]]
//   Aᵀ = [[1,1,1,1,1,0], [0,1,−1,2,−2,1]]
//
// The layout, blocks and 16-tile vector groups are winograd3.c's (winograd_pieces.h): three
// two-vector column windows per input row (columns 2k, 2k+1 / +2 / +4), one even/odd permute each.
// Only AVX-512 machines run it (ConvKernels.winogradVariant); elsewhere the entry points are empty.
#include "ckernels.h"
#include "winograd_pieces.h"
#include <string.h>

#define XI 36                 /* transformed tile elements: 6 × 6 */
#define SIXTH (1.0f / 6.0f)

static long packed_stride(long rows, long cols) { return ck_packed_a_size(rows, cols) + 32; }

long ck_winograd25_packed_size(long OC, long C) { return XI * packed_stride(OC, C); }

long ck_winograd25_scratch(long C, long OC, long block) { return XI * ((C + OC) * block + 64) + 64; }

long ck_winograd25_dw_scratch(long C, long OC, long block) {
    long panels = (C + 63) / 64;
    return XI * ((C + OC + 64 * panels) * block + 96) + 64;
}

#if defined(__x86_64__)
// G applied to five vectors (one column or row of a filter).
#define G6(g0, g1, g2, g3, g4, u)                                                               \
    do {                                                                                      \
        __m512 e_ = _mm512_add_ps(_mm512_add_ps(g0, g2), g4), o_ = _mm512_add_ps(g1, g3);      \
        __m512 p_ = _mm512_fmadd_ps(_mm512_set1_ps(2.0f / 3.0f), g4,                           \
                     _mm512_fmadd_ps(_mm512_set1_ps(1.0f / 24.0f), g0, _mm512_mul_ps(_mm512_set1_ps(SIXTH), g2))); \
        __m512 q_ = _mm512_fmadd_ps(_mm512_set1_ps(1.0f / 12.0f), g1, _mm512_mul_ps(_mm512_set1_ps(1.0f / 3.0f), g3)); \
        u[0] = _mm512_mul_ps(_mm512_set1_ps(0.25f), g0);                                      \
        u[1] = _mm512_mul_ps(_mm512_set1_ps(-SIXTH), _mm512_add_ps(e_, o_));                   \
        u[2] = _mm512_mul_ps(_mm512_set1_ps(-SIXTH), _mm512_sub_ps(e_, o_));                   \
        u[3] = _mm512_add_ps(p_, q_);                                                         \
        u[4] = _mm512_sub_ps(p_, q_);                                                         \
        u[5] = g4;                                                                            \
    } while (0)

// Panels [p0, p1) of all 36 packed matrices, 16 filters at a time (as winograd3.c's packing).
__attribute__((target("avx512f,fma")))
static void pack_panels(const float *w, long OC, long C, int adjoint, long p0, long p1, float *packed) {
    long rows = adjoint ? C : OC, cols = adjoint ? OC : C, stride = packed_stride(rows, cols);
    transpose6x16 tr = make_transpose6x16();
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
                __m512 g[25];
                wg_gather_filters(w, rows, cols, adjoint, row, k0, kn, 25, g);
                // U = G g Gᵀ: the columns first (t = G g, 6 × 5), then the rows
                __m512 t[6][5];
                for (int j = 0; j < 5; j++) {
                    __m512 u[6];
                    G6(g[j], g[5 + j], g[10 + j], g[15 + j], g[20 + j], u);
                    for (int i = 0; i < 6; i++) t[i][j] = u[i];
                }
                for (int i = 0; i < 6; i++) {
                    __m512 u[6];
                    G6(t[i][0], t[i][1], t[i][2], t[i][3], t[i][4], u);
                    for (int j = 0; j < 6; j++) stage[i * 6 + j][r] = u[j];
                }
            }
            long at = ck_packed_a_offset(rows, cols, 6 * p, k0);
            for (int xi = 0; xi < XI; xi++) wg_store_panel(&tr, stage[xi], kn, packed + xi * stride + at);
        }
    }
}

// Bᵀ applied to six vectors.
#define BT6(d0, d1, d2, d3, d4, d5, r)                                                          \
    do {                                                                                      \
        __m512 four_ = _mm512_set1_ps(4.0f), two_ = _mm512_set1_ps(2.0f), five_ = _mm512_set1_ps(5.0f); \
        __m512 a_ = _mm512_fnmadd_ps(four_, d2, d4), b_ = _mm512_fnmadd_ps(four_, d1, d3);     \
        __m512 c_ = _mm512_sub_ps(d4, d2), e_ = _mm512_mul_ps(two_, _mm512_sub_ps(d3, d1));    \
        r[0] = _mm512_add_ps(_mm512_fnmadd_ps(five_, d2, _mm512_mul_ps(four_, d0)), d4);       \
        r[1] = _mm512_add_ps(a_, b_);                                                         \
        r[2] = _mm512_sub_ps(a_, b_);                                                         \
        r[3] = _mm512_add_ps(c_, e_);                                                         \
        r[4] = _mm512_sub_ps(c_, e_);                                                         \
        r[5] = _mm512_add_ps(_mm512_fnmadd_ps(five_, d3, _mm512_mul_ps(four_, d1)), d5);       \
    } while (0)

// V[ξ][c][t − t0] = Bᵀ d B for channels [c0, c1) of the block's tiles, group by group.
__attribute__((target("avx512f,fma")))
static void transform_inputs(const float *x, long C, long H, long W, const wg_piece *pieces, const long *first,
                             long groups, long count, long c0, long c1, float *V, long vs, long ldv) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    long plane = H * W;
    (void)C;
    for (long c = c0; c < c1; c++) {
        const float *xc = x + c * plane;
        for (long g = 0; g < groups; g++) {
            __m512 d[6][6];
            for (int i = 0; i < 6; i++) {
                __m512 a[2], b[2], e[2];
                a[0] = a[1] = b[0] = b[1] = e[0] = e[1] = _mm512_setzero_ps();
                for (long q = first[g]; q < first[g + 1]; q++) {
                    const wg_piece *pc = pieces + q;
                    if (!(pc->rows >> i & 1)) continue;
                    const float *r = xc + pc->in_off + i * W;
                    wg_load_window(a, 2, pc->a, r);
                    wg_load_window(b, 2, pc->b, r + 2);
                    wg_load_window(e, 2, pc->c, r + 4);
                    unsigned long long used = pc->a | pc->b | pc->c;
                    if (c + 1 < c1 && used) {
                        // this row of the next channel: planes are too many streams for the prefetcher
                        const float *next = r + plane;
                        long q0 = __builtin_ctzll(used), q1 = 68 - __builtin_clzll(used);   /* C reads 4 further */
                        for (long k = q0; k < q1; k += 16) _mm_prefetch((const char *)(next + k), _MM_HINT_T0);
                        _mm_prefetch((const char *)(next + q1 - 1), _MM_HINT_T0);
                    }
                }
                d[i][0] = _mm512_permutex2var_ps(a[0], even, a[1]); d[i][1] = _mm512_permutex2var_ps(a[0], odd, a[1]);
                d[i][2] = _mm512_permutex2var_ps(b[0], even, b[1]); d[i][3] = _mm512_permutex2var_ps(b[0], odd, b[1]);
                d[i][4] = _mm512_permutex2var_ps(e[0], even, e[1]); d[i][5] = _mm512_permutex2var_ps(e[0], odd, e[1]);
            }
            __m512 t[6][6];
            for (int j = 0; j < 6; j++) {
                __m512 r[6];
                BT6(d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j], r);
                for (int i = 0; i < 6; i++) t[i][j] = r[i];
            }
            long n = count - 16 * g < 16 ? count - 16 * g : 16;
            __mmask16 store = (__mmask16)((1u << n) - 1);
            float *v = V + c * ldv + 16 * g;
            for (int i = 0; i < 6; i++) {
                __m512 r[6];
                BT6(t[i][0], t[i][1], t[i][2], t[i][3], t[i][4], t[i][5], r);
                for (int j = 0; j < 6; j++) _mm512_mask_storeu_ps(v + (i * 6 + j) * vs, store, r[j]);
            }
        }
    }
}

// Aᵀ applied to six vectors.
#define AT6(m0, m1, m2, m3, m4, m5, s0, s1)                                                     \
    do {                                                                                      \
        s0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(m0, m1), _mm512_add_ps(m2, m3)), m4);   \
        s1 = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(2.0f), _mm512_sub_ps(m3, m4), _mm512_sub_ps(m1, m2)), m5); \
    } while (0)

// Y = Aᵀ M A for every output channel with the epilogue (scale, bias, residual, ReLU).
__attribute__((target("avx512f,fma")))
static void transform_outputs(const float *M, long ms, long ldv, long Ho, long Wo, const wg_piece *pieces,
                              const long *first, long groups, long count, long o0, long o1, const float *scale,
                              const float *bias, const float *residual, int relu, float *y) {
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
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
            __m512 s[2][6];
            for (int j = 0; j < 6; j++) {
                __m512 v[6];
                for (int k = 0; k < 6; k++) v[k] = _mm512_maskz_loadu_ps(lm, m + (k * 6 + j) * ms);
                AT6(v[0], v[1], v[2], v[3], v[4], v[5], s[0][j], s[1][j]);
            }
            for (int i = 0; i < 2; i++) {
                __m512 y0, y1;
                AT6(s[i][0], s[i][1], s[i][2], s[i][3], s[i][4], s[i][5], y0, y1);
                y0 = _mm512_fmadd_ps(y0, vs, vb); y1 = _mm512_fmadd_ps(y1, vs, vb);
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

// A (= Aᵀ transposed, 6 × 2) applied to two vectors.
#define A6(e0, e1, u)                                                                           \
    do {                                                                                      \
        __m512 t2_ = _mm512_add_ps(e1, e1);                                                   \
        u[0] = e0; u[1] = _mm512_add_ps(e0, e1); u[2] = _mm512_sub_ps(e0, e1);                \
        u[3] = _mm512_add_ps(e0, t2_); u[4] = _mm512_sub_ps(e0, t2_); u[5] = e1;              \
    } while (0)

// Ū[ξ][o][t − t0] = A dY Aᵀ for output channels [o0, o1) (the weight gradient's operand).
__attribute__((target("avx512f")))
static void transform_gradients(const float *dy, long Ho, long Wo, const wg_piece *pieces, const long *first,
                                long groups, long count, long o0, long o1, float *U, long us, long ld) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    long oplane = Ho * Wo;
    for (long o = o0; o < o1; o++) {
        const float *go = dy + o * oplane;
        for (long g = 0; g < groups; g++) {
            __m512 r0[2], r1[2];
            wg_gather_output_row(pieces, first[g], first[g + 1], go, Wo, 0, 2, r0);
            wg_gather_output_row(pieces, first[g], first[g + 1], go, Wo, 1, 2, r1);
            __m512 e[2][2] = { { _mm512_permutex2var_ps(r0[0], even, r0[1]), _mm512_permutex2var_ps(r0[0], odd, r0[1]) },
                               { _mm512_permutex2var_ps(r1[0], even, r1[1]), _mm512_permutex2var_ps(r1[0], odd, r1[1]) } };
            __m512 t[6][2];
            for (int k = 0; k < 2; k++) {
                __m512 u[6];
                A6(e[0][k], e[1][k], u);
                for (int i = 0; i < 6; i++) t[i][k] = u[i];
            }
            long n = count - 16 * g < 16 ? count - 16 * g : 16;
            __mmask16 store = (__mmask16)((1u << n) - 1);
            float *u = U + o * ld + 16 * g;
            for (int i = 0; i < 6; i++) {
                __m512 r[6];
                A6(t[i][0], t[i][1], r);
                for (int j = 0; j < 6; j++) _mm512_mask_storeu_ps(u + (i * 6 + j) * us, store, r[j]);
            }
        }
    }
}

// Gᵀ applied to six vectors (5 results).
#define GT5(m0, m1, m2, m3, m4, m5, t)                                                          \
    do {                                                                                      \
        __m512 sp_ = _mm512_add_ps(m1, m2), sm_ = _mm512_sub_ps(m2, m1);                      \
        __m512 dp_ = _mm512_add_ps(m3, m4), dm_ = _mm512_sub_ps(m3, m4);                      \
        __m512 six_ = _mm512_set1_ps(SIXTH);                                                  \
        t[0] = _mm512_fmadd_ps(_mm512_set1_ps(0.25f), m0,                                     \
                 _mm512_fmadd_ps(_mm512_set1_ps(1.0f / 24.0f), dp_, _mm512_mul_ps(_mm512_set1_ps(-SIXTH), sp_))); \
        t[1] = _mm512_fmadd_ps(six_, sm_, _mm512_mul_ps(_mm512_set1_ps(1.0f / 12.0f), dm_));   \
        t[2] = _mm512_mul_ps(six_, _mm512_sub_ps(dp_, sp_));                                  \
        t[3] = _mm512_fmadd_ps(six_, sm_, _mm512_mul_ps(_mm512_set1_ps(1.0f / 3.0f), dm_));    \
        t[4] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(2.0f / 3.0f), dp_, _mm512_mul_ps(_mm512_set1_ps(-SIXTH), sp_)), m5); \
    } while (0)

// dW = Gᵀ M G per (o, c), 16 input channels per vector; the 25 taps go out through scatters.
__attribute__((target("avx512f,fma")))
static void dw_finish(const float *acc, long OC, long C, long o0, long o1, float *dw) {
    long stride = OC * C;
    const __m512i taps = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32(25));
    for (long o = o0; o < o1; o++) {
        for (long c0 = 0; c0 < C; c0 += 16) {
            long cn = C - c0 < 16 ? C - c0 : 16;
            __mmask16 km = (__mmask16)((1u << cn) - 1);
            const float *m = acc + o * C + c0;
            __m512 t[5][6];
            for (int j = 0; j < 6; j++) {
                __m512 v[6], r[5];
                for (int k = 0; k < 6; k++) v[k] = _mm512_maskz_loadu_ps(km, m + (k * 6 + j) * stride);
                GT5(v[0], v[1], v[2], v[3], v[4], v[5], r);
                for (int a = 0; a < 5; a++) t[a][j] = r[a];
            }
            float *d = dw + (o * C + c0) * 25;
            for (int a = 0; a < 5; a++) {
                __m512 r[5];
                GT5(t[a][0], t[a][1], t[a][2], t[a][3], t[a][4], t[a][5], r);
                for (int b = 0; b < 5; b++) _mm512_mask_i32scatter_ps(d + a * 5 + b, km, taps, r[b], 4);
            }
        }
    }
}
#endif

void ck_winograd25_pack_weights(const float *w, long OC, long C, int adjoint, long p0, long p1, float *packed) {
#if defined(__x86_64__)
    pack_panels(w, OC, C, adjoint, p0, p1, packed);
#endif
}

void ck_winograd25_dw_finish(const float *acc, long OC, long C, long o0, long o1, float *dw) {
#if defined(__x86_64__)
    dw_finish(acc, OC, C, o0, o1, dw);
#endif
}

void ck_winograd25_conv_block(const float *x, long C, long H, long W, long ph, long pw,
                              long OC, long Ho, long Wo, long ngroups, const float *packed, const float *scale,
                              const float *bias, const float *residual, int relu, long t0, long count, float *y, float *scratch) {
#if defined(__x86_64__)
    wg_conv_block(2, 5, XI, packed_stride(OC / ngroups, C / ngroups), transform_inputs, transform_outputs, x, C, H, W, ph, pw,
                  OC, Ho, Wo, ngroups, packed, scale, bias, residual, relu, t0, count, y, scratch);
#endif
}

void ck_winograd25_dw_block(const float *x, const float *dy, long C, long H, long W, long ph, long pw,
                            long OC, long Ho, long Wo, long t0, long count, int accumulate, float *acc,
                            float *scratch) {
#if defined(__x86_64__)
    wg_dw_block(2, 5, XI, transform_inputs, transform_gradients, x, dy, C, H, W, ph, pw, OC, Ho, Wo, t0, count, accumulate,
                acc, scratch);
#endif
}
