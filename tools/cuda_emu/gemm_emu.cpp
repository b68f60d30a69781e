// CPU emulation of cuda/conv2d_cuda.cu's GEMM (see run.sh): conv2d, conv_transpose2d, linear and
// matmul through gemm_kernel, with the problem built by the .cu file's own host helpers.
//   gemm_emu conv|convT DT TILE GRID images C_in H W C_out KH KW OH OW groups sh sw pt pl dh dw bias res act slope
//   gemm_emu linear|matmul DT TILE GRID M N K bias act slope
//   gemm_emu pick M N_MAX Z SMS (prints pick_tile's choice); plan M N_MAX Z K SMS BM BN (plan_splits')
// An optional last argument SPLITS > 1 runs split-K (slices, then splitk_reduce_kernel).
// DT: f32 | f64 (SIMT), f16 | bf16 (tensor cores, wmma m16n16k16), tf32 (float32 on TF32 tensor cores,
// m16n16k8); TILE: 0 128x128, 1 64x128, 2 64x64; GRID: blocks launched (the kernel loops over the
// rest). Reads x.bin, w.bin, bias.bin, res.bin; writes out.bin.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "foveal/math/conv.hpp"
#include "emu_types.hpp"

namespace foveal::cuda {
using i64 = std::int64_t;
inline float madd(float a, float b, float c) { return std::fmaf(a, b, c); }
inline double madd(double a, double b, double c) { return std::fma(a, b, c); }
#include "kernels_gemm.inc"
}  // namespace foveal::cuda
using namespace foveal::cuda;

template <typename T>
std::vector<T> rd(const char* p, size_t n) {
  std::vector<T> v(n);
  if (n == 0) return v;
  FILE* f = fopen(p, "rb");
  if (!f || fread(v.data(), sizeof(T), n, f) != n) {
    fprintf(stderr, "cannot read %s\n", p);
    exit(2);
  }
  fclose(f);
  return v;
}

template <Mma MM, typename S, typename A, int BM, int BN, bool Gather, bool AKFast, bool BKFast, bool SplitK>
void launch(Gemm<S> p, i64 grid_cap) {
  i64 n_max = 0;
  if (!gemm_fits(p, n_max)) {
    fprintf(stderr, "gemm_fits refused the problem\n");
    exit(2);
  }
  p.n_tiles = (n_max + BN - 1) / BN;
  const i64 total = (p.M + BM - 1) / BM * p.n_tiles * p.G * p.phases * (SplitK ? p.splits : 1);
  const auto grid = static_cast<unsigned>(std::min(total, grid_cap));
  emu::launch(grid, 1, kThreads, 1, 0, [&] { gemm_kernel<MM, S, A, BM, BN, Gather, AKFast, BKFast, SplitK>(p); });
}

int g_splits = 1;  // SPLITS (the optional last argument): split-K slices

template <Mma MM, typename S, typename A, bool Gather, bool AKFast, bool BKFast>
void run_tile(Gemm<S> p, int tile, i64 grid_cap) {
  std::vector<A> part;
  if (g_splits > 1) {
    set_splits(p, g_splits, k_slice(MM));
    part.assign(size_t(p.splits) * p.G * p.M * p.n_cols, A(NAN));
    p.part = part.data();
  }
  if (p.splits > 1) {  // any tile here (CUDA splits with 128 x 128, float64 64 x 64)
    if (tile == 0) launch<MM, S, A, 128, 128, Gather, AKFast, BKFast, true>(p, grid_cap);
    else if (tile == 1) launch<MM, S, A, 64, 128, Gather, AKFast, BKFast, true>(p, grid_cap);
    else launch<MM, S, A, 64, 64, Gather, AKFast, BKFast, true>(p, grid_cap);
  } else {
    if (tile == 0) launch<MM, S, A, 128, 128, Gather, AKFast, BKFast, false>(p, grid_cap);
    else if (tile == 1) launch<MM, S, A, 64, 128, Gather, AKFast, BKFast, false>(p, grid_cap);
    else launch<MM, S, A, 64, 64, Gather, AKFast, BKFast, false>(p, grid_cap);
  }
  if (p.splits > 1) {
    const i64 outs = p.G * p.M * p.ph.N;
    emu::launch(unsigned(std::min<i64>((outs + 255) / 256, 3)), 1, 256, 1, 0,
                [&] { splitk_reduce_kernel<S, A, Gather>(p); });
  }
}

