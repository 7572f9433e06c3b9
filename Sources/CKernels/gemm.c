// Blocked SGEMM: B is packed into NR-wide column panels, A into MR-tall row panels, and an
// ISA-specific micro-kernel computes one MR×NR tile of C from them. The ISA is chosen once at run
// time, so the library builds with default flags and runs on any x86-64 (or other) CPU.
#include "ckernels.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdio.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CK_X86 1
#endif

#define MR 6
#define KC 384
#define MC 96
#define NC 3072
#define NR_MAX 64

typedef void (*ukr_fn)(long k, const float *a, const float *b, float *c, long ldc, int acc);

static void ukr_portable(long k, const float *a, const float *b, float *c, long ldc, int acc) {
    float t[MR][16];
    memset(t, 0, sizeof t);
    for (long p = 0; p < k; p++) {
        for (int i = 0; i < MR; i++) {
            float ai = a[p * MR + i];
            for (int j = 0; j < 16; j++) t[i][j] += ai * b[p * 16 + j];
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < 16; j++) c[i * ldc + j] = acc ? c[i * ldc + j] + t[i][j] : t[i][j];
}

#ifdef CK_X86
__attribute__((target("avx2,fma")))
static void ukr_avx2(long k, const float *a, const float *b, float *c, long ldc, int acc) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (long p = 0; p < k; p++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        __m256 x;
        x = _mm256_broadcast_ss(a + 0); c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
        x = _mm256_broadcast_ss(a + 1); c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
        x = _mm256_broadcast_ss(a + 2); c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
        x = _mm256_broadcast_ss(a + 3); c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
        x = _mm256_broadcast_ss(a + 4); c40 = _mm256_fmadd_ps(x, b0, c40); c41 = _mm256_fmadd_ps(x, b1, c41);
        x = _mm256_broadcast_ss(a + 5); c50 = _mm256_fmadd_ps(x, b0, c50); c51 = _mm256_fmadd_ps(x, b1, c51);
        a += MR; b += 16;
    }
#define ST2(r, v0, v1) do { float *q = c + (r) * ldc; \
        if (acc) { v0 = _mm256_add_ps(v0, _mm256_loadu_ps(q)); v1 = _mm256_add_ps(v1, _mm256_loadu_ps(q + 8)); } \
        _mm256_storeu_ps(q, v0); _mm256_storeu_ps(q + 8, v1); } while (0)
    ST2(0, c00, c01); ST2(1, c10, c11); ST2(2, c20, c21); ST2(3, c30, c31); ST2(4, c40, c41); ST2(5, c50, c51);
#undef ST2
}

// One tile of C through the epilogue (ck_epilogue) right after the AVX2 micro-kernel stored it, while
// it is in L1, as the AVX-512 kernel computes it on its stores (ST1 in ukr_avx512_nv).
static const int32_t ep_lanes[16] = { -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0 };

__attribute__((target("avx2,fma")))
static void epilogue_tile256(const ck_epilogue *ep, long row0, long rows, long cols, float *c, long ldc, const float *res) {
    // the fields in locals (a store through c could alias *ep as far as the compiler knows)
    const __m256 vlo = _mm256_set1_ps(ep->lo), vhi = _mm256_set1_ps(ep->hi);
    const float *scale = ep->scale, *shift = ep->shift;
    const int relu = ep->relu, clamp = ep->clamp;
    for (long r = 0; r < rows; r++) {
        const __m256 vs = _mm256_set1_ps(scale ? scale[row0 + r] : 1.0f), vt = _mm256_set1_ps(shift ? shift[row0 + r] : 0.0f);
        float *d = c + r * ldc;
        const float *q = res ? res + r * ldc : 0;
        for (long j = 0; j < cols; j += 8) {
            long n = cols - j;
            __m256i m = _mm256_loadu_si256((const __m256i *)(ep_lanes + 8 - (n >= 8 ? 8 : n)));
            __m256 v = n >= 8 ? _mm256_loadu_ps(d + j) : _mm256_maskload_ps(d + j, m);
            v = _mm256_fmadd_ps(v, vs, vt);
            if (q) v = _mm256_add_ps(v, n >= 8 ? _mm256_loadu_ps(q + j) : _mm256_maskload_ps(q + j, m));
            if (relu) v = _mm256_max_ps(v, _mm256_setzero_ps());
            // max(lo, v), min(hi, ·): the second operand is returned for NaN, so NaN stays NaN
            if (clamp) v = _mm256_min_ps(vhi, _mm256_max_ps(vlo, v));
            if (n >= 8) _mm256_storeu_ps(d + j, v); else _mm256_maskstore_ps(d + j, m, v);
        }
    }
}

// One vector of row `row` through the epilogue (ck_epilogue), as ck_affine_relu computes it.

