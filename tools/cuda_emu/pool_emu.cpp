// CPU emulation of cuda/pool_cuda.cu's max / average pooling kernels (see run.sh and shim.hpp):
// the 2x2 and 3x3 specialisations and the general loop, with and without indices.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <vector>

#include "foveal/math/pool.hpp"
#include "foveal/ops/pool.hpp"
#include "emu_types.hpp"

namespace foveal::cuda {
namespace {
#include "kernels_pool.inc"
}  // namespace

// argv: max|avg N*C H W OH OW kh kw sh sw ph pw dh dw [count_include_pad divisor_override]
int run(int argc, char** argv) {
  const std::string op = argv[1];
  const i64 planes = atoll(argv[2]), h = atoll(argv[3]), w = atoll(argv[4]), oh = atoll(argv[5]), ow = atoll(argv[6]);
  Pool2dParams p;
  p.kernel_h = atoll(argv[7]), p.kernel_w = atoll(argv[8]), p.stride_h = atoll(argv[9]), p.stride_w = atoll(argv[10]);
  p.pad_h = atoll(argv[11]), p.pad_w = atoll(argv[12]), p.dilation_h = atoll(argv[13]), p.dilation_w = atoll(argv[14]);
  std::vector<float> x(planes * h * w), y(planes * oh * ow, NAN);
  std::vector<i64> idx(y.size(), -7);
  FILE* f = fopen("in.bin", "rb");
  if (!f || fread(x.data(), 4, x.size(), f) != x.size()) return 2;
  fclose(f);
  const Dims d{planes, h, w, oh, ow};
  const unsigned gx = unsigned((ow + kTx - 1) / kTx), gy = unsigned((oh + kTy - 1) / kTy);
  auto go = [&](auto kh) {
    constexpr int K = decltype(kh)::value;
    if (op == "max") {
      emu::launch(gx, gy, kTx, kTy, 0, [&] { max_pool_kernel<float, float, true, K, K>(x.data(), y.data(), idx.data(), d, p); });
    } else {
      const bool cip = atoi(argv[15]);
      const i64 div = atoll(argv[16]);
      emu::launch(gx, gy, kTx, kTy, 0, [&] { avg_pool_kernel<float, float, K, K>(x.data(), y.data(), d, p, cip, div); });
    }
  };
  if (p.kernel_h == 3 && p.kernel_w == 3) go(std::integral_constant<int, 3>{});
  else if (p.kernel_h == 2 && p.kernel_w == 2) go(std::integral_constant<int, 2>{});
  else go(std::integral_constant<int, 0>{});
  f = fopen("out.bin", "wb");
  fwrite(y.data(), 4, y.size(), f);
  fclose(f);
  f = fopen("idx.bin", "wb");
  fwrite(idx.data(), 8, idx.size(), f);
  fclose(f);
  return 0;
}
}  // namespace foveal::cuda

int main(int argc, char** argv) { return foveal::cuda::run(argc, argv); }