template <Mma MM, typename S, typename A>
int run(int argc, char** argv) {
  const std::string mode = argv[1];
  const int tile = atoi(argv[3]);
  const i64 grid_cap = atoll(argv[4]);
  auto arg = [&](int i) { return atoll(argv[i]); };
  std::vector<S> out;
  if (mode == "conv" || mode == "convT") {
    ConvShape s{arg(5), arg(6), arg(7), arg(8), arg(9), arg(10), arg(11), arg(12), arg(13), int(arg(14)), int(arg(15)),
                int(arg(16)), int(arg(17)), int(arg(18)), int(arg(19)), int(arg(20))};
    const bool has_bias = arg(21), has_res = arg(22);
    const auto act = static_cast<foveal::math::Activation>(arg(23));
    const double slope = atof(argv[24]);
    const i64 wn = mode == "conv" ? s.C_out * (s.C_in / s.groups) * s.KH * s.KW : s.C_in * (s.C_out / s.groups) * s.KH * s.KW;
    const i64 on = s.images * s.C_out * s.OH * s.OW;
    auto x = rd<S>("x.bin", s.images * s.C_in * s.H * s.W), w = rd<S>("w.bin", wn);
    auto b = rd<S>("bias.bin", has_bias ? s.C_out : 0), r = rd<S>("res.bin", has_res ? on : 0);
    out.assign(on, from_acc<S>(A(NAN)));
    const S* bp = has_bias ? b.data() : nullptr;
    const S* rp = has_res ? r.data() : nullptr;
    if (mode == "conv") {
      Gemm<S> p = conv2d_gemm<S>(s, x.data(), w.data(), bp, rp, out.data());
      p.act = act, p.slope = slope;
      run_tile<MM, S, A, true, true, false>(p, tile, grid_cap);
    } else {
      Gemm<S> p = transpose_gemm<S>(s, x.data(), w.data(), bp, rp, out.data());
      p.act = act, p.slope = slope;
      run_tile<MM, S, A, true, false, false>(p, tile, grid_cap);
    }
  } else {
    const i64 M = arg(5), N = arg(6), K = arg(7);
    const bool lin = mode == "linear", has_bias = lin && arg(8);
    auto a = rd<S>("x.bin", M * K), w = rd<S>("w.bin", K * N), b = rd<S>("bias.bin", has_bias ? N : 0);
    out.assign(M * N, from_acc<S>(A(NAN)));
    Gemm<S> p = plain_gemm<S>(M, N, K, lin, a.data(), w.data(), has_bias ? b.data() : nullptr, out.data());
    if (lin) {
      p.act = static_cast<foveal::math::Activation>(arg(9)), p.slope = atof(argv[10]);
      run_tile<MM, S, A, false, true, true>(p, tile, grid_cap);
    } else {
      run_tile<MM, S, A, false, true, true>(p, tile, grid_cap);  // as conv2d_cuda.cu's matmul
    }
  }
  FILE* f = fopen("out.bin", "wb");
  fwrite(out.data(), sizeof(S), out.size(), f);
  fclose(f);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 6 && std::string(argv[1]) == "pick") {  // pick M n_max z sms: the tile pick_tile chooses
    printf("%d\n", static_cast<int>(pick_tile(atoll(argv[2]), atoll(argv[3]), atoll(argv[4]), atoll(argv[5]))));
    return 0;
  }
  if (argc == 9 && std::string(argv[1]) == "plan") {  // plan M N_MAX Z K SMS BM BN: plan_splits' slices
    printf("%d\n", plan_splits(atoll(argv[2]), atoll(argv[3]), atoll(argv[4]), atoll(argv[5]), atoll(argv[6]),
                               atoll(argv[7]), atoll(argv[8])));
    return 0;
  }
  if (argc < 5) return 2;
  const std::string m = argv[1];
  const int n_args = m == "conv" || m == "convT" ? 25 : m == "linear" ? 11 : 8;
  if (argc > n_args) g_splits = atoi(argv[n_args]);
  const std::string dt = argv[2];
  if (dt == "f64") return run<Mma::Simt, double, double>(argc, argv);
  if (dt == "f16") return run<Mma::Half, _Float16, float>(argc, argv);
  if (dt == "bf16") return run<Mma::Half, Bf16, float>(argc, argv);
  if (dt == "tf32") return run<Mma::Tf32, float, float>(argc, argv);
  return run<Mma::Simt, float, float>(argc, argv);
}