// NV: the 16-column vectors of the panel that hold columns (a constant in each copy below), so a
// narrow last panel computes one vector, not four. ROWS (2, 4 or 6, at least `rows`): the rows
// multiplied, so a last panel of 2 or 4 rows (32 or 16 output channels) does not multiply six.
// EXTRA (up to 4): columns after the NV vectors, each computed on its own: the six rows' A values
// (one load) times that column's B value, one multiply-add per k where a vector of few live lanes
// takes six. A 7×7 map's 49 = 3·16 + 1 columns, and the last 68 of a 14×14 map's 196 = 2·64 + 68:
// a panel of 4 columns alone would cost a third of a full one (six accumulators wait on the
// multiply-add latency), riding on the panel before it costs a fifth. Same sums in the same order,
// and the vector epilogue's steps (ST1) on each of its values, so it matches the vector path bit
// for bit.
__attribute__((target("avx512f,avx512vl,fma"), always_inline))
static inline void ukr_avx512_nv(const int NV, const int MASKED, const int ROWS, const int EXTRA, long k, const float *a,
                                 const float *b, long bstride, float *c, long ldc, int acc, long rows, long cols,
                                 const ck_epilogue *ep, long row, const float *res, const char *prefetch, long prefetchLines) {
    // MASKED (B read in place): the last vector loads only the panel's columns, never past B's end
    const __mmask16 last = (__mmask16)(cols - 16 * (NV - 1) >= 16 ? 0xFFFF : (1u << (cols - 16 * (NV - 1))) - 1);
    __m512 z = _mm512_setzero_ps();
    __m512 c00 = z, c01 = z, c02 = z, c03 = z, c10 = z, c11 = z, c12 = z, c13 = z;
    __m512 c20 = z, c21 = z, c22 = z, c23 = z, c30 = z, c31 = z, c32 = z, c33 = z;
    __m512 c40 = z, c41 = z, c42 = z, c43 = z, c50 = z, c51 = z, c52 = z, c53 = z;
    // EXTRA: rows 0–5 of column 16·NV in lanes 0–5 of cx01, of the next column in lanes 8–13; the
    // two after those in cx23 (two registers, not four: the tile's 24 and B's 4 leave four free)
    __m512 cx01 = z, cx23 = z;
    for (long p = 0; p < k; p++) {
        if (p < prefetchLines) _mm_prefetch(prefetch + 64 * p, _MM_HINT_T1);
#define LOADB(j) (MASKED && NV == j + 1 ? _mm512_maskz_loadu_ps(last, b + 16 * j) : _mm512_loadu_ps(b + 16 * j))
        if (EXTRA) {
            // the six A values in both halves, each half times its column's B value
            const __m512 a6 = _mm512_castps256_ps512(_mm256_maskz_loadu_ps(0x3F, a)), a12 = _mm512_shuffle_f32x4(a6, a6, 0x44);
            __m512 bx = _mm512_set1_ps(b[16 * NV]);
            if (EXTRA > 1) bx = _mm512_mask_broadcastss_ps(bx, 0xFF00, _mm_load_ss(b + 16 * NV + 1));
            cx01 = _mm512_fmadd_ps(a12, bx, cx01);
            if (EXTRA > 2) {
                bx = _mm512_set1_ps(b[16 * NV + 2]);
                if (EXTRA > 3) bx = _mm512_mask_broadcastss_ps(bx, 0xFF00, _mm_load_ss(b + 16 * NV + 3));
                cx23 = _mm512_fmadd_ps(a12, bx, cx23);
            }
        }
        __m512 b0 = LOADB(0), b1 = z, b2 = z, b3 = z;
        if (NV > 1) b1 = LOADB(1);
        if (NV > 2) b2 = LOADB(2);
        if (NV > 3) b3 = LOADB(3);
#undef LOADB
        __m512 x;
#define ROW(r) if (ROWS > r) { x = _mm512_set1_ps(a[r]); \
        c##r##0 = _mm512_fmadd_ps(x, b0, c##r##0); \
        if (NV > 1) c##r##1 = _mm512_fmadd_ps(x, b1, c##r##1); \
        if (NV > 2) c##r##2 = _mm512_fmadd_ps(x, b2, c##r##2); \
        if (NV > 3) c##r##3 = _mm512_fmadd_ps(x, b3, c##r##3); }
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
        a += MR; b += bstride;
    }
    // partial tiles store through masks: no temporary tile, no scalar copy
    __mmask16 m[4];
    for (int j = 0; j < 4; j++) {
        long n = cols - 16 * j;
        m[j] = n >= 16 ? (__mmask16)0xFFFF : (n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1));
    }
    // the epilogue's fields in locals: a store through c could alias *ep as far as the compiler
    // knows, so read through ep every field would be loaded again after each store
    const float *scale = ep ? ep->scale : 0, *shift = ep ? ep->shift : 0;
    const int relu = ep ? ep->relu : 0, clamp = ep ? ep->clamp : 0;
    const __m512 vlo = _mm512_set1_ps(ep ? ep->lo : 0), vhi = _mm512_set1_ps(ep ? ep->hi : 0);
    __m512 vs, vt;
    // the epilogue's steps: multiply-add, residual, ReLU, clamp (max(lo, v), then min(hi, ·), so NaN stays NaN)
