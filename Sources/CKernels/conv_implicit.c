// Implicit GEMM for convolutions with few input channels (a network's stem: 3 channels, 7×7/2),
// where packing the im2col matrix costs about as much as the multiply-adds it feeds. The
// GEMM micro-kernel's 6×64 tile (6 output channels × 64 pixels of an output row) reads each tap's
// 64 pixels straight from the input's padded phases (conv_phases.h), the weights come packed as
// the GEMM's left operand (ck_pack_a), and the epilogue rides on the stores. AVX2
// machines run the same scheme on 6×16 tiles.
#include "ckernels.h"
#if defined(__x86_64__)
#include "conv_phases.h"
#endif

int ck_conv_implicit_available(void) { return ck_gemm_isa() >= 1; }

long ck_conv_implicit_phases_size(long C, long H, long W, long kw, long ph, long pw, long s) {
#if defined(__x86_64__)
    phase_geometry g = phase_geometry_make(H, W, kw, ph, pw, s, 1);
    return C * s * s * g.stride;
#else
    (void)C; (void)H; (void)W; (void)kw; (void)ph; (void)pw; (void)s;
    return 1;
#endif
}

void ck_conv_implicit_phases(const float *x, long C, long H, long W, long kw, long ph, long pw, long s, long part, long parts,
                             float *phases) {
#if defined(__x86_64__)
    phase_geometry g = phase_geometry_make(H, W, kw, ph, pw, s, 1);
    long rows = s * g.Hq, r0 = rows * part / parts, r1 = rows * (part + 1) / parts;
    int wide = ck_gemm_isa() == 2;
    for (long c = 0; c < C; c++) {
        if (wide) phases512_rows(&g, x + c * H * W, phases + c * s * s * g.stride, r0, r1);
        else phases256_rows(&g, x + c * H * W, phases + c * s * s * g.stride, r0, r1);
    }
#else
    (void)x; (void)C; (void)H; (void)W; (void)kw; (void)ph; (void)pw; (void)s; (void)part; (void)parts; (void)phases;
#endif
}

