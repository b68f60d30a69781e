// SPDX-License-Identifier: Apache-2.0
// Host tests of math/conv.hpp (output sizes, torch's 'same' padding, activations) and of the C++
// SDK conv2d / linear / gemm on the seed worked example C1 and small hand-computed cases; SDK
// conv_transpose2d on the seed examples T2 (stride 1) and T3 (stride 2) and interpolate nearest 2x.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "foveal/core/error.hpp"
#include "foveal/math/conv.hpp"
#include "foveal/ops/conv2d.hpp"
#include "foveal/ops/interpolate.hpp"

#include "check.hpp"

namespace m = foveal::math;


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

void test_conv_transpose_seeds() {
  EXPECT(m::conv_transpose_output_size(2, 2, 1, 0, 0, 1) == 3, "T2 size");
  EXPECT(m::conv_transpose_output_size(14, 2, 2, 0, 0, 1) == 28, "mask head size");
  EXPECT(m::conv_transpose_output_size(64, 4, 2, 1, 0, 1) == 128, "k4s2 size");
  float v[4] = {0, 1, 2, 3};
  const auto cpu = foveal::Device::cpu();
  const foveal::ConstTensorView x(v, foveal::DType::Float32, cpu, {1, 1, 2, 2});
  const foveal::ConstTensorView k(v, foveal::DType::Float32, cpu, {1, 1, 2, 2});
  float t2[9] = {};
  foveal::conv_transpose2d(x, k, {}, {}, foveal::TensorView(t2, foveal::DType::Float32, cpu, {1, 1, 3, 3}),
                           foveal::ConvTranspose2dParams{});
  const float w2[9] = {0, 0, 1, 0, 4, 6, 4, 12, 9};
  for (int i = 0; i < 9; ++i) EXPECT(t2[i] == w2[i], "T2[%d] = %g, want %g", i, t2[i], w2[i]);
  float t3[16] = {};
  foveal::ConvTranspose2dParams s2;
  s2.stride_h = s2.stride_w = 2;
  foveal::conv_transpose2d(x, k, {}, {}, foveal::TensorView(t3, foveal::DType::Float32, cpu, {1, 1, 4, 4}), s2);
  const float w3[16] = {0, 0, 0, 1, 0, 0, 2, 3, 0, 2, 0, 3, 4, 6, 6, 9};
  for (int i = 0; i < 16; ++i) EXPECT(t3[i] == w3[i], "T3[%d] = %g, want %g", i, t3[i], w3[i]);
  float up[16] = {};
  foveal::interpolate(x, foveal::TensorView(up, foveal::DType::Float32, cpu, {1, 1, 4, 4}), {});
  const float wu[16] = {0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3};
  for (int i = 0; i < 16; ++i) EXPECT(up[i] == wu[i], "nearest2x[%d] = %g, want %g", i, up[i], wu[i]);
  bool threw = false;
  try {
    foveal::ConvTranspose2dParams bad;
    bad.output_padding_h = 1;  // stride 1, dilation 1: not allowed
    foveal::conv_transpose2d(x, k, {}, {}, foveal::TensorView(t2, foveal::DType::Float32, cpu, {1, 1, 4, 3}), bad);
  } catch (const foveal::ValueError& e) {
    threw = std::string(e.what()).find("output_padding must be smaller") != std::string::npos;
  }
  EXPECT(threw, "output_padding >= stride and dilation must throw ValueError naming output_padding");
}

int main() {
  test_sizes();
  test_conv_transpose_seeds();
  test_seed_c1();
  test_linear_gemm();
  if (failures) std::fprintf(stderr, "%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
