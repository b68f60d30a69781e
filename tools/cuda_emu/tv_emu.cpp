// CPU emulation of cuda/tv_cuda.cu's kernels (see run.sh and shim.hpp).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <vector>

#include "foveal/math/tv.hpp"
#include "shim.hpp"

using std::fabs;
using std::sqrt;

namespace foveal::cuda {
#include "kernels_tv.inc"
#include "kernels_breg.inc"
}  // namespace foveal::cuda
using namespace foveal::cuda;

template <typename T>
std::vector<T> rd(const char* p, size_t n) {
  std::vector<T> v(n);
  FILE* f = fopen(p, "rb");
  if (!f || fread(v.data(), sizeof(T), n, f) != n) abort();
  fclose(f);
  return v;
}
template <typename T>
void wr(const char* p, const std::vector<T>& v) {
  FILE* f = fopen(p, "wb");
  fwrite(v.data(), sizeof(T), v.size(), f);
  fclose(f);
}

// run_one's loop for a 2-D image through iter2d_kernel (the host code of tv_cuda.cu, transcribed).
template <typename T>
long long chambolle(int H, int W, double weight, double eps, long long max_num_iter) {
  auto image = rd<T>("in.bin", size_t(H) * W);
  std::vector<T> out(size_t(H) * W, T(NAN)), p(size_t(4) * H * W, T(0));
  const double tau_d = foveal::math::tv_tau(2);
  const T tau = static_cast<T>(tau_d), tow = static_cast<T>(tau_d / weight);
  const unsigned tx = (W + kTX - 1) / kTX, ty = (H + kTY - 1) / kTY, blocks = tx * ty;
  std::vector<double> partial(2 * blocks, NAN);
  State st{};
  const long long np = 2LL * H * W;
  for (long long it = 0; it < max_num_iter; ++it) {
    T* cur = p.data() + (it & 1) * np;
    T* next = p.data() + ((it + 1) & 1) * np;
    const bool last = it + 1 == max_num_iter;
    emu::launch(tx, ty, kThreads, 1, 0,
           [&] { iter2d_kernel<T>(image.data(), out.data(), cur, next, H, W, tau, tow, last, partial.data(), &st); });
    if (last) break;
    emu::launch(1, 1, kThreads, 1, 0,
           [&] { stop_kernel(&st, partial.data(), blocks, weight, eps, double(H) * W, it); });
  }
  wr("out.bin", out);
  return st.done ? st.iters : max_num_iter;
}

// run_one's loop for any dimension count through the generic iter_kernel (host code transcribed).
template <typename T>
long long chambolle_nd(const std::vector<long long>& dims, double weight, double eps, long long max_num_iter) {
  Grid g{};
  g.ndim = static_cast<int>(dims.size());
  g.size = 1;
  for (int a = g.ndim - 1; a >= 0; --a) {
    g.dims[a] = dims[a];
    g.strides[a] = g.size;
    g.size *= g.dims[a];
  }
  auto image = rd<T>("in.bin", size_t(g.size));
  std::vector<T> out(size_t(g.size), T(NAN)), p(size_t(2 * g.ndim * g.size), T(0));
  const double tau_d = foveal::math::tv_tau(g.ndim);
  const T tau = static_cast<T>(tau_d), tow = static_cast<T>(tau_d / weight);
  const unsigned blocks = unsigned(std::min<long long>((g.size + kThreads - 1) / kThreads, kMaxBlocks));
  std::vector<double> partial(2 * blocks, NAN);
  State st{};
  const long long np = g.ndim * g.size;
  for (long long it = 0; it < max_num_iter; ++it) {
    T* cur = p.data() + (it & 1) * np;
    T* next = p.data() + ((it + 1) & 1) * np;
    const bool last = it + 1 == max_num_iter;
    auto body = [&](auto d) {
      constexpr int D = decltype(d)::value;
      emu::launch(blocks, 1, kThreads, 1, 0, [&] {
        iter_kernel<T, std::int32_t, D>(image.data(), out.data(), cur, next, g, tau, tow, last, partial.data(), &st);
      });
    };
    if (g.ndim == 1) body(std::integral_constant<int, 1>{});
    else if (g.ndim == 2) body(std::integral_constant<int, 2>{});
    else if (g.ndim == 3) body(std::integral_constant<int, 3>{});
    else body(std::integral_constant<int, 0>{});
    if (last) break;
    emu::launch(1, 1, kThreads, 1, 0, [&] { stop_kernel(&st, partial.data(), blocks, weight, eps, double(g.size), it); });
  }
  wr("out.bin", out);
  return st.done ? st.iters : max_num_iter;
}