#define ST1(r, j) do { float *q = c + r * ldc + 16 * j; \
        if (acc) c##r##j = _mm512_add_ps(c##r##j, _mm512_maskz_loadu_ps(m[j], q)); \
        if (ep) { \
            c##r##j = _mm512_fmadd_ps(c##r##j, vs, vt); \
            if (res) c##r##j = _mm512_add_ps(c##r##j, _mm512_maskz_loadu_ps(m[j], res + r * ldc + 16 * j)); \
            if (relu) c##r##j = _mm512_max_ps(c##r##j, _mm512_setzero_ps()); \
            if (clamp) c##r##j = _mm512_min_ps(vhi, _mm512_max_ps(vlo, c##r##j)); \
        } \
        _mm512_mask_storeu_ps(q, m[j], c##r##j); } while (0)
#define ST4(r) if (rows > r) { \
        if (ep) { vs = _mm512_set1_ps(scale ? scale[row + r] : 1.0f); vt = _mm512_set1_ps(shift ? shift[row + r] : 0.0f); } \
        ST1(r, 0); if (NV > 1) ST1(r, 1); if (NV > 2) ST1(r, 2); if (NV > 3) ST1(r, 3); }
    ST4(0) ST4(1) ST4(2) ST4(3) ST4(4) ST4(5)
#undef ST4
#undef ST1
    if (!EXTRA) return;
    float columns[4][8];
    _mm512_storeu_ps(columns[0], cx01);
    if (EXTRA > 2) _mm512_storeu_ps(columns[2], cx23);
    const float lo = ep ? ep->lo : 0, hi = ep ? ep->hi : 0;
    for (long r = 0; r < rows; r++) {
        const float s = scale ? scale[row + r] : 1.0f, t = shift ? shift[row + r] : 0.0f;
        for (int j = 0; j < EXTRA; j++) {
            float v = columns[j][r], *q = c + r * ldc + 16 * NV + j;
            if (acc) v = v + *q;
            if (ep) {
                // the vector epilogue's steps on one value: fused multiply-add, then max(v, 0) and max(lo, ·),
                // min(hi, ·) as the vector instructions order their operands (NaN as they treat it)
                v = fmaf(v, s, t);
                if (res) v = v + res[r * ldc + 16 * NV + j];
                if (relu) v = v > 0.0f ? v : 0.0f;
                if (clamp) { v = lo > v ? lo : v; v = hi < v ? hi : v; }
            }
            *q = v;
        }
    }
}

#define UKR_NV(NV, MASKED, ROWS) \
__attribute__((target("avx512f,avx512vl,fma"))) \
static void ukr_avx512_##NV##_##MASKED##_##ROWS(long k, const float *a, const float *b, long bstride, float *c, long ldc, \
                                                int acc, long rows, long cols, const ck_epilogue *ep, long row, const float *res, \
                                                const char *prefetch, long prefetchLines) { \
    ukr_avx512_nv(NV, MASKED, ROWS, 0, k, a, b, bstride, c, ldc, acc, rows, cols, ep, row, res, prefetch, prefetchLines); \
}
#define UKR_ROWS(ROWS) UKR_NV(1, 0, ROWS) UKR_NV(2, 0, ROWS) UKR_NV(3, 0, ROWS) UKR_NV(4, 0, ROWS) \
                       UKR_NV(1, 1, ROWS) UKR_NV(2, 1, ROWS) UKR_NV(3, 1, ROWS) UKR_NV(4, 1, ROWS)
UKR_ROWS(2) UKR_ROWS(4) UKR_ROWS(6)
#undef UKR_ROWS
#undef UKR_NV

// 49 columns: three vectors and one more column (EXTRA).
__attribute__((target("avx512f,avx512vl,fma")))
static void ukr_avx512_3c1(long k, const float *a, const float *b, long bstride, float *c, long ldc, int acc, long rows,
                           const ck_epilogue *ep, long row, const float *res, const char *prefetch, long prefetchLines) {
    ukr_avx512_nv(3, 0, 6, 1, k, a, b, bstride, c, ldc, acc, rows, 48, ep, row, res, prefetch, prefetchLines);
}

// 65–68 columns of a B read in place: a full panel and `extra` more columns (EXTRA).
#define UKR_4C(E) \
__attribute__((target("avx512f,avx512vl,fma"))) \
static void ukr_avx512_4c##E(long k, const float *a, const float *b, long bstride, float *c, long ldc, int acc, long rows, \
                             const ck_epilogue *ep, long row, const float *res, const char *prefetch, long prefetchLines) { \
    ukr_avx512_nv(4, 0, 6, E, k, a, b, bstride, c, ldc, acc, rows, 64, ep, row, res, prefetch, prefetchLines); \
}
UKR_4C(1) UKR_4C(2) UKR_4C(3) UKR_4C(4)
#undef UKR_4C

