// SPDX-License-Identifier: Apache-2.0
// Element-wise nn ops on the CPU: contiguous loops vectorised with omp simd (one SIMD variant per
// level for the streaming ones), parallel over blocks of elements, channel planes or softmax rows.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "cpu/parallel.hpp"
#include "cpu/simd.hpp"
#include "foveal/math/elementwise.hpp"
#include "ops/backend.hpp"

namespace foveal::cpu {
namespace {

using i64 = std::int64_t;
constexpr i64 kBlock = 16384;  // elements per parallel task of the streaming ops

template <typename T>
const T* ptr_or_null(ConstTensorView v) {
  return v.data() ? v.data_as<T>() : nullptr;
}

template <typename T>
FOVEAL_ALWAYS_INLINE void affine_body(T* o, const T* x, T s, T b, i64 n) {
#pragma omp simd
  for (i64 i = 0; i < n; ++i) o[i] = x[i] * s + b;
}
FOVEAL_SIMD_VARIANTS(affine_row, affine_body, (T * o, const T* x, T s, T b, i64 n), (o, x, s, b, n))

template <typename T>
FOVEAL_ALWAYS_INLINE void relu_body(T* o, const T* x, i64 n) {
#pragma omp simd
  for (i64 i = 0; i < n; ++i) o[i] = math::relu(x[i]);
}
FOVEAL_SIMD_VARIANTS(relu_row, relu_body, (T * o, const T* x, i64 n), (o, x, n))

template <typename T>
FOVEAL_ALWAYS_INLINE void sigmoid_body(T* o, const T* x, i64 n) {
#pragma omp simd
  for (i64 i = 0; i < n; ++i) o[i] = math::sigmoid(x[i]);
}
FOVEAL_SIMD_VARIANTS(sigmoid_row, sigmoid_body, (T * o, const T* x, i64 n), (o, x, n))

template <typename T>
FOVEAL_ALWAYS_INLINE void add_body(T* o, const T* a, const T* b, i64 n) {
#pragma omp simd
  for (i64 i = 0; i < n; ++i) o[i] = a[i] + b[i];
}
FOVEAL_SIMD_VARIANTS(add_row, add_body, (T * o, const T* a, const T* b, i64 n), (o, a, b, n))

/// f(lo, n) over [0, total) in blocks of kBlock, in parallel.
template <typename F>
void blocks(i64 total, int threads, F&& f) {
  const i64 nb = (total + kBlock - 1) / kBlock;
  parallel_for(0, nb, threads, 2, [&](i64 k) {
    const i64 lo = k * kBlock;
    f(lo, std::min(kBlock, total - lo));
  });
}

template <typename T>
void batch_norm_typed(ConstTensorView input, ConstTensorView mean, ConstTensorView var, ConstTensorView weight,
                      ConstTensorView bias, TensorView out, double eps, const ExecContext& ctx) {
  const i64 C = input.size(1), N = input.size(0), inner = C > 0 && N > 0 ? input.numel() / (N * C) : 0;
  const T* m = mean.data_as<T>();
  const T* v = var.data_as<T>();
  const T* w = ptr_or_null<T>(weight);
  const T* b = ptr_or_null<T>(bias);
  std::vector<T> scale(static_cast<std::size_t>(C)), shift(static_cast<std::size_t>(C));
  for (i64 c = 0; c < C; ++c) {
    scale[c] = math::bn_scale<T>(v[c], w ? w[c] : T(1), eps);
    shift[c] = math::bn_shift<T>(m[c], b ? b[c] : T(0), scale[c]);
  }
  const T* x = input.data_as<T>();
  T* y = out.data_as<T>();
  auto row = affine_row<T>();
  parallel_for(0, N * C, ctx.num_threads, 2, [&](i64 pl) {
    const i64 c = pl % C;
    row(y + pl * inner, x + pl * inner, scale[c], shift[c], inner);
  });
}

template <typename T>
void fold_typed(ConstTensorView cw, ConstTensorView cb, ConstTensorView mean, ConstTensorView var,
                ConstTensorView bw, ConstTensorView bb, TensorView ow, TensorView ob, double eps) {
  const i64 C = cw.size(0), per = cw.numel() / C;
  const T* w = cw.data_as<T>();
  const T* b = ptr_or_null<T>(cb);
  T* wo = ow.data_as<T>();
  T* bo = ob.data_as<T>();
  for (i64 c = 0; c < C; ++c) {
    const T s = math::bn_scale<T>(var.data_as<T>()[c], bw.data_as<T>()[c], eps);
    for (i64 i = 0; i < per; ++i) wo[c * per + i] = w[c * per + i] * s;
    bo[c] = ((b ? b[c] : T(0)) - mean.data_as<T>()[c]) * s + bb.data_as<T>()[c];
  }
}

template <typename T>
void softmax_typed(ConstTensorView input, int dim, TensorView out, const ExecContext& ctx) {
  i64 outer = 1, inner = 1;
  for (int i = 0; i < dim; ++i) outer *= input.size(i);
  for (int i = dim + 1; i < input.ndim(); ++i) inner *= input.size(i);
  const i64 L = input.size(dim);
  const T* x = input.data_as<T>();
  T* y = out.data_as<T>();
  if (inner == 1) {  // contiguous rows
    parallel_for(0, outer, ctx.num_threads, 8, [&](i64 r) {
      const T* xr = x + r * L;
      T* yr = y + r * L;
      T mx = -std::numeric_limits<T>::infinity();
      for (i64 i = 0; i < L; ++i) mx = std::isnan(xr[i]) || xr[i] > mx ? xr[i] : mx;
      T sum = 0;
#pragma omp simd reduction(+ : sum)
      for (i64 i = 0; i < L; ++i) {
        const T e = std::exp(xr[i] - mx);
        yr[i] = e;
        sum += e;
      }
      const T inv = T(1) / sum;
#pragma omp simd
      for (i64 i = 0; i < L; ++i) yr[i] *= inv;
    });
    return;
  }
  // Strided: per outer slab, vectors across `inner`, one pass per step along dim.
  parallel_for(0, outer, ctx.num_threads, 1, [&](i64 r) {
    const T* xs = x + r * L * inner;
    T* ys = y + r * L * inner;
    thread_local std::vector<T> mx, sum;
    mx.assign(static_cast<std::size_t>(inner), -std::numeric_limits<T>::infinity());
    sum.assign(static_cast<std::size_t>(inner), T(0));
    T* m = mx.data();
    T* s = sum.data();
    for (i64 l = 0; l < L; ++l) {
      const T* xl = xs + l * inner;
      for (i64 i = 0; i < inner; ++i) m[i] = std::isnan(xl[i]) || xl[i] > m[i] ? xl[i] : m[i];
    }
    for (i64 l = 0; l < L; ++l) {
      const T* xl = xs + l * inner;
      T* yl = ys + l * inner;
#pragma omp simd
      for (i64 i = 0; i < inner; ++i) {
        yl[i] = std::exp(xl[i] - m[i]);
        s[i] += yl[i];
      }
    }
    for (i64 i = 0; i < inner; ++i) s[i] = T(1) / s[i];
    for (i64 l = 0; l < L; ++l) {
      T* yl = ys + l * inner;
#pragma omp simd
      for (i64 i = 0; i < inner; ++i) yl[i] *= s[i];
    }
  });
}

template <typename T>
void unary_typed(UnaryOp u, ConstTensorView input, TensorView out, const ExecContext& ctx) {
  const T* x = input.data_as<T>();
  T* y = out.data_as<T>();
  if (u == UnaryOp::Relu) {
    auto f = relu_row<T>();
    blocks(out.numel(), ctx.num_threads, [&](i64 lo, i64 n) { f(y + lo, x + lo, n); });
  } else {
    auto f = sigmoid_row<T>();
    blocks(out.numel(), ctx.num_threads, [&](i64 lo, i64 n) { f(y + lo, x + lo, n); });
  }
}

template <typename T>
void add_typed(ConstTensorView a, ConstTensorView b, TensorView out, const ExecContext& ctx) {
  const T* pa = a.data_as<T>();
  const T* pb = b.data_as<T>();
  T* y = out.data_as<T>();
  auto f = add_row<T>();
  blocks(out.numel(), ctx.num_threads, [&](i64 lo, i64 n) { f(y + lo, pa + lo, pb + lo, n); });
}

}  // namespace

void batch_norm(ConstTensorView input, ConstTensorView running_mean, ConstTensorView running_var,
                ConstTensorView weight, ConstTensorView bias, TensorView out, double eps, const ExecContext& ctx) {
  if (input.dtype() == DType::Float64)
    return batch_norm_typed<double>(input, running_mean, running_var, weight, bias, out, eps, ctx);
  batch_norm_typed<float>(input, running_mean, running_var, weight, bias, out, eps, ctx);
}

void fold_batch_norm(ConstTensorView conv_weight, ConstTensorView conv_bias, ConstTensorView running_mean,
                     ConstTensorView running_var, ConstTensorView bn_weight, ConstTensorView bn_bias,
                     TensorView out_weight, TensorView out_bias, double eps, const ExecContext&) {
  if (conv_weight.dtype() == DType::Float64)
    return fold_typed<double>(conv_weight, conv_bias, running_mean, running_var, bn_weight, bn_bias, out_weight,
                              out_bias, eps);
  fold_typed<float>(conv_weight, conv_bias, running_mean, running_var, bn_weight, bn_bias, out_weight, out_bias, eps);
}

void unary(UnaryOp op, ConstTensorView input, TensorView out, const ExecContext& ctx) {
  if (input.dtype() == DType::Float64) return unary_typed<double>(op, input, out, ctx);
  unary_typed<float>(op, input, out, ctx);
}

void softmax(ConstTensorView input, int dim, TensorView out, const ExecContext& ctx) {
  if (input.dtype() == DType::Float64) return softmax_typed<double>(input, dim, out, ctx);
  softmax_typed<float>(input, dim, out, ctx);
}

void add(ConstTensorView a, ConstTensorView b, TensorView out, const ExecContext& ctx) {
  if (a.dtype() == DType::Float64) return add_typed<double>(a, b, out, ctx);
  add_typed<float>(a, b, out, ctx);
}

}  // namespace foveal::cpu
