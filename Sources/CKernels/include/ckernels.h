#ifndef CKERNELS_H
#define CKERNELS_H
#include <stdint.h>

/// Which micro-kernel the GEMM uses on this CPU: 2 = AVX-512, 1 = AVX2+FMA, 0 = portable C.
int ck_gemm_isa(void);
/// The calling thread's ISA cap (−1: none), applied on top of the detected level (itself capped by CONVNET_ISA).
int ck_gemm_isa_override(void);
void ck_gemm_set_isa_override(int level);

/// Single-threaded C[M×N] (+)= op(A)[M×K] · op(B)[K×N], row-major with leading dimensions.
/// accumulate = 0 overwrites C, 1 adds to it.
void ck_sgemm(int transA, int transB, long M, long N, long K,
              const float *A, long lda, const float *B, long ldb,
              float *C, long ldc, int accumulate);

/// C[M×N] = A[M×K]·Bᵀ (B is N×K, row-major) for small N (≲ 16): A is streamed once, unpacked.
void ck_sgemm_small_n(long M, long N, long K, const float *A, long lda, const float *B, long ldb, float *C, long ldc);
/// Floats needed by ck_pack_a for an M×K operand.
long ck_packed_a_size(long M, long K);
/// Packs op(A) [M×K] once so several GEMMs (threads, image blocks) can share it.
void ck_pack_a(int transA, long M, long K, const float *A, long lda, float *dst);
/// Where ck_pack_a puts element (i, k) of an M×K operand. Rows lie in 6-row panels and K in blocks
/// of 384 (a multiple of 16): within a panel and a block, element (i0 + r, k) is at
/// ck_packed_a_offset(M, K, i0, k0) + (k − k0)·6 + r (winograd3.c writes 16 columns at a time so).
long ck_packed_a_offset(long M, long K, long i, long k);
/// What a convolution does to each value of C as the GEMM stores it, row i being output channel i:
/// v·scale[i] + shift[i] (either may be null: 1, 0), plus residual (shaped and strided as C, from
/// C's origin; null: none), then max(v, 0) if relu, then the clamp to [lo, hi] if clamp (NaN stays
/// NaN). The same arithmetic as ck_affine_relu, so fused and separate passes agree bit for bit.
typedef struct {
    const float *scale, *shift, *residual;
    int relu, clamp;
    float lo, hi;
} ck_epilogue;

/// C[M×N] (+)= A·op(B) with A packed by ck_pack_a, then the epilogue `ep` if non-null. Single-threaded.
void ck_sgemm_packed(long M, long N, long K, const float *apacked, int transB, const float *B, long ldb,
                     float *C, long ldc, int accumulate, const ck_epilogue *ep);
/// Rows [row0, row1) of the same product (row0 a multiple of 6; C points at row 0), so threads can
/// split a GEMM with few columns by rows while sharing one packed A of all M rows.
void ck_sgemm_packed_rows(long M, long row0, long row1, long N, long K, const float *apacked, int transB, const float *B,
                          long ldb, float *C, long ldc, int accumulate, const ck_epilogue *ep);

/// Floats of a B operand [K×N] packed whole by ck_pack_b_all.
long ck_packed_b_size(long K, long N);
/// Packs all of op(B) [K×N] in the AVX-512 micro-kernel's 64-wide panels, so several GEMMs with
/// different left operands (threads, calls) can share it.
void ck_pack_b_all(int transB, long K, long N, const float *B, long ldb, float *dst);
/// C[M×N] = op(A)·B over the 64-wide column panels [p0, p1) of a B packed by ck_pack_b_all, with A
/// given packed by ck_pack_a (apacked) or as a matrix (AVX-512 only).
void ck_sgemm_bpacked(int transA, long M, long N, long K, const float *A, long lda, const float *apacked, const float *bpacked,
                      long p0, long p1, float *C, long ldc);
/// The same for rows [row0, row1) of C only (row0 a multiple of 6).
void ck_sgemm_bpacked_rows(int transA, long M, long row0, long row1, long N, long K, const float *A, long lda,
                           const float *apacked, const float *bpacked, long p0, long p1, float *C, long ldc);

