// SPDX-License-Identifier: Apache-2.0
// Host tests of math/conv.hpp (output sizes, torch's 'same' padding, activations) and of the C++
// SDK conv2d / linear / gemm on the seed worked example C1 and small hand-computed cases.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "foveal/core/error.hpp"
#include "foveal/math/conv.hpp"
#include "foveal/ops/conv2d.hpp"

namespace m = foveal::math;

static int failures = 0;
#define EXPECT(cond, ...)                                                     \
  do {                                                                        \
    if (!(cond)) {                                                            \
      ++failures;                                                             \
      std::fprintf(stderr, "%s:%d: FAILED %s: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                      \
      std::fprintf(stderr, "\n");                                             \
    }                                                                         \
  } while (0)

void test_sizes() {
  EXPECT(m::conv_output_size(5, 3, 1, 0, 0, 1) == 3, "C1");
  EXPECT(m::conv_output_size(224, 7, 2, 3, 3, 1) == 112, "stem");
  EXPECT(m::conv_output_size(56, 3, 1, 1, 1, 1) == 56, "3x3 pad 1");
  EXPECT(m::conv_output_size(5, 3, 1, 0, 0, 2) == 1, "C3: dilation 2 covers 5");
  EXPECT(m::conv_output_size(4, 3, 1, 0, 0, 2) == 0, "does not fit");
  EXPECT(m::conv_output_size(3, 3, 3, 2, 2, 1) == 2, "stride past the input");
  // torch 'same': d (k - 1) in all, the odd one after
  EXPECT(m::same_pad_lo(4, 1) == 1 && m::same_pad_hi(4, 1) == 2, "even kernel");
  EXPECT(m::same_pad_lo(3, 3) == 3 && m::same_pad_hi(3, 3) == 3, "dilated odd kernel");
  EXPECT(m::same_pad_lo(2, 3) == 1 && m::same_pad_hi(2, 3) == 2, "dilated even kernel");
  EXPECT(m::activate(m::Activation::LeakyRelu, -2.0, 0.1) == -0.2, "leaky");
  EXPECT(m::activate(m::Activation::Relu, -2.0f, 0.0f) == 0.0f, "relu");
  EXPECT(std::fabs(m::activate(m::Activation::Sigmoid, 0.0, 0.0) - 0.5) < 1e-15, "sigmoid");
}

void test_seed_c1() {
  float x[25] = {3, 3, 2, 1, 0, 0, 0, 1, 3, 1, 3, 1, 2, 2, 3, 2, 0, 0, 2, 2, 2, 0, 0, 0, 1};
  float w[9] = {0, 1, 2, 2, 2, 0, 0, 1, 2};
  const float want[9] = {12, 12, 17, 10, 17, 19, 9, 6, 14};
  float out[9] = {};
  const auto cpu = foveal::Device::cpu();
  foveal::conv2d(foveal::ConstTensorView(x, foveal::DType::Float32, cpu, {1, 1, 5, 5}),
                 foveal::ConstTensorView(w, foveal::DType::Float32, cpu, {1, 1, 3, 3}), foveal::ConstTensorView{},
                 foveal::ConstTensorView{}, foveal::TensorView(out, foveal::DType::Float32, cpu, {1, 1, 3, 3}),
                 foveal::Conv2dParams{});
  for (int i = 0; i < 9; ++i) EXPECT(out[i] == want[i], "C1[%d] = %g, want %g", i, out[i], want[i]);
  // bias -15 then relu
  float b[1] = {-15};
  foveal::Epilogue e;
  e.activation = foveal::Activation::Relu;
  foveal::conv2d(foveal::ConstTensorView(x, foveal::DType::Float32, cpu, {1, 5, 5}),
                 foveal::ConstTensorView(w, foveal::DType::Float32, cpu, {1, 1, 3, 3}),
                 foveal::ConstTensorView(b, foveal::DType::Float32, cpu, {1}), foveal::ConstTensorView{},
                 foveal::TensorView(out, foveal::DType::Float32, cpu, {1, 3, 3}), foveal::Conv2dParams{}, e);
  for (int i = 0; i < 9; ++i)
    EXPECT(out[i] == std::fmax(want[i] - 15, 0.0f), "C1 relu[%d] = %g", i, out[i]);
  bool threw = false;
  try {
    foveal::conv2d(foveal::ConstTensorView(x, foveal::DType::Float32, cpu, {1, 1, 5, 5}),
                   foveal::ConstTensorView(w, foveal::DType::Float32, cpu, {1, 1, 3, 3}),
                   foveal::ConstTensorView(b, foveal::DType::Float32, cpu, {1}), foveal::ConstTensorView{},
                   foveal::TensorView(out, foveal::DType::Float32, cpu, {1, 1, 2, 2}), foveal::Conv2dParams{});
  } catch (const foveal::ValueError&) {
    threw = true;
  }
  EXPECT(threw, "a wrong out shape must throw ValueError");
}

void test_linear_gemm() {
  double x[6] = {1, 2, 3, 4, 5, 6};   // (2, 3)
  double w[6] = {1, 0, -1, 0, 1, 0};  // (2, 3)
  double b[2] = {0.5, -10};
  double out[4] = {};
  const auto cpu = foveal::Device::cpu();
  foveal::linear(foveal::ConstTensorView(x, foveal::DType::Float64, cpu, {2, 3}),
                 foveal::ConstTensorView(w, foveal::DType::Float64, cpu, {2, 3}),
                 foveal::ConstTensorView(b, foveal::DType::Float64, cpu, {2}),
                 foveal::TensorView(out, foveal::DType::Float64, cpu, {2, 2}));
  const double want[4] = {-1.5, -8, -1.5, -5};
  for (int i = 0; i < 4; ++i) EXPECT(out[i] == want[i], "linear[%d] = %g, want %g", i, out[i], want[i]);
  double c[4] = {};  // (2, 3) @ (3, 2): x @ w reshaped (3, 2)
  foveal::gemm(foveal::ConstTensorView(x, foveal::DType::Float64, cpu, {2, 3}),
               foveal::ConstTensorView(w, foveal::DType::Float64, cpu, {3, 2}),
               foveal::TensorView(c, foveal::DType::Float64, cpu, {2, 2}));
  const double wc[4] = {1 - 2 + 3, 0, 4 - 5 + 6, 0};  // w rows (1, 0), (-1, 0), (1, 0)
  for (int i = 0; i < 4; ++i) EXPECT(c[i] == wc[i], "gemm[%d] = %g, want %g", i, c[i], wc[i]);
}

int main() {
  test_sizes();
  test_seed_c1();
  test_linear_gemm();
  if (failures) std::fprintf(stderr, "%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
