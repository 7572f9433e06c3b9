// C[M×N] = A[M×K] · Bᵀ for very small N (a convolution of one image on a 3×3 map: N = 9 pixels,
// K = 4608 taps, M = 512 channels). The blocked GEMM would pad N to a 64-wide panel and repack the
// whole of A (the weights) on every call; here each row of A is streamed once and dotted with the
// N rows of B, which stay in L2: the layer runs at the speed of reading its weights.
#include "ckernels.h"
#if defined(__x86_64__)
#include <immintrin.h>

// Two rows of A against four rows of B at a time: 2 + 4 loads for 8 FMAs per 16 k.
__attribute__((target("avx512f,fma")))
static void dots_avx512(long M, long N, long K, const float *A, long lda, const float *B, long ldb, float *C, long ldc) {
    long k16 = K & ~15L;
    __mmask16 tail = (__mmask16)((1u << (K - k16)) - 1);
    for (long i = 0; i < M; i += 2) {
        int two = i + 1 < M;
        const float *a0 = A + i * lda, *a1 = two ? a0 + lda : a0;
        for (long j = 0; j < N; j += 4) {
            long nj = N - j < 4 ? N - j : 4;
            const float *b0 = B + j * ldb, *b1 = nj > 1 ? b0 + ldb : b0, *b2 = nj > 2 ? b0 + 2 * ldb : b0, *b3 = nj > 3 ? b0 + 3 * ldb : b0;
            __m512 s00 = _mm512_setzero_ps(), s01 = s00, s02 = s00, s03 = s00, s10 = s00, s11 = s00, s12 = s00, s13 = s00;
            for (long k = 0; k <= K - 16; k += 16) {
                __m512 x0 = _mm512_loadu_ps(a0 + k), x1 = _mm512_loadu_ps(a1 + k);
                __m512 y0 = _mm512_loadu_ps(b0 + k), y1 = _mm512_loadu_ps(b1 + k), y2 = _mm512_loadu_ps(b2 + k), y3 = _mm512_loadu_ps(b3 + k);
                s00 = _mm512_fmadd_ps(x0, y0, s00); s01 = _mm512_fmadd_ps(x0, y1, s01);
                s02 = _mm512_fmadd_ps(x0, y2, s02); s03 = _mm512_fmadd_ps(x0, y3, s03);
                s10 = _mm512_fmadd_ps(x1, y0, s10); s11 = _mm512_fmadd_ps(x1, y1, s11);
                s12 = _mm512_fmadd_ps(x1, y2, s12); s13 = _mm512_fmadd_ps(x1, y3, s13);
            }
            if (tail) {
                __m512 x0 = _mm512_maskz_loadu_ps(tail, a0 + k16), x1 = _mm512_maskz_loadu_ps(tail, a1 + k16);
                __m512 y0 = _mm512_maskz_loadu_ps(tail, b0 + k16), y1 = _mm512_maskz_loadu_ps(tail, b1 + k16);
                __m512 y2 = _mm512_maskz_loadu_ps(tail, b2 + k16), y3 = _mm512_maskz_loadu_ps(tail, b3 + k16);
                s00 = _mm512_fmadd_ps(x0, y0, s00); s01 = _mm512_fmadd_ps(x0, y1, s01);
                s02 = _mm512_fmadd_ps(x0, y2, s02); s03 = _mm512_fmadd_ps(x0, y3, s03);
                s10 = _mm512_fmadd_ps(x1, y0, s10); s11 = _mm512_fmadd_ps(x1, y1, s11);
                s12 = _mm512_fmadd_ps(x1, y2, s12); s13 = _mm512_fmadd_ps(x1, y3, s13);
            }
            float r0[4] = { _mm512_reduce_add_ps(s00), _mm512_reduce_add_ps(s01), _mm512_reduce_add_ps(s02), _mm512_reduce_add_ps(s03) };
            float r1[4] = { _mm512_reduce_add_ps(s10), _mm512_reduce_add_ps(s11), _mm512_reduce_add_ps(s12), _mm512_reduce_add_ps(s13) };
            for (long q = 0; q < nj; q++) {
                C[i * ldc + j + q] = r0[q];
                if (two) C[(i + 1) * ldc + j + q] = r1[q];
            }
        }
    }
}

