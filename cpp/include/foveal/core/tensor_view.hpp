// SPDX-License-Identifier: Apache-2.0
// A small non-owning view of an n-d array on the CPU or a CUDA device.
#pragma once
#include <climits>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>

#include "foveal/core/device.hpp"
#include "foveal/core/dtype.hpp"
#include "foveal/core/error.hpp"

namespace foveal {

constexpr int kMaxDims = 8;

/// Extents of an array (at most kMaxDims).
class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims) {
    FOVEAL_CHECK_VALUE(dims.size() <= kMaxDims, "at most ", kMaxDims, " dimensions are supported");
    for (auto d : dims) dims_[ndim_++] = d;
  }
  Shape(const std::int64_t* dims, int ndim) {
    FOVEAL_CHECK_VALUE(ndim >= 0 && ndim <= kMaxDims, "at most ", kMaxDims, " dimensions are supported, got ", ndim);
    for (int i = 0; i < ndim; ++i) dims_[ndim_++] = dims[i];
  }
  int ndim() const { return ndim_; }
  std::int64_t operator[](int i) const { return dims_[i]; }
  std::int64_t& operator[](int i) { return dims_[i]; }
  const std::int64_t* data() const { return dims_; }
  std::int64_t numel() const {
    std::int64_t n = 1;
    for (int i = 0; i < ndim_; ++i) n *= dims_[i];
    return n;
  }
  bool operator==(const Shape& o) const {
    if (ndim_ != o.ndim_) return false;
    for (int i = 0; i < ndim_; ++i)
      if (dims_[i] != o.dims_[i]) return false;
    return true;
  }
  bool operator!=(const Shape& o) const { return !(*this == o); }
  /// "(3, 4)" — the format error messages use.
  std::string str() const {
    std::string s = "(";
    for (int i = 0; i < ndim_; ++i) {
      if (i) s += ", ";
      s += std::to_string(dims_[i]);
    }
    if (ndim_ == 1) s += ",";
    return s + ")";
  }

 private:
  std::int64_t dims_[kMaxDims] = {};
  int ndim_ = 0;
};

namespace detail {
/// What is wrong with a view's layout, or "" when nothing is: extents must be >= 0 and the
/// element count and the byte span of the strides must fit in int64 (so no kernel index or
/// pointer offset can overflow). `strides` null: C-contiguous.
inline std::string layout_problem(const Shape& shape, const Shape* strides, DType dtype) {
  constexpr std::int64_t kMax = INT64_MAX;
  for (int i = 0; i < shape.ndim(); ++i)
    if (shape[i] < 0) return "extents must be >= 0, got shape " + shape.str();
  if (strides && strides->ndim() != shape.ndim())
    return "strides " + strides->str() + " and shape " + shape.str() + " must have the same length";
  std::int64_t numel = 1;
  for (int i = 0; i < shape.ndim(); ++i) {
    if (shape[i] == 0) return "";  // empty: nothing is addressed
    if (numel > kMax / shape[i]) return "shape " + shape.str() + " has more than 2^63 elements";
    numel *= shape[i];
  }
  const std::int64_t item = static_cast<std::int64_t>(itemsize(dtype));
  if (numel > kMax / item) return "shape " + shape.str() + " spans more than 2^63 bytes";
  if (!strides) return "";
  std::int64_t span = 0;  // largest |element offset|
  for (int i = 0; i < shape.ndim(); ++i) {
    const std::int64_t s = (*strides)[i], e = shape[i] - 1;
    const std::int64_t a = s < 0 ? (s == INT64_MIN ? kMax : -s) : s;
    if (s == INT64_MIN || (e > 0 && a > (kMax - span) / e))
      return "strides " + strides->str() + " with shape " + shape.str() + " address more than 2^63 elements";
    span += a * e;
  }
  if (span > kMax / item - 1)
    return "strides " + strides->str() + " with shape " + shape.str() + " address more than 2^63 bytes";
  return "";
}
}  // namespace detail

/// Non-owning {data, dtype, device, shape, strides}. Strides count elements, not bytes.
/// `Ptr` is `void*` (TensorView, writable) or `const void*` (ConstTensorView).
template <typename Ptr>
class BasicTensorView {
 public:
  BasicTensorView() = default;
  /// C-contiguous view. Throws ValueError for a negative extent or a size that overflows int64.
  BasicTensorView(Ptr data, DType dtype, Device device, const Shape& shape)
      : data_(data), dtype_(dtype), device_(device), shape_(shape) {
    check_layout(nullptr);
    std::int64_t s = 1;
    for (int i = shape.ndim() - 1; i >= 0; --i) {
      strides_[i] = s;
      s *= shape[i];
    }
  }
  /// Strided view; `strides` in elements (negative and zero strides are valid views; the ops
  /// say which layouts they accept). Throws ValueError for a negative extent or strides whose
  /// offsets overflow.
  BasicTensorView(Ptr data, DType dtype, Device device, const Shape& shape, const Shape& strides)
      : data_(data), dtype_(dtype), device_(device), shape_(shape), strides_(strides) {
    check_layout(&strides);
  }
  /// A writable view converts to a read-only one.
  template <typename P2, typename = std::enable_if_t<std::is_convertible_v<P2, Ptr>>>
  BasicTensorView(const BasicTensorView<P2>& o)  // NOLINT(google-explicit-constructor)
      : data_(o.data()), dtype_(o.dtype()), device_(o.device()), shape_(o.shape()), strides_(o.strides()) {}

  Ptr data() const { return data_; }
  template <typename T>
  auto data_as() const {
    using Q = std::conditional_t<std::is_const_v<std::remove_pointer_t<Ptr>>, const T*, T*>;
    return static_cast<Q>(data_);
  }
  DType dtype() const { return dtype_; }
  const Device& device() const { return device_; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int ndim() const { return shape_.ndim(); }
  std::int64_t size(int dim) const { return shape_[dim]; }
  std::int64_t numel() const { return shape_.numel(); }

  /// True for a 4-D (N, C, H, W) view laid out densely as (N, H, W, C) in memory: channels-last,
  /// torch's channels_last memory format (size-1 dims ignored).
  bool is_channels_last() const {
    if (ndim() != 4) return false;
    std::int64_t expected = 1;
    for (int i : {1, 3, 2, 0}) {
      if (shape_[i] == 1) continue;
      if (strides_[i] != expected) return numel() == 0;
      expected *= shape_[i];
    }
    return true;
  }

  /// True when the elements are laid out densely in row-major order (size-1 dims ignored).
  bool is_contiguous() const {
    std::int64_t expected = 1;
    for (int i = ndim() - 1; i >= 0; --i) {
      if (shape_[i] == 1) continue;
      if (strides_[i] != expected) return numel() == 0;
      expected *= shape_[i];
    }
    return true;
  }

 private:
  void check_layout(const Shape* strides) const {
    const std::string problem = detail::layout_problem(shape_, strides, dtype_);
    FOVEAL_CHECK_VALUE(problem.empty(), "TensorView: ", problem);
  }

  Ptr data_ = nullptr;
  DType dtype_ = DType::Float32;
  Device device_{};
  Shape shape_{};
  Shape strides_{};
};

using TensorView = BasicTensorView<void*>;
using ConstTensorView = BasicTensorView<const void*>;

}  // namespace foveal
