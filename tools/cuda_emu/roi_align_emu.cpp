// CPU emulation of cuda/roi_align_cuda.cu's forward kernels, roi_align and multi_scale_roi_align
// (see run.sh and roi_align_check.py). Storage float32, float64, float16 (_Float16) or bfloat16
// (bits, round to nearest even), computed in float32 (double for float64) as on the device.
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "foveal/math/roi.hpp"
#include "foveal/ops/roi_align.hpp"  // kMaxPyramidLevels
#define FOVEAL_EMU_ROI
#include "emu_types.hpp"

namespace foveal::cuda {
namespace {
#include "kernels_roi_align.inc"
}

template <typename T>
std::vector<T> read_all(const char* name, std::size_t n) {
  std::vector<T> v(n);
  FILE* f = fopen(name, "rb");
  if (!f || fread(v.data(), sizeof(T), n, f) != n) abort();
  fclose(f);
  return v;
}

constexpr int kEmuWarps = 2;  // warps per emulated block (fewer CUDA threads to run)

// argv: dtype multi N C L [H W scale]*L K PH PW sr aligned chunks [k_min k_max]
template <typename S, typename A>
void run(char** argv) {
  int i = 3;
  const long long N = atoll(argv[i++]), C = atoll(argv[i++]), L = atoll(argv[i++]);
  std::vector<long long> H(L), W(L);
  std::vector<double> sc(L);
  long long total = 0;
  for (long long l = 0; l < L; ++l) H[l] = atoll(argv[i++]), W[l] = atoll(argv[i++]), sc[l] = atof(argv[i++]);
  const long long K = atoll(argv[i++]), PH = atoll(argv[i++]), PW = atoll(argv[i++]);
  const int sr = atoi(argv[i++]);
  const bool aligned = atoi(argv[i++]) != 0;
  const long long chunks = atoll(argv[i++]);
  const bool multi = atoi(argv[2]) != 0;
  for (long long l = 0; l < L; ++l) total += N * C * H[l] * W[l];
  // maps: float64 file for A = double, float32 otherwise (16-bit storage rounds them)
  std::vector<S> x(total);
  if constexpr (std::is_same_v<A, double>) {
    x = read_all<double>("x.bin", total);
  } else {
    const auto xf = read_all<float>("x.bin", total);
    for (long long j = 0; j < total; ++j) x[j] = from_acc<S>(xf[j]);
  }
  const auto rois = read_all<A>("r.bin", K * 5);
  std::vector<S> out(K * C * PH * PW, from_acc<S>(A(NAN)));
  const Dims d{N, C, multi ? 0 : H[0], multi ? 0 : W[0], PH, PW, (long long)out.size()};
  if (!multi) {
    emu::launch(unsigned(C * chunks), 1, kEmuWarps * 32, 1, 0, [&] {
      roi_align_kernel<kEmuWarps, S, A>(x.data(), rois.data(), out.data(), d, K, chunks, A(sc[0]), sr, aligned);
    });
  } else {
    Pyramid pyr{};
    long long off = 0;
    for (long long l = 0; l < L; ++l) {
      pyr.maps[l] = x.data() + off, pyr.h[l] = H[l], pyr.w[l] = W[l], pyr.scale[l] = sc[l];
      off += N * C * H[l] * W[l];
    }
    pyr.levels = int(L), pyr.k_min = atoi(argv[i]), pyr.k_max = atoi(argv[i + 1]);
    pyr.canonical_scale = 224, pyr.canonical_level = 4;
    emu::launch(unsigned(C * chunks), 1, kEmuWarps * 32, 1, 0, [&] {
      multi_scale_roi_align_kernel<kEmuWarps, S, A>(pyr, rois.data(), out.data(), d, K, chunks, sr, aligned);
    });
  }
  std::vector<A> o(out.size());
  for (std::size_t j = 0; j < out.size(); ++j) o[j] = to_acc(out[j]);
  FILE* f = fopen("out.bin", "wb");
  fwrite(o.data(), sizeof(A), o.size(), f);
  fclose(f);
}
}  // namespace foveal::cuda

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  const std::string t = argv[1];
  if (t == "f32") foveal::cuda::run<float, float>(argv);
  else if (t == "f64") foveal::cuda::run<double, double>(argv);
  else if (t == "f16") foveal::cuda::run<_Float16, float>(argv);
  else if (t == "bf16") foveal::cuda::run<foveal::cuda::Bf16, float>(argv);
  else return 2;
}
