// Vectorised reductions and ReLU for normalisation and activations: the compiler will not
// reorder float sums on its own, so the 16-lane (AVX-512) and 8-lane (AVX2) partial sums are
// written out here.
#include "ckernels.h"
#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f")))
static float sq_dev512(const float *x, long n, float mu) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, m = _mm512_set1_ps(mu);
    long i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(x + i), m), d1 = _mm512_sub_ps(_mm512_loadu_ps(x + i + 16), m);
        a0 = _mm512_fmadd_ps(d0, d0, a0); a1 = _mm512_fmadd_ps(d1, d1, a1);
    }
    for (; i + 16 <= n; i += 16) { __m512 d = _mm512_sub_ps(_mm512_loadu_ps(x + i), m); a0 = _mm512_fmadd_ps(d, d, a0); }
    if (i < n) {
        __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        __m512 d = _mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, x + i), m);
        a0 = _mm512_fmadd_ps(d, d, a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

__attribute__((target("avx512f")))
static float sum512(const float *x, long n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    long i = 0;
    for (; i + 32 <= n; i += 32) { a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + i)); a1 = _mm512_add_ps(a1, _mm512_loadu_ps(x + i + 16)); }
    for (; i + 16 <= n; i += 16) a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + i));
    if (i < n) a0 = _mm512_add_ps(a0, _mm512_maskz_loadu_ps((__mmask16)((1u << (n - i)) - 1), x + i));
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

__attribute__((target("avx512f")))
static void relu512(const float *x, float *y, long n) {
    __m512 z = _mm512_setzero_ps();
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_max_ps(_mm512_loadu_ps(x + i), z));
    if (i < n) { __mmask16 k = (__mmask16)((1u << (n - i)) - 1); _mm512_mask_storeu_ps(y + i, k, _mm512_max_ps(_mm512_maskz_loadu_ps(k, x + i), z)); }
}

__attribute__((target("avx512f")))
static void relu_backward512(const float *g, const float *y, float *out, long n) {
    __m512 z = _mm512_setzero_ps();
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __mmask16 pos = _mm512_cmp_ps_mask(_mm512_loadu_ps(y + i), z, _CMP_GT_OQ);
        _mm512_storeu_ps(out + i, _mm512_maskz_mov_ps(pos, _mm512_loadu_ps(g + i)));
    }
    for (; i < n; i++) out[i] = y[i] > 0 ? g[i] : 0.0f;
}
#endif

#if defined(__x86_64__)
// ---- AVX2: 8-lane partial sums (the AVX-512 kernels above need AVX-512F) ----------------------

__attribute__((target("avx2,fma")))
static float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma")))
static float sum256(const float *x, long n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    long i = 0;
    for (; i + 16 <= n; i += 16) { a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i)); a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + i + 8)); }
    float s = hsum256(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += x[i];
    return s;
}

__attribute__((target("avx2,fma")))
static float sq_dev256(const float *x, long n, float mu) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, m = _mm256_set1_ps(mu);
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), m), d1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), m);
        a0 = _mm256_fmadd_ps(d0, d0, a0); a1 = _mm256_fmadd_ps(d1, d1, a1);
    }
    float s = hsum256(_mm256_add_ps(a0, a1));
    for (; i < n; i++) { float d = x[i] - mu; s += d * d; }
    return s;
}

__attribute__((target("avx2,fma")))
static void sum_dot_dev256(const float *g, const float *x, const float *y, long n, float mu, float *sg, float *sgx) {
    __m256 s = _mm256_setzero_ps(), t = s, m = _mm256_set1_ps(mu), z = _mm256_setzero_ps();
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gv = _mm256_loadu_ps(g + i), dv = _mm256_sub_ps(_mm256_loadu_ps(x + i), m);
        if (y) {
            // the deviation masked too: 0·(x − μ) would be NaN for an infinite x the ReLU cut off
            __m256 live = _mm256_cmp_ps(_mm256_loadu_ps(y + i), z, _CMP_GT_OQ);
            gv = _mm256_and_ps(gv, live);
            dv = _mm256_and_ps(dv, live);
        }
        s = _mm256_add_ps(s, gv);
        t = _mm256_fmadd_ps(gv, dv, t);
    }
    float a = hsum256(s), b = hsum256(t);
    for (; i < n; i++) {
        if (y && !(y[i] > 0)) continue;
        a += g[i]; b += g[i] * (x[i] - mu);
    }
    *sg += a; *sgx += b;
}

