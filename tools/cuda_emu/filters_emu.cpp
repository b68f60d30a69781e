// CPU emulation of cuda/nlm_cuda.cu's tiled kernels (skimage fast mode, OpenCV style) and
// cuda/bilateral_cuda.cu's tiled kernel (see run.sh; the kernels come from extract_filters.py).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "foveal/math/bilateral.hpp"
#include "foveal/math/nlm.hpp"
#include "ops/bilateral_plan.hpp"
#include "shim.hpp"
using std::fma;
namespace foveal::cuda {
using math::BilateralRange;
#include "kernels.inc"
}
using namespace foveal::cuda;
namespace math = foveal::math;
template <typename T> std::vector<T> rd(const char* p, size_t n) { std::vector<T> v(n); FILE* f = fopen(p, "rb"); if (fread(v.data(), sizeof(T), n, f) != n) abort(); fclose(f); return v; }
template <typename T> void wr(const char* p, const std::vector<T>& v) { FILE* f = fopen(p, "wb"); fwrite(v.data(), sizeof(T), v.size(), f); fclose(f); }

template <typename T, int R>
void nlm(long long H, long long W, int s, int d, double h, double sigma) {
  auto img = rd<T>("in.bin", H * W);
  std::vector<T> out(H * W, T(-1));
  const int o = s / 2, cnt = 2 * o;
  const int TH = R * kGroups;
  size_t xh = TH + cnt - 1 + 2 * d, xw = kTileW + cnt - 1 + 2 * d;
  size_t smem = (xh * xw + (R + cnt - 1) * kTileThreads) * sizeof(T);
  T var2c = T(2.0 * sigma * sigma), inv = T(1.0 / (h * h * double(s) * s));
  smem = (xh * xw + 2 * (TH + cnt - 1) * kHPitch) * sizeof(T);
  emu::launch((W + kTileW - 1) / kTileW, (H + TH - 1) / TH, kTileThreads, 1, smem,
         [&] { nlm_gray2d_tiled<T, R>(img.data(), out.data(), H, W, o, d, var2c, inv); });
  wr("out.bin", out);
}

template <typename S>
void bil(long long H, long long W, int C, int d, double sc, double ss, int border, bool exact) {
  auto img = rd<S>("in.bin", H * W * C);
  std::vector<S> out(H * W * C, S(0));
  math::BilateralPlan p;
  p.border = static_cast<math::BilateralBorder>(border);
  const int radius = std::max(d / 2, 1);
  if (exact) foveal::detail::opencv_exact_plan(p, radius, sc, ss);
  else foveal::detail::opencv_u8_plan(p, radius, sc, ss, C);
  const int K = p.dy.size();
  int r = 0;
  for (int k = 0; k < K; ++k) r = std::max(r, std::max(std::abs(p.dy[k]), std::abs(p.dx[k])));
  const size_t pitch = kBx + 2 * r, rows = kBy * kRows + 2 * r;
  const size_t lut_n = p.range == BilateralRange::IntLut ? p.lut.size() : 0;
  const size_t smem = (C * pitch * rows + lut_n) * sizeof(float);
  static TileTaps t;
  for (int k = 0; k < K; ++k) { t.off[k] = p.dy[k] * int(pitch) + p.dx[k]; t.w[k] = float(p.range == BilateralRange::Exact ? p.log_space[k] : p.space[k]); }
  for (size_t i = 0; i < lut_n; ++i) t.lut[i] = float(p.lut[i]);
  TileArgs a{H, W, r, int(pitch), K, int(lut_n), p.border, float(p.pad_value), p.l1, p.centre_unit, p.reciprocal,
             math::RangeParams<float>{float(p.coeff), float(p.scale), float(p.max_pos), nullptr}};
  const unsigned gx = (W + kBx - 1) / kBx, gy = (H + kBy * kRows - 1) / (kBy * kRows);
  if (C == 1) {
    if (exact) emu::launch(gx, gy, kBx, kBy, smem, [&] { bilateral_tiled<S, 1, BilateralRange::Exact>(img.data(), out.data(), a, t); });
    else emu::launch(gx, gy, kBx, kBy, smem, [&] { bilateral_tiled<S, 1, BilateralRange::IntLut>(img.data(), out.data(), a, t); });
  } else {
    if (exact) emu::launch(gx, gy, kBx, kBy, smem, [&] { bilateral_tiled<S, 3, BilateralRange::Exact>(img.data(), out.data(), a, t); });
    else emu::launch(gx, gy, kBx, kBy, smem, [&] { bilateral_tiled<S, 3, BilateralRange::IntLut>(img.data(), out.data(), a, t); });
  }
  wr("out.bin", out);
}

