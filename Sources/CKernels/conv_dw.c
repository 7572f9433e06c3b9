// Weight gradient of a stride-1 convolution without an im2col matrix.
//
// dWᵀ[tap][o] = Σ_p X_tap[p] · dY[o][p], where tap = (c, i, j). Over a zero-padded copy of the image
// (row length Wp = W + 2·pw) and with the pixel index running over the padded width
// (p' = oh·Wp + ow', ow' < Wp), tap (c, i, j)'s row of the im2col matrix is simply the contiguous
// stretch xpad[c·Hp·Wp + i·dh·Wp + j·dw + p']: the GEMM's left operand is read in place, six
// shifted views of one image at a time. The columns ow' ≥ Wo are junk; dY is given zeros there
// (a few percent more multiply-adds, for no copy of the 9×-larger im2col matrix).
#include "ckernels.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#include "conv_phases.h"
#endif

#define KCHUNK 256   /* pixels per packed dY chunk: 256 × 64 floats = 64 KB */

void ck_pad_copy(const float *x, long C, long H, long W, long ph, long pw, float *xp) {
    long Hp = H + 2 * ph, Wp = W + 2 * pw;
    for (long c = 0; c < C; c++)
        for (long h = 0; h < H; h++)
            memcpy(xp + (c * Hp + h + ph) * Wp + pw, x + (c * H + h) * W, (size_t)W * sizeof(float));
}

int ck_conv_dw_stride1_available(void) { return ck_gemm_isa() == 2; }

long ck_conv_dw_stride1_scratch(long C, long H, long W, long kh, long kw, long ph, long pw, long dw) {
    long Hp = H + 2 * ph, Wp = W + 2 * pw;
    return C * Hp * Wp + (kw - 1) * dw + 64 + KCHUNK * 64 + 64 + 2 * C * kh * kw + 16;   // image, dY chunk, tap rows
}

#if defined(__x86_64__)
// acc[r·ldc + n] (+)= Σ_k rows[r][k] · b[k·64 + n] for r < nrows, n < cols (added when accumulate ≠ 0);
// the six rows are read in place.
__attribute__((target("avx512f,fma")))
static void ukr_rows(long k, const float *const rows[6], long nrows, const float *b, float *acc, long ldc, long cols,
                     int accumulate) {
    __m512 z = _mm512_setzero_ps();
    __m512 c00 = z, c01 = z, c02 = z, c03 = z, c10 = z, c11 = z, c12 = z, c13 = z;
    __m512 c20 = z, c21 = z, c22 = z, c23 = z, c30 = z, c31 = z, c32 = z, c33 = z;
    __m512 c40 = z, c41 = z, c42 = z, c43 = z, c50 = z, c51 = z, c52 = z, c53 = z;
    const float *a0 = rows[0], *a1 = rows[nrows > 1 ? 1 : 0], *a2 = rows[nrows > 2 ? 2 : 0];
    const float *a3 = rows[nrows > 3 ? 3 : 0], *a4 = rows[nrows > 4 ? 4 : 0], *a5 = rows[nrows > 5 ? 5 : 0];
    for (long p = 0; p < k; p++) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        __m512 b2 = _mm512_loadu_ps(b + 32), b3 = _mm512_loadu_ps(b + 48);
        __m512 x;
#define ROW(r) x = _mm512_set1_ps(a##r[p]); \
        c##r##0 = _mm512_fmadd_ps(x, b0, c##r##0); c##r##1 = _mm512_fmadd_ps(x, b1, c##r##1); \
        c##r##2 = _mm512_fmadd_ps(x, b2, c##r##2); c##r##3 = _mm512_fmadd_ps(x, b3, c##r##3);
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
        b += 64;
    }
    __mmask16 m[4];
    for (int j = 0; j < 4; j++) {
        long n = cols - 16 * j;
        m[j] = n >= 16 ? (__mmask16)0xFFFF : (n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1));
    }
