// SPDX-License-Identifier: Apache-2.0
// A small non-owning view of an n-d array on the CPU or a CUDA device.
#pragma once
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

/// Non-owning {data, dtype, device, shape, strides}. Strides count elements, not bytes.
/// `Ptr` is `void*` (TensorView, writable) or `const void*` (ConstTensorView).
template <typename Ptr>
class BasicTensorView {
 public:
  BasicTensorView() = default;
  /// C-contiguous view.
  BasicTensorView(Ptr data, DType dtype, Device device, const Shape& shape)
      : data_(data), dtype_(dtype), device_(device), shape_(shape) {
    std::int64_t s = 1;
    for (int i = shape.ndim() - 1; i >= 0; --i) {
      strides_[i] = s;
      s *= shape[i];
    }
  }
  /// Strided view; `strides` in elements.
  BasicTensorView(Ptr data, DType dtype, Device device, const Shape& shape, const Shape& strides)
      : data_(data), dtype_(dtype), device_(device), shape_(shape), strides_(strides) {
    FOVEAL_CHECK_VALUE(strides.ndim() == shape.ndim(), "strides and shape must have the same length");
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
  Ptr data_ = nullptr;
  DType dtype_ = DType::Float32;
  Device device_{};
  Shape shape_{};
  Shape strides_{};
};

using TensorView = BasicTensorView<void*>;
using ConstTensorView = BasicTensorView<const void*>;

}  // namespace foveal
