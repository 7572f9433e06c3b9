// Shared by the AVX-512 Winograd transforms of winograd.c (F(2×2, 3×3)) and winograd3.c
// (F(3×3, 3×3)): tiles in 16-lane vector groups whatever tile rows and images they come from.
//
// A tile of output side m and kernel side r reads n = m + r − 1 input columns m·k … m·k + n − 1 of
// each of its n input rows, and writes m output columns m·k … m·k + m − 1 of each of its m output
// rows. With a tile at lane l, window A holds its columns m·k … m·k + m − 1 at lanes m·l …, window
// B (loaded m columns further on) the next m, window C (2m further) the next; the output window
// holds its output columns at lanes m·l …. A window is 16·m lanes: two vectors for m = 2, three for
// m = 3. A piece, the tiles of one tile row in one group, fills its lanes of a window with masked
// loads at a shifted address; lanes outside the image are masked off and read as zero padding.
#ifndef CONVNET_WINOGRAD_PIECES_H
#define CONVNET_WINOGRAD_PIECES_H
#if defined(__x86_64__)
#include <immintrin.h>

// The part of a tile run in one group: lanes [L, L + len); offsets are of the windows' lane 0.
typedef struct {
    long in_off;                 /* image, input row m·th − ph, column m·tw − pw − m·L (channel 0) */
    long out_off;                /* image, output row m·th, column m·tw − m·L (channel 0) */
    unsigned long long a, b, c;  /* window lanes inside the input: A, B (m further), C (2m further) */
    unsigned long long o;        /* output lanes inside the map */
    int rows;                    /* bit i: input row m·th − ph + i exists (i < m + r − 1) */
    int orows;                   /* output rows of the tile inside the map (1 … m) */
} wg_piece;

// Bits [lo, hi) of a lane mask, clipped to [0, 48).
static inline unsigned long long wg_lanes(long lo, long hi) {
    if (lo < 0) lo = 0;
    if (hi > 48) hi = 48;
    if (hi <= lo) return 0;
    return ((1ull << hi) - 1) & ~((1ull << lo) - 1);
}

// The pieces of tiles [t0, t0+count) for output tiles of side m and kernels of side r, group by
// group: group g's pieces are first[g] … first[g+1] − 1. Returns the number of groups. pieces needs
// 2·count + 1 entries and first count/16 + 2.
static inline long wg_list_pieces(long m, long r, long t0, long count, long C, long H, long W, long ph, long pw, long OC,
                                  long Ho, long Wo, wg_piece *pieces, long *first) {
    long TW = (Wo + m - 1) / m, tpi = ((Ho + m - 1) / m) * TW, n = 0, groups = (count + 15) / 16;
    for (long g = 0; g < groups; g++) {
        first[g] = n;
        long end = t0 + (16 * g + 16 < count ? 16 * g + 16 : count);
        for (long t = t0 + 16 * g; t < end; n++) {
            long img = t / tpi, within = t % tpi, th = within / TW, tw = within % TW;
            long len = TW - tw < end - t ? TW - tw : end - t, L = t - t0 - 16 * g;
            long ih0 = m * th - ph, col0 = m * tw - pw - m * L, ocol0 = m * tw - m * L;
            unsigned long long lanes = wg_lanes(m * L, m * (L + len));
            int rows = 0;
            for (int i = 0; i < m + r - 1; i++) if (ih0 + i >= 0 && ih0 + i < H) rows |= 1 << i;
            long orows = Ho - m * th < m ? Ho - m * th : m;
            pieces[n] = (wg_piece){
                .in_off = img * C * H * W + ih0 * W + col0,
                .out_off = img * OC * Ho * Wo + m * th * Wo + ocol0,
                .a = lanes & wg_lanes(-col0, W - col0),
                .b = lanes & wg_lanes(-col0 - m, W - col0 - m),
                .c = lanes & wg_lanes(-col0 - 2 * m, W - col0 - 2 * m),
                .o = lanes & wg_lanes(-ocol0, Wo - ocol0),
                .rows = rows, .orows = (int)orows };
            t += len;
        }
    }
    first[groups] = n;
    return groups;
}

// 6 vectors of 16 (panel row r, column k lane) → 96 floats in packed order (k·6 + r): per output
// vector, one permute from each pair of rows and two masked blends.
typedef struct { __m512i idx[6]; __mmask16 m23[6], m45[6]; } transpose6x16;