#if defined(__x86_64__)
#define IG_ROW(r)                                                                                    \
    if (ROWS > r) { __m512 a = _mm512_set1_ps(ap[r]);                                                \
      c##r##0 = _mm512_fmadd_ps(a, b0, c##r##0);                                                     \
      if (NV > 1) c##r##1 = _mm512_fmadd_ps(a, b1, c##r##1);                                         \
      if (NV > 2) c##r##2 = _mm512_fmadd_ps(a, b2, c##r##2);                                         \
      if (NV > 3) c##r##3 = _mm512_fmadd_ps(a, b3, c##r##3); }
#define IG_STORE1(r, v)                                                                              \
    epilogue_store512(c##r##v, lanes16(left - 16 * v), vs, vt, resid ? resid + (o0 + r) * plane + pos + 16 * v : 0, \
                      relu, clamp, vlo, vhi, y + (o0 + r) * plane + pos + 16 * v)
#define IG_STORE(r)                                                                                  \
    if (ROWS > r) { vs = _mm512_set1_ps(scale ? scale[o0 + r] : 1.0f); vt = _mm512_set1_ps(shift ? shift[o0 + r] : 0.0f); \
                    IG_STORE1(r, 0); if (NV > 1) IG_STORE1(r, 1); if (NV > 2) IG_STORE1(r, 2); if (NV > 3) IG_STORE1(r, 3); }

// Output channels o0 … o0 + ROWS − 1 (ROWS ≤ 6, a constant: a last panel of 2 rows, as 32 channels
// leave, multiplies 2 rows, not 6) at the NV·16 pixels from `pos` (left: how many of them are real)
// of the plane-major output y, from the taps at phases + off[k] + base.
__attribute__((target("avx512f,fma"), always_inline))
static inline void ig_tile512(const int NV, const int ROWS, const float *phases, const long *off, long K, long M,
                              const float *apacked, long o0, long base, long pos, long left, long plane, const ck_epilogue *ep,
                              float *y) {
    const __m512 z = _mm512_setzero_ps();
    __m512 c00 = z, c01 = z, c02 = z, c03 = z, c10 = z, c11 = z, c12 = z, c13 = z, c20 = z, c21 = z, c22 = z, c23 = z;
    __m512 c30 = z, c31 = z, c32 = z, c33 = z, c40 = z, c41 = z, c42 = z, c43 = z, c50 = z, c51 = z, c52 = z, c53 = z;
    for (long k0 = 0; k0 < K; k0 += 384) {
        long k1 = K - k0 < 384 ? K : k0 + 384;
        const float *ap = apacked + ck_packed_a_offset(M, K, o0, k0);
        for (long k = k0; k < k1; k++, ap += 6) {
            const float *src = phases + off[k] + base;
            __m512 b0 = _mm512_loadu_ps(src), b1 = z, b2 = z, b3 = z;
            if (NV > 1) b1 = _mm512_loadu_ps(src + 16);
            if (NV > 2) b2 = _mm512_loadu_ps(src + 32);
            if (NV > 3) b3 = _mm512_loadu_ps(src + 48);
            IG_ROW(0) IG_ROW(1) IG_ROW(2) IG_ROW(3) IG_ROW(4) IG_ROW(5)
        }
    }
    // the epilogue's fields in locals: each store through y could alias *ep as far as the compiler
    // knows, and would have every field loaded again
    const float *scale = ep ? ep->scale : 0, *shift = ep ? ep->shift : 0, *resid = ep ? ep->residual : 0;
    const int relu = ep ? ep->relu : 0, clamp = ep ? ep->clamp : 0;
    const __m512 vlo = _mm512_set1_ps(ep ? ep->lo : 0), vhi = _mm512_set1_ps(ep ? ep->hi : 0);
    __m512 vs, vt;
    IG_STORE(0) IG_STORE(1) IG_STORE(2) IG_STORE(3) IG_STORE(4) IG_STORE(5)
}
#undef IG_ROW
#undef IG_STORE1
#undef IG_STORE

// Channel panel by panel, each over all the rows: the tiles' stores then run along six output
// planes at a time, not all of them (a 224² image's 32 planes of 112² are 1.6 MB written to lines
// not in cache, and 32 interleaved store streams outran the prefetcher). The phases, read once per
// panel, stay in L2.
__attribute__((target("avx512f,fma")))
static void ig_rows512(const float *phases, const long *off, long K, long M, const float *apacked, long Ho, long Wo, long Wq,
                       long oh0, long oh1, const ck_epilogue *ep, float *y) {
    long plane = Ho * Wo;
    for (long o0 = 0; o0 < M; o0 += 6) {
        const long rows = M - o0 < 6 ? M - o0 : 6;
        for (long oh = oh0; oh < oh1; oh++) {
            for (long ow = 0; ow < Wo; ow += 64) {
                long left = Wo - ow, base = oh * Wq + ow, pos = oh * Wo + ow;
#define IG_TILE(NV, ROWS) ig_tile512(NV, ROWS, phases, off, K, M, apacked, o0, base, pos, left, plane, ep, y)
#define IG_TILES(NV) switch (rows) { case 6: IG_TILE(NV, 6); break; case 5: IG_TILE(NV, 5); break; case 4: IG_TILE(NV, 4); break; \
                                     case 3: IG_TILE(NV, 3); break; case 2: IG_TILE(NV, 2); break; default: IG_TILE(NV, 1); }
                if (left > 48) IG_TILES(4)
                else if (left > 32) IG_TILES(3)
                else if (left > 16) IG_TILES(2)
                else IG_TILES(1)
#undef IG_TILES
#undef IG_TILE
            }
        }
    }
}

// The AVX2 form: 6 output channels × 16 pixels (two 8-lane vectors; NV = 1 for a row's last 8 or
// fewer), the same taps, packed weights and epilogue.
static const int32_t ig_lanes[16] = { -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0 };

__attribute__((target("avx2,fma"), always_inline))
static inline void ig_store256(__m256 v, long n, __m256 vs, __m256 vt, const float *res, int relu, int clamp, __m256 vlo, __m256 vhi,
                               float *dst) {
    if (n <= 0) return;
    __m256i m = _mm256_loadu_si256((const __m256i *)(ig_lanes + 8 - (n >= 8 ? 8 : n)));
    v = _mm256_fmadd_ps(v, vs, vt);
    if (res) v = _mm256_add_ps(v, n >= 8 ? _mm256_loadu_ps(res) : _mm256_maskload_ps(res, m));
    if (relu) v = _mm256_max_ps(v, _mm256_setzero_ps());
    // max(lo, v), min(hi, ·): the second operand is returned for NaN, so NaN stays NaN
    if (clamp) v = _mm256_min_ps(vhi, _mm256_max_ps(vlo, v));
    if (n >= 8) _mm256_storeu_ps(dst, v); else _mm256_maskstore_ps(dst, m, v);
}