__attribute__((target("avx2,fma")))
static void bn_input_grad256(const float *g, const float *x, const float *y, long n, float a, float b, float mu, float c,
                             float *out) {
    __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b), vm = _mm256_set1_ps(mu), vc = _mm256_set1_ps(c), z = _mm256_setzero_ps();
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gv = _mm256_loadu_ps(g + i);
        if (y) gv = _mm256_and_ps(gv, _mm256_cmp_ps(_mm256_loadu_ps(y + i), z, _CMP_GT_OQ));
        __m256 r = _mm256_fmsub_ps(va, gv, vb);
        if (c != 0.0f) r = _mm256_fnmadd_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm), vc, r);
        _mm256_storeu_ps(out + i, r);
    }
    for (; i < n; i++) {
        float gv = y && !(y[i] > 0) ? 0.0f : g[i];
        out[i] = c != 0.0f ? a * gv - b - (x[i] - mu) * c : a * gv - b;
    }
}

__attribute__((target("avx2,fma")))
static void affine_relu256(const float *src, const float *res, float *dst, long n, float scale, float shift, int relu) {
    __m256 a = _mm256_set1_ps(scale), b = _mm256_set1_ps(shift), z = _mm256_setzero_ps();
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(src + i), a, b);
        if (res) v = _mm256_add_ps(v, _mm256_loadu_ps(res + i));
        if (relu) v = _mm256_max_ps(v, z);
        _mm256_storeu_ps(dst + i, v);
    }
    for (; i < n; i++) {
        float v = src[i] * scale + shift + (res ? res[i] : 0.0f);
        dst[i] = relu && !(v > 0) ? 0.0f : v;
    }
}

// Elementwise loops need no reordering: the scalar code, compiled for AVX2, vectorises as written.
__attribute__((target("avx2,fma")))
static void relu256(const float *x, float *y, long n) {
    for (long i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0.0f;
}

__attribute__((target("avx2,fma")))
static void relu_backward256(const float *g, const float *y, float *out, long n) {
    for (long i = 0; i < n; i++) out[i] = y[i] > 0 ? g[i] : 0.0f;
}
#endif

static int avx2(void) { return ck_gemm_isa() == 1; }
static int wide(void) { return ck_gemm_isa() == 2; }

float ck_sum(const float *x, long n) {
#if defined(__x86_64__)
    if (wide()) return sum512(x, n);
    if (avx2()) return sum256(x, n);
#endif
    double s = 0;
    for (long i = 0; i < n; i++) s += x[i];
    return (float)s;
}

void ck_plane_means(const float *x, long planes, long area, float *y) {
    // one ISA test for all the planes, each summed as ck_sum sums it (the same values)
#if defined(__x86_64__)
    if (wide()) { for (long p = 0; p < planes; p++) y[p] = sum512(x + p * area, area) / (float)area; return; }
    if (avx2()) { for (long p = 0; p < planes; p++) y[p] = sum256(x + p * area, area) / (float)area; return; }
#endif
    for (long p = 0; p < planes; p++) y[p] = ck_sum(x + p * area, area) / (float)area;
}

float ck_sum_sq_dev(const float *x, long n, float mu) {
#if defined(__x86_64__)
    if (wide()) return sq_dev512(x, n, mu);
    if (avx2()) return sq_dev256(x, n, mu);
#endif
    double s = 0;
    for (long i = 0; i < n; i++) { double d = x[i] - mu; s += d * d; }
    return (float)s;
}

void ck_relu(const float *x, float *y, long n) {
#if defined(__x86_64__)
    if (wide()) { relu512(x, y, n); return; }
    if (avx2()) { relu256(x, y, n); return; }
#endif
    for (long i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0.0f;
}

void ck_relu_backward(const float *g, const float *y, float *out, long n) {
#if defined(__x86_64__)
    if (wide()) { relu_backward512(g, y, out, n); return; }
    if (avx2()) { relu_backward256(g, y, out, n); return; }
#endif
    for (long i = 0; i < n; i++) out[i] = y[i] > 0 ? g[i] : 0.0f;
}

#if defined(__x86_64__)
__attribute__((target("avx512f")))
static void affine_relu512(const float *src, const float *res, float *dst, long n, float scale, float shift, int relu) {
    __m512 a = _mm512_set1_ps(scale), b = _mm512_set1_ps(shift), z = _mm512_setzero_ps();
    for (long i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, src + i), a, b);
        if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, res + i));
        if (relu) v = _mm512_max_ps(v, z);
        _mm512_mask_storeu_ps(dst + i, k, v);
    }
}
#endif

