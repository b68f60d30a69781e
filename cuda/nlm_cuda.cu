// SPDX-License-Identifier: Apache-2.0
// Non-local means on CUDA, a first version: one thread per output pixel loops over the search
// window and sums each patch distance directly (reflect padding by index arithmetic, no padded
// copy). Fast mode uses skimage's (s-1)^D box and cutoff, classic mode the Gaussian patch kernel
// with its row-wise cutoff; both in float64, with the weights of foveal/math/nlm.hpp.
#include <cstdint>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

#include "common.cuh"
#include "foveal/math/lab8.hpp"
#include "foveal/math/nlm.hpp"
#include "ops/backend.hpp"

namespace foveal::cuda {
namespace {

constexpr int kThreads = 128;

struct Geo {
  long long n0, n1, n2, C;  // (rows, 1, cols) for 2-D, (planes, rows, cols) for 3-D
  int three_d, s, o, d;
  double var2c, inv;  // 2 C sigma^2; fast mode: 1 / (C h^2 s^D)
};

template <typename T>
__device__ __forceinline__ double pixel_d2(const T* img, const Geo& g, long long a, long long b, long long c,
                                           long long a2, long long b2, long long c2) {
  a = math::nlm_reflect(a, g.n0), a2 = math::nlm_reflect(a2, g.n0);
  b = math::nlm_reflect(b, g.n1), b2 = math::nlm_reflect(b2, g.n1);
  c = math::nlm_reflect(c, g.n2), c2 = math::nlm_reflect(c2, g.n2);
  const T* x = img + ((a * g.n1 + b) * g.n2 + c) * g.C;
  const T* y = img + ((a2 * g.n1 + b2) * g.n2 + c2) * g.C;
  double e2 = 0;
  for (long long ch = 0; ch < g.C; ++ch) {
    const double df = static_cast<double>(x[ch]) - static_cast<double>(y[ch]);
    e2 += df * df;
  }
  return e2 - g.var2c;
}

constexpr int kRegChannels = 4;  // channel sums kept in registers; more go to a double workspace

template <typename T>
__global__ void nlm_kernel(const T* __restrict__ img, T* __restrict__ out, const double* __restrict__ kern,
                           double* __restrict__ wide, Geo g, bool fast) {
  const long long npix = g.n0 * g.n1 * g.n2;
  for (long long p = static_cast<long long>(blockIdx.x) * kThreads + threadIdx.x; p < npix;
       p += static_cast<long long>(gridDim.x) * kThreads) {
    const long long q = p / (g.n1 * g.n2), m = (p / g.n2) % g.n1, c = p % g.n2;
    const int d1 = g.three_d ? g.d : 0, o1 = g.three_d ? g.o : 0, s1 = g.three_d ? g.s : 1;
    double wsum = 0, acc[kRegChannels] = {};
    const bool small = g.C <= kRegChannels;
    double* wacc = small ? nullptr : wide + p * g.C;  // many channels: this pixel's double sums
    if (!small)
      for (long long ch = 0; ch < g.C; ++ch) wacc[ch] = 0;
    for (int t0 = -g.d; t0 <= g.d; ++t0)
      for (int t1 = -d1; t1 <= d1; ++t1)
        for (int t2 = -g.d; t2 <= g.d; ++t2) {
          double w;
          if (fast) {
            // box [p - o + 1, p + o] on every active axis
            double dist = 0;
            const int lo1 = g.three_d ? g.o - 1 : 0, hi1 = g.three_d ? g.o : 0;
            for (int i = -(g.o - 1); i <= g.o; ++i)
              for (int j = -lo1; j <= hi1; ++j)
                for (int k = -(g.o - 1); k <= g.o; ++k)
                  dist += pixel_d2(img, g, q + i, m + j, c + k, q + i + t0, m + j + t1, c + k + t2);
            w = math::nlm_weight(fmax(dist, 0.0) * g.inv);
          } else {
            const long long a = q + t0, b = m + t1, e = c + t2;
            if (a < 0 || a >= g.n0 || b < 0 || b >= g.n1 || e < 0 || e >= g.n2) continue;
            double dist = 0;
            bool cut = false;
            for (int i = 0; i < g.s; ++i) {
              if (dist > math::kNlmCutoff) {
                cut = true;
                break;
              }
              for (int j = 0; j < s1; ++j)
                for (int k = 0; k < g.s; ++k)
                  dist += kern[(i * s1 + j) * g.s + k] *
                          pixel_d2(img, g, q - g.o + i, m - o1 + j, c - g.o + k, a - g.o + i, b - o1 + j, e - g.o + k);
            }
            if (cut) continue;
            w = math::nlm_fast_exp(-fmax(dist, 0.0));
          }
          if (w == 0.0) continue;
          wsum += w;
          const long long a = math::nlm_reflect(q + t0, g.n0), b = math::nlm_reflect(m + t1, g.n1),
                          e = math::nlm_reflect(c + t2, g.n2);
          const T* y = img + ((a * g.n1 + b) * g.n2 + e) * g.C;
          if (small) {
            for (long long ch = 0; ch < g.C; ++ch) acc[ch] += w * static_cast<double>(y[ch]);
          } else {
            for (long long ch = 0; ch < g.C; ++ch) wacc[ch] += w * static_cast<double>(y[ch]);
          }
        }
    const double inv = 1.0 / wsum;
    for (long long ch = 0; ch < g.C; ++ch)
      out[p * g.C + ch] = static_cast<T>((small ? acc[ch] : wacc[ch]) * inv);
  }
}

// Grey 2-D fast mode, tiled. A block owns kTileW columns x TH = R * kGroups rows of output and
// holds the reflect-padded image over the tile, the patch halo and the search window in shared
// memory (X). Per shift (t0, t2) of the search window, skimage's box [p - o + 1, p + o] of
// squared differences is summed separably:
// - phase A: the horizontal sums of the cnt = 2 o differences of each of the TH + cnt - 1 patch
//   rows, for the tile's columns, into a shared buffer; a thread takes kSeg consecutive columns of
//   one row and slides its window (one difference in, one out), lanes on consecutive rows (the
//   row pitch of X is odd, that of the buffer 33, so no bank conflicts);
// - phase B: thread (column x, row group g) runs the vertical window down its R output rows (one
//   row sum in, one out), turns each box into a weight and accumulates weights and weighted
//   values in registers.
// The buffer is double: phase A of the next shift writes the other half, so one barrier per shift
// suffices. Arithmetic in the image's precision, as the CPU's grey path.
constexpr int kTileW = 32;
constexpr int kGroups = 4;
constexpr int kTileThreads = kTileW * kGroups;
constexpr int kSeg = 8;                   // columns per phase-A item
constexpr int kSegs = kTileW / kSeg;      // items per patch row
constexpr int kHPitch = kTileW + 1;       // row pitch of the row-sum buffer

__device__ __forceinline__ long long reflect_fast(long long i, long long n) {
  return (i >= 0 && i < n) ? i : static_cast<long long>(math::nlm_reflect(i, n));
}

template <typename T>
__device__ __forceinline__ T gray_weight(T box, T inv) {
  return math::nlm_weight((box > T(0) ? box : T(0)) * inv);
}

template <typename T, int R>
__global__ void __launch_bounds__(kTileThreads) nlm_gray2d_tiled(const T* __restrict__ img, T* __restrict__ out,
                                                                   long long H, long long W, int o, int d, T var2c,
                                                                   T inv) {
  extern __shared__ double smem_d[];  // double for the alignment of either T
  T* X = reinterpret_cast<T*>(smem_d);
  constexpr int TH = R * kGroups;
  const int cnt = 2 * o, lo = o - 1, na = TH + cnt - 1;
  const int xh = na + 2 * d, xw = kTileW + cnt - 1 + 2 * d;
  T* Hb = X + xh * xw;  // two buffers of na x kHPitch row sums
  const long long r0 = static_cast<long long>(blockIdx.y) * TH, c0 = static_cast<long long>(blockIdx.x) * kTileW;
  // X[a][b] = padded pixel (r0 - lo - d + a, c0 - lo - d + b)
  for (int i = threadIdx.x; i < xh * xw; i += kTileThreads) {
    const int a = i / xw, b = i - a * xw;
    const long long gr = reflect_fast(r0 - lo - d + a, H), gc = reflect_fast(c0 - lo - d + b, W);
    X[i] = img[gr * W + gc];
  }
  __syncthreads();
  const int tid = threadIdx.x, x = tid % kTileW, g = tid / kTileW;
  T num[R], den[R];
#pragma unroll
  for (int m = 0; m < R; ++m) num[m] = den[m] = T(0);
  // Output (y, x) of the tile, shift (t0, t2): box = sum over i < cnt of the row sum
  // S[y + i][x] = sum over k < cnt of (X[y + i + d][x + d + k] - X[y + i + d + t0][x + d + k + t2])^2
  // - cnt var2c; its value X[y + lo + d + t0][x + lo + d + t2].
  const T* vrow = X + (g * R + lo + d) * xw + x + lo + d;
  const T bias = static_cast<T>(cnt) * var2c;
  const int a0 = tid % na, sg0 = tid / na;  // this thread's first phase-A item: row a, segment sg
  int buf = 0;
  for (int t0 = -d; t0 <= d; ++t0)
    for (int t2 = -d; t2 <= d; ++t2, buf ^= 1) {
      const int sh = t0 * xw + t2;
      // This half was last read by phase B two shifts back, which every thread finished before
      // the barrier of the previous shift.
      T* hb = Hb + buf * (na * kHPitch);
      for (int a = a0, sg = sg0; sg < kSegs;) {
        const T* p = X + (a + d) * xw + sg * kSeg + d;
        T* hrow = hb + a * kHPitch + sg * kSeg;
        T h = T(0);
        for (int k = 0; k < cnt; ++k) {
          const T e = p[k] - p[k + sh];
          h = fma(e, e, h);
        }
        hrow[0] = h - bias;
#pragma unroll
        for (int c = 1; c < kSeg; ++c) {
          const T ei = p[c + cnt - 1] - p[c + cnt - 1 + sh], eo = p[c - 1] - p[c - 1 + sh];
          h = fma(ei, ei, h);
          h = fma(-eo, eo, h);
          hrow[c] = h - bias;
        }
        // next item: a += kTileThreads, carried into sg
        for (a += kTileThreads; a >= na; a -= na) ++sg;
      }
      __syncthreads();  // the row sums of this shift are complete
      const T* col = hb + g * R * kHPitch + x;
      T v = T(0);
      for (int i = 0; i < cnt - 1; ++i) v += col[i * kHPitch];
#pragma unroll
      for (int m = 0; m < R; ++m) {
        v += col[(m + cnt - 1) * kHPitch];
        if (m > 0) v -= col[(m - 1) * kHPitch];
        const T w = gray_weight(v, inv);
        den[m] += w;
        num[m] = fma(w, vrow[m * xw + sh], num[m]);
      }
    }
#pragma unroll
  for (int m = 0; m < R; ++m) {
    const long long r = r0 + g * R + m, c = c0 + x;
    if (r < H && c < W) out[r * W + c] = num[m] / den[m];
  }
}

// Shared bytes of the tiled kernel for row blocks of R, or 0 when the device cannot hold them.
template <typename T>
std::size_t tiled_smem(int R, int o, int d, int max_smem) {
  const std::size_t cnt = 2 * static_cast<std::size_t>(o);
  const std::size_t xh = R * kGroups + cnt - 1 + 2 * static_cast<std::size_t>(d);
  const std::size_t xw = kTileW + cnt - 1 + 2 * static_cast<std::size_t>(d);
  const std::size_t na = R * kGroups + cnt - 1;
  const std::size_t bytes = (xh * xw + 2 * na * kHPitch) * sizeof(T);
  return bytes <= static_cast<std::size_t>(max_smem) ? bytes : 0;
}

template <typename T, int R>
bool launch_tiled(const T* img, T* out, long long H, long long W, int s, int d, T var2c, T inv, int max_smem,
                  cudaStream_t st) {
  const int o = s / 2;
  const std::size_t smem = tiled_smem<T>(R, o, d, max_smem);
  const long long gx = (W + kTileW - 1) / kTileW, gy = (H + R * kGroups - 1) / (R * kGroups);
  if (smem == 0 || gy > 65535 || gx > 0x7fffffff) return false;
  if (smem > 48 * 1024)
    FOVEAL_CUDA_CHECK(cudaFuncSetAttribute(nlm_gray2d_tiled<T, R>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(smem)));
  nlm_gray2d_tiled<T, R><<<dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy)), kTileThreads, smem, st>>>(
      img, out, H, W, o, d, var2c, inv);
  FOVEAL_CUDA_CHECK(cudaGetLastError());
  return true;
}