/// A convolution's im2col matrix described instead of stored: row `tap` = (c, i, j) over the
/// group's channels, column `n` = output pixel n of the images from `x` on (n = image·Ho·Wo + oh·Wo + ow).
typedef struct {
    const float *x;
    long C, H, W, kh, kw, ph, pw, sh, sw, dh, dw, Ho, Wo;
    long channelOffset;   /* first input channel of the group */
    long pixelOffset;     /* column 0 is this pixel */
    long phaseWidth;      /* 0, or for sw = 2: x's rows hold the even columns, then the odd ones,
                             each phaseWidth long (see ck_split_columns), so runs are contiguous */
} ck_conv_source;

/// Each of `rows` rows of width W → its even columns, then its odd columns, each half = ⌈W/2⌉ long
/// (a missing last odd column is 0): the layout of ck_conv_source.phaseWidth.
void ck_split_columns(const float *x, long rows, long W, float *dst);

/// C[M×N] (+)= op(A)·B where B is the im2col matrix of `src` (transB = 0: K = taps, N = pixels;
/// transB = 1: K = pixels, N = taps). A is given packed (apacked) or as a matrix. The columns are
/// gathered straight into the GEMM's panels: no im2col buffer is written or read back. The epilogue
/// `ep` (or null) applies as for ck_sgemm_packed.
void ck_sgemm_conv(int transA, long M, long N, long K, const float *A, long lda, const float *apacked,
                   int transB, const ck_conv_source *src, float *C, long ldc, int accumulate, const ck_epilogue *ep);

/// col[(c·kh·kw + i·kw + j)·ldcol + oh·Wo + ow] = x[c, oh·sh − ph + i·dh, ow·sw − pw + j·dw] (0 outside).
/// ldcol ≥ Ho·Wo lets several images share one column matrix side by side.
void ck_im2col(const float *x, long C, long H, long W, long kh, long kw,
               long ph, long pw, long sh, long sw, long dh, long dw,
               long Ho, long Wo, float *col, long ldcol);
/// The adjoint of ck_im2col: adds col back into x (which the caller zeroes first).
void ck_col2im(const float *col, long C, long H, long W, long kh, long kw,
               long ph, long pw, long sh, long sw, long dh, long dw,
               long Ho, long Wo, float *x, long ldcol);

/// Max pooling over planes (N·C of them); writes the flat in-plane argmax per output (−1 if the window is all padding).
/// Scratch floats per thread ck_maxpool2d may take (slot 3) for values-only pooling of H×W planes.
long ck_maxpool2d_scratch(long H, long W);
void ck_maxpool2d(const float *x, long planes, long H, long W, long kh, long kw,
                  long ph, long pw, long sh, long sw, long dh, long dw,
                  long Ho, long Wo, float *y, int32_t *indices);
void ck_maxpool2d_backward(const float *gy, const int32_t *indices, long planes,
                           long H, long W, long Ho, long Wo, float *gx);
/// Average pooling; divisor counts padding when countIncludePad (clipped to the padded input, as PyTorch).
void ck_avgpool2d(const float *x, long planes, long H, long W, long kh, long kw,
                  long ph, long pw, long sh, long sw, long Ho, long Wo,
                  int countIncludePad, float *y);
void ck_avgpool2d_backward(const float *gy, long planes, long H, long W, long kh, long kw,
                           long ph, long pw, long sh, long sw, long Ho, long Wo,
                           int countIncludePad, float *gx);


