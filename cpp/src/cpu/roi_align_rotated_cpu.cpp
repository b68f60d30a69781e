// SPDX-License-Identifier: Apache-2.0
// RoIAlignRotated on the CPU. Rotated bins are not separable, so each RoI's bilinear taps (four
// pixel offsets and weights per on-map sample, math/rotated.hpp + math/bilinear.hpp) are
// tabulated once, in parallel over RoIs, and shared by all channels. The forward pass then splits
// over (RoI, channel); the backward pass over channels, each task owning whole gradient planes
// (no atomics; within a plane the accumulation order is RoI, bin, sample).
#include <cstdint>
#include <vector>

#include "cpu/parallel.hpp"
#include "foveal/math/rotated.hpp"
#include "ops/backend.hpp"

namespace foveal::cpu {
namespace {

template <typename T>
struct Tap {
  std::int64_t p1, p2, p3, p4;
  T w1, w2, w3, w4;
};

/// Taps of every RoI: bin (k, ph, pw) owns taps[begin[b] .. begin[b + 1]), b = (k * PH + ph) * PW + pw.
template <typename T>
struct RotatedTables {
  std::vector<std::vector<Tap<T>>> taps;      // per RoI
  std::vector<std::vector<std::int64_t>> begin;  // per RoI, PH * PW + 1 offsets
  std::vector<T> inv_count;