// Grey 2-D fast mode (s >= 3) through the tiled kernel; false when it does not apply (then the
// generic kernel runs). Small images take row blocks of 8 to fill the device.
template <typename T>
bool gray2d_fast(ConstTensorView image, TensorView out, int s, int d, double h, double sigma, cudaStream_t st) {
  if (image.ndim() != 3 || image.size(2) != 1 || s < 3) return false;
  const long long H = image.size(0), W = image.size(1);
  int dev = 0, max_smem = 0, sms = 0;
  FOVEAL_CUDA_CHECK(cudaGetDevice(&dev));
  FOVEAL_CUDA_CHECK(cudaDeviceGetAttribute(&max_smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  FOVEAL_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  const T var2c = static_cast<T>(2.0 * sigma * sigma);
  const T inv = static_cast<T>(1.0 / (h * h * double(s) * double(s)));
  const long long blocks16 = ((W + kTileW - 1) / kTileW) * ((H + 16 * kGroups - 1) / (16 * kGroups));
  if (blocks16 >= 2LL * sms &&
      launch_tiled<T, 16>(image.data_as<T>(), out.data_as<T>(), H, W, s, d, var2c, inv, max_smem, st))
    return true;
  return launch_tiled<T, 8>(image.data_as<T>(), out.data_as<T>(), H, W, s, d, var2c, inv, max_smem, st);
}

template <typename T>
void launch(ConstTensorView image, TensorView out, int s, int d, double h, double sigma, bool fast,
            cudaStream_t st) {
  const int spatial = image.ndim() - 1;
  Geo g{};
  g.C = image.size(spatial);
  g.three_d = spatial == 3;
  g.n0 = image.size(0);
  g.n1 = g.three_d ? image.size(1) : 1;
  g.n2 = image.size(spatial - 1);
  g.s = s;
  g.o = s / 2;
  g.d = d;
  const double C = static_cast<double>(g.C);
  g.var2c = 2.0 * C * sigma * sigma;
  g.inv = 1.0 / (C * h * h * (g.three_d ? double(s) * s * s : double(s) * s));
  // classic mode: the Gaussian patch taps, in stream-ordered device memory
  const int s1k = g.three_d ? s : 1;
  Workspace<double> kern_dev(fast ? 0 : static_cast<std::size_t>(s) * s1k * s, st);
  if (!fast) {
    const int s1 = g.three_d ? s : 1;
    const long long taps = static_cast<long long>(s) * s1 * s;
    std::vector<double> kern(static_cast<std::size_t>(taps));
    double ksum = 0;
    for (int i = 0; i < s; ++i)
      for (int j = 0; j < s1; ++j)
        for (int k = 0; k < s; ++k)
          ksum += kern[(static_cast<std::size_t>(i) * s1 + j) * s + k] =
              math::nlm_patch_kernel(i - g.o, g.three_d ? j - g.o : 0, k - g.o, s);
    for (double& v : kern) v /= C * ksum * h * h;
    FOVEAL_CUDA_CHECK(cudaMemcpyAsync(kern_dev.get(), kern.data(), kern.size() * sizeof(double),
                                      cudaMemcpyHostToDevice, st));
    FOVEAL_CUDA_CHECK(cudaStreamSynchronize(st));  // the host vector dies at scope end
  }
  const long long npix = g.n0 * g.n1 * g.n2;
  Workspace<double> wide(g.C > kRegChannels ? static_cast<std::size_t>(npix * g.C) : 0, st);
  nlm_kernel<T><<<blocks_for(npix, kThreads), kThreads, 0, st>>>(image.data_as<T>(), out.data_as<T>(), kern_dev.get(),
                                                                 wide.get(), g, fast);
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void denoise_nl_means(ConstTensorView image, TensorView out, std::int64_t patch_size, std::int64_t patch_distance,
                      double h, double sigma, bool fast_mode, const ExecContext& ctx) {
  DeviceGuard guard(image.device().index);
  const cudaStream_t s = stream_of(ctx);
  const int ps = static_cast<int>(patch_size), pd = static_cast<int>(patch_distance);
  if (image.dtype() == DType::Float32) {
    if (fast_mode && gray2d_fast<float>(image, out, ps, pd, h, sigma, s)) return;
    return launch<float>(image, out, ps, pd, h, sigma, fast_mode, s);
  }
  if (fast_mode && gray2d_fast<double>(image, out, ps, pd, h, sigma, s)) return;
  launch<double>(image, out, ps, pd, h, sigma, fast_mode, s);
}

namespace {

// OpenCV-style NLM (fast_nl_means): one thread per pixel, the patch distances summed directly
// (t^2 terms per search offset, so the cost grows with the template, unlike the CPU's running
// sums), the weights from the host-built table of math::cv_nlm_table. The distances are the same
// integers as the CPU's, so the results are the same. Pixels: element (r, c, ch) at
// (r * W + c) * stride + ch.
template <typename S, typename Acc, int C, bool L1>
__global__ void cv_nlm_kernel(const S* __restrict__ src, long long sstride, S* __restrict__ dst, long long dstride,
                              long long H, long long W, int th, int sh, int shift, const std::int32_t* __restrict__ table,
                              int vmax) {
  using U = std::make_unsigned_t<Acc>;
  const long long n = H * W;
  for (long long p = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; p < n;
       p += static_cast<long long>(gridDim.x) * blockDim.x) {
    const long long r = p / W, c = p - r * W;
    Acc num[C];
    for (int ch = 0; ch < C; ++ch) num[ch] = 0;
    Acc den = 0;
    for (int dy = -sh; dy <= sh; ++dy)
      for (int dx = -sh; dx <= sh; ++dx) {
        std::int32_t dist = 0;
        for (int ty = -th; ty <= th; ++ty) {
          const long long ra = math::nlm_reflect(r + ty, H), rb = math::nlm_reflect(r + dy + ty, H);
          for (int tx = -th; tx <= th; ++tx) {
            const S* a = src + (ra * W + math::nlm_reflect(c + tx, W)) * sstride;
            const S* b = src + (rb * W + math::nlm_reflect(c + dx + tx, W)) * sstride;
            for (int ch = 0; ch < C; ++ch) {
              const std::int32_t e = static_cast<std::int32_t>(a[ch]) - static_cast<std::int32_t>(b[ch]);
              dist += L1 ? (e < 0 ? -e : e) : e * e;
            }
          }
        }
        const std::int32_t w = table[dist >> shift];
        const S* y = src + (math::nlm_reflect(r + dy, H) * W + math::nlm_reflect(c + dx, W)) * sstride;
        den += w;
        for (int ch = 0; ch < C; ++ch) num[ch] += static_cast<Acc>(w) * static_cast<Acc>(y[ch]);
      }
    for (int ch = 0; ch < C; ++ch)
      dst[p * dstride + ch] =
          static_cast<S>(math::cv_nlm_mean<U>(static_cast<U>(num[ch]), static_cast<U>(den), static_cast<U>(vmax)));
  }
}

__global__ void lab8_from_bgr_kernel(const std::uint8_t* __restrict__ src, std::uint8_t* __restrict__ lab,
                                     const math::Lab8Tables* __restrict__ t, long long n) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x)
    math::lab8_from_bgr(*t, src[3 * i], src[3 * i + 1], src[3 * i + 2], lab + 3 * i);
}

__global__ void lab8_to_bgr_kernel(const std::uint8_t* __restrict__ lab, std::uint8_t* __restrict__ dst,
                                   const math::Lab8Tables* __restrict__ t, long long n) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x)
    math::lab8_to_bgr(*t, lab[3 * i], lab[3 * i + 1], lab[3 * i + 2], dst + 3 * i);
}