#define ST1(r, j) do { float *q = acc + r * ldc + 16 * j; \
        _mm512_mask_storeu_ps(q, m[j], accumulate ? _mm512_add_ps(c##r##j, _mm512_maskz_loadu_ps(m[j], q)) : c##r##j); } while (0)
#define ST4(r) if (nrows > r) { ST1(r, 0); ST1(r, 1); ST1(r, 2); ST1(r, 3); }
    ST4(0) ST4(1) ST4(2) ST4(3) ST4(4) ST4(5)
#undef ST4
#undef ST1
}
#endif

void ck_sgemm_rows_panels(long M, long N, long K, const float *A, long lda, const float *Bp, float *C, long ldc,
                          int accumulate) {
#if defined(__x86_64__)
    if (ck_gemm_isa() == 2) {
        for (long n0 = 0; n0 < N; n0 += 64) {
            long cols = N - n0 < 64 ? N - n0 : 64;
            const float *b = Bp + (n0 / 64) * K * 64;
            for (long i0 = 0; i0 < M; i0 += 6) {
                long nrows = M - i0 < 6 ? M - i0 : 6;
                const float *rows[6];
                for (long r = 0; r < nrows; r++) rows[r] = A + (i0 + r) * lda;
                ukr_rows(K, rows, nrows, b, C + i0 * ldc + n0, ldc, cols, accumulate);
            }
        }
        return;
    }
#endif
    // each 64-column panel is a K × 64 row-major matrix: the blocked GEMM (AVX2 or portable) takes it
    for (long n0 = 0; n0 < N; n0 += 64) {
        long cols = N - n0 < 64 ? N - n0 : 64;
        ck_sgemm(0, 0, M, cols, K, A, lda, Bp + (n0 / 64) * K * 64, 64, C + n0, ldc, accumulate);
    }
}

#if defined(__x86_64__)
// The in-place weight gradient over one image's copy `xp` with rows Wq long, where tap t's row of
// the im2col matrix starts at xp + base[t] (see the two entry points below).
__attribute__((target("avx512f,fma")))
static void dw_in_place(const float *xp, const long *base, long taps, const float *dyi, long OC, long Ho, long Wo, long Wq,
                        float *acc, float *bp) {
    long K = Ho * Wq;
    for (long n0 = 0; n0 < OC; n0 += 64) {
        long cols = OC - n0 < 64 ? OC - n0 : 64;
        for (long k0 = 0; k0 < K; k0 += KCHUNK) {
            long kc = K - k0 < KCHUNK ? K - k0 : KCHUNK;
            // dY for pixels [k0, k0+kc) of the row-padded grid, as [pixel][64 output channels]
            memset(bp, 0, (size_t)(kc * 64) * sizeof(float));
            for (long q = k0, oh = k0 / Wq, ow = k0 % Wq; q < k0 + kc; oh++, ow = 0) {
                // one output row's stretch: real columns get dY, junk columns keep their zeros
                long run = Wq - ow < k0 + kc - q ? Wq - ow : k0 + kc - q;
                long real = Wo - ow < run ? Wo - ow : run;
                float *dst = bp + (q - k0) * 64;
                for (long o = 0; o < cols; o++) {
                    const float *src = dyi + (n0 + o) * Ho * Wo + oh * Wo + ow;
                    // scalar: the vectoriser's scatter cost more than these stores
#pragma clang loop vectorize(disable)
                    for (long t = 0; t < real; t++) dst[t * 64 + o] = src[t];
                }
                q += run;
            }
            for (long t0 = 0; t0 < taps; t0 += 6) {
                long nrows = taps - t0 < 6 ? taps - t0 : 6;
                const float *rows[6];
                for (long r = 0; r < nrows; r++) rows[r] = xp + base[t0 + r] + k0;
                ukr_rows(kc, rows, nrows, bp, acc + t0 * OC + n0, OC, cols, 1);
            }
        }
    }
}
#endif

void ck_conv_dw_stride1(const float *x, const float *dy, long images, long C, long H, long W, long OC,
                        long kh, long kw, long ph, long pw, long dh, long dw, long Ho, long Wo,
                        float *acc, float *scratch) {
#if defined(__x86_64__)
    long Hp = H + 2 * ph, Wp = W + 2 * pw, plane = Hp * Wp;
    long taps = C * kh * kw;
    float *xp = scratch, *bp = scratch + C * plane + (kw - 1) * dw + 64;
    long *base = (long *)(bp + KCHUNK * 64 + 64);
    for (long t = 0; t < taps; t++) {
        long c = t / (kh * kw), ij = t % (kh * kw), i = ij / kw, j = ij % kw;
        base[t] = c * plane + i * dh * Wp + j * dw;
    }
    // the padding border and the slack past the last plane stay zero for every image
    memset(xp, 0, (size_t)(C * plane + (kw - 1) * dw + 64) * sizeof(float));
    for (long img = 0; img < images; img++) {
        ck_pad_copy(x + img * C * H * W, C, H, W, ph, pw, xp);
        dw_in_place(xp, base, taps, dy + img * OC * Ho * Wo, OC, Ho, Wo, Wp, acc, bp);
    }
#else
    (void)x; (void)dy; (void)images; (void)C; (void)H; (void)W; (void)OC; (void)kh; (void)kw; (void)ph; (void)pw;
    (void)dh; (void)dw; (void)Ho; (void)Wo; (void)acc; (void)scratch;
#endif
}

long ck_conv_dw_stride2_scratch(long C, long H, long W, long kh, long kw, long ph, long pw) {
#if defined(__x86_64__)
    phase_geometry g = phase_geometry_make(H, W, kw, ph, pw, 2, 0);
    return C * 4 * g.stride + KCHUNK * 64 + 64 + 2 * C * kh * kw + 16;
#else
    (void)C; (void)H; (void)W; (void)kh; (void)kw; (void)ph; (void)pw;
    return 1;
#endif
}

void ck_conv_dw_stride2(const float *x, const float *dy, long images, long C, long H, long W, long OC,
                        long kh, long kw, long ph, long pw, long Ho, long Wo, float *acc, float *scratch) {
#if defined(__x86_64__)
    // stride 2 over each image's four phases: tap (c, i, j) reads phase (i mod 2, j mod 2) of
    // channel c from row ⌊i/2⌋, column ⌊j/2⌋, so its im2col row is again one contiguous stretch
    phase_geometry g = phase_geometry_make(H, W, kw, ph, pw, 2, 0);
    long taps = C * kh * kw;
    float *xp = scratch, *bp = scratch + C * 4 * g.stride;
    long *base = (long *)(bp + KCHUNK * 64 + 64);
    phase_tap_offsets(&g, C, kh, kw, base);
    for (long img = 0; img < images; img++) {
        for (long c = 0; c < C; c++) phases512(&g, x + (img * C + c) * H * W, xp + c * 4 * g.stride);
        dw_in_place(xp, base, taps, dy + img * OC * Ho * Wo, OC, Ho, Wo, g.Wq, acc, bp);
    }
#else
    (void)x; (void)dy; (void)images; (void)C; (void)H; (void)W; (void)OC; (void)kh; (void)kw; (void)ph; (void)pw;
    (void)Ho; (void)Wo; (void)acc; (void)scratch;
#endif
}

#if defined(__x86_64__)
// One 8×8 block through registers: unpack pairs, then quads, then swap 128-bit halves.
__attribute__((target("avx2")))
static inline void transpose8x8(const float *src, long lds, float *dst, long ldd) {
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lds), r2 = _mm256_loadu_ps(src + 2 * lds);
    __m256 r3 = _mm256_loadu_ps(src + 3 * lds), r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds);
    __m256 r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3);
    __m256 t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE), u2 = _mm256_shuffle_ps(t1, t3, 0x44);
    __m256 u3 = _mm256_shuffle_ps(t1, t3, 0xEE), u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
}