template <typename S, typename Acc, int C, bool L1, int R>
void cvnlm(long long H, long long W, int Ctot, int coff, double h, int t, int sw) {
  auto img = rd<S>("in.bin", H * W * Ctot);
  std::vector<S> out(H * W * Ctot, S(0));
  const int th = t / 2, sh = sw / 2;
  const int vmax = std::is_same_v<S, std::uint8_t> ? 255 : 65535;
  auto tab = math::cv_nlm_table(h, C, L1, vmax, 2 * th + 1, 2 * sh + 1, double(std::numeric_limits<Acc>::max()));
  int tab_n = 0;
  for (size_t i = 0; i < tab.w.size(); ++i) if (tab.w[i] != 0) tab_n = int(i) + 1;
  fprintf(stderr, "tab_n %d of %zu\n", tab_n, tab.w.size());
  const int TH = R * kGroups;
  const unsigned gx = (W + kTileW - 1) / kTileW, gy = (H + TH - 1) / TH;
  emu::launch(gx, gy, kTileThreads, 1, 1 << 22, [&] {
    cv_nlm_tiled<S, Acc, C, L1, R>(img.data() + coff, Ctot, out.data() + coff, Ctot, H, W, th, sh, tab.shift, tab.w.data(), tab_n, vmax);
  });
  wr("out.bin", out);
}
int main(int argc, char** argv) {
  std::string mode = argv[1];
  if (mode == "nlm") {
    long long H = atoll(argv[2]), W = atoll(argv[3]); int s = atoi(argv[4]), d = atoi(argv[5]);
    double h = atof(argv[6]), sg = atof(argv[7]); int dbl = atoi(argv[8]), R = atoi(argv[9]);
    if (dbl) { if (R == 8) nlm<double, 8>(H, W, s, d, h, sg); else nlm<double, 16>(H, W, s, d, h, sg); }
    else { if (R == 8) nlm<float, 8>(H, W, s, d, h, sg); else nlm<float, 16>(H, W, s, d, h, sg); }
  }
  if (mode == "bil") {
    long long H = atoll(argv[2]), W = atoll(argv[3]); int C = atoi(argv[4]), u8 = atoi(argv[5]), d = atoi(argv[6]);
    double sc = atof(argv[7]), ss = atof(argv[8]); int border = atoi(argv[9]);
    if (u8) bil<std::uint8_t>(H, W, C, d, sc, ss, border, false); else bil<float>(H, W, C, d, sc, ss, border, true);
  }
  if (mode == "cv") {
    long long H = atoll(argv[2]), W = atoll(argv[3]); int Ctot = atoi(argv[4]), C = atoi(argv[5]), coff = atoi(argv[6]);
    int u16 = atoi(argv[7]); double h = atof(argv[8]); int t = atoi(argv[9]), sw = atoi(argv[10]), R = atoi(argv[11]);
#define CVC(CC) if (C == CC) { if (u16) { if (R == 8) cvnlm<std::uint16_t, long long, CC, true, 8>(H, W, Ctot, coff, h, t, sw); else cvnlm<std::uint16_t, long long, CC, true, 16>(H, W, Ctot, coff, h, t, sw); } \
                             else { if (R == 8) cvnlm<std::uint8_t, std::int32_t, CC, false, 8>(H, W, Ctot, coff, h, t, sw); else cvnlm<std::uint8_t, std::int32_t, CC, false, 16>(H, W, Ctot, coff, h, t, sw); } }
    CVC(1) CVC(2) CVC(3) CVC(4)
  }
  return 0;
}