// OpenCV-style NLM, tiled as nlm_gray2d_tiled: the template window [-th, th]^2 (cnt = 2 th + 1
// per axis) summed separably per search offset, phase A's sliding row sums and phase B's sliding
// column sums in int32. The distances are the same integers as the direct kernel's, and the
// integer sums do not depend on their order, so the results are identical. The table's nonzero
// prefix (the weights fall to 0 past it) is staged in shared memory; the image tile keeps the
// source type, C planes.
constexpr int kCvMaxTable = 8192;

template <typename S, typename Acc, int C, bool L1>
__device__ __forceinline__ std::int32_t cv_diff(const S* p, int k, int sh, int plane) {
  std::int32_t s = 0;
#pragma unroll
  for (int ch = 0; ch < C; ++ch) {
    const std::int32_t e = static_cast<std::int32_t>(p[ch * plane + k]) - static_cast<std::int32_t>(p[ch * plane + k + sh]);
    s += L1 ? (e < 0 ? -e : e) : e * e;
  }
  return s;
}

template <typename S, typename Acc, int C, bool L1, int R>
__global__ void __launch_bounds__(kTileThreads)
    cv_nlm_tiled(const S* __restrict__ src, long long sstride, S* __restrict__ dst, long long dstride, long long H,
                 long long W, int th, int sh, int shift, const std::int32_t* __restrict__ table, int tab_n, int vmax) {
  using U = std::make_unsigned_t<Acc>;
  extern __shared__ double smem_d[];
  constexpr int TH = R * kGroups;
  const int cnt = 2 * th + 1, na = TH + cnt - 1;
  const int xh = na + 2 * sh, xw = kTileW + cnt - 1 + 2 * sh, plane = xh * xw;
  std::int32_t* Hb = reinterpret_cast<std::int32_t*>(smem_d);  // two buffers of na x kHPitch row sums
  std::int32_t* tab = Hb + 2 * na * kHPitch;                    // tab_n weights
  S* X = reinterpret_cast<S*>(tab + tab_n);                      // C planes of xh x xw
  const long long r0 = static_cast<long long>(blockIdx.y) * TH, c0 = static_cast<long long>(blockIdx.x) * kTileW;
  // X[ch][a][b] = channel ch of the padded pixel (r0 - th - sh + a, c0 - th - sh + b)
  for (int i = threadIdx.x; i < plane; i += kTileThreads) {
    const int a = i / xw, b = i - a * xw;
    const long long gr = reflect_fast(r0 - th - sh + a, H), gc = reflect_fast(c0 - th - sh + b, W);
    const S* q = src + (gr * W + gc) * sstride;
#pragma unroll
    for (int ch = 0; ch < C; ++ch) X[ch * plane + i] = q[ch];
  }
  for (int i = threadIdx.x; i < tab_n; i += kTileThreads) tab[i] = table[i];
  __syncthreads();
  const int tid = threadIdx.x, x = tid % kTileW, g = tid / kTileW;
  Acc num[R][C], den[R];
#pragma unroll
  for (int m = 0; m < R; ++m) {
    den[m] = 0;
#pragma unroll
    for (int ch = 0; ch < C; ++ch) num[m][ch] = 0;
  }
  // Output (y, x), offset (dy, dx): distance = sum over i < cnt of the row sum
  // S[y + i][x] = sum over k < cnt of diff(X[.][y + i + sh][x + sh + k], X[.][y + i + sh + dy][x + sh + k + dx]);
  // its value X[.][y + th + sh + dy][x + th + sh + dx].
  const S* vrow = X + (g * R + th + sh) * xw + x + th + sh;
  const int a0 = tid % na, sg0 = tid / na;
  int buf = 0;
  for (int dy = -sh; dy <= sh; ++dy)
    for (int dx = -sh; dx <= sh; ++dx, buf ^= 1) {
      const int off = dy * xw + dx;
      // this half was last read by phase B two offsets back, before the previous barrier
      std::int32_t* hb = Hb + buf * (na * kHPitch);
      for (int a = a0, sg = sg0; sg < kSegs;) {
        const S* p = X + (a + sh) * xw + sg * kSeg + sh;
        std::int32_t* hrow = hb + a * kHPitch + sg * kSeg;
        std::int32_t h = 0;
        for (int k = 0; k < cnt; ++k) h += cv_diff<S, Acc, C, L1>(p, k, off, plane);
        hrow[0] = h;
#pragma unroll
        for (int c = 1; c < kSeg; ++c) {
          h += cv_diff<S, Acc, C, L1>(p, c + cnt - 1, off, plane) - cv_diff<S, Acc, C, L1>(p, c - 1, off, plane);
          hrow[c] = h;
        }
        for (a += kTileThreads; a >= na; a -= na) ++sg;
      }
      __syncthreads();  // the row sums of this offset are complete
      const std::int32_t* col = hb + g * R * kHPitch + x;
      std::int32_t v = 0;
      for (int i = 0; i < cnt - 1; ++i) v += col[i * kHPitch];
#pragma unroll
      for (int m = 0; m < R; ++m) {
        v += col[(m + cnt - 1) * kHPitch];
        if (m > 0) v -= col[(m - 1) * kHPitch];
        const int idx = v >> shift;
        const std::int32_t w = idx < tab_n ? tab[idx] : 0;
        den[m] += w;
        const S* y = vrow + m * xw + off;
#pragma unroll
        for (int ch = 0; ch < C; ++ch) num[m][ch] += static_cast<Acc>(w) * static_cast<Acc>(y[ch * plane]);
      }
    }
#pragma unroll
  for (int m = 0; m < R; ++m) {
    const long long r = r0 + g * R + m, c = c0 + x;
    if (r >= H || c >= W) continue;
#pragma unroll
    for (int ch = 0; ch < C; ++ch)
      dst[(r * W + c) * dstride + ch] =
          static_cast<S>(math::cv_nlm_mean<U>(static_cast<U>(num[m][ch]), static_cast<U>(den[m]), static_cast<U>(vmax)));
  }
}

