// SPDX-License-Identifier: Apache-2.0
// The CPU matrix product under linear and conv2d: C (M, N) = A (M, K) B (K, N), then the fused
// epilogue. Packed and cache-blocked (NC columns of B, KC deep, MC rows of A per block), with a
// register-tiled micro-kernel per SIMD level. B comes from a "source" that packs a KC x NC block
// into NR-wide panels: a strided matrix, or the implicit im2col matrix of a convolution (so conv
// never materialises a full im2col buffer).
#pragma once
#include <cstdint>

#include "foveal/math/conv.hpp"

namespace foveal::cpu {

/// Applied to each C element once its sum is complete: + bias, + residual, then the activation.
template <typename T>
struct GemmEpilogue {
  const T* bias = nullptr;  ///< indexed by row (bias_per_row) or by column
  bool bias_per_row = true;
  const T* residual = nullptr;  ///< same layout as C, leading dimension ldr
  std::int64_t ldr = 0;
  math::Activation activation = math::Activation::None;
  T slope = T(0.01);
};

/// B element (k, n) = p[k * rs + n * cs].
template <typename T>
struct MatrixB {
  const T* p;
  std::int64_t rs, cs;
};

/// The im2col matrix of one image and one group of a convolution, never formed: row k is
/// (channel c, tap kh, kw) = (k / (KH KW), ...), column n is output pixel (n / OW, n % OW).
template <typename T>
struct Im2colB {
  const T* x;  ///< the group's first input channel
  std::int64_t H, W, KH, KW, sh, sw, pt, pl, dh, dw, OW;
};

/// A C whose element (i, j) lies at c[i * ldc + (j / cw) * rs + (j % cw) * cs]: the columns fill
/// rows of cw elements cs apart, rs apart (a strided output phase of a transposed convolution).
/// The epilogue's residual is read at the same place (leading dimension ldr for i). With row_off,
/// row i starts at row_off[i] instead (for C and the residual); with cpi > 0, the columns are
/// images of cpi columns each, `is` apart: j -> (j / cpi) is + the place of j % cpi.
template <typename T>
struct StridedC {
  T* c;
  std::int64_t ldc, cw, rs, cs;
  const std::int64_t* row_off = nullptr;
  std::int64_t cpi = 0, is = 0;
};

/// B element (k, j) = x[(j / cpi) * is + k * rs + j % cpi]: the planes of several images side by
/// side (the NCHW input of a batch, as one matrix of channels x (image, pixel)).
template <typename T>
struct PlanesB {
  const T* x;
  std::int64_t rs, cpi, is;
};

/// C = A B with A element (i, k) = a[i * rsa + k * csa]; C row-major with leading dimension ldc.
/// `threads` > 1 parallelises inside the product (else it runs on the calling thread, for callers
/// that parallelise over independent products).
template <typename T, class BSrc>
void gemm(std::int64_t M, std::int64_t N, std::int64_t K, const T* a, std::int64_t rsa, std::int64_t csa,
          const BSrc& b, T* c, std::int64_t ldc, const GemmEpilogue<T>& epi, int threads);

/// The same product stored into a strided C.
template <typename T, class BSrc>
void gemm(std::int64_t M, std::int64_t N, std::int64_t K, const T* a, std::int64_t rsa, std::int64_t csa,
          const BSrc& b, const StridedC<T>& c, const GemmEpilogue<T>& epi, int threads);

/// The epilogue on an (m, n) block of C at its origin (rows and columns counted from 0).
template <typename T>
void apply_epilogue(T* c, std::int64_t ldc, std::int64_t m, std::int64_t n, const GemmEpilogue<T>& epi);

/// The register-tiled micro-kernel of the current SIMD level, for callers that lay out their own
/// packed operands (Winograd's batched products): C (mr x nr, leading dimension ldc) (+)= sum over
/// kc of a[k * mr + i] b[k * nr + j], with a and b packed as pack_a / the B panels do.
/// `rows`: the same with B unpacked, row k read in place at rows[k] + off (nr values each, all
/// readable; lanes past the wanted columns are simply not used).
template <typename T>
struct MicroKernel {
  int mr, nr;
  void (*fn)(std::int64_t kc, const T* a, const T* b, T* c, std::int64_t ldc, bool accumulate);
  void (*rows)(std::int64_t kc, const T* a, const T* const* rows, std::int64_t off, T* c, std::int64_t ldc,
               bool accumulate);
  /// `rows`, also storing the rows read as a packed B panel at pk (kc nr values, for `fn` with the
  /// next A panels) and prefetching the part of each row two panels on (off + 2 nr).
  void (*rows_pack)(std::int64_t kc, const T* a, const T* const* rows, std::int64_t off, T* c, std::int64_t ldc,
                    bool accumulate, T* pk);
};

/// Rows [0, m) x depth [0, k) of A (element (i, k) at a[i * rsa + k * csa]) as the micro-kernel's
/// MR-row panels, panel p at dst[p * k * mr] (rows past m zero).
template <typename T>
void pack_a_panels(const T* a, std::int64_t rsa, std::int64_t csa, std::int64_t m, std::int64_t k, int mr, T* dst);

/// Stores an (m x n) tile of sums t (leading dimension nr) at rows [i0, ...) and columns [j, ...)
/// of a strided C, with the epilogue.
template <typename T>
void store_tile(const StridedC<T>& c, const T* t, std::int64_t nr, std::int64_t i0, std::int64_t j, std::int64_t m,
                std::int64_t n, const GemmEpilogue<T>& epi);
template <typename T>
MicroKernel<T> micro_kernel();

/// Threads the CPU backends use for `requested` (ExecContext::num_threads).
int gemm_threads(int requested);

}  // namespace foveal::cpu
