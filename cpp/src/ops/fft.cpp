// SPDX-License-Identifier: Apache-2.0
#include "foveal/ops/fft.hpp"

#include "ops/backend.hpp"
#include "ops/validate.hpp"

namespace foveal {
namespace {

enum class Kind { C2C, R2C, C2R };

// Validates and returns the real-domain shape (the complex one less its trailing 2 for C2C).
Shape check_fft(const char* op, ConstTensorView in, TensorView out, int naxes, FftNorm norm, Kind kind) {
  const check::Named i{"input", in}, o{"out", out};
  check::same_device(op, {i, o});
  FOVEAL_CHECK_DEVICE(in.device().type == DeviceType::CPU, op, ": input must be on the CPU (no CUDA FFT yet), got ",
                      in.device().str());
  const DType t = in.dtype();
  FOVEAL_CHECK_TYPE(t == DType::Float32 || t == DType::Float64, op, ": input must be float32 or float64, got ",
                    dtype_name(t));
  check::same_dtype(op, {i, o});
  check::contiguous(op, {i, o});
  check::not_null(op, {i, o});
  const int n = static_cast<int>(norm);
  FOVEAL_CHECK_VALUE(n >= 0 && n <= 2, op, ": norm must be Backward, Ortho or Forward, got ", n);
  const ConstTensorView& cx = kind == Kind::R2C ? ConstTensorView(out) : in;  // the complex side
  const ConstTensorView& re = kind == Kind::R2C ? in : ConstTensorView(out);
  const char* cname = kind == Kind::R2C ? "out" : "input";
  FOVEAL_CHECK_VALUE(cx.ndim() >= 2 && cx.size(cx.ndim() - 1) == 2, op, ": ", cname,
                     " must be complex (a trailing axis of length 2), got shape ", cx.shape().str());
  const int d = cx.ndim() - 1;
  FOVEAL_CHECK_VALUE(naxes >= 1 && naxes <= d, op, ": naxes must be in [1, ", d, "], got ", naxes);
  std::vector<std::int64_t> s(cx.shape().data(), cx.shape().data() + d);
  if (kind == Kind::C2C) {
    FOVEAL_CHECK_VALUE(out.shape() == in.shape(), op, ": out must have shape ", in.shape().str(), ", got ",
                       out.shape().str());
  } else {
    bool ok = re.ndim() == d;
    for (int a = 0; ok && a < d - 1; ++a) ok = re.size(a) == s[a];
    ok = ok && re.size(d - 1) / 2 + 1 == s[d - 1];
    FOVEAL_CHECK_VALUE(ok, op, ": ", kind == Kind::R2C ? "out" : "input", " must have shape ",
                       kind == Kind::R2C ? "input's" : "out's", " with its last axis n replaced by n / 2 + 1 "
                       "and a trailing 2, got input shape ", in.shape().str(), " and out shape ", out.shape().str());
    s[d - 1] = re.size(d - 1);
  }
  for (int a = d - naxes; a < d; ++a)
    FOVEAL_CHECK_VALUE(s[a] >= 1, op, ": transformed axes must have length >= 1, got ",
                       kind == Kind::C2R ? "out" : "input", " shape ",
                       (kind == Kind::C2R ? out.shape() : in.shape()).str());
  return Shape(s.data(), d);
}

}  // namespace

void fftn(ConstTensorView in, TensorView out, int naxes, FftNorm norm, const ExecContext& ctx) {
  const Shape s = check_fft("fftn", in, out, naxes, norm, Kind::C2C);
  cpu::fft_c2c(in, out, s, naxes, false, norm, ctx);
}

void ifftn(ConstTensorView in, TensorView out, int naxes, FftNorm norm, const ExecContext& ctx) {
  const Shape s = check_fft("ifftn", in, out, naxes, norm, Kind::C2C);
  cpu::fft_c2c(in, out, s, naxes, true, norm, ctx);
}

void rfftn(ConstTensorView in, TensorView out, int naxes, FftNorm norm, const ExecContext& ctx) {
  const Shape s = check_fft("rfftn", in, out, naxes, norm, Kind::R2C);
  cpu::fft_r2c(in, out, s, naxes, norm, ctx);
}

void irfftn(ConstTensorView in, TensorView out, int naxes, FftNorm norm, const ExecContext& ctx) {
  const Shape s = check_fft("irfftn", in, out, naxes, norm, Kind::C2R);
  cpu::fft_c2r(in, out, s, naxes, norm, ctx);
}

}  // namespace foveal