// The tiled OpenCV kernel with row blocks of R; false when its shared memory does not fit.
template <typename S, typename Acc, int C, bool L1, int R>
bool cv_launch_tiled(const S* src, long long sstride, S* dst, long long dstride, long long H, long long W, int th,
                     int sh, int shift, const std::int32_t* table, int tab_n, int vmax, int max_smem, cudaStream_t st) {
  const std::size_t cnt = 2 * static_cast<std::size_t>(th) + 1, na = R * kGroups + cnt - 1;
  const std::size_t xh = na + 2 * static_cast<std::size_t>(sh), xw = kTileW + cnt - 1 + 2 * static_cast<std::size_t>(sh);
  const std::size_t smem = (2 * na * kHPitch + static_cast<std::size_t>(tab_n)) * sizeof(std::int32_t) + C * xh * xw * sizeof(S);
  const long long gx = (W + kTileW - 1) / kTileW, gy = (H + R * kGroups - 1) / (R * kGroups);
  if (smem > static_cast<std::size_t>(max_smem) || gy > 65535 || gx > 0x7fffffff) return false;
  if (smem > 48 * 1024)
    FOVEAL_CUDA_CHECK(cudaFuncSetAttribute(cv_nlm_tiled<S, Acc, C, L1, R>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(smem)));
  cv_nlm_tiled<S, Acc, C, L1, R><<<dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy)), kTileThreads, smem, st>>>(
      src, sstride, dst, dstride, H, W, th, sh, shift, table, tab_n, vmax);
  FOVEAL_CUDA_CHECK(cudaGetLastError());
  return true;
}