static void ukr_avx512_4cx(long extra, long k, const float *a, const float *b, long bstride, float *c, long ldc, int acc,
                           long rows, const ck_epilogue *ep, long row, const float *res, const char *prefetch, long prefetchLines) {
    switch (extra) {
    case 1: ukr_avx512_4c1(k, a, b, bstride, c, ldc, acc, rows, ep, row, res, prefetch, prefetchLines); break;
    case 2: ukr_avx512_4c2(k, a, b, bstride, c, ldc, acc, rows, ep, row, res, prefetch, prefetchLines); break;
    case 3: ukr_avx512_4c3(k, a, b, bstride, c, ldc, acc, rows, ep, row, res, prefetch, prefetchLines); break;
    default: ukr_avx512_4c4(k, a, b, bstride, c, ldc, acc, rows, ep, row, res, prefetch, prefetchLines); break;
    }
}

// One MR×64 tile, computing only the vectors that hold some of its `cols` columns. B's rows are
// `bstride` apart: 64 in a packed panel; B's own row length when it is read in place (`inPlace`:
// then the panel's last vector loads only its columns).
static void ukr_avx512(long k, const float *a, const float *b, long bstride, int inPlace, float *c, long ldc, int acc, long rows,
                       long cols, const ck_epilogue *ep, long row, const float *res, const char *prefetch, long prefetchLines) {
#define CALL_R(NV, MASKED, R) ukr_avx512_##NV##_##MASKED##_##R(k, a, b, bstride, c, ldc, acc, rows, cols, ep, row, res, prefetch, \
                                                               prefetchLines)
#define CALL(NV, MASKED) do { if (rows > 4) CALL_R(NV, MASKED, 6); else if (rows > 2) CALL_R(NV, MASKED, 4); \
                              else CALL_R(NV, MASKED, 2); } while (0)
    int masked = inPlace && (cols & 15) != 0;
    if (cols == 49) { ukr_avx512_3c1(k, a, b, bstride, c, ldc, acc, rows, ep, row, res, prefetch, prefetchLines); return; }
    if (cols > 48) { if (masked) CALL(4, 1); else CALL(4, 0); }
    else if (cols > 32) { if (masked) CALL(3, 1); else CALL(3, 0); }
    else if (cols > 16) { if (masked) CALL(2, 1); else CALL(2, 0); }
    else { if (masked) CALL(1, 1); else CALL(1, 0); }
#undef CALL
#undef CALL_R
}
#endif

static int g_isa = -1;