__attribute__((target("avx512f")))
static inline transpose6x16 make_transpose6x16(void) {
    transpose6x16 t;
    for (int q = 0; q < 6; q++) {
        int v[16];
        unsigned m23 = 0, m45 = 0;
        for (int p = 0; p < 16; p++) {
            int pos = 16 * q + p, k = pos / 6, r = pos % 6;
            v[p] = k + (r & 1 ? 16 : 0);
            if (r == 2 || r == 3) m23 |= 1u << p;
            if (r >= 4) m45 |= 1u << p;
        }
        t.idx[q] = _mm512_loadu_si512(v);
        t.m23[q] = (__mmask16)m23;
        t.m45[q] = (__mmask16)m45;
    }
    return t;
}

// The taps of 16 filters of one panel row, lane l holding GEMM column k0 + l: filter (row, k0 + l)
// of w [rows × cols × taps], or (adjoint) filter (k0 + l, row) of w [cols × rows × taps] rotated by
// 180°; lanes ≥ kn read as zero. Prefetches what the row reads next, since the gathers otherwise
// stall on memory: the next 16 filters, or (adjoint) the same filters' slice six rows on.
__attribute__((target("avx512f")))
static inline void wg_gather_filters(const float *w, long rows, long cols, int adjoint, long row, long k0, long kn, int taps,
                                     __m512 *g) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i step = _mm512_mullo_epi32(lane, _mm512_set1_epi32(adjoint ? (int)(rows * taps) : taps));
    __mmask16 km = (__mmask16)((1u << kn) - 1);
    const float *base = adjoint ? w + (k0 * rows + row) * taps : w + (row * cols + k0) * taps;
    if (!adjoint) {
        for (int q = 0; q < taps; q++) _mm_prefetch((const char *)(base + 16 * taps + 16 * q), _MM_HINT_T0);
    } else if (row + 6 < rows) {
        for (long l = 0; l < kn; l++) _mm_prefetch((const char *)(base + l * rows * taps + 6 * taps), _MM_HINT_T0);
    }
    for (int q = 0; q < taps; q++) {
        __m512i idx = _mm512_add_epi32(step, _mm512_set1_epi32(adjoint ? taps - 1 - q : q));
        g[q] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), km, idx, base, 4);
    }
}

// Six rows (panel rows r, columns k0 … k0 + kn − 1 in lanes) of one transformed-weight matrix into
// the 6·kn consecutive floats the GEMM's packed layout keeps for them (see ck_packed_a_offset).
__attribute__((target("avx512f")))
static inline void wg_store_panel(const transpose6x16 *tr, const __m512 s6[6], long kn, float *dst) {
    long total = 6 * kn;
    for (int q = 0; q < 6 && 16 * q < total; q++) {
        __m512 v = _mm512_permutex2var_ps(s6[0], tr->idx[q], s6[1]);
        v = _mm512_mask_mov_ps(v, tr->m23[q], _mm512_permutex2var_ps(s6[2], tr->idx[q], s6[3]));
        v = _mm512_mask_mov_ps(v, tr->m45[q], _mm512_permutex2var_ps(s6[4], tr->idx[q], s6[5]));
        long left = total - 16 * q;
        __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        _mm512_mask_storeu_ps(dst + 16 * q, m, v);
    }
}

// w[0 … nv) (a window) takes p[16q + lane] at the lanes of `mask` (bits 16q … 16q + 15 for w[q]).
__attribute__((target("avx512f")))
static inline void wg_load_window(__m512 *w, int nv, unsigned long long mask, const float *p) {
    for (int q = 0; q < nv; q++) {
        __mmask16 k = (__mmask16)(mask >> (16 * q));
        if (k) w[q] = _mm512_mask_loadu_ps(w[q], k, p + 16 * q);
    }
}

// Output row `row` of every piece of a group (pieces q0 … q1 − 1) from `base` (a channel plane)
// into the window w[0 … nv), zero where no piece writes.
__attribute__((target("avx512f")))
static inline void wg_gather_output_row(const wg_piece *pieces, long q0, long q1, const float *base, long Wo, int row,
                                        int nv, __m512 *w) {
    for (int q = 0; q < nv; q++) w[q] = _mm512_setzero_ps();
    for (long q = q0; q < q1; q++)
        if (row < pieces[q].orows) wg_load_window(w, nv, pieces[q].o, base + pieces[q].out_off + row * Wo);
}

// The inverse: output row `row` of every piece of a group from the window into `base`.
__attribute__((target("avx512f")))
static inline void wg_scatter_output_row(const wg_piece *pieces, long q0, long q1, float *base, long Wo, int row, int nv,
                                         const __m512 *w) {
    for (long q = q0; q < q1; q++) {
        if (row >= pieces[q].orows) continue;
        float *p = base + pieces[q].out_off + row * Wo;
        for (int v = 0; v < nv; v++) {
            __mmask16 k = (__mmask16)(pieces[q].o >> (16 * v));
            if (k) _mm512_mask_storeu_ps(p + 16 * v, k, w[v]);
        }
    }
}

