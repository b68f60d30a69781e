// SPDX-License-Identifier: Apache-2.0
// Checks shared by the op front ends. Messages read "<op>: <arg> must ..., got ...".
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>

#include "foveal/core/error.hpp"
#include "foveal/core/tensor_view.hpp"

namespace foveal::check {

struct Named {
  const char* name;
  ConstTensorView view;
};

/// `pattern` uses -1 for a free extent; `pattern_text` is how the message spells it, e.g. "(N, 4)".
inline void shape(const char* op, const Named& a, const Shape& pattern, const char* pattern_text) {
  bool ok = a.view.ndim() == pattern.ndim();
  for (int i = 0; ok && i < pattern.ndim(); ++i) ok = pattern[i] < 0 || pattern[i] == a.view.size(i);
  FOVEAL_CHECK_VALUE(ok, op, ": ", a.name, " must have shape ", pattern_text, ", got ", a.view.shape().str());
}

inline void same_device(const char* op, std::initializer_list<Named> xs) {
  const Named& first = *xs.begin();
  for (const Named& x : xs)
    FOVEAL_CHECK_DEVICE(x.view.device() == first.view.device(), op, ": ", x.name, " is on ",
                        x.view.device().str(), " but ", first.name, " is on ", first.view.device().str());
}

inline void same_dtype(const char* op, std::initializer_list<Named> xs) {
  const Named& first = *xs.begin();
  for (const Named& x : xs)
    FOVEAL_CHECK_TYPE(x.view.dtype() == first.view.dtype(), op, ": ", x.name, " has dtype ",
                      dtype_name(x.view.dtype()), " but ", first.name, " has dtype ", dtype_name(first.view.dtype()));
}

inline void contiguous(const char* op, std::initializer_list<Named> xs) {
  for (const Named& x : xs)
    FOVEAL_CHECK_VALUE(x.view.is_contiguous(), op, ": ", x.name, " must be C-contiguous");
}

inline void not_null(const char* op, std::initializer_list<Named> xs) {
  for (const Named& x : xs)
    FOVEAL_CHECK_VALUE(x.view.numel() == 0 || x.view.data() != nullptr, op, ": ", x.name, " has no data pointer");
}

/// Float dtypes of the detection ops: float32/float64 everywhere, float16 on CUDA.
inline void box_float_dtype(const char* op, const Named& a) {
  const DType t = a.view.dtype();
  const bool cuda = a.view.device().type == DeviceType::CUDA;
  FOVEAL_CHECK_TYPE(t == DType::Float32 || t == DType::Float64 || (cuda && t == DType::Float16), op, ": ",
                    a.name, " must be float32 or float64", cuda ? " or float16" : " (float16 only on CUDA)",
                    ", got ", dtype_name(t));
}

/// Pairwise box ops: `boxes1` (..., N, 4) and `boxes2` (..., M, 4) with the same leading (batch)
/// dimensions, `out` (..., N, M). Returns the number of batches (product of leading dims).
inline std::int64_t pairwise_boxes(const char* op, const Named& b1, const Named& b2, const Named& out) {
  const char* rows[2] = {"N", "M"};
  int k = 0;
  for (const Named* b : {&b1, &b2}) {
    const ConstTensorView& v = b->view;
    FOVEAL_CHECK_VALUE(v.ndim() >= 2 && v.size(v.ndim() - 1) == 4, op, ": ", b->name, " must have shape (", rows[k],
                       ", 4), got ", v.shape().str(), " (or (..., ", rows[k], ", 4) with batch dimensions)");
    ++k;
  }
  const int nd = b1.view.ndim();
  bool same = b2.view.ndim() == nd;
  for (int i = 0; same && i < nd - 2; ++i) same = b1.view.size(i) == b2.view.size(i);
  FOVEAL_CHECK_VALUE(same, op, ": ", b1.name, " and ", b2.name, " must have the same batch dimensions, got ",
                     b1.view.shape().str(), " and ", b2.view.shape().str());
  Shape want = b1.view.shape();
  want[nd - 1] = b2.view.size(nd - 2);
  FOVEAL_CHECK_VALUE(out.view.shape() == want, op, ": ", out.name, " must have shape ", want.str(), ", got ",
                     out.view.shape().str());
  std::int64_t batches = 1;
  for (int i = 0; i < nd - 2; ++i) batches *= b1.view.size(i);
  return batches;
}

}  // namespace foveal::check