  RotatedTables(const T* rois, std::int64_t k_n, std::int64_t height, std::int64_t width, std::int64_t ph_n,
                std::int64_t pw_n, const RoiAlignParams& p, int num_threads)
      : taps(static_cast<std::size_t>(k_n)), begin(static_cast<std::size_t>(k_n)),
        inv_count(static_cast<std::size_t>(k_n)) {
    const T scale = static_cast<T>(p.spatial_scale);
    parallel_for_dynamic(0, k_n, num_threads, 8, [&](std::int64_t k) {
      const auto b = math::roi_align_rotated_bins(rois + 6 * k, scale, ph_n, pw_n, p.sampling_ratio, p.aligned);
      inv_count[k] = T(1) / b.count;
      auto& tk = taps[k];
      auto& bk = begin[k];
      bk.resize(static_cast<std::size_t>(ph_n * pw_n + 1));
      for (std::int64_t ph = 0; ph < ph_n; ++ph)
        for (std::int64_t pw = 0; pw < pw_n; ++pw) {
          bk[ph * pw_n + pw] = static_cast<std::int64_t>(tk.size());
          std::int64_t iy0, iy1;  // samples that can land on the map (a huge RoI: O(map))
          math::roi_align_rotated_rows(b, ph, height, width, iy0, iy1);
          for (std::int64_t iy = iy0; iy < iy1; ++iy) {
            std::int64_t ix0, ix1;
            math::roi_align_rotated_cols(b, ph, pw, iy, height, width, ix0, ix1);
            for (std::int64_t ix = ix0; ix < ix1; ++ix) {
              T y, x;
              math::roi_align_rotated_sample(b, ph, pw, iy, ix, y, x);
              math::AxisTap<T> ty, tx;
              if (!math::bilinear_axis(y, height, ty) || !math::bilinear_axis(x, width, tx)) continue;
              Tap<T> t;
              math::bilinear_weights(ty, tx, t.w1, t.w2, t.w3, t.w4);
              t.p1 = ty.lo * width + tx.lo, t.p2 = ty.lo * width + tx.hi;
              t.p3 = ty.hi * width + tx.lo, t.p4 = ty.hi * width + tx.hi;
              tk.push_back(t);
            }
          }
        }
      bk[ph_n * pw_n] = static_cast<std::int64_t>(tk.size());
    });
  }
};

template <typename T>
void forward(const T* input, const T* rois, T* out, std::int64_t k_n, std::int64_t c_n, std::int64_t height,
             std::int64_t width, std::int64_t ph_n, std::int64_t pw_n, const RoiAlignParams& p, int num_threads) {
  if (height == 0 || width == 0) {  // an empty map: every sample is off it
    for (std::int64_t i = 0; i < k_n * c_n * ph_n * pw_n; ++i) out[i] = T(0);
    return;
  }
  const RotatedTables<T> tab(rois, k_n, height, width, ph_n, pw_n, p, num_threads);
  const std::int64_t bins = ph_n * pw_n, plane = height * width;
  parallel_for_dynamic(0, k_n * c_n, num_threads, 2, [&](std::int64_t task) {
    const std::int64_t k = task / c_n, c = task % c_n;
    const std::int64_t b = static_cast<std::int64_t>(rois[6 * k]);
    const T* v = input + (b * c_n + c) * plane;
    const Tap<T>* tk = tab.taps[k].data();
    const std::int64_t* bk = tab.begin[k].data();
    T* o = out + task * bins;
    for (std::int64_t i = 0; i < bins; ++i) {
      T acc = T(0);
      for (std::int64_t j = bk[i]; j < bk[i + 1]; ++j) {
        const Tap<T>& t = tk[j];
        acc += t.w1 * v[t.p1] + t.w2 * v[t.p2] + t.w3 * v[t.p3] + t.w4 * v[t.p4];
      }
      o[i] = acc * tab.inv_count[k];
    }
  });
}

template <typename T>
void backward(const T* grad_out, const T* rois, T* grad_in, std::int64_t n_n, std::int64_t k_n, std::int64_t c_n,
              std::int64_t height, std::int64_t width, std::int64_t ph_n, std::int64_t pw_n, const RoiAlignParams& p,
              int num_threads) {
  const RotatedTables<T> tab(rois, k_n, height, width, ph_n, pw_n, p, num_threads);
  const std::int64_t bins = ph_n * pw_n, plane = height * width;
  parallel_for_dynamic(0, c_n, num_threads, 2, [&](std::int64_t c) {
    for (std::int64_t b = 0; b < n_n; ++b) {
      T* g = grad_in + (b * c_n + c) * plane;
      for (std::int64_t i = 0; i < plane; ++i) g[i] = T(0);
    }
    for (std::int64_t k = 0; k < k_n; ++k) {
      const std::int64_t b = static_cast<std::int64_t>(rois[6 * k]);
      T* g = grad_in + (b * c_n + c) * plane;
      const T* go = grad_out + (k * c_n + c) * bins;
      const Tap<T>* tk = tab.taps[k].data();
      const std::int64_t* bk = tab.begin[k].data();
      for (std::int64_t i = 0; i < bins; ++i) {
        const T gv = go[i] * tab.inv_count[k];
        for (std::int64_t j = bk[i]; j < bk[i + 1]; ++j) {
          const Tap<T>& t = tk[j];
          g[t.p1] += gv * t.w1;
          g[t.p2] += gv * t.w2;
          g[t.p3] += gv * t.w3;
          g[t.p4] += gv * t.w4;
        }
      }
    }
  });
}

}  // namespace

void roi_align_rotated(ConstTensorView input, ConstTensorView rois, TensorView out, const RoiAlignParams& params,
                       const ExecContext& ctx) {
  const std::int64_t k = rois.size(0), c = input.size(1), h = input.size(2), w = input.size(3);
  if (input.dtype() == DType::Float32)
    forward(input.data_as<float>(), rois.data_as<float>(), out.data_as<float>(), k, c, h, w, out.size(2), out.size(3),
            params, ctx.num_threads);
  else
    forward(input.data_as<double>(), rois.data_as<double>(), out.data_as<double>(), k, c, h, w, out.size(2),
            out.size(3), params, ctx.num_threads);
}

void roi_align_rotated_backward(ConstTensorView grad_output, ConstTensorView rois, TensorView grad_input,
                                const RoiAlignParams& params, const ExecContext& ctx) {
  const std::int64_t n = grad_input.size(0), k = rois.size(0), c = grad_input.size(1), h = grad_input.size(2),
                     w = grad_input.size(3);
  if (grad_input.dtype() == DType::Float32)
    backward(grad_output.data_as<float>(), rois.data_as<float>(), grad_input.data_as<float>(), n, k, c, h, w,
             grad_output.size(2), grad_output.size(3), params, ctx.num_threads);
  else
    backward(grad_output.data_as<double>(), rois.data_as<double>(), grad_input.data_as<double>(), n, k, c, h, w,
             grad_output.size(2), grad_output.size(3), params, ctx.num_threads);
}

}  // namespace foveal::cpu