// ---- the block drivers of the AVX-512 variants (winograd3.c, winograd25.c) --------------------
// Both variants' transforms share these signatures; the drivers list the pieces and run the
// transforms around the GEMMs. `xi` transformed matrices, each packed `usize` floats apart.
typedef void (*wg_inputs_fn)(const float *x, long C, long H, long W, const wg_piece *pieces, const long *first,
                             long groups, long count, long c0, long c1, float *V, long vs, long ldv);
typedef void (*wg_outputs_fn)(const float *M, long ms, long ldv, long Ho, long Wo, const wg_piece *pieces,
                              const long *first, long groups, long count, long o0, long o1, const float *scale,
                              const float *bias, const float *residual, int relu, float *y);
typedef void (*wg_gradients_fn)(const float *dy, long Ho, long Wo, const wg_piece *pieces, const long *first,
                                long groups, long count, long o0, long o1, float *U, long us, long ld);

// The forward block, group after group over the same tiles: C and OC are the images' channels, the
// weights of group g start g·xi·usize floats into packed.
static inline void wg_conv_block(long m, long r, int xi, long usize, wg_inputs_fn inputs, wg_outputs_fn outputs,
                                 const float *x, long C, long H, long W, long ph, long pw, long OC, long Ho, long Wo,
                                 long ngroups, const float *packed, const float *scale, const float *bias,
                                 const float *residual, int relu, long t0, long count, float *y, float *scratch) {
    long cg = C / ngroups, og = OC / ngroups, plane = H * W, oplane = Ho * Wo;
    long ldv = count, vs = cg * ldv + 32, ms = og * ldv + 32;
    float *V = scratch, *M = V + xi * vs;
    wg_piece pieces[2 * count + 1];
    long first[count / 16 + 2];
    long groups = wg_list_pieces(m, r, t0, count, C, H, W, ph, pw, OC, Ho, Wo, pieces, first);
    for (long gr = 0; gr < ngroups; gr++) {
        const float *pg = packed + gr * xi * usize;
        inputs(x + gr * cg * plane, cg, H, W, pieces, first, groups, count, 0, cg, V, vs, ldv);
        for (int k = 0; k < xi; k++)
            ck_sgemm_packed(og, count, cg, pg + k * usize, 0, V + k * vs, ldv, M + k * ms, ldv, 0, 0);
        outputs(M, ms, ldv, Ho, Wo, pieces, first, groups, count, 0, og, scale ? scale + gr * og : 0,
                bias ? bias + gr * og : 0, residual ? residual + gr * og * oplane : 0, relu, y + gr * og * oplane);
    }
}

// The weight-gradient block: acc[ξ] [OC × C] (+)= Ū[ξ] [OC × count] · V[ξ]ᵀ (written when accumulate
// is 0), V[ξ] transposed into 64-channel panels and Ū[ξ]'s rows read in place by the micro-kernel.
static inline void wg_dw_block(long m, long r, int xi, wg_inputs_fn inputs, wg_gradients_fn gradients, const float *x,
                               const float *dy, long C, long H, long W, long ph, long pw, long OC, long Ho, long Wo,
                               long t0, long count, int accumulate, float *acc, float *scratch) {
    long ld = count, panels = (C + 63) / 64;
    long vs = C * ld + 32, us = OC * ld + 32, ts = panels * count * 64 + 32;
    float *V = scratch, *U = V + xi * vs, *Vt = U + xi * us;
    wg_piece pieces[2 * count + 1];
    long first[count / 16 + 2];
    long groups = wg_list_pieces(m, r, t0, count, C, H, W, ph, pw, OC, Ho, Wo, pieces, first);
    inputs(x, C, H, W, pieces, first, groups, count, 0, C, V, vs, ld);
    gradients(dy, Ho, Wo, pieces, first, groups, count, 0, OC, U, us, ld);
    for (int k = 0; k < xi; k++) {
        float *vt = Vt + k * ts;
        for (long p = 0; p < panels; p++) {
            long cols = C - 64 * p < 64 ? C - 64 * p : 64;
            ck_transpose(V + k * vs + 64 * p * ld, cols, count, ld, vt + p * count * 64, 64);
        }
        ck_sgemm_rows_panels(OC, C, count, U + k * us, ld, vt, acc + k * OC * C, C, accumulate);
    }
}
#endif
#endif