/// A growable scratch buffer owned by the calling thread (slots 0–3), kept between calls.
float *ck_scratch(int slot, long count);
/// The kernels' thread pool (thread_pool.c): runs fn(ctx, i) for i in [0, n), on the calling thread
/// and up to n − 1 pooled workers; returns when all have finished. Returns 1 when the pool ran the
/// tasks, 0 when they ran serially (nested, concurrent with another region, or no pool here).
typedef void (*ck_task_fn)(void *ctx, long index);
int ck_pool_run(long n, ck_task_fn fn, void *ctx);
/// Whether this platform has the pool (Linux on x86-64); elsewhere callers use libdispatch.
int ck_pool_available(void);
/// y = 1 / (1 + e^−x) and y = e^x, vectorised where the CPU allows.
void ck_sigmoid(const float *x, float *y, long n);
void ck_exp(const float *x, float *y, long n);
/// out = g·y·(1 − y), the sigmoid's gradient from its output y.
void ck_sigmoid_backward(const float *g, const float *y, float *out, long n);
/// The C planes of x [C, H, W] into the interiors of padded planes [C, H + 2ph, W + 2pw] (the
/// border is left as it is: callers zero it once and reuse the buffer for every image).
void ck_pad_copy(const float *x, long C, long H, long W, long ph, long pw, float *xp);
/// Direct convolution for at most 16 output channels, any stride (AVX-512 only; check availability).
int ck_conv_direct16_available(void);
/// Weights [Cout, C, kh, kw] rearranged to [C·kh·kw][16] (zero lanes past Cout).
void ck_pack_conv_direct16(const float *w, long Cout, long C, long kh, long kw, float *packed);
/// Floats of scratch one thread needs per image.
long ck_conv_direct16_scratch(long C, long H, long W, long kh, long kw, long ph, long pw, long sw);
void ck_conv_direct16(const float *x, long images, long C, long H, long W, const float *packed, const float *bias,
                      long Cout, long kh, long kw, long ph, long pw, long sh, long sw, long Ho, long Wo, float *y, float *scratch);
/// Direct convolution over output channels in blocks of 32 (AVX-512 only, as direct16): weights
/// packed by ck_pack_conv_direct32 ([ceil(Cout/32)][C·kh·kw][32]), scratch as ck_conv_direct16_scratch.
void ck_pack_conv_direct32(const float *w, long Cout, long C, long kh, long kw, float *packed);
void ck_conv_direct32(const float *x, long images, long C, long H, long W, const float *packed, const float *bias,
                      long Cout, long kh, long kw, long ph, long pw, long sh, long sw, long Ho, long Wo, float *y, float *scratch);
/// dx of a 3×3 stride-2 layer padded by 1 with an even input (2·Ho × 2·Wo, C channels) from dy
/// (Cout × Ho × Wo), by its four phases: packed[2r + s] holds phase (r, s)'s (1 + r) × (1 + s) taps
/// packed by ck_pack_conv_direct32 for C outputs of Cout inputs; scratch as
/// ck_conv_direct16_scratch(Cout, Ho, Wo, 3, 3, 1, 1, 1). AVX-512 only (as direct16).
void ck_conv_direct32_stride2_input_grad(const float *gy, long images, long Cout, long Ho, long Wo, const float *const packed[4],
                                         long C, float *gx, float *scratch);
/// y[p] = the mean of plane p (`area` floats from x + p·area), p < planes: ck_sum's sums, in one call.
void ck_plane_means(const float *x, long planes, long area, float *y);
/// Σx, Σ(x − mu)², and (Σg, Σg·(x − mu)) added into the outputs; vectorised where possible.
float ck_sum(const float *x, long n);
float ck_sum_sq_dev(const float *x, long n, float mu);
/// With y given, g is taken as 0 where y ≤ 0 (a ReLU after the batch norm, y its output). `affine`
/// ({scale, shift}, or null) says y = relu(x·scale + shift) was computed by ck_affine_relu's AVX-512
/// kernel: the AVX-512 kernels here then recompute the mask from x bit for bit and do not read y.
void ck_sum_dot_dev(const float *g, const float *x, const float *y, long n, float mu, const float *affine,
                    float *sum_g, float *sum_gx);
/// Batch-norm input gradient: out = a·g' − b − (x − mu)·c (without the last term when c = 0),
/// g' = g, or 0 where y ≤ 0 when y is given (the mask as for ck_sum_dot_dev).
void ck_bn_input_grad(const float *g, const float *x, const float *y, long n, const float *affine, float a, float b,
                      float mu, float c, float *out);