void ck_affine_relu(const float *src, const float *res, float *dst, long n, float scale, float shift, int relu) {
#if defined(__x86_64__)
    if (wide()) { affine_relu512(src, res, dst, n, scale, shift, relu); return; }
    if (avx2()) { affine_relu256(src, res, dst, n, scale, shift, relu); return; }
#endif
    for (long i = 0; i < n; i++) {
        float v = src[i] * scale + shift + (res ? res[i] : 0.0f);
        dst[i] = relu && !(v > 0) ? 0.0f : v;   /* as ck_relu: max(v, 0) */
    }
}

#if defined(__x86_64__)
__attribute__((target("avx512f")))
static void clamp512(float *d, long n, float lo, float hi) {
    __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    for (long i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        // max(lo, v), min(hi, ·): the second operand is returned for NaN, so NaN stays NaN
        _mm512_mask_storeu_ps(d + i, k, _mm512_min_ps(vhi, _mm512_max_ps(vlo, _mm512_maskz_loadu_ps(k, d + i))));
    }
}

__attribute__((target("avx2")))
static void clamp256(float *d, long n, float lo, float hi) {
    __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_min_ps(vhi, _mm256_max_ps(vlo, _mm256_loadu_ps(d + i))));
    for (; i < n; i++) { float v = d[i]; d[i] = v < lo ? lo : (v > hi ? hi : v); }
}
#endif

void ck_epilogue_rows(const ck_epilogue *ep, long row0, long rows, long n, const float *src, long lds, float *dst, long ldd) {
    for (long r = 0; r < rows; r++) {
        long c = row0 + r;
        float *d = dst + r * ldd;
        ck_affine_relu(src + r * lds, ep->residual ? ep->residual + r * ldd : 0, d, n, ep->scale ? ep->scale[c] : 1.0f,
                       ep->shift ? ep->shift[c] : 0.0f, ep->relu);
        if (!ep->clamp) continue;
#if defined(__x86_64__)
        if (wide()) { clamp512(d, n, ep->lo, ep->hi); continue; }
        if (avx2()) { clamp256(d, n, ep->lo, ep->hi); continue; }
#endif
        for (long i = 0; i < n; i++) { float v = d[i]; d[i] = v < ep->lo ? ep->lo : (v > ep->hi ? ep->hi : v); }
    }
}

// ---- batch norm (with an optional ReLU after it) ------------------------------------------
// With y given (the ReLU's output), the gradient flowing into the batch norm is g where y > 0 and
// 0 elsewhere: the ReLU's backward pass is folded into the batch norm's. Given the forward's affine
// map (when affine_relu512 computed y), the AVX-512 kernels recompute the mask from x as it did
// (fmadd(x, scale, shift) > 0, bit for bit) instead of reading y: one stream less from memory.

