// SPDX-License-Identifier: Apache-2.0
#include <array>
#include <cstdint>

#include "cpu/parallel.hpp"
#include "cpu/simd.hpp"
#include "foveal/math/box_coder.hpp"
#include "ops/backend.hpp"

namespace foveal::cpu {
namespace {

constexpr std::int64_t kChunk = 4096;  // rows per task

template <typename T>
struct CoderArgs {
  T wx, wy, ww, wh, clip;
};

// Rows [0, n) of one chunk; k codes per row. The k == 1 loop runs over rows so that it vectorises.
template <typename T>
FOVEAL_ALWAYS_INLINE void decode_rows_body(const T* codes, const T* boxes, std::int64_t n, std::int64_t k,
                                           CoderArgs<T> a, T* out) {
  const T wx = a.wx, wy = a.wy, ww = a.ww, wh = a.wh, clip = a.clip;
  if (k == 1) {
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) {
      math::box_decode(codes[4 * i], codes[4 * i + 1], codes[4 * i + 2], codes[4 * i + 3], boxes[4 * i],
                       boxes[4 * i + 1], boxes[4 * i + 2], boxes[4 * i + 3], wx, wy, ww, wh, clip, out[4 * i],
                       out[4 * i + 1], out[4 * i + 2], out[4 * i + 3]);
    }
    return;
  }
  for (std::int64_t i = 0; i < n; ++i) {
    const T x1 = boxes[4 * i], y1 = boxes[4 * i + 1], x2 = boxes[4 * i + 2], y2 = boxes[4 * i + 3];
    const T* c = codes + 4 * k * i;
    T* dst = out + 4 * k * i;
#pragma omp simd
    for (std::int64_t j = 0; j < k; ++j) {
      math::box_decode(c[4 * j], c[4 * j + 1], c[4 * j + 2], c[4 * j + 3], x1, y1, x2, y2, wx, wy, ww, wh, clip,
                       dst[4 * j], dst[4 * j + 1], dst[4 * j + 2], dst[4 * j + 3]);
    }
  }
}
FOVEAL_SIMD_VARIANTS(decode_rows, decode_rows_body,
                     (const T* codes, const T* boxes, std::int64_t n, std::int64_t k, CoderArgs<T> a, T* out),
                     (codes, boxes, n, k, a, out))

template <typename T>
FOVEAL_ALWAYS_INLINE void encode_rows_body(const T* g, const T* p, std::int64_t n, CoderArgs<T> a, T* out) {
  const T wx = a.wx, wy = a.wy, ww = a.ww, wh = a.wh;
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) {
    math::box_encode(g[4 * i], g[4 * i + 1], g[4 * i + 2], g[4 * i + 3], p[4 * i], p[4 * i + 1], p[4 * i + 2],
                     p[4 * i + 3], wx, wy, ww, wh, out[4 * i], out[4 * i + 1], out[4 * i + 2], out[4 * i + 3]);
  }
}
FOVEAL_SIMD_VARIANTS(encode_rows, encode_rows_body, (const T* g, const T* p, std::int64_t n, CoderArgs<T> a, T* out),
                     (g, p, n, a, out))

template <typename T>
CoderArgs<T> args_of(const std::array<double, 4>& w, double clip) {
  return {static_cast<T>(w[0]), static_cast<T>(w[1]), static_cast<T>(w[2]), static_cast<T>(w[3]),
          static_cast<T>(clip)};
}

template <typename T>
void decode_impl(ConstTensorView rel_codes, ConstTensorView boxes, CoderArgs<T> a, TensorView out, int threads) {
  const std::int64_t n = rel_codes.size(0), k = rel_codes.numel() / (4 * n);
  const T* c = rel_codes.data_as<T>();
  const T* b = boxes.data_as<T>();
  T* o = out.data_as<T>();
  const auto rows = decode_rows<T>();
  const std::int64_t per = k >= kChunk ? 1 : kChunk / k;
  const std::int64_t chunks = (n + per - 1) / per;
  parallel_for(0, chunks, threads, 4, [&](std::int64_t t) {
    const std::int64_t i0 = t * per, i1 = i0 + per < n ? i0 + per : n;
    rows(c + 4 * k * i0, b + 4 * i0, i1 - i0, k, a, o + 4 * k * i0);
  });
}

template <typename T>
void encode_impl(ConstTensorView g, ConstTensorView p, CoderArgs<T> a, TensorView out, int threads) {
  const std::int64_t n = g.size(0);
  const T* gd = g.data_as<T>();
  const T* pd = p.data_as<T>();
  T* o = out.data_as<T>();
  const auto rows = encode_rows<T>();
  const std::int64_t chunks = (n + kChunk - 1) / kChunk;
  parallel_for(0, chunks, threads, 4, [&](std::int64_t t) {
    const std::int64_t i0 = t * kChunk, i1 = i0 + kChunk < n ? i0 + kChunk : n;
    rows(gd + 4 * i0, pd + 4 * i0, i1 - i0, a, o + 4 * i0);
  });
}

}  // namespace

void encode_boxes(ConstTensorView reference_boxes, ConstTensorView proposals, const std::array<double, 4>& weights,
                  TensorView out, const ExecContext& ctx) {
  if (out.dtype() == DType::Float32)
    encode_impl<float>(reference_boxes, proposals, args_of<float>(weights, 0), out, ctx.num_threads);
  else
    encode_impl<double>(reference_boxes, proposals, args_of<double>(weights, 0), out, ctx.num_threads);
}

void decode_boxes(ConstTensorView rel_codes, ConstTensorView boxes, const std::array<double, 4>& weights,
                  double bbox_xform_clip, TensorView out, const ExecContext& ctx) {
  if (out.dtype() == DType::Float32)
    decode_impl<float>(rel_codes, boxes, args_of<float>(weights, bbox_xform_clip), out, ctx.num_threads);
  else
    decode_impl<double>(rel_codes, boxes, args_of<double>(weights, bbox_xform_clip), out, ctx.num_threads);
}

}  // namespace foveal::cpu