/// y = max(x, 0); out = g where y > 0, else 0.
void ck_relu(const float *x, float *y, long n);
void ck_relu_backward(const float *g, const float *y, float *out, long n);
/// Weight gradient of a layer with at most 16 output channels (any stride), added into acc[C·kh·kw][16].
long ck_conv_dw_direct16_scratch(long C, long H, long W, long kw, long ph, long pw, long sw, long Ho, long Wo);
void ck_conv_dw_direct16(const float *x, const float *dy, long images, long C, long H, long W, long Cout, long kh, long kw,
                         long ph, long pw, long sh, long sw, long Ho, long Wo, float *acc, float *scratch);
/// Weight gradient of a stride-1 layer (one group) read in place from a padded copy of each image:
/// acc[tap·OC + o] += Σ dY[o]·X_tap (tap = c·kh·kw + i·kw + j). AVX-512 only; check availability.
int ck_conv_dw_stride1_available(void);
long ck_conv_dw_stride1_scratch(long C, long H, long W, long kh, long kw, long ph, long pw, long dw);
void ck_conv_dw_stride1(const float *x, const float *dy, long images, long C, long H, long W, long OC,
                        long kh, long kw, long ph, long pw, long dh, long dw, long Ho, long Wo,
                        float *acc, float *scratch);
/// The same for an undilated stride-2 layer, read in place from the four phases (even/odd rows ×
/// even/odd columns) of each padded image.
long ck_conv_dw_stride2_scratch(long C, long H, long W, long kh, long kw, long ph, long pw);
void ck_conv_dw_stride2(const float *x, const float *dy, long images, long C, long H, long W, long OC,
                        long kh, long kw, long ph, long pw, long Ho, long Wo, float *acc, float *scratch);
/// C[i·ldc + j] (+)= Σ_k A[i·lda + k]·B[k][j] for i < M, j < N (added to C when accumulate ≠ 0, else
/// written), with A read in place (no packing) and B given in 64-column panels: B[k][j] = Bp[(j / 64)·K·64 + k·64 + j mod 64].
void ck_sgemm_rows_panels(long M, long N, long K, const float *A, long lda, const float *Bp, float *C, long ldc,
                          int accumulate);
/// dst[j·lddst + i] = src[i·ldsrc + j] for i < rows, j < cols.
void ck_transpose(const float *src, long rows, long cols, long ldsrc, float *dst, long lddst);
/// Winograd F(2×2, 3×3) for stride-1 undilated 3×3 convolutions over NCHW.
/// Floats of the transformed, packed weights for OC output and C input channels of the GEMMs.
long ck_winograd_packed_size(long OC, long C);
/// Transforms and packs weights [OC, C, 3, 3]; adjoint = 1 prepares the input-gradient pass instead
/// (filters rotated by 180°, C and OC swapped: the GEMMs then have C rows). Filters [o0, o1) only
/// (o ranges of one call may run on different threads; packed is zeroed by the caller).
void ck_winograd_pack_weights(const float *w, long OC, long C, int adjoint, long o0, long o1, float *packed);
/// Floats of scratch one thread needs for blocks of `block` tiles.
long ck_winograd_scratch(long C, long OC, long W, long pw, long block);
/// Output tiles [t0, t0+count) of the batch (t = image·TH·TW + th·TW + tw, TH = ⌈Ho/2⌉, TW = ⌈Wo/2⌉):
/// y = conv(x, weights)·scale + bias (per output channel; scale and bias may be null) + residual
/// (shaped as y, or null), then ReLU if relu ≠ 0, for those tiles; x [N, C, H, W], y [N, OC, Ho, Wo].
void ck_winograd_conv_block(const float *x, long C, long H, long W, long ph, long pw,
                            long OC, long Ho, long Wo, const float *packed, const float *scale, const float *bias,
                            const float *residual, int relu, long t0, long count, float *y, float *scratch);
