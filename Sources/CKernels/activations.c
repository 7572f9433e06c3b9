// Vectorised exp-based activations: a Cody–Waite range reduction and a degree-6 polynomial for
// 2^f (relative error about 2e-7, below float32 rounding of the inputs), 16 lanes at a time.
#include "ckernels.h"
#include <math.h>
#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f,fma")))
static inline __m512 exp512(__m512 x) {
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.72283935546875f)), _mm512_set1_ps(-103.97208404541f));
    __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f));       // x·log2(e)
    __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    // r = x − n·ln2, in two parts for accuracy
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500E-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894E-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459E-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201E-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);                                              // p·2^n
}

__attribute__((target("avx512f,fma")))
static void sigmoid512(const float *x, float *y, long n) {
    long i = 0;
    __m512 one = _mm512_set1_ps(1.0f);
    for (; i + 16 <= n; i += 16) {
        __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_loadu_ps(x + i)));
        _mm512_storeu_ps(y + i, _mm512_div_ps(one, _mm512_add_ps(one, e)));
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_maskz_loadu_ps(m, x + i)));
        _mm512_mask_storeu_ps(y + i, m, _mm512_div_ps(one, _mm512_add_ps(one, e)));
    }
}

__attribute__((target("avx512f,fma")))
static void exp512n(const float *x, float *y, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, exp512(_mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, exp512(_mm512_maskz_loadu_ps(m, x + i)));
    }
}
#endif

void ck_sigmoid(const float *x, float *y, long n) {
#if defined(__x86_64__)
    if (ck_gemm_isa() == 2) {
        sigmoid512(x, y, n);
        for (long i = 0; i < n; i++) if (x[i] != x[i]) y[i] = x[i]; // NaN through, as PyTorch
        return;
    }
#endif
    for (long i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
}

void ck_exp(const float *x, float *y, long n) {
#if defined(__x86_64__)
    if (ck_gemm_isa() == 2) {
        exp512n(x, y, n);
        // keep IEEE edge cases exact: overflow to inf, NaN through
        for (long i = 0; i < n; i++) {
            if (x[i] != x[i]) y[i] = x[i];
            else if (x[i] > 88.72283935546875f) y[i] = INFINITY;
            else if (x[i] < -103.97208404541f) y[i] = 0.0f;
        }
        return;
    }
#endif
    for (long i = 0; i < n; i++) y[i] = expf(x[i]);
}

void ck_sigmoid_backward(const float *g, const float *y, float *out, long n) {
    // g·y·(1 − y); plain loop, vectorised by the compiler for the baseline ISA
    for (long i = 0; i < n; i++) out[i] = g[i] * y[i] * (1.0f - y[i]);
}
