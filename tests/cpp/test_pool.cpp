// SPDX-License-Identifier: Apache-2.0
// Host tests of math/pool.hpp (output sizes: seed and Keras shape oracles, torch's ceil rule) and
// of the C++ SDK entry points on the seed worked examples P1-P4.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <vector>

#include "foveal/core/error.hpp"
#include "foveal/math/pool.hpp"
#include "foveal/ops/pool.hpp"

#include "check.hpp"

namespace m = foveal::math;


void test_output_sizes() {
  struct Case {
    std::int64_t n, k, s, p, d;
    bool ceil;
    std::int64_t want;
  };
  const Case cases[] = {
      {26, 2, 2, 0, 1, false, 13},  {11, 2, 2, 0, 1, false, 5},   {142, 3, 2, 1, 1, false, 71},
      {142, 3, 2, 0, 1, true, 71},  {142, 3, 2, 0, 1, false, 70}, {28, 2, 2, 0, 1, false, 14},
      {10, 2, 2, 0, 1, false, 5},   {112, 3, 2, 1, 1, false, 56}, {5, 2, 2, 1, 1, true, 3},
      {6, 3, 2, 1, 1, true, 4},     {4, 2, 2, 0, 1, true, 2},     {10, 3, 1, 0, 2, false, 6},
      {3, 4, 1, 0, 1, false, 0},    {2, 2, 1, 1, 3, false, 1},
  };
  for (const Case& c : cases) {
    const std::int64_t got = m::pool_output_size(c.n, c.k, c.s, c.p, c.d, c.ceil);
    EXPECT(got == c.want, "n=%lld k=%lld s=%lld p=%lld d=%lld ceil=%d: %lld, want %lld", (long long)c.n,
           (long long)c.k, (long long)c.s, (long long)c.p, (long long)c.d, int(c.ceil), (long long)got,
           (long long)c.want);
  }
}

void test_windows() {
  // max taps: first tap moved onto the input by whole dilation steps
  const m::TapRange r = m::max_pool_taps(0, 10, 3, 1, 1, 2);  // taps -1, 1, 3
  EXPECT(r.begin == 1 && r.end == 4, "begin %lld end %lld", (long long)r.begin, (long long)r.end);
  // avg: the window past the right padding is counted up to n + p only
  const m::AvgWindow w = m::avg_pool_window(3, 6, 3, 2, 1);  // starts at 5: 5, 6 (pad), 7 (past)
  EXPECT(w.begin == 5 && w.end == 6 && w.padded == 2, "%lld %lld %lld", (long long)w.begin, (long long)w.end,
         (long long)w.padded);
  EXPECT(m::adaptive_begin(1, 3, 7) == 2 && m::adaptive_end(1, 3, 7) == 5, "adaptive bin");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT(m::max_pool_takes(nan, 1.0) && !m::max_pool_takes(1.0, nan) && !m::max_pool_takes(1.0, 1.0), "NaN rule");
}

void test_seed_P1_to_P4() {
  const float p12[16] = {3, 1, 3, 5, 6, 0, 7, 9, 3, 2, 1, 4, 0, 2, 4, 3};
  const float p34[16] = {3, 2, 0, 0, 0, 7, 1, 3, 5, 2, 3, 0, 0, 9, 2, 3};
  foveal::Pool2dParams p;
  p.kernel_h = p.kernel_w = p.stride_h = p.stride_w = 2;
  const float want_max[2][4] = {{6, 9, 3, 4}, {7, 3, 9, 3}}, want_avg[2][4] = {{2.5f, 6, 1.75f, 3}, {3, 1, 4, 2}};
  const float* inputs[2] = {p12, p34};
  for (int c = 0; c < 2; ++c) {
    const foveal::ConstTensorView x(inputs[c], foveal::DType::Float32, foveal::Device::cpu(), {1, 4, 4});
    float mx[4], av[4];
    std::int64_t ix[4];
    const foveal::Shape os{1, 2, 2};
    foveal::max_pool2d(x, foveal::TensorView(mx, foveal::DType::Float32, foveal::Device::cpu(), os),
                       foveal::TensorView(ix, foveal::DType::Int64, foveal::Device::cpu(), os), p);
    foveal::avg_pool2d(x, foveal::TensorView(av, foveal::DType::Float32, foveal::Device::cpu(), os), p);
    for (int i = 0; i < 4; ++i) {
      EXPECT(mx[i] == want_max[c][i], "P%d max[%d] = %g", c ? 3 : 1, i, mx[i]);
      EXPECT(av[i] == want_avg[c][i], "P%d avg[%d] = %g", c ? 4 : 2, i, av[i]);
      EXPECT(inputs[c][ix[i]] == mx[i], "index of max[%d]", i);
    }
  }
  bool threw = false;
  p.pad_h = 2;
  try {
    foveal::pool2d_output_size("max_pool2d", 4, 4, p);
  } catch (const foveal::ValueError&) {
    threw = true;
  }
  EXPECT(threw, "padding over half the kernel must throw ValueError");
}

int main() {
  test_output_sizes();
  test_windows();
  test_seed_P1_to_P4();
  if (failures) std::fprintf(stderr, "%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