/// Winograd weight gradient: floats of scratch per thread for blocks of `block` tiles.
long ck_winograd_dw_scratch(long C, long OC, long W, long pw, long block);
/// For tiles [t0, t0+count): acc[ξ·OC·C + o·C + c] += Σ_t Ū[ξ][o][t]·V[ξ][c][t] (transformed output
/// gradient and input; written instead of added when accumulate is 0); x [N, C, H, W], dy [N, OC, Ho, Wo].
void ck_winograd_dw_block(const float *x, const float *dy, long C, long H, long W, long ph, long pw,
                          long OC, long Ho, long Wo, long t0, long count, int accumulate, float *acc,
                          float *scratch);
/// dW[o, c, 3, 3] = Gᵀ M G from the accumulated acc, for output channels [o0, o1).
void ck_winograd_dw_finish(const float *acc, long OC, long C, long o0, long o1, float *dw);
/// Winograd F(3×3, 3×3), AVX-512 only (ck_gemm_isa() == 2): the same interface as F(2×2) above,
/// with 25 transformed matrices instead of 16 and 3×3 output tiles.
long ck_winograd3_packed_size(long OC, long C);
/// Packs panels [p0, p1) (6 GEMM rows each: output channels, or input channels when adjoint) of all
/// 25 matrices, padding rows included (packed needs no zeroing).
void ck_winograd3_pack_weights(const float *w, long OC, long C, int adjoint, long p0, long p1, float *packed);
long ck_winograd3_scratch(long C, long OC, long block);
/// (Its conv blocks take `ngroups` groups of channels: C and OC are the images' channel counts, and
/// packed holds each group's matrices in turn, ck_winograd3_packed_size(OC/ngroups, C/ngroups) apart.)
void ck_winograd3_conv_block(const float *x, long C, long H, long W, long ph, long pw,
                             long OC, long Ho, long Wo, long ngroups, const float *packed, const float *scale,
                             const float *bias, const float *residual, int relu, long t0, long count, float *y, float *scratch);
long ck_winograd3_dw_scratch(long C, long OC, long block);
void ck_winograd3_dw_block(const float *x, const float *dy, long C, long H, long W, long ph, long pw,
                           long OC, long Ho, long Wo, long t0, long count, int accumulate, float *acc,
                           float *scratch);
void ck_winograd3_dw_finish(const float *acc, long OC, long C, long o0, long o1, float *dw);
/// Winograd F(2×2, 5×5), AVX-512 only: the same interface as F(3×3, 3×3) with 36 matrices, 5×5
/// filters and 2×2 output tiles.
long ck_winograd25_packed_size(long OC, long C);
void ck_winograd25_pack_weights(const float *w, long OC, long C, int adjoint, long p0, long p1, float *packed);
long ck_winograd25_scratch(long C, long OC, long block);
void ck_winograd25_conv_block(const float *x, long C, long H, long W, long ph, long pw,
                              long OC, long Ho, long Wo, long ngroups, const float *packed, const float *scale,
                              const float *bias, const float *residual, int relu, long t0, long count, float *y, float *scratch);
long ck_winograd25_dw_scratch(long C, long OC, long block);
void ck_winograd25_dw_block(const float *x, const float *dy, long C, long H, long W, long ph, long pw,
                            long OC, long Ho, long Wo, long t0, long count, int accumulate, float *acc,
                            float *scratch);
void ck_winograd25_dw_finish(const float *acc, long OC, long C, long o0, long o1, float *dw);
/// F(3×3, 3×3) for few tiles, in phases that split over threads by channel or ξ instead of by tile:
/// V[ξ][c][t − t0] (ξ at V + ξ·vs, channel rows ldv apart) for channels [c0, c1) …
void ck_winograd3_inputs(const float *x, long C, long H, long W, long ph, long pw, long OC, long Ho, long Wo,
                         long t0, long count, long c0, long c1, float *V, long vs, long ldv);
/// … y for output channels [o0, o1) from the products M[ξ] [OC × count] (as ck_winograd3_conv_block's epilogue) …
void ck_winograd3_outputs(const float *M, long ms, long ldv, long C, long H, long W, long ph, long pw, long OC, long Ho,
                          long Wo, long t0, long count, long o0, long o1, const float *scale, const float *bias,
                          const float *residual, int relu, float *y);