// The best level the CPU supports, capped by CONVNET_ISA (avx512, avx2 or portable) so every
// kernel path can be run end to end on one machine (tests, A/B measurements).
static int detect_isa(void) {
    int cap = 2;
    const char *env = getenv("CONVNET_ISA");
    if (env && *env) {
        if (strcasecmp(env, "avx2") == 0) cap = 1;
        else if (strcasecmp(env, "portable") == 0) cap = 0;
        else if (strcasecmp(env, "avx512") != 0)
            fprintf(stderr, "convnet: CONVNET_ISA=%s is not avx512, avx2 or portable; using the best the CPU has\n", env);
    }
#ifdef CK_X86
    __builtin_cpu_init();
    if (cap >= 2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) return 2;
    if (cap >= 1 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    (void)cap;
    return 0;
}

// A per-thread cap (−1: none): the ISA cap of the Swift side's ExecutionContext, set when a
// thread's context changes and carried into worker threads with it, so a test forcing a lower
// ISA never changes what other threads run. It is the only execution setting the kernels read.
static _Thread_local int t_isa_override = -1;

int ck_gemm_isa(void) {
    // detected once; threads racing on the first call store the same value (atomically)
    int g = __atomic_load_n(&g_isa, __ATOMIC_RELAXED);
    if (g < 0) { g = detect_isa(); __atomic_store_n(&g_isa, g, __ATOMIC_RELAXED); }
    if (t_isa_override >= 0) return t_isa_override < g ? t_isa_override : g;
    return g;
}

int ck_gemm_isa_override(void) { return t_isa_override; }
void ck_gemm_set_isa_override(int level) { t_isa_override = level; }


// Packs rows [0, mc) × cols [0, kc) of op(A) (already offset) into MR-tall panels, zero-padded.
static void pack_a(int tr, const float *A, long lda, long mc, long kc, float *dst) {
    for (long i0 = 0; i0 < mc; i0 += MR) {
        long rows = mc - i0 < MR ? mc - i0 : MR;
        if (!tr) {
            for (long p = 0; p < kc; p++) {
                for (long i = 0; i < rows; i++) dst[p * MR + i] = A[(i0 + i) * lda + p];
                for (long i = rows; i < MR; i++) dst[p * MR + i] = 0;
            }
        } else {
            for (long p = 0; p < kc; p++) {
                const float *src = A + p * lda + i0;
                for (long i = 0; i < rows; i++) dst[p * MR + i] = src[i];
                for (long i = rows; i < MR; i++) dst[p * MR + i] = 0;
            }
        }
        dst += MR * kc;
    }
}

// Packs op(B) rows [0, kc) × cols [0, nc) into nr-wide panels, zero-padded.
static void pack_b(int tr, const float *B, long ldb, long kc, long nc, long nr, float *dst) {
    for (long j0 = 0; j0 < nc; j0 += nr) {
        long cols = nc - j0 < nr ? nc - j0 : nr;
        if (cols < nr) memset(dst, 0, (size_t)(nr * kc) * sizeof(float));
        if (!tr) {
            for (long p = 0; p < kc; p++) memcpy(dst + p * nr, B + p * ldb + j0, (size_t)cols * sizeof(float));
        } else {
            // transposed source: walk 8 source rows at a time so reads stay within a few cache lines
            long j = 0;
            for (; j + 8 <= cols; j += 8) {
                const float *s0 = B + (j0 + j) * ldb;
                for (long p = 0; p < kc; p++) {
                    float *d = dst + p * nr + j;
                    d[0] = s0[p]; d[1] = s0[ldb + p]; d[2] = s0[2 * ldb + p]; d[3] = s0[3 * ldb + p];
                    d[4] = s0[4 * ldb + p]; d[5] = s0[5 * ldb + p]; d[6] = s0[6 * ldb + p]; d[7] = s0[7 * ldb + p];
                }
            }
            for (; j < cols; j++) {
                const float *src = B + (j0 + j) * ldb;
                for (long p = 0; p < kc; p++) dst[p * nr + j] = src[p];
            }
        }
        dst += nr * kc;
    }
}

// Writes X(tap, pixel0 + t) for t in [0, count) to out[t·stride]: one row segment at a time.
// The pixel's (image, oh, ow) is found by division once, then advanced run by run.
static void conv_gather(const ck_conv_source *s, long tap, long pixel0, long count, float *out, long stride) {
    long taps_per_c = s->kh * s->kw;
    long c = tap / taps_per_c, r = tap % taps_per_c, i = r / s->kw, j = r % s->kw;
    long rowStride = s->phaseWidth ? 2 * s->phaseWidth : s->W;
    long hwo = s->Ho * s->Wo, plane = s->H * rowStride;
    long n = s->pixelOffset + pixel0, end = n + count;
    long img = n / hwo, q = n % hwo, oh = q / s->Wo, ow = q % s->Wo;
    const float *chan = s->x + img * s->C * plane + (s->channelOffset + c) * plane;
    long iwStart = j * s->dw - s->pw;
    float *o = out;
    while (n < end) {
        long run = s->Wo - ow;
        if (run > end - n) run = end - n;
        long ih = oh * s->sh - s->ph + i * s->dh;
        if (ih < 0 || ih >= s->H) {
            if (stride == 1) for (long t = 0; t < run; t++) o[t] = 0.0f;
            else for (long t = 0; t < run; t++) o[t * stride] = 0.0f;
        } else {
            const float *row = chan + ih * rowStride;
            long iw0 = ow * s->sw + iwStart;
            long width = s->W;
            if (s->phaseWidth && s->sw == 2) {
                // columns iw0, iw0+2, … are consecutive in the row's phase (iw0 mod 2) half
                long phase = iw0 & 1;
                iw0 = (iw0 - phase) >> 1;
                row += phase * s->phaseWidth;
                width = (s->W - phase + 1) / 2;
            }
            if (s->sw == 1 || s->phaseWidth) {
                // the run covers (phase) columns iw0 … iw0+run−1: zeros outside, a copy inside
                long lo = iw0 < 0 ? -iw0 : 0, hi = width - iw0;
                if (hi > run) hi = run;
                if (lo > run) lo = run;
                if (hi < lo) hi = lo;
                if (stride == 1) {
                    for (long t = 0; t < lo; t++) o[t] = 0.0f;
                    if (hi - lo > 16) memcpy(o + lo, row + iw0 + lo, (size_t)(hi - lo) * sizeof(float));
                    else for (long t = lo; t < hi; t++) o[t] = row[iw0 + t];
                    for (long t = hi; t < run; t++) o[t] = 0.0f;
                } else {
                    for (long t = 0; t < lo; t++) o[t * stride] = 0.0f;
                    for (long t = lo; t < hi; t++) o[t * stride] = row[iw0 + t];
                    for (long t = hi; t < run; t++) o[t * stride] = 0.0f;
                }
            } else {
                long iw = iw0;
                for (long t = 0; t < run; t++, iw += s->sw) o[t * stride] = (iw >= 0 && iw < s->W) ? row[iw] : 0.0f;
            }
        }
        o += run * stride;
        n += run;
        ow = 0;
        if (++oh == s->Ho) { oh = 0; chan += s->C * plane; }
    }
}

void ck_split_columns(const float *x, long rows, long W, float *dst) {
    long half = (W + 1) / 2;
    for (long r = 0; r < rows; r++) {
        const float *src = x + r * W;
        float *even = dst + r * 2 * half, *odd = even + half;
        for (long k = 0; k < half; k++) even[k] = src[2 * k];
        for (long k = 0; k < W / 2; k++) odd[k] = src[2 * k + 1];
        if (W & 1) odd[half - 1] = 0.0f;
    }
}

// Packs rows [k0, k0+kc) × cols [n0, n0+nc) of op(B) for a convolution source into nr-wide panels.
static void pack_b_conv(const ck_conv_source *s, int tr, long k0, long kc, long n0, long nc, long nr, float *dst) {
    for (long j0 = 0; j0 < nc; j0 += nr) {
        long cols = nc - j0 < nr ? nc - j0 : nr;
        if (cols < nr) memset(dst, 0, (size_t)(nr * kc) * sizeof(float));
        if (!tr) {
            // row p is a tap, columns are pixels: each panel row is one gathered run
            for (long p = 0; p < kc; p++) conv_gather(s, k0 + p, n0 + j0, cols, dst + p * nr, 1);
        } else {
            // rows are pixels, columns are taps: each panel column is one gathered run
            for (long j = 0; j < cols; j++) conv_gather(s, n0 + j0 + j, k0, kc, dst + j, nr);
        }
        dst += nr * kc;
    }
}

// Per-thread packing buffers, grown on demand and kept: fresh large allocations are slow.
static _Thread_local float *t_apack = 0, *t_bpack = 0;

static float *aligned_buffer(float **slot, size_t floats) {
    if (!*slot) {
        void *p = 0;
        if (posix_memalign(&p, 64, floats * sizeof(float)) != 0) return 0;
        *slot = (float *)p;
    }
    return *slot;
}

/// Floats a fully packed A (all K blocks, all rows padded to MR) occupies.
long ck_packed_a_size(long M, long K) { return ((M + MR - 1) / MR) * MR * (K > 0 ? K : 1); }

/// Where ck_pack_a puts element (i, k) of an M×K operand.
long ck_packed_a_offset(long M, long K, long i, long k) {
    long mpad = ((M + MR - 1) / MR) * MR;
    long pc = k / KC * KC, kc = K - pc < KC ? K - pc : KC;
    long ic = i / MC * MC, i0 = (i - ic) / MR * MR;
    return pc * mpad + ic * kc + i0 * kc + (k - pc) * MR + (i - ic - i0);
}

/// Packs all of op(A) [M×K] once, in the order the driver reads it: for each KC block of K, for
/// each MC block of rows, MR-row panels. Several GEMMs (threads, image blocks) can then share it.
void ck_pack_a(int transA, long M, long K, const float *A, long lda, float *dst) {
    long mpad = ((M + MR - 1) / MR) * MR;
    for (long pc = 0; pc < K; pc += KC) {
        long kc = K - pc < KC ? K - pc : KC;
        for (long ic = 0; ic < M; ic += MC) {
            long mc = M - ic < MC ? M - ic : MC;
            const float *Ablk = transA ? A + pc * lda + ic : A + ic * lda + pc;
            pack_a(transA, Ablk, lda, mc, kc, dst + pc * mpad + ic * kc);
        }
    }
}

// A right operand packed whole by ck_pack_b_all: the driver reads its panels from panel0 on
// (npad: the whole operand's width rounded up to 64) instead of packing B itself.
typedef struct { const float *panels; long panel0, npad; } packed_b;

// Rows [m0, M) of C (m0 a multiple of MR; C points at row 0); a packed A holds all mtotal rows.
// B comes as a matrix, as a convolution source (bconv) or packed whole (bpacked, AVX-512 only).
static void sgemm_driver(int transA, int transB, long mtotal, long m0, long M, long N, long K,
                         const float *A, long lda, const float *apacked, const float *B, long ldb,
                         const ck_conv_source *bconv, const packed_b *bpacked, float *C, long ldc, int accumulate,
                         const ck_epilogue *ep) {
    if (M <= m0 || N <= 0) return;
    if (K <= 0) {
        if (!accumulate) for (long i = m0; i < M; i++) memset(C + i * ldc, 0, (size_t)N * sizeof(float));
        return;
    }
    int isa = ck_gemm_isa();
    ukr_fn ukr = ukr_portable;
    long nr = 16;
#ifdef CK_X86
    if (isa == 2) { nr = 64; }
    else if (isa == 1) { ukr = ukr_avx2; nr = 16; }
#endif
    if (bpacked && nr != NR_MAX) abort();
    float *apack = apacked ? 0 : aligned_buffer(&t_apack, (size_t)MC * KC);
    // AVX-512 reads a plain B (not transposed) under 4 MiB where it lies, rows ldb apart, instead
    // of copying it into panels (a 1×1 layer narrowing a map spent as long packing as multiplying).
    // Larger ones (a batch's column matrix, a 1024² operand) stay packed: a row per page misses the
    // TLB at every step, which packing pays once.
    int inPlace = isa == 2 && !transB && !bconv && !bpacked && B && K * ldb < (1L << 20) && ldb <= (1L << 14);
    float *bpack = bpacked || inPlace ? 0 : aligned_buffer(&t_bpack, (size_t)KC * (NC + NR_MAX));
    if ((!apacked && !apack) || (!bpacked && !inPlace && !bpack)) abort();
    long mpad = ((mtotal + MR - 1) / MR) * MR;
    float tile[MR * NR_MAX];

    for (long jc = 0; jc < N; jc += NC) {
        long nc = N - jc < NC ? N - jc : NC;
        for (long pc = 0; pc < K; pc += KC) {
            long kc = K - pc < KC ? K - pc : KC;
            int acc = accumulate || pc > 0;
            const float *bblock = bpack;
            if (inPlace) {
                bblock = B + pc * ldb + jc;
            } else if (bpacked) {
                bblock = bpacked->panels + pc * bpacked->npad + (bpacked->panel0 + jc / nr) * nr * kc;
            } else if (bconv) {
                pack_b_conv(bconv, transB, pc, kc, jc, nc, nr, bpack);
            } else {
                const float *Bblk = transB ? B + jc * ldb + pc : B + pc * ldb + jc;
                pack_b(transB, Bblk, ldb, kc, nc, nr, bpack);
            }
            for (long ic = m0; ic < M; ic += MC) {
                long mc = M - ic < MC ? M - ic : MC;
                const float *ablock;
                if (apacked) {
                    ablock = apacked + pc * mpad + ic * kc;
                } else {
                    const float *Ablk = transA ? A + pc * lda + ic : A + ic * lda + pc;
                    pack_a(transA, Ablk, lda, mc, kc, apack);
                    ablock = apack;
                }
                for (long jr = 0; jr < nc; jr += nr) {
                    long cols = nc - jr < nr ? nc - jr : nr;
                    // 1–4 columns left after a full panel of a B read in place ride on that panel
                    long extra = isa == 2 && inPlace && cols == nr && nc - jr - nr <= 4 ? nc - jr - nr : 0;
                    const float *bp = inPlace ? bblock + jr : bblock + (jr / nr) * nr * kc;
                    // B kept packed streams from memory (a layer's weights, megabytes at batch 1): the
                    // block needed next (the next panel, else the next K block's first) is fetched
                    // into L2 a slice per row panel while this one computes
                    const char *next = 0;
                    long nextLines = 0;
                    if (bpacked && isa == 2) {
                        if (jr + nr < nc) {
                            next = (const char *)(bp + nr * kc);
                            nextLines = kc * nr / 16;
                        } else if (pc + kc < K) {
                            long nkc = K - pc - kc < KC ? K - pc - kc : KC;
                            next = (const char *)(bpacked->panels + (pc + kc) * bpacked->npad + (bpacked->panel0 + jc / nr) * nr * nkc);
                            nextLines = nkc * nr / 16;
                        }
                    }
                    long slices = (mc + MR - 1) / MR, perSlice = (nextLines + slices - 1) / slices;
                    for (long ir = 0; ir < mc; ir += MR) {
                        long rows = mc - ir < MR ? mc - ir : MR;
                        const float *ap = ablock + (ir / MR) * MR * kc;
                        float *cp = C + (ic + ir) * ldc + jc + jr;
                        if (isa == 2) {
#ifdef CK_X86
                            // the epilogue rides on the last K block's stores
                            const ck_epilogue *e = pc + kc >= K ? ep : 0;
                            const float *res = e && e->residual ? e->residual + (ic + ir) * ldc + jc + jr : 0;
                            long first = (ir / MR) * perSlice;
                            long lines = nextLines - first < perSlice ? nextLines - first : perSlice;
                            const char *fetch = next ? next + 64 * first : 0;
                            if (!next && apacked && jr == 0) {
                                // kept weights as A (a layer at batch 1) stream from L3 on their first
                                // pass: the next row panel (packed A is one sequence) is fetched while
                                // this one computes
                                fetch = (const char *)(ap + MR * kc);
                                lines = MR * kc / 16;
                            }
                            if (extra)
                                ukr_avx512_4cx(extra, kc, ap, bp, ldb, cp, ldc, acc, rows, e, ic + ir, res, fetch, lines > 0 ? lines : 0);
                            else
                                ukr_avx512(kc, ap, bp, inPlace ? ldb : 64, inPlace, cp, ldc, acc, rows, cols, e, ic + ir, res,
                                           fetch, lines > 0 ? lines : 0);
#endif
                        } else {
                            if (rows == MR && cols == nr) {
                                ukr(kc, ap, bp, cp, ldc, acc);
                            } else {
                                ukr(kc, ap, bp, tile, nr, 0);
                                for (long i = 0; i < rows; i++)
                                    for (long j = 0; j < cols; j++)
                                        cp[i * ldc + j] = acc ? cp[i * ldc + j] + tile[i * nr + j] : tile[i * nr + j];
                            }
#ifdef CK_X86
                            if (isa == 1 && ep && pc + kc >= K)
                                epilogue_tile256(ep, ic + ir, rows, cols, cp, ldc, ep->residual ? ep->residual + (ic + ir) * ldc + jc + jr : 0);
#endif
                        }
                    }
                    if (extra) break;
                }
            }
        }
    }
    if (ep && isa == 0) {
        // the portable kernel stores plain tiles: the epilogue is a pass over the rows
        ck_epilogue rows = *ep;
        if (rows.residual) rows.residual += m0 * ldc;
        ck_epilogue_rows(&rows, m0, M - m0, N, C + m0 * ldc, ldc, C + m0 * ldc, ldc);
    }
}

void ck_sgemm(int transA, int transB, long M, long N, long K,
              const float *A, long lda, const float *B, long ldb,
              float *C, long ldc, int accumulate) {
    sgemm_driver(transA, transB, M, 0, M, N, K, A, lda, 0, B, ldb, 0, 0, C, ldc, accumulate, 0);
}

void ck_sgemm_packed(long M, long N, long K, const float *apacked, int transB, const float *B, long ldb,
                     float *C, long ldc, int accumulate, const ck_epilogue *ep) {
    sgemm_driver(0, transB, M, 0, M, N, K, 0, 0, apacked, B, ldb, 0, 0, C, ldc, accumulate, ep);
}

void ck_sgemm_packed_rows(long M, long row0, long row1, long N, long K, const float *apacked, int transB, const float *B,
                          long ldb, float *C, long ldc, int accumulate, const ck_epilogue *ep) {
    sgemm_driver(0, transB, M, row0, row1 < M ? row1 : M, N, K, 0, 0, apacked, B, ldb, 0, 0, C, ldc, accumulate, ep);
}

void ck_sgemm_conv(int transA, long M, long N, long K, const float *A, long lda, const float *apacked,
                   int transB, const ck_conv_source *src, float *C, long ldc, int accumulate, const ck_epilogue *ep) {
    sgemm_driver(transA, transB, M, 0, M, N, K, A, lda, apacked, 0, 0, src, 0, C, ldc, accumulate, ep);
}

/// Floats of a B operand [K×N] packed whole by ck_pack_b_all.
long ck_packed_b_size(long K, long N) { return ((N + NR_MAX - 1) / NR_MAX) * NR_MAX * (K > 0 ? K : 1); }

/// Packs all of op(B) [K×N] in 64-wide panels, KC rows at a time: block pc, panel jp at
/// pc·Npad + jp·64·kc (Npad = N rounded up to 64). AVX-512 layout (the only user).
void ck_pack_b_all(int transB, long K, long N, const float *B, long ldb, float *dst) {
    long npad = ((N + NR_MAX - 1) / NR_MAX) * NR_MAX;
    for (long pc = 0; pc < K; pc += KC) {
        long kc = K - pc < KC ? K - pc : KC;
        const float *Bblk = transB ? B + pc : B + pc * ldb;
        pack_b(transB, Bblk, ldb, kc, N, NR_MAX, dst + pc * npad);
    }
}

/// C[M×N] = op(A)·B for the 64-wide column panels [p0, p1) of a B packed by ck_pack_b_all, with
/// A packed here (all M rows; for few rows: a convolution's pixels against its kept weights).
/// AVX-512 only (ck_gemm_isa() == 2).
void ck_sgemm_bpacked(int transA, long M, long N, long K, const float *A, long lda, const float *apacked, const float *bpacked,
                      long p0, long p1, float *C, long ldc) {
    ck_sgemm_bpacked_rows(transA, M, 0, M, N, K, A, lda, apacked, bpacked, p0, p1, C, ldc);
}

void ck_sgemm_bpacked_rows(int transA, long M, long row0, long row1, long N, long K, const float *A, long lda,
                           const float *apacked, const float *bpacked, long p0, long p1, float *C, long ldc) {
    long n0 = p0 * NR_MAX, n1 = p1 * NR_MAX < N ? p1 * NR_MAX : N;
    packed_b b = { bpacked, p0, ((N + NR_MAX - 1) / NR_MAX) * NR_MAX };
    sgemm_driver(transA, 0, M, row0, row1 < M ? row1 : M, n1 - n0, K, A, lda, apacked, 0, 0, 0, &b, C + n0, ldc, 0, 0);
}
