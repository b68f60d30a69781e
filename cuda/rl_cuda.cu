// SPDX-License-Identifier: Apache-2.0
// Richardson-Lucy on CUDA, the CPU backend's layout: f and the ratio image in zero-initialised
// padded buffers (pads refilled after each pass for 'reflect' / 'wrap'), one thread per output
// element on a 3-D launch (no index division: that was most of a pass's time). Direct: a sum over the psf's non-zero taps. Separable: three one-axis passes through
// two scratch volumes. The last pass of each step fuses RL's ratio or multiply. Fft: cuFFT (loaded
// at run time) in the CPU's FFT layout (cpu/rl_fft_cpu.cpp): circular convolutions on rl_plan's
// padded lengths, the image region at [0, n), pads refilled from math::rl_fft_source.
// tools/cuda_emu runs the FFT path on the CPU (rl_fft_emu.cpp: the code from kThreads to the end
// marker below, with cufft_api.cu and a stand-in cuFFT) against the CPU's FFT and direct paths.
#include <cstdint>
#include <vector>

#include "common.cuh"
#include "cufft_api.hpp"
#include "foveal/math/rl.hpp"
#include "ops/backend.hpp"

namespace foveal::cuda {
namespace {

constexpr int kThreads = 256;

struct Geo {
  std::int64_t n0, n1, n2, N0, N1, N2;
  std::int64_t lo[2][3];  // leading pads of buffer 0 (f) and buffer 1 (ratio)
};

enum Epi { kNone = 0, kRatio = 1, kUpdate = 2 };

// A (d0, d1, d2) launch: x along d2 (coalesced), y along d1, z along d0; every loop grid-strides.
struct Launch3 {
  dim3 grid, block;
};

inline Launch3 launch3(std::int64_t d0, std::int64_t d1, std::int64_t d2) {
  const unsigned bx = d2 >= kThreads ? kThreads : static_cast<unsigned>((d2 + 31) / 32 * 32);
  const unsigned by = kThreads / bx;
  auto cap = [](std::int64_t v, std::int64_t c) { return static_cast<unsigned>(v < 1 ? 1 : (v < c ? v : c)); };
  return {dim3(cap((d2 + bx - 1) / bx, 1 << 20), cap((d1 + by - 1) / by, 65535), cap(d0, 65535)), dim3(bx, by, 1)};
}

#define FOVEAL_FOR3(i0, i1, i2, d0, d1, d2)                                                                         \
  for (std::int64_t i0 = blockIdx.z; i0 < (d0); i0 += gridDim.z)                                                  \
    for (std::int64_t i1 = static_cast<std::int64_t>(blockIdx.y) * blockDim.y + threadIdx.y; i1 < (d1);           \
         i1 += static_cast<std::int64_t>(gridDim.y) * blockDim.y)                                                  \
      for (std::int64_t i2 = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i2 < (d2);         \
           i2 += static_cast<std::int64_t>(gridDim.x) * blockDim.x)

// Writes a convolution value of output element (i0, i1, i2) to its destination.
template <typename T, int E>
__device__ __forceinline__ void store(T v, std::int64_t i0, std::int64_t i1, std::int64_t i2, T* dst, const T* image,
                                      const Geo& g, T fe, bool filter) {
  const int b = E == kRatio ? 1 : 0;
  const std::int64_t d = ((i0 + g.lo[b][0]) * g.N1 + i1 + g.lo[b][1]) * g.N2 + i2 + g.lo[b][2];
  if (E == kRatio) {
    dst[d] = math::rl_ratio(image[(i0 * g.n1 + i1) * g.n2 + i2], v, fe, filter);
  } else {
    dst[d] *= v;
  }
}

template <typename T>
__global__ void init_kernel(T* f, Geo g) {
  FOVEAL_FOR3(i0, i1, i2, g.n0, g.n1, g.n2) {
    f[((i0 + g.lo[0][0]) * g.N1 + i1 + g.lo[0][1]) * g.N2 + i2 + g.lo[0][2]] = T(0.5);
  }
}

// Every pad element of buffer b takes its boundary source, always an interior element.
template <typename T>
__global__ void pad_kernel(T* buf, Geo g, int b, int mode) {
  // Scalars, not a pointer into g.lo: that would copy the parameter struct to local memory.
  const std::int64_t lo0 = b ? g.lo[1][0] : g.lo[0][0], lo1 = b ? g.lo[1][1] : g.lo[0][1],
                     lo2 = b ? g.lo[1][2] : g.lo[0][2];
  FOVEAL_FOR3(z, y, x, g.N0, g.N1, g.N2) {
    const std::int64_t qx = x - lo2, qy = y - lo1, qz = z - lo0;
    if (qx >= 0 && qx < g.n2 && qy >= 0 && qy < g.n1 && qz >= 0 && qz < g.n0) continue;
    const std::int64_t sx = math::rl_boundary_index(qx, g.n2, mode) + lo2;
    const std::int64_t sy = math::rl_boundary_index(qy, g.n1, mode) + lo1;
    const std::int64_t sz = math::rl_boundary_index(qz, g.n0, mode) + lo0;
    buf[(z * g.N1 + y) * g.N2 + x] = buf[(sz * g.N1 + sy) * g.N2 + sx];
  }
}

template <typename T, int E>
__global__ void direct_kernel(const T* __restrict__ src, T* dst, const T* __restrict__ image,
                              const std::int64_t* __restrict__ off, const T* __restrict__ w, int taps, Geo g, T fe,
                              bool filter) {
  FOVEAL_FOR3(i0, i1, i2, g.n0, g.n1, g.n2) {
    const T* s = src + (i0 * g.N1 + i1) * g.N2 + i2;
    T acc = T(0);
    for (int t = 0; t < taps; ++t) acc += w[t] * s[off[t]];
    store<T, E>(acc, i0, i1, i2, dst, image, g, fe, filter);
  }
}

// out (d0, d1, d2) = sum_t w[t] in[i0 s0 + i1 s1 + i2 + off[t]]; E != kNone: RL's fused store.
template <typename T, int E>
__global__ void axis_kernel(const T* __restrict__ in, T* out, std::int64_t d0, std::int64_t d1, std::int64_t d2,
                            std::int64_t s0, std::int64_t s1, const std::int64_t* __restrict__ off,
                            const T* __restrict__ w, int taps, const T* __restrict__ image, Geo g, T fe, bool filter) {
  FOVEAL_FOR3(i0, i1, i2, d0, d1, d2) {
    const T* s = in + i0 * s0 + i1 * s1 + i2;
    T acc = T(0);
    for (int t = 0; t < taps; ++t) acc += w[t] * s[off[t]];
    if (E == kNone) {
      out[(i0 * d1 + i1) * d2 + i2] = acc;
    } else {
      store<T, E>(acc, i0, i1, i2, out, image, g, fe, filter);
    }
  }
}

template <typename T>
__global__ void finish_kernel(const T* f, T* out, Geo g, bool clip) {
  FOVEAL_FOR3(i0, i1, i2, g.n0, g.n1, g.n2) {
    const T v = f[((i0 + g.lo[0][0]) * g.N1 + i1 + g.lo[0][1]) * g.N2 + i2 + g.lo[0][2]];
    out[(i0 * g.n1 + i1) * g.n2 + i2] = clip ? math::rl_clip(v) : v;
  }
}

// ---- FFT path ----------------------------------------------------------------------------------
// Spectra: cufft_api's R2C layout (unit axes dropped, last axis P/2 + 1), `cs` complex values; the
// inverse is unnormalised, so the psf taps carry 1 / P. The C2R overwrites its input (spec), which
// is always rewritten before it is read again. Launches stay `kernel<<<...>>>(args);` statements:
// tools/cuda_emu/extract_rl_fft.py rewrites exactly that form.

struct FftGeo {
  std::int64_t n0, n1, n2, P0, P1, P2, k0, k1, k2;
  int mode;
};

// Every position outside the image region takes its source (always inside it) or zero.
template <typename T>
__global__ void fft_pads_kernel(T* buf, FftGeo g) {
  FOVEAL_FOR3(z, y, x, g.P0, g.P1, g.P2) {
    if (z < g.n0 && y < g.n1 && x < g.n2) continue;
    const std::int64_t sz = math::rl_fft_source(z, g.n0, g.k0, g.P0, g.mode);
    const std::int64_t sy = math::rl_fft_source(y, g.n1, g.k1, g.P1, g.mode);
    const std::int64_t sx = math::rl_fft_source(x, g.n2, g.k2, g.P2, g.mode);
    buf[(z * g.P1 + y) * g.P2 + x] = (sz < 0 || sy < 0 || sx < 0) ? T(0) : buf[(sz * g.P1 + sy) * g.P2 + sx];
  }
}

// Region pass: E == kRatio: buf = ratio(image, buf); kUpdate: buf *= other; kNone: buf = 0.5 (start).
template <typename T, int E>
__global__ void fft_region_kernel(T* buf, const T* __restrict__ other, const T* __restrict__ image, FftGeo g, T fe,
                                  bool filter) {
  FOVEAL_FOR3(i0, i1, i2, g.n0, g.n1, g.n2) {
    const std::int64_t d = (i0 * g.P1 + i1) * g.P2 + i2;
    if (E == kRatio) {
      buf[d] = math::rl_ratio(image[(i0 * g.n1 + i1) * g.n2 + i2], buf[d], fe, filter);
    } else if (E == kUpdate) {
      buf[d] *= other[d];
    } else {
      buf[d] = T(0.5);
    }
  }
}

template <typename T>
__global__ void fft_finish_kernel(const T* f, T* out, FftGeo g, bool clip) {
  FOVEAL_FOR3(i0, i1, i2, g.n0, g.n1, g.n2) {
    const T v = f[(i0 * g.P1 + i1) * g.P2 + i2];
    out[(i0 * g.n1 + i1) * g.n2 + i2] = clip ? math::rl_clip(v) : v;
  }
}

// a[i] *= b[i] (or conj(b[i])), complex numbers as (re, im) pairs; the CPU path's operation order.
template <typename T>
__global__ void fft_multiply_kernel(T* a, const T* __restrict__ b, std::int64_t size, bool conj_b) {
  const T sgn = conj_b ? T(-1) : T(1);
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < size;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const T ar = a[2 * i], ai = a[2 * i + 1], br = b[2 * i], bi = sgn * b[2 * i + 1];
    a[2 * i] = ar * br - ai * bi;
    a[2 * i + 1] = ar * bi + ai * br;
  }
}

template <typename T>
__global__ void fft_scatter_kernel(T* buf, const std::int64_t* __restrict__ pos, const T* __restrict__ val,
                                   std::int64_t taps) {
  for (std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < taps;
       t += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    buf[pos[t]] = val[t];
}

template <typename T>
RlMethod rl_fft(const T* img, const ::foveal::detail::RlPlan& plan, T* out, cudaStream_t s) {
  const auto& args = plan.args;
  FftGeo g;
  g.n0 = plan.n[0], g.n1 = plan.n[1], g.n2 = plan.n[2];
  g.P0 = plan.fft_n[0], g.P1 = plan.fft_n[1], g.P2 = plan.fft_n[2];
  g.k0 = plan.k[0], g.k1 = plan.k[1], g.k2 = plan.k[2];
  g.mode = static_cast<int>(args.mode);
  const std::int64_t total = g.P0 * g.P1 * g.P2;
  const auto plans = cufft::plans_for(plan.fft_n, sizeof(T) == 8, s);
  const std::int64_t cs = plans->complex_size;
  const std::int64_t* k = plan.k;
  bool odd = true;
  for (int a = 0; a < 3; ++a) odd = odd && k[a] % 2 == 1;
  const int spectra = odd ? 1 : 2;

  // The psf (and, for an even size, the flipped psf) centred on the circle, with the inverse
  // transform's 1 / P folded in: positions and values of every tap, one upload.
  const std::int64_t taps = k[0] * k[1] * k[2];
  std::vector<std::int64_t> pos(static_cast<std::size_t>(spectra * taps));
  std::vector<T> val(pos.size());
  for (int flip = 0; flip < spectra; ++flip)
    for (std::int64_t i = 0; i < k[0]; ++i)
      for (std::int64_t j = 0; j < k[1]; ++j)
        for (std::int64_t l = 0; l < k[2]; ++l) {
          const std::int64_t m[3] = {i, j, l}, P[3] = {g.P0, g.P1, g.P2};
          std::int64_t p[3], v[3];
          for (int a = 0; a < 3; ++a) {
            v[a] = flip ? k[a] - 1 - m[a] : m[a];
            p[a] = math::rl_fft_tap_position(m[a], k[a], P[a]);
          }
          const std::size_t t = static_cast<std::size_t>(flip * taps + (i * k[1] + j) * k[2] + l);
          pos[t] = (p[0] * g.P1 + p[1]) * g.P2 + p[2];
          val[t] = static_cast<T>(plan.psf[(v[0] * k[1] + v[1]) * k[2] + v[2]] / static_cast<double>(total));
        }
  Workspace<std::int64_t> d_pos(pos.size(), s);
  Workspace<T> d_val(val.size(), s);
  FOVEAL_CUDA_CHECK(
      cudaMemcpyAsync(d_pos.get(), pos.data(), pos.size() * sizeof(std::int64_t), cudaMemcpyHostToDevice, s));
  FOVEAL_CUDA_CHECK(cudaMemcpyAsync(d_val.get(), val.data(), val.size() * sizeof(T), cudaMemcpyHostToDevice, s));
  const std::size_t rsize = static_cast<std::size_t>(total), csize = static_cast<std::size_t>(2 * cs);
  Workspace<T> f(rsize, s), w(rsize, s), spec(csize, s), H(csize * spectra, s);
  for (int flip = 0; flip < spectra; ++flip) {
    FOVEAL_CUDA_CHECK(cudaMemsetAsync(w.get(), 0, rsize * sizeof(T), s));
    fft_scatter_kernel<T><<<blocks_for(taps, kThreads), kThreads, 0, s>>>(w.get(), d_pos.get() + flip * taps,
                                                                          d_val.get() + flip * taps, taps);
    cufft::forward(*plans, w.get(), H.get() + flip * csize);
  }
  const T* Hb = H.get() + (odd ? 0 : csize);  // the second step's spectrum: conj(H) or the flipped psf's
  const Launch3 L = launch3(g.n0, g.n1, g.n2), LP = launch3(g.P0, g.P1, g.P2);
  const unsigned cb = blocks_for(cs, kThreads);
  const T fe = static_cast<T>(args.filter_epsilon);
  const bool filter = args.filter_epsilon != 0.0;
  FOVEAL_CUDA_CHECK(cudaMemsetAsync(f.get(), 0, rsize * sizeof(T), s));
  fft_region_kernel<T, kNone><<<L.grid, L.block, 0, s>>>(f.get(), nullptr, img, g, fe, filter);
  if (g.mode == 1) fft_pads_kernel<T><<<LP.grid, LP.block, 0, s>>>(f.get(), g);
  for (std::int64_t it = 0; it < args.num_iter; ++it) {
    cufft::forward(*plans, f.get(), spec.get());
    fft_multiply_kernel<T><<<cb, kThreads, 0, s>>>(spec.get(), H.get(), cs, false);
    cufft::inverse(*plans, spec.get(), w.get());
    fft_region_kernel<T, kRatio><<<L.grid, L.block, 0, s>>>(w.get(), nullptr, img, g, fe, filter);
    if (g.mode != 2) fft_pads_kernel<T><<<LP.grid, LP.block, 0, s>>>(w.get(), g);
    cufft::forward(*plans, w.get(), spec.get());
    fft_multiply_kernel<T><<<cb, kThreads, 0, s>>>(spec.get(), Hb, cs, odd);
    cufft::inverse(*plans, spec.get(), w.get());
    fft_region_kernel<T, kUpdate><<<L.grid, L.block, 0, s>>>(f.get(), w.get(), img, g, fe, filter);
    if (g.mode == 1) fft_pads_kernel<T><<<LP.grid, LP.block, 0, s>>>(f.get(), g);
  }
  fft_finish_kernel<T><<<L.grid, L.block, 0, s>>>(f.get(), out, g, args.clip);
  FOVEAL_CUDA_CHECK(cudaGetLastError());
  return RlMethod::Fft;
}
// ---- end of the emulated FFT path (tools/cuda_emu/rl_fft_emu.cpp cuts from kThreads to here)

template <typename T>
RlMethod rl_impl(ConstTensorView image, ConstTensorView psf, TensorView out, const ::foveal::detail::RlArgs& args,
                 cudaStream_t s) {
  const int nd = image.ndim();
  std::vector<T> host(static_cast<std::size_t>(psf.numel()));
  FOVEAL_CUDA_CHECK(cudaMemcpyAsync(host.data(), psf.data(), host.size() * sizeof(T), cudaMemcpyDeviceToHost, s));
  FOVEAL_CUDA_CHECK(cudaStreamSynchronize(s));
  // Only Auto weighs the FFT path, so only Auto may try to load cuFFT: a failed load is final for the
  // process, and Python preloads the wheel's cuFFT for 'auto' and 'fft' calls only.
  const bool fft_available = args.method == RlMethod::Auto && cufft::available();
  const ::foveal::detail::RlPlan plan =
      ::foveal::detail::rl_plan(std::vector<double>(host.begin(), host.end()), image.shape().data(),
                                psf.shape().data(), nd, sizeof(T) == 4, args, fft_available);
  if (plan.method == RlMethod::Fft) return rl_fft<T>(image.data_as<T>(), plan, out.data_as<T>(), s);
  Geo g;
  g.n0 = plan.n[0], g.n1 = plan.n[1], g.n2 = plan.n[2];
  g.N0 = plan.padded(0), g.N1 = plan.padded(1), g.N2 = plan.padded(2);
  for (int b = 0; b < 2; ++b)
    for (int a = 0; a < 3; ++a) g.lo[b][a] = plan.lo(a);
  const std::int64_t S1 = g.N2, S0 = g.N1 * g.N2;
  const std::int64_t* k = plan.k;
  // Host tap tables, then one upload: [pass][axis or 0 for direct] -> (offsets, weights).
  std::vector<std::int64_t> offs;
  std::vector<T> ws;
  std::int64_t start[2][3] = {}, count[2][3] = {};
  for (int ps = 0; ps < 2; ++ps) {
    auto w_at = [&](std::int64_t m, std::int64_t kk) { return ps == 0 ? kk - 1 - m : m; };
    if (plan.method == RlMethod::Direct) {
      start[ps][0] = static_cast<std::int64_t>(offs.size());
      for (std::int64_t i = 0; i < k[0]; ++i)
        for (std::int64_t j = 0; j < k[1]; ++j)
          for (std::int64_t l = 0; l < k[2]; ++l) {
            const double v = plan.psf[(w_at(i, k[0]) * k[1] + w_at(j, k[1])) * k[2] + w_at(l, k[2])];
            if (v == 0.0) continue;
            offs.push_back(i * S0 + j * S1 + l);
            ws.push_back(static_cast<T>(v));
          }
      count[ps][0] = static_cast<std::int64_t>(offs.size()) - start[ps][0];
    } else {
      for (int a = 0; a < 3; ++a) {
        start[ps][a] = static_cast<std::int64_t>(offs.size());
        // in-strides of the axis passes: src (N0,N1,N2) along 0, t0 (n0,N1,N2) along 1, t1 along 2
        const std::int64_t stride = a == 0 ? S0 : (a == 1 ? S1 : 1);
        for (std::int64_t m = 0; m < k[a]; ++m) {
          const double v = plan.factor[a][w_at(m, k[a])];
          if (v == 0.0) continue;
          offs.push_back(m * stride);
          ws.push_back(static_cast<T>(v));
        }
        count[ps][a] = static_cast<std::int64_t>(offs.size()) - start[ps][a];
      }
    }
  }
  Workspace<std::int64_t> d_off(offs.size(), s);
  Workspace<T> d_w(ws.size(), s);
  FOVEAL_CUDA_CHECK(
      cudaMemcpyAsync(d_off.get(), offs.data(), offs.size() * sizeof(std::int64_t), cudaMemcpyHostToDevice, s));
  FOVEAL_CUDA_CHECK(cudaMemcpyAsync(d_w.get(), ws.data(), ws.size() * sizeof(T), cudaMemcpyHostToDevice, s));
  const std::size_t size = static_cast<std::size_t>(plan.padded_size());
  Workspace<T> f(size, s), r(size, s);
  FOVEAL_CUDA_CHECK(cudaMemsetAsync(f.get(), 0, size * sizeof(T), s));
  FOVEAL_CUDA_CHECK(cudaMemsetAsync(r.get(), 0, size * sizeof(T), s));
  const bool sep = plan.method == RlMethod::Separable;
  Workspace<T> t0(sep ? static_cast<std::size_t>(g.n0 * S0) : 0, s);
  Workspace<T> t1(sep ? static_cast<std::size_t>(g.n0 * g.n1 * g.N2) : 0, s);
  const Launch3 L = launch3(g.n0, g.n1, g.n2), LP = launch3(g.N0, g.N1, g.N2);
  const int mode = static_cast<int>(args.mode);
  const T fe = static_cast<T>(args.filter_epsilon);
  const bool filter = args.filter_epsilon != 0.0;
  const T* img = image.data_as<T>();
  T* buf[2] = {f.get(), r.get()};
  init_kernel<T><<<L.grid, L.block, 0, s>>>(f.get(), g);
  if (mode != 0) pad_kernel<T><<<LP.grid, LP.block, 0, s>>>(f.get(), g, 0, mode);
  for (std::int64_t it = 0; it < args.num_iter; ++it) {
    for (int ps = 0; ps < 2; ++ps) {
      const T* src = buf[ps];
      T* dst = buf[1 - ps];
      if (!sep) {
        const std::int64_t* o = d_off.get() + start[ps][0];
        const T* w = d_w.get() + start[ps][0];
        const int c = static_cast<int>(count[ps][0]);
        if (ps == 0)
          direct_kernel<T, kRatio><<<L.grid, L.block, 0, s>>>(src, dst, img, o, w, c, g, fe, filter);
        else
          direct_kernel<T, kUpdate><<<L.grid, L.block, 0, s>>>(src, dst, img, o, w, c, g, fe, filter);
      } else {
        auto o = [&](int a) { return d_off.get() + start[ps][a]; };
        auto w = [&](int a) { return d_w.get() + start[ps][a]; };
        auto c = [&](int a) { return static_cast<int>(count[ps][a]); };
        const Launch3 L0 = launch3(g.n0, g.N1, g.N2), L1 = launch3(g.n0, g.n1, g.N2);
        axis_kernel<T, kNone><<<L0.grid, L0.block, 0, s>>>(
            src, t0.get(), g.n0, g.N1, g.N2, S0, S1, o(0), w(0), c(0), img, g, fe, filter);
        axis_kernel<T, kNone><<<L1.grid, L1.block, 0, s>>>(
            t0.get(), t1.get(), g.n0, g.n1, g.N2, S0, S1, o(1), w(1), c(1), img, g, fe, filter);
        if (ps == 0)
          axis_kernel<T, kRatio><<<L.grid, L.block, 0, s>>>(t1.get(), dst, g.n0, g.n1, g.n2, g.n1 * g.N2, g.N2,
                                                             o(2), w(2), c(2), img, g, fe, filter);
        else
          axis_kernel<T, kUpdate><<<L.grid, L.block, 0, s>>>(t1.get(), dst, g.n0, g.n1, g.n2, g.n1 * g.N2, g.N2,
                                                              o(2), w(2), c(2), img, g, fe, filter);
      }
      if (mode != 0) pad_kernel<T><<<LP.grid, LP.block, 0, s>>>(dst, g, 1 - ps, mode);
    }
  }
  finish_kernel<T><<<L.grid, L.block, 0, s>>>(f.get(), out.data_as<T>(), g, args.clip);
  FOVEAL_CUDA_CHECK(cudaGetLastError());
  return plan.method;
}

}  // namespace

RlMethod richardson_lucy(ConstTensorView image, ConstTensorView psf, TensorView out, const ::foveal::detail::RlArgs& args,
                         const ExecContext& ctx) {
  DeviceGuard guard(image.device().index);
  const cudaStream_t s = stream_of(ctx);
  if (image.dtype() == DType::Float32) return rl_impl<float>(image, psf, out, args, s);
  return rl_impl<double>(image, psf, out, args, s);
}

}  // namespace foveal::cuda