// N = 1 (a matrix times one vector): four rows of A against the vector, 5 loads for 4 FMAs.
__attribute__((target("avx512f,fma")))
static void dots1_avx512(long M, long K, const float *A, long lda, const float *B, float *C, long ldc) {
    long k16 = K & ~15L;
    __mmask16 tail = (__mmask16)((1u << (K - k16)) - 1);
    for (long i = 0; i < M; i += 4) {
        long rows = M - i < 4 ? M - i : 4;
        const float *a0 = A + i * lda, *a1 = rows > 1 ? a0 + lda : a0, *a2 = rows > 2 ? a0 + 2 * lda : a0, *a3 = rows > 3 ? a0 + 3 * lda : a0;
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        for (long k = 0; k < k16; k += 16) {
            __m512 y = _mm512_loadu_ps(B + k);
            s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a0 + k), y, s0); s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a1 + k), y, s1);
            s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a2 + k), y, s2); s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a3 + k), y, s3);
        }
        if (tail) {
            __m512 y = _mm512_maskz_loadu_ps(tail, B + k16);
            s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, a0 + k16), y, s0); s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, a1 + k16), y, s1);
            s2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, a2 + k16), y, s2); s3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, a3 + k16), y, s3);
        }
        float r[4] = { _mm512_reduce_add_ps(s0), _mm512_reduce_add_ps(s1), _mm512_reduce_add_ps(s2), _mm512_reduce_add_ps(s3) };
        for (long q = 0; q < rows; q++) C[(i + q) * ldc] = r[q];
    }
}

// The AVX2 forms of the two above: 8 lanes, the K tail read through a lane mask.
static const int32_t tail_lanes[16] = { -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0 };

__attribute__((target("avx2,fma")))
static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

__attribute__((target("avx2,fma")))
static void dots_avx2(long M, long N, long K, const float *A, long lda, const float *B, long ldb, float *C, long ldc) {
    long k8 = K & ~7L;
    __m256i tail = _mm256_loadu_si256((const __m256i *)(tail_lanes + 8 - (K - k8)));
    for (long i = 0; i < M; i += 2) {
        int two = i + 1 < M;
        const float *a0 = A + i * lda, *a1 = two ? a0 + lda : a0;
        for (long j = 0; j < N; j += 4) {
            long nj = N - j < 4 ? N - j : 4;
            const float *b0 = B + j * ldb, *b1 = nj > 1 ? b0 + ldb : b0, *b2 = nj > 2 ? b0 + 2 * ldb : b0, *b3 = nj > 3 ? b0 + 3 * ldb : b0;
            __m256 s00 = _mm256_setzero_ps(), s01 = s00, s02 = s00, s03 = s00, s10 = s00, s11 = s00, s12 = s00, s13 = s00;
            for (long k = 0; k < k8; k += 8) {
                __m256 x0 = _mm256_loadu_ps(a0 + k), x1 = _mm256_loadu_ps(a1 + k);
                __m256 y0 = _mm256_loadu_ps(b0 + k), y1 = _mm256_loadu_ps(b1 + k), y2 = _mm256_loadu_ps(b2 + k), y3 = _mm256_loadu_ps(b3 + k);
                s00 = _mm256_fmadd_ps(x0, y0, s00); s01 = _mm256_fmadd_ps(x0, y1, s01);
                s02 = _mm256_fmadd_ps(x0, y2, s02); s03 = _mm256_fmadd_ps(x0, y3, s03);
                s10 = _mm256_fmadd_ps(x1, y0, s10); s11 = _mm256_fmadd_ps(x1, y1, s11);
                s12 = _mm256_fmadd_ps(x1, y2, s12); s13 = _mm256_fmadd_ps(x1, y3, s13);
            }
            if (K > k8) {
                __m256 x0 = _mm256_maskload_ps(a0 + k8, tail), x1 = _mm256_maskload_ps(a1 + k8, tail);
                __m256 y0 = _mm256_maskload_ps(b0 + k8, tail), y1 = _mm256_maskload_ps(b1 + k8, tail);
                __m256 y2 = _mm256_maskload_ps(b2 + k8, tail), y3 = _mm256_maskload_ps(b3 + k8, tail);
                s00 = _mm256_fmadd_ps(x0, y0, s00); s01 = _mm256_fmadd_ps(x0, y1, s01);
                s02 = _mm256_fmadd_ps(x0, y2, s02); s03 = _mm256_fmadd_ps(x0, y3, s03);
                s10 = _mm256_fmadd_ps(x1, y0, s10); s11 = _mm256_fmadd_ps(x1, y1, s11);
                s12 = _mm256_fmadd_ps(x1, y2, s12); s13 = _mm256_fmadd_ps(x1, y3, s13);
            }
            float r0[4] = { hsum256(s00), hsum256(s01), hsum256(s02), hsum256(s03) };
            float r1[4] = { hsum256(s10), hsum256(s11), hsum256(s12), hsum256(s13) };
            for (long q = 0; q < nj; q++) {
                C[i * ldc + j + q] = r0[q];
                if (two) C[(i + 1) * ldc + j + q] = r1[q];
            }
        }
    }
}

