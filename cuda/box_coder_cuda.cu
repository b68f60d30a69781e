// SPDX-License-Identifier: Apache-2.0
#include <array>
#include <cstdint>

#include "common.cuh"
#include "foveal/math/box_coder.hpp"
#include "ops/backend.hpp"

namespace foveal::cuda {
namespace {

constexpr int kThreads = 256;

template <typename A>
struct CoderArgs {
  A wx, wy, ww, wh, clip;
};

// One thread per code (row i, class j); k codes per row.
template <typename S, typename A>
__global__ void decode_kernel(const S* __restrict__ codes, const S* __restrict__ boxes, std::int64_t total,
                              std::int64_t k, CoderArgs<A> a, S* __restrict__ out) {
  for (std::int64_t t = std::int64_t(blockIdx.x) * kThreads + threadIdx.x; t < total;
       t += std::int64_t(gridDim.x) * kThreads) {
    const std::int64_t i = t / k;
    const S* c = codes + 4 * t;
    const S* b = boxes + 4 * i;
    A o[4];
    math::box_decode(to_acc(c[0]), to_acc(c[1]), to_acc(c[2]), to_acc(c[3]), to_acc(b[0]), to_acc(b[1]),
                     to_acc(b[2]), to_acc(b[3]), a.wx, a.wy, a.ww, a.wh, a.clip, o[0], o[1], o[2], o[3]);
    for (int q = 0; q < 4; ++q) out[4 * t + q] = from_acc<S>(o[q]);
  }
}

template <typename S, typename A>
__global__ void encode_kernel(const S* __restrict__ g, const S* __restrict__ p, std::int64_t n, CoderArgs<A> a,
                              S* __restrict__ out) {
  for (std::int64_t i = std::int64_t(blockIdx.x) * kThreads + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * kThreads) {
    A o[4];
    math::box_encode(to_acc(g[4 * i]), to_acc(g[4 * i + 1]), to_acc(g[4 * i + 2]), to_acc(g[4 * i + 3]),
                     to_acc(p[4 * i]), to_acc(p[4 * i + 1]), to_acc(p[4 * i + 2]), to_acc(p[4 * i + 3]), a.wx, a.wy,
                     a.ww, a.wh, o[0], o[1], o[2], o[3]);
    for (int q = 0; q < 4; ++q) out[4 * i + q] = from_acc<S>(o[q]);
  }
}

template <typename A>
CoderArgs<A> args_of(const std::array<double, 4>& w, double clip) {
  return {static_cast<A>(w[0]), static_cast<A>(w[1]), static_cast<A>(w[2]), static_cast<A>(w[3]),
          static_cast<A>(clip)};
}

template <typename H>
void launch_decode(ConstTensorView rel_codes, ConstTensorView boxes, const std::array<double, 4>& w, double clip,
                   TensorView out, cudaStream_t st) {
  using S = typename DeviceElem<H>::type;
  using A = typename DeviceElem<H>::acc;
  const std::int64_t total = rel_codes.numel() / 4, k = total / rel_codes.size(0);
  decode_kernel<S, A><<<blocks_for(total, kThreads), kThreads, 0, st>>>(
      reinterpret_cast<const S*>(rel_codes.data()), reinterpret_cast<const S*>(boxes.data()), total, k,
      args_of<A>(w, clip), reinterpret_cast<S*>(out.data()));
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

template <typename H>
void launch_encode(ConstTensorView g, ConstTensorView p, const std::array<double, 4>& w, TensorView out,
                   cudaStream_t st) {
  using S = typename DeviceElem<H>::type;
  using A = typename DeviceElem<H>::acc;
  const std::int64_t n = g.size(0);
  encode_kernel<S, A><<<blocks_for(n, kThreads), kThreads, 0, st>>>(
      reinterpret_cast<const S*>(g.data()), reinterpret_cast<const S*>(p.data()), n, args_of<A>(w, 0),
      reinterpret_cast<S*>(out.data()));
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void encode_boxes(ConstTensorView reference_boxes, ConstTensorView proposals, const std::array<double, 4>& weights,
                  TensorView out, const ExecContext& ctx) {
  DeviceGuard guard(out.device().index);
  const cudaStream_t st = stream_of(ctx);
  switch (out.dtype()) {
    case DType::Float16: return launch_encode<foveal::half>(reference_boxes, proposals, weights, out, st);
    case DType::Float32: return launch_encode<float>(reference_boxes, proposals, weights, out, st);
    default: return launch_encode<double>(reference_boxes, proposals, weights, out, st);
  }
}

void decode_boxes(ConstTensorView rel_codes, ConstTensorView boxes, const std::array<double, 4>& weights,
                  double bbox_xform_clip, TensorView out, const ExecContext& ctx) {
  DeviceGuard guard(out.device().index);
  const cudaStream_t st = stream_of(ctx);
  switch (out.dtype()) {
    case DType::Float16: return launch_decode<foveal::half>(rel_codes, boxes, weights, bbox_xform_clip, out, st);
    case DType::Float32: return launch_decode<float>(rel_codes, boxes, weights, bbox_xform_clip, out, st);
    default: return launch_decode<double>(rel_codes, boxes, weights, bbox_xform_clip, out, st);
  }
}

}  // namespace foveal::cuda