// Tiled OpenCV pass when it applies (the table's nonzero prefix within kCvMaxTable, the tile within
// the device's shared memory): row blocks of 16 for one channel on images that fill the device,
// else 8.
template <typename S, typename Acc, int C, bool L1>
bool cv_nlm_tiled_pass(const S* src, long long sstride, S* dst, long long dstride, long long H, long long W, int th,
                       int sh, const math::CvNlmTable& tab, const std::int32_t* table, int vmax, cudaStream_t st) {
  int tab_n = 0;
  for (std::size_t i = 0; i < tab.w.size(); ++i)
    if (tab.w[i] != 0) tab_n = static_cast<int>(i) + 1;
  if (tab_n > kCvMaxTable) return false;
  int dev = 0, max_smem = 0, sms = 0;
  FOVEAL_CUDA_CHECK(cudaGetDevice(&dev));
  FOVEAL_CUDA_CHECK(cudaDeviceGetAttribute(&max_smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  FOVEAL_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  if constexpr (C == 1) {
    const long long blocks16 = ((W + kTileW - 1) / kTileW) * ((H + 16 * kGroups - 1) / (16 * kGroups));
    if (blocks16 >= 2LL * sms && cv_launch_tiled<S, Acc, C, L1, 16>(src, sstride, dst, dstride, H, W, th, sh, tab.shift,
                                                                     table, tab_n, vmax, max_smem, st))
      return true;
  }
  return cv_launch_tiled<S, Acc, C, L1, 8>(src, sstride, dst, dstride, H, W, th, sh, tab.shift, table, tab_n, vmax,
                                           max_smem, st);
}

// One OpenCV NLM pass of C channels; the table goes to stream-ordered device memory.
template <typename S, typename Acc, int C, bool L1>
void cv_nlm_launch(const S* src, long long sstride, S* dst, long long dstride, long long H, long long W, double h,
                   int t, int sw, int vmax, cudaStream_t st) {
  const int th = t / 2, sh = sw / 2;
  const math::CvNlmTable tab = math::cv_nlm_table(h, C, L1, vmax, 2 * th + 1, 2 * sh + 1,
                                                  static_cast<double>(std::numeric_limits<Acc>::max()));
  Workspace<std::int32_t> table(tab.w.size(), st);
  FOVEAL_CUDA_CHECK(cudaMemcpyAsync(table.get(), tab.w.data(), tab.w.size() * sizeof(std::int32_t),
                                    cudaMemcpyHostToDevice, st));
  if (!cv_nlm_tiled_pass<S, Acc, C, L1>(src, sstride, dst, dstride, H, W, th, sh, tab, table.get(), vmax, st)) {
    cv_nlm_kernel<S, Acc, C, L1><<<blocks_for(H * W, kThreads), kThreads, 0, st>>>(src, sstride, dst, dstride, H, W,
                                                                                   th, sh, tab.shift, table.get(), vmax);
    FOVEAL_CUDA_CHECK(cudaGetLastError());
  }
  FOVEAL_CUDA_CHECK(cudaStreamSynchronize(st));  // the host table dies at scope end
}

template <typename S, typename Acc, bool L1>
void cv_nlm_channels(const S* src, S* dst, long long H, long long W, int C, double h, int t, int sw, int vmax,
                     cudaStream_t st) {
  switch (C) {
    case 1: return cv_nlm_launch<S, Acc, 1, L1>(src, 1, dst, 1, H, W, h, t, sw, vmax, st);
    case 2: return cv_nlm_launch<S, Acc, 2, L1>(src, 2, dst, 2, H, W, h, t, sw, vmax, st);
    case 3: return cv_nlm_launch<S, Acc, 3, L1>(src, 3, dst, 3, H, W, h, t, sw, vmax, st);
    default: return cv_nlm_launch<S, Acc, 4, L1>(src, 4, dst, 4, H, W, h, t, sw, vmax, st);
  }
}

}  // namespace

void fast_nl_means(ConstTensorView image, TensorView out, double h, std::int64_t template_window_size,
                   std::int64_t search_window_size, const ExecContext& ctx) {
  DeviceGuard guard(image.device().index);
  const cudaStream_t st = stream_of(ctx);
  const long long H = image.size(0), W = image.size(1);
  const int C = image.ndim() == 3 ? static_cast<int>(image.size(2)) : 1;
  const int t = static_cast<int>(template_window_size), sw = static_cast<int>(search_window_size);
  if (image.dtype() == DType::UInt8)
    return cv_nlm_channels<std::uint8_t, std::int32_t, false>(image.data_as<std::uint8_t>(), out.data_as<std::uint8_t>(),
                                                              H, W, C, h, t, sw, 255, st);
  cv_nlm_channels<std::uint16_t, long long, true>(image.data_as<std::uint16_t>(), out.data_as<std::uint16_t>(), H, W, C,
                                                  h, t, sw, 65535, st);
}

void fast_nl_means_colored(ConstTensorView image, TensorView out, double h, double h_color,
                           std::int64_t template_window_size, std::int64_t search_window_size, const ExecContext& ctx) {
  DeviceGuard guard(image.device().index);
  const cudaStream_t st = stream_of(ctx);
  const long long H = image.size(0), W = image.size(1), n = H * W;
  const int t = static_cast<int>(template_window_size), sw = static_cast<int>(search_window_size);
  std::unique_ptr<math::Lab8Tables> host(new math::Lab8Tables);
  math::lab8_build(*host);
  Workspace<math::Lab8Tables> tab(1, st);
  FOVEAL_CUDA_CHECK(cudaMemcpyAsync(tab.get(), host.get(), sizeof(math::Lab8Tables), cudaMemcpyHostToDevice, st));
  Workspace<std::uint8_t> lab(static_cast<std::size_t>(3 * n), st), den(static_cast<std::size_t>(3 * n), st);
  lab8_from_bgr_kernel<<<blocks_for(n, kThreads), kThreads, 0, st>>>(image.data_as<std::uint8_t>(), lab.get(), tab.get(), n);
  FOVEAL_CUDA_CHECK(cudaGetLastError());
  // L alone with h, (a, b) jointly with h_color, as OpenCV's fastNlMeansDenoisingColored
  cv_nlm_launch<std::uint8_t, std::int32_t, 1, false>(lab.get(), 3, den.get(), 3, H, W, h, t, sw, 255, st);
  cv_nlm_launch<std::uint8_t, std::int32_t, 2, false>(lab.get() + 1, 3, den.get() + 1, 3, H, W, h_color, t, sw, 255, st);
  lab8_to_bgr_kernel<<<blocks_for(n, kThreads), kThreads, 0, st>>>(den.get(), out.data_as<std::uint8_t>(), tab.get(), n);
  FOVEAL_CUDA_CHECK(cudaGetLastError());
  FOVEAL_CUDA_CHECK(cudaStreamSynchronize(st));  // the host tables die at scope end
}

}  // namespace foveal::cuda
