// CPU emulation of cuda/roi_pool_cuda.cu's forward kernel (see run.sh).
#include <cfloat>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "foveal/math/roi.hpp"
#define FOVEAL_EMU_ROI
#include "emu_types.hpp"

namespace foveal::cuda {
namespace {
#include "kernels_roi.inc"
}
void run(long long N, long long C, long long H, long long W, long long K, long long ph, long long pw, float scale,
         bool seed, long long chunks, int warps) {
  std::vector<float> x(N * C * H * W), rois(K * 5), out(K * C * ph * pw, NAN);
  std::vector<std::int64_t> am(out.size(), -7);
  FILE* f = fopen("x.bin", "rb"); if (fread(x.data(), 4, x.size(), f) != x.size()) abort(); fclose(f);
  f = fopen("r.bin", "rb"); if (fread(rois.data(), 4, rois.size(), f) != rois.size()) abort(); fclose(f);
  const Dims d{N, C, H, W, ph, pw, (long long)out.size()};
  // warps per block: the shipped kWarps, or 2 (fewer CUDA threads); chunks as given (the device
  // picks them by SM count), so runs of RoIs split unevenly between blocks
  if (warps == kWarps)
    emu::launch(unsigned(C * chunks), 1, kWarps * 32, 1, 0, [&] {
      roi_pool_kernel<kWarps, float, float>(x.data(), rois.data(), out.data(), am.data(), d, K, chunks, scale, seed,
                                            H <= INT_MAX);
    });
  else
    emu::launch(unsigned(C * chunks), 1, 2 * 32, 1, 0, [&] {
      roi_pool_kernel<2, float, float>(x.data(), rois.data(), out.data(), am.data(), d, K, chunks, scale, seed,
                                       H <= INT_MAX);
    });
  f = fopen("out.bin", "wb"); fwrite(out.data(), 4, out.size(), f); fclose(f);
  f = fopen("am.bin", "wb"); fwrite(am.data(), 8, am.size(), f); fclose(f);
}
}  // namespace foveal::cuda
int main(int argc, char** argv) {
  foveal::cuda::run(atoll(argv[1]), atoll(argv[2]), atoll(argv[3]), atoll(argv[4]), atoll(argv[5]), atoll(argv[6]),
                    atoll(argv[7]), float(atof(argv[8])), atoi(argv[9]), atoll(argv[10]), atoi(argv[11]));
}
