// SPDX-License-Identifier: Apache-2.0
// interpolate on CUDA: one thread per output element (grid-stride), the source index rules of
// math/interpolate.hpp; float16 / bfloat16 computed in float. Not yet run on a GPU (written and
// compiled without one).
#include <cuda_bf16.h>

#include "common.cuh"
#include "foveal/math/interpolate.hpp"
#include "ops/backend.hpp"

namespace foveal::cuda {

namespace {

using i64 = std::int64_t;

template <typename S, typename A>
__global__ void interpolate_kernel(const S* x, S* y, i64 total, i64 H, i64 W, i64 OH, i64 OW, int mode,
                                   bool align_corners, double scale_h, double scale_w) {
  for (i64 i = blockIdx.x * i64(blockDim.x) + threadIdx.x; i < total; i += i64(gridDim.x) * blockDim.x) {
    const i64 ox = i % OW, oy = (i / OW) % OH, pl = i / (OW * OH);
    const S* src = x + pl * H * W;
    if (mode == 0) {
      const i64 sy = math::nearest_source(oy, H, OH, math::interp_scale<float>(H, OH, scale_h));
      const i64 sx = math::nearest_source(ox, W, OW, math::interp_scale<float>(W, OW, scale_w));
      y[i] = src[sy * W + sx];
    } else {
      const auto ty = math::linear_taps<A>(oy, H, math::linear_scale<A>(H, OH, align_corners, scale_h), align_corners);
      const auto tx = math::linear_taps<A>(ox, W, math::linear_scale<A>(W, OW, align_corners, scale_w), align_corners);
      const A top = (A(1) - tx.w_hi) * to_acc(src[ty.lo * W + tx.lo]) + tx.w_hi * to_acc(src[ty.lo * W + tx.hi]);
      const A bot = (A(1) - tx.w_hi) * to_acc(src[ty.hi * W + tx.lo]) + tx.w_hi * to_acc(src[ty.hi * W + tx.hi]);
      y[i] = from_acc<S>((A(1) - ty.w_hi) * top + ty.w_hi * bot);
    }
  }
}

}  // namespace

void interpolate(ConstTensorView input, TensorView out, const InterpolateParams& p, const ExecContext& ctx) {
  DeviceGuard guard(input.device().index);
  const i64 total = out.numel();
  const i64 blocks = (total + 255) / 256;
  const unsigned grid = static_cast<unsigned>(blocks < 65535 ? blocks : 65535);
  const int mode = static_cast<int>(p.mode);
  auto go = [&](auto s, auto a) {
    using S = decltype(s);
    using A = decltype(a);
    interpolate_kernel<S, A><<<grid, 256, 0, stream_of(ctx)>>>(
        static_cast<const S*>(input.data()), static_cast<S*>(out.data()), total, input.size(2), input.size(3),
        out.size(2), out.size(3), mode, p.align_corners, p.scale_h, p.scale_w);
  };
  switch (input.dtype()) {
    case DType::Float16: go(__half{}, float{}); break;
    case DType::BFloat16: go(__nv_bfloat16{}, float{}); break;
    case DType::Float32: go(float{}, float{}); break;
    default: go(double{}, double{}); break;
  }
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

}  // namespace foveal::cuda