__attribute__((target("avx2,fma")))
static void dots1_avx2(long M, long K, const float *A, long lda, const float *B, float *C, long ldc) {
    long k8 = K & ~7L;
    __m256i tail = _mm256_loadu_si256((const __m256i *)(tail_lanes + 8 - (K - k8)));
    for (long i = 0; i < M; i += 4) {
        long rows = M - i < 4 ? M - i : 4;
        const float *a0 = A + i * lda, *a1 = rows > 1 ? a0 + lda : a0, *a2 = rows > 2 ? a0 + 2 * lda : a0, *a3 = rows > 3 ? a0 + 3 * lda : a0;
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        for (long k = 0; k < k8; k += 8) {
            __m256 y = _mm256_loadu_ps(B + k);
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a0 + k), y, s0); s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a1 + k), y, s1);
            s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a2 + k), y, s2); s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a3 + k), y, s3);
        }
        if (K > k8) {
            __m256 y = _mm256_maskload_ps(B + k8, tail);
            s0 = _mm256_fmadd_ps(_mm256_maskload_ps(a0 + k8, tail), y, s0); s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a1 + k8, tail), y, s1);
            s2 = _mm256_fmadd_ps(_mm256_maskload_ps(a2 + k8, tail), y, s2); s3 = _mm256_fmadd_ps(_mm256_maskload_ps(a3 + k8, tail), y, s3);
        }
        float r[4] = { hsum256(s0), hsum256(s1), hsum256(s2), hsum256(s3) };
        for (long q = 0; q < rows; q++) C[(i + q) * ldc] = r[q];
    }
}
#endif

void ck_sgemm_small_n(long M, long N, long K, const float *A, long lda, const float *B, long ldb, float *C, long ldc) {
#if defined(__x86_64__)
    if (ck_gemm_isa() == 2) {
        if (N == 1) dots1_avx512(M, K, A, lda, B, C, ldc);
        else dots_avx512(M, N, K, A, lda, B, ldb, C, ldc);
        return;
    }
    if (ck_gemm_isa() == 1) {
        if (N == 1) dots1_avx2(M, K, A, lda, B, C, ldc);
        else dots_avx2(M, N, K, A, lda, B, ldb, C, ldc);
        return;
    }
#endif
    ck_sgemm(0, 1, M, N, K, A, lda, B, ldb, C, ldc, 0);
}