#if defined(__x86_64__)
// The lanes of k the ReLU let through: recomputed from x with the forward's affine map (vs, vt)
// when `recompute`, exactly as affine_relu512 computed its input, else read from y (the ReLU's
// output at these lanes), or all of k without a ReLU (y null).
__attribute__((target("avx512f,fma")))
static inline __mmask16 relu_live512(__mmask16 k, __m512 xv, const float *y, int recompute, __m512 vs, __m512 vt) {
    if (recompute) return _mm512_mask_cmp_ps_mask(k, _mm512_fmadd_ps(xv, vs, vt), _mm512_setzero_ps(), _CMP_GT_OQ);
    if (y) return _mm512_mask_cmp_ps_mask(k, _mm512_maskz_loadu_ps(k, y), _mm512_setzero_ps(), _CMP_GT_OQ);
    return k;
}

__attribute__((target("avx512f,fma")))
static void sum_dot_dev512(const float *g, const float *x, const float *y, long n, float mu, const float *affine,
                           float *sg, float *sgx) {
    __m512 s = _mm512_setzero_ps(), t = s, m = _mm512_set1_ps(mu);
    __m512 vs = _mm512_set1_ps(affine ? affine[0] : 0.0f), vt = _mm512_set1_ps(affine ? affine[1] : 0.0f);
    for (long i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 xv = _mm512_maskz_loadu_ps(k, x + i);
        __mmask16 live = relu_live512(k, xv, y ? y + i : 0, affine != 0, vs, vt);
        __m512 gv = _mm512_maskz_loadu_ps(live, g + i);
        s = _mm512_add_ps(s, gv);
        // the deviation masked too: 0·(x − μ) would be NaN for an infinite x the ReLU cut off
        t = _mm512_fmadd_ps(gv, _mm512_maskz_sub_ps(live, xv, m), t);
    }
    *sg += _mm512_reduce_add_ps(s);
    *sgx += _mm512_reduce_add_ps(t);
}

__attribute__((target("avx512f,fma")))
static void bn_input_grad512(const float *g, const float *x, const float *y, long n, const float *affine, float a, float b,
                             float mu, float c, float *out) {
    __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b), vm = _mm512_set1_ps(mu), vc = _mm512_set1_ps(c);
    __m512 vs = _mm512_set1_ps(affine ? affine[0] : 0.0f), vt = _mm512_set1_ps(affine ? affine[1] : 0.0f);
    for (long i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 xv = _mm512_maskz_loadu_ps(k, x + i);
        __mmask16 live = relu_live512(k, xv, y ? y + i : 0, affine != 0, vs, vt);
        __m512 gv = _mm512_maskz_loadu_ps(live, g + i);
        __m512 r = _mm512_fmsub_ps(va, gv, vb);
        // without the x term when c = 0 (eval mode), so an infinite input keeps a finite gradient
        if (c != 0.0f) r = _mm512_fnmadd_ps(_mm512_sub_ps(xv, vm), vc, r);
        _mm512_mask_storeu_ps(out + i, k, r);
    }
}
#endif

void ck_sum_dot_dev(const float *g, const float *x, const float *y, long n, float mu, const float *affine,
                    float *sum_g, float *sum_gx) {
#if defined(__x86_64__)
    if (wide()) { sum_dot_dev512(g, x, y, n, mu, y ? affine : 0, sum_g, sum_gx); return; }
    if (avx2()) { sum_dot_dev256(g, x, y, n, mu, sum_g, sum_gx); return; }
#endif
    (void)affine;
    double s = 0, t = 0;
    for (long i = 0; i < n; i++) {
        if (y && !(y[i] > 0)) continue;
        s += g[i]; t += g[i] * (x[i] - mu);
    }
    *sum_g += (float)s; *sum_gx += (float)t;
}

void ck_bn_input_grad(const float *g, const float *x, const float *y, long n, const float *affine, float a, float b,
                      float mu, float c, float *out) {
#if defined(__x86_64__)
    if (wide()) { bn_input_grad512(g, x, y, n, y ? affine : 0, a, b, mu, c, out); return; }
    if (avx2()) { bn_input_grad256(g, x, y, n, a, b, mu, c, out); return; }
#endif
    (void)affine;
    for (long i = 0; i < n; i++) {
        float gv = y && !(y[i] > 0) ? 0.0f : g[i];
        out[i] = c != 0.0f ? a * gv - b - (x[i] - mu) * c : a * gv - b;
    }
}