// bregman_launch's loop (host code transcribed).
template <typename T>
std::vector<long long> bregman(long long P, long long R, long long C, double weight, double eps,
                               long long max_num_iter, bool iso, bool joint) {
  using G = BregmanTile<T>;
  auto img = rd<T>("in.bin", size_t(P * R * C));
  const long long N = R * C, UN = (R + 2) * (C + 2);
  const long long groups = joint ? 1 : P, per_group = joint ? P : 1;
  std::vector<T> state(size_t(P * (2 * UN + 5 * N)), T(NAN)), out(size_t(P * N), T(NAN));
  const T w = static_cast<T>(weight), lam = T(2) * w, inv = T(1) / (w + T(4) * lam), a = lam * inv;
  const long long tile_rows = (R + G::kOutRows - 1) / G::kOutRows, tile_cols = (C + G::kOutCols - 1) / G::kOutCols;
  constexpr int kWarps = 4;
  const long long tiles = P * tile_rows * tile_cols;
  std::vector<double> partial(size_t(tiles), NAN);
  std::vector<long long> iters(groups, 0);
  std::vector<int> stop(groups, 0);
  BregmanDev b{P, R, C, img.data(), {state.data(), state.data() + P * UN}, state.data() + 2 * P * UN,
               partial.data(), tile_rows * tile_cols, stop.data(), iters.data(), per_group};
  emu::launch(3, 1, kThreads, 1, 0, [&] { bregman_init_kernel<T>(b); });
  const unsigned sweep_blocks = unsigned((tiles + kWarps - 1) / kWarps);
  for (long long it = 0; it < max_num_iter; ++it) {
    const int cur = int(it & 1);
    emu::launch(2, 1, kThreads, 1, 0, [&] { bregman_terms_kernel<T>(b, cur, lam, iso); });
    emu::launch(sweep_blocks, 1, 32 * kWarps, 1, 0,
           [&] { bregman_sweep_kernel<T>(b, cur, w, lam, inv, a, tile_rows, tile_cols); });
    emu::launch(unsigned(groups), 1, kThreads, 1, 0, [&] { bregman_stop_kernel<T>(b, eps); });
  }
  emu::launch(2, 1, kThreads, 1, 0, [&] { bregman_out_kernel<T>(b, out.data()); });
  wr("out.bin", out);
  std::vector<long long> r(P);
  for (long long p = 0; p < P; ++p) r[p] = iters[joint ? 0 : p];
  return r;
}

int main(int argc, char** argv) {
  const std::string what = argv[1];
  const bool dbl = std::string(argv[2]) == "f64";
  if (what == "chambolle") {
    const int H = atoi(argv[3]), W = atoi(argv[4]);
    const double weight = atof(argv[5]), eps = atof(argv[6]);
    const long long n = atoll(argv[7]);
    const long long k = dbl ? chambolle<double>(H, W, weight, eps, n) : chambolle<float>(H, W, weight, eps, n);
    printf("%lld\n", k);
  } else if (what == "chambolle_nd") {  // tag dims(a x b x ...) weight eps iterations
    std::vector<long long> dims;
    for (const char* c = argv[3]; *c;) {
      dims.push_back(strtoll(c, const_cast<char**>(&c), 10));
      if (*c == 'x') ++c;
    }
    const double weight = atof(argv[4]), eps = atof(argv[5]);
    const long long n = atoll(argv[6]);
    printf("%lld\n", dbl ? chambolle_nd<double>(dims, weight, eps, n) : chambolle_nd<float>(dims, weight, eps, n));
  } else {
    const long long P = atoll(argv[3]), R = atoll(argv[4]), C = atoll(argv[5]);
    const double weight = atof(argv[6]), eps = atof(argv[7]);
    const long long n = atoll(argv[8]);
    const bool iso = atoi(argv[9]), joint = atoi(argv[10]);
    auto k = dbl ? bregman<double>(P, R, C, weight, eps, n, iso, joint) : bregman<float>(P, R, C, weight, eps, n, iso, joint);
    for (auto v : k) printf("%lld ", v);
    printf("\n");
  }
}
