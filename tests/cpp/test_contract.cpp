// SPDX-License-Identifier: Apache-2.0
// The C++ contract of views and front ends: bad layouts and bad arguments are foveal::Error
// subclasses with a message naming the problem; host allocation failures are MemoryError naming
// the op and the size; CUDA error messages carry no build-machine paths.
#include <cmath>
#include <cstdint>
#include <new>
#include <vector>

#include "check.hpp"
#include "core/messages.hpp"
#include "foveal/foveal.hpp"
#include "ops/workspace.hpp"

using foveal::ConstTensorView;
using foveal::DType;
using foveal::Shape;
using foveal::TensorView;

namespace {
const foveal::Device cpu = foveal::Device::cpu();

void test_negative_extents() {
  float buf[16] = {};
  EXPECT_THROWS(foveal::ValueError, "extents must be >= 0", ConstTensorView(buf, DType::Float32, cpu, {-1, 4}));
  EXPECT_THROWS(foveal::ValueError, "(2, -4)", TensorView(buf, DType::Float32, cpu, {2, -4}));
  EXPECT_THROWS(foveal::ValueError, "extents must be >= 0",
                ConstTensorView(buf, DType::Float32, cpu, {3, -1}, {4, 1}));
  // A negative extent with a zero elsewhere is still an error (numel 0 must not hide it).
  EXPECT_THROWS(foveal::ValueError, "extents must be >= 0", ConstTensorView(buf, DType::Float32, cpu, {0, -4}));
  // Every failure is catchable as the base class.
  bool caught = false;
  try {
    ConstTensorView(buf, DType::Float32, cpu, {-5, 4});
  } catch (const foveal::Error&) {
    caught = true;
  }
  EXPECT(caught, "a negative extent must throw a foveal::Error");
}

void test_bad_strides_and_sizes() {
  float buf[16] = {};
  EXPECT_THROWS(foveal::ValueError, "same length", ConstTensorView(buf, DType::Float32, cpu, {2, 4}, {4}));
  EXPECT_THROWS(foveal::ValueError, "address more than",
                ConstTensorView(buf, DType::Float32, cpu, {3, 4}, {INT64_MAX / 2, 1}));
  EXPECT_THROWS(foveal::ValueError, "address more than",
                ConstTensorView(buf, DType::Float32, cpu, {2, 4}, {INT64_MIN, 1}));
  EXPECT_THROWS(foveal::ValueError, "more than 2^63 elements",
                ConstTensorView(buf, DType::Float32, cpu, {std::int64_t(1) << 32, std::int64_t(1) << 32}));
  EXPECT_THROWS(foveal::ValueError, "more than 2^63 bytes",
                ConstTensorView(buf, DType::Float64, cpu, {std::int64_t(1) << 61}));
  // Valid layouts stay valid: negative, zero and large-but-representable strides, empty views.
  const ConstTensorView rev(buf + 12, DType::Float32, cpu, {4, 4}, {-4, 1});
  EXPECT(rev.numel() == 16 && !rev.is_contiguous(), "reversed rows");
  const ConstTensorView bcast(buf, DType::Float32, cpu, {1000, 4}, {0, 1});
  EXPECT(bcast.numel() == 4000, "broadcast view");
  const ConstTensorView empty(nullptr, DType::Float32, cpu, {0, 4}, {INT64_MAX, 1});
  EXPECT(empty.numel() == 0, "an empty view addresses nothing, whatever its strides");
}

void test_front_end_errors() {
  std::vector<float> boxes = {0, 0, 1, 1, 0, 0, 2, 2};
  std::vector<float> scores = {1, 0.5f};
  std::vector<std::int64_t> keep(2);
  std::vector<float> iou(4);
  const ConstTensorView b(boxes.data(), DType::Float32, cpu, {2, 4});
  const ConstTensorView s(scores.data(), DType::Float32, cpu, {2});
  const TensorView k(keep.data(), DType::Int64, cpu, {2});
  const TensorView o(iou.data(), DType::Float32, cpu, {2, 2});
  EXPECT_THROWS(foveal::ValueError, "nms: iou_threshold must not be NaN", foveal::nms(b, s, std::nan(""), k));
  EXPECT_THROWS(foveal::ValueError, "nms: boxes must have shape (N, 4)",
                foveal::nms(ConstTensorView(boxes.data(), DType::Float32, cpu, {4, 2}), s, 0.5, k));
  EXPECT_THROWS(foveal::TypeError, "nms: keep must be int64",
                foveal::nms(b, s, 0.5, TensorView(iou.data(), DType::Float32, cpu, {2})));
  EXPECT_THROWS(foveal::ValueError, "box_iou: out must have shape (2, 2)",
                foveal::box_iou(b, b, TensorView(iou.data(), DType::Float32, cpu, {4})));
  EXPECT_THROWS(foveal::ValueError, "box_iou: boxes2 must be C-contiguous",
                foveal::box_iou(b, ConstTensorView(boxes.data() + 4, DType::Float32, cpu, {2, 4}, {-4, 1}), o));
  EXPECT_THROWS(foveal::ValueError, "nms: keep must be 1-D with at least 2",
                foveal::nms(b, s, 0.5, TensorView(keep.data(), DType::Int64, cpu, {1})));
  if (!foveal::build_info().cuda_compiled) {  // a CUDA build would run the kernel on these pointers
    const foveal::Device gpu = foveal::Device::cuda(0);
    EXPECT_THROWS(foveal::NotCompiledError, "box_iou: got CUDA arrays, but this build of foveal has no CUDA",
                  foveal::box_iou(ConstTensorView(boxes.data(), DType::Float32, gpu, {2, 4}),
                                  ConstTensorView(boxes.data(), DType::Float32, gpu, {2, 4}),
                                  TensorView(iou.data(), DType::Float32, gpu, {2, 2})));
  }
}

void test_host_allocation_failure() {
  // boxes2 claims 2^44 boxes: its workspace (5 floats a box, 352 TB) is more than the address
  // space, so the allocation fails before any box is read (the pointer is never dereferenced).
  float box[4] = {0, 0, 1, 1};
  const std::int64_t m = std::int64_t(1) << 44;
  const ConstTensorView b1(box, DType::Float32, cpu, {1, 4});
  const ConstTensorView b2(box, DType::Float32, cpu, {m, 4});
  const TensorView out(box, DType::Float32, cpu, {1, m});
  EXPECT_THROWS(foveal::MemoryError, "box_iou: cannot allocate 351.8 TB of workspace for 17592186044416 boxes",
                foveal::box_iou(b1, b2, out));

  // The shared helper, as the nms front end uses it (~64 bytes a box).
  EXPECT_THROWS(foveal::MemoryError, "nms: cannot allocate 256.0 MB of workspace for 4000000 boxes",
                foveal::detail::with_workspace("nms", 64.0 * 4000000, 4000000, "boxes",
                                               []() -> std::int64_t { throw std::bad_alloc(); }));
  EXPECT(foveal::detail::with_workspace("nms", 64.0, 1, "boxes", [] { return 7; }) == 7, "the value passes through");
}

void test_messages() {
  EXPECT(foveal::detail::format_bytes(512) == "512 B", "%s", foveal::detail::format_bytes(512).c_str());
  EXPECT(foveal::detail::format_bytes(3.1e9) == "3.1 GB", "%s", foveal::detail::format_bytes(3.1e9).c_str());
  const std::string msg = foveal::detail::cuda_error_message(
      "cudaErrorMemoryAllocation", "out of memory", "cudaMallocAsync(...)", "/home/builder/src/foveal/cuda/nms_cuda.cu",
      42);
  EXPECT(msg == "CUDA error cudaErrorMemoryAllocation (out of memory) in cudaMallocAsync(...) at nms_cuda.cu:42",
         "%s", msg.c_str());
  EXPECT(std::string(foveal::detail::source_basename("C:\\build\\foveal\\cuda\\x.cu")) == "x.cu", "windows path");
  EXPECT(std::string(foveal::detail::source_basename("x.cu")) == "x.cu", "bare name");
}

}  // namespace

int main() {
  test_negative_extents();
  test_bad_strides_and_sizes();
  test_front_end_errors();
  test_host_allocation_failure();
  test_messages();
  if (failures) std::fprintf(stderr, "%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