#define IG2_ROW(r)                                                                                   \
    if (ROWS > r) { __m256 a = _mm256_broadcast_ss(ap + r);                                          \
      c##r##0 = _mm256_fmadd_ps(a, b0, c##r##0);                                                     \
      if (NV > 1) c##r##1 = _mm256_fmadd_ps(a, b1, c##r##1); }
#define IG2_STORE1(r, v)                                                                             \
    ig_store256(c##r##v, left - 8 * v, vs, vt, resid ? resid + (o0 + r) * plane + pos + 8 * v : 0, relu, clamp, vlo, vhi, \
                y + (o0 + r) * plane + pos + 8 * v)
#define IG2_STORE(r) if (ROWS > r) { vs = _mm256_set1_ps(scale ? scale[o0 + r] : 1.0f); vt = _mm256_set1_ps(shift ? shift[o0 + r] : 0.0f); \
                                     IG2_STORE1(r, 0); if (NV > 1) IG2_STORE1(r, 1); }

__attribute__((target("avx2,fma"), always_inline))
static inline void ig_tile256(const int NV, const int ROWS, const float *phases, const long *off, long K, long M,
                              const float *apacked, long o0, long base, long pos, long left, long plane, const ck_epilogue *ep,
                              float *y) {
    const __m256 z = _mm256_setzero_ps();
    __m256 c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z, c41 = z, c50 = z, c51 = z;
    for (long k0 = 0; k0 < K; k0 += 384) {
        long k1 = K - k0 < 384 ? K : k0 + 384;
        const float *ap = apacked + ck_packed_a_offset(M, K, o0, k0);
        for (long k = k0; k < k1; k++, ap += 6) {
            const float *src = phases + off[k] + base;
            __m256 b0 = _mm256_loadu_ps(src), b1 = z;
            if (NV > 1) b1 = _mm256_loadu_ps(src + 8);
            IG2_ROW(0) IG2_ROW(1) IG2_ROW(2) IG2_ROW(3) IG2_ROW(4) IG2_ROW(5)
        }
    }
    // the epilogue's fields in locals (a store through y could alias *ep as far as the compiler knows)
    const float *scale = ep ? ep->scale : 0, *shift = ep ? ep->shift : 0, *resid = ep ? ep->residual : 0;
    const int relu = ep ? ep->relu : 0, clamp = ep ? ep->clamp : 0;
    const __m256 vlo = _mm256_set1_ps(ep ? ep->lo : 0), vhi = _mm256_set1_ps(ep ? ep->hi : 0);
    __m256 vs, vt;
    IG2_STORE(0) IG2_STORE(1) IG2_STORE(2) IG2_STORE(3) IG2_STORE(4) IG2_STORE(5)
}
#undef IG2_ROW
#undef IG2_STORE1
#undef IG2_STORE

__attribute__((target("avx2,fma")))
static void ig_rows256(const float *phases, const long *off, long K, long M, const float *apacked, long Ho, long Wo, long Wq,
                       long oh0, long oh1, const ck_epilogue *ep, float *y) {
    long plane = Ho * Wo;
    for (long oh = oh0; oh < oh1; oh++) {
        for (long ow = 0; ow < Wo; ow += 16) {
            long left = Wo - ow, base = oh * Wq + ow, pos = oh * Wo + ow;
            for (long o0 = 0; o0 < M; o0 += 6) {
                const long rows = M - o0 < 6 ? M - o0 : 6;
#define IG_TILE(NV, ROWS) ig_tile256(NV, ROWS, phases, off, K, M, apacked, o0, base, pos, left, plane, ep, y)
#define IG_TILES(NV) switch (rows) { case 6: IG_TILE(NV, 6); break; case 5: IG_TILE(NV, 5); break; case 4: IG_TILE(NV, 4); break; \
                                     case 3: IG_TILE(NV, 3); break; case 2: IG_TILE(NV, 2); break; default: IG_TILE(NV, 1); }
                if (left > 8) IG_TILES(2)
                else IG_TILES(1)
#undef IG_TILES
#undef IG_TILE
            }
        }
    }
}
#endif

void ck_conv_implicit(const float *phases, long C, long H, long W, long M, long kh, long kw, long s, long ph, long pw,
                      long Ho, long Wo, const float *apacked, const ck_epilogue *ep, long oh0, long oh1, float *y, long *off) {
#if defined(__x86_64__)
    phase_geometry g = phase_geometry_make(H, W, kw, ph, pw, s, 1);
    long K = C * kh * kw;
    phase_tap_offsets(&g, C, kh, kw, off);
    if (ck_gemm_isa() == 2) ig_rows512(phases, off, K, M, apacked, Ho, Wo, g.Wq, oh0, oh1, ep, y);
    else ig_rows256(phases, off, K, M, apacked, Ho, Wo, g.Wq, oh0, oh1, ep, y);
#else
    (void)phases; (void)C; (void)H; (void)W; (void)M; (void)kh; (void)kw; (void)s; (void)ph; (void)pw; (void)Ho; (void)Wo;
    (void)apacked; (void)ep; (void)oh0; (void)oh1; (void)y; (void)off;
#endif
}