__attribute__((target("avx2")))
static void transpose_avx(const float *src, long rows, long cols, long lds, float *dst, long ldd) {
    long r8 = rows & ~7L, c8 = cols & ~7L;
    // 32×32 tiles of 8×8 blocks keep both sides within a few dozen cache lines
    for (long i0 = 0; i0 < r8; i0 += 32) {
        long i1 = i0 + 32 < r8 ? i0 + 32 : r8;
        for (long j0 = 0; j0 < c8; j0 += 32) {
            long j1 = j0 + 32 < c8 ? j0 + 32 : c8;
            for (long i = i0; i < i1; i += 8)
                for (long j = j0; j < j1; j += 8) transpose8x8(src + i * lds + j, lds, dst + j * ldd + i, ldd);
        }
    }
    for (long i = 0; i < rows; i++)
        for (long j = (i < r8 ? c8 : 0); j < cols; j++) dst[j * ldd + i] = src[i * lds + j];
}
#endif

void ck_transpose(const float *src, long rows, long cols, long ldsrc, float *dst, long lddst) {
#if defined(__x86_64__)
    if (ck_gemm_isa() >= 1) { transpose_avx(src, rows, cols, ldsrc, dst, lddst); return; }
#endif
    // 16×16 blocks: both sides touch 16 cache lines at a time instead of one line per element
    for (long i0 = 0; i0 < rows; i0 += 16) {
        long i1 = i0 + 16 < rows ? i0 + 16 : rows;
        for (long j0 = 0; j0 < cols; j0 += 16) {
            long j1 = j0 + 16 < cols ? j0 + 16 : cols;
            for (long j = j0; j < j1; j++)
                for (long i = i0; i < i1; i++) dst[j * lddst + i] = src[i * ldsrc + j];
        }
    }
}