/// … Ū[ξ][o][t − t0] of the output gradient for output channels [o0, o1) …
void ck_winograd3_gradients(const float *dy, long C, long H, long W, long ph, long pw, long OC, long Ho, long Wo,
                            long t0, long count, long o0, long o1, float *U, long us, long ld);
/// … and acc[ξ] [OC × C] = Ū[ξ] · V[ξ]ᵀ for ξ in [xi0, xi1) (panels: 64·⌈C/64⌉·count floats of scratch).
void ck_winograd3_dw_gemm(const float *V, long vs, const float *U, long us, long ld, long C, long OC, long count,
                          int xi0, int xi1, float *acc, float *panels);
/// dst[i] = src[i]·scale + shift (+ res[i] when res is not null) for i < n, then max(·, 0) if
/// relu ≠ 0 (src may be dst).
void ck_affine_relu(const float *src, const float *res, float *dst, long n, float scale, float shift, int relu);
/// dst row r = ep(src row r) for r < rows, each n long (strides lds, ldd; src may be dst): row r takes
/// scale and shift [row0 + r] and the residual row r from ep->residual (strided as dst).
void ck_epilogue_rows(const ck_epilogue *ep, long row0, long rows, long n, const float *src, long lds, float *dst, long ldd);
/// Depthwise convolution (groups = C = Cout) of planes p0..<p1 of x [N·C planes of H×W] with w
/// [C, kh, kw] and an optional bias [C], into y [N·C planes of Ho×Wo] (zero padding ph/pw).
void ck_conv_depthwise(const float *x, long p0, long p1, long C, long H, long W, const float *w, const float *bias,
                       long kh, long kw, long sh, long sw, long ph, long pw, long dh, long dw, long Ho, long Wo, float *y);
/// Whether ck_conv_depthwise_padded runs here (AVX-512 or AVX2).
int ck_conv_depthwise_padded_available(void);
/// Scratch floats per thread for ck_conv_depthwise_padded (H: the rows of the largest call, counting
/// any padding rows below them that its outputs read).
long ck_conv_depthwise_padded_scratch(long H, long W, long kh, long kw, long ph, long pw, long s, long Wo);
/// Depthwise convolution as ck_conv_depthwise (stride s = 1 or 2 both ways, undilated, any kernel),
/// through the epilogue `ep` (or null; a bias goes in as its shift, indexed by channel; its
/// residual is shaped as y), over flattened padded planes: see conv_depthwise.c. Plane p of x
/// starts at p·xPlane, of y (and of the residual) at p·yPlane (H·W and Ho·Wo for whole planes;
/// more for a band of their rows).
void ck_conv_depthwise_padded(const float *x, long xPlane, long p0, long p1, long C, long H, long W, const float *w, long kh, long kw,
                              long s, long ph, long pw, long Ho, long Wo, const ck_epilogue *ep, float *y, long yPlane, float *scratch);
/// Whether ck_conv_implicit runs here (AVX-512 or AVX2).
int ck_conv_implicit_available(void);
/// Floats of the padded phases ck_conv_implicit_phases writes for a C-channel image.
long ck_conv_implicit_phases_size(long C, long H, long W, long kw, long ph, long pw, long s);
/// Part `part` of `parts` (by rows) of the padded phases of image x [C, H, W] for ck_conv_implicit
/// (stride s = 1 or 2): the parts may be written by different threads at once.
void ck_conv_implicit_phases(const float *x, long C, long H, long W, long kw, long ph, long pw, long s, long part, long parts,
                             float *phases);
/// Output rows [oh0, oh1) of y [M, Ho, Wo] = conv(image, w) through the epilogue `ep` (or null; a bias
/// goes in as its shift), by an implicit GEMM over the image's phases, with w [M, C·kh·kw] packed by
/// ck_pack_a (undilated, equal strides s ≤ 2). off: C·kh·kw longs of scratch. See conv_implicit.c.
void ck_conv_implicit(const float *phases, long C, long H, long W, long M, long kh, long kw, long s, long ph, long pw,
                      long Ho, long Wo, const float *apacked, const ck_epilogue *ep, long oh0, long oh1, float *y, long *off);
#endif
