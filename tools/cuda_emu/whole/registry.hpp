// The whole-file emulators (see run.sh and README in this folder): host entry points of cuda/*.cu,
// compiled as C++ with fake_cuda's runtime, called on host memory labelled as CUDA memory.
// One `Call` per invocation of ops_emu: named tensors and numbers read from DIR/args, outputs
// written back to DIR/<name>.bin. Each ops_*.cpp registers its adapters with FOVEAL_EMU_OP.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"

namespace emu {

struct Arg {
  foveal::DType dtype = foveal::DType::Float32;
  bool host = false;                 // a host tensor (the few entry points that take one)
  std::vector<std::int64_t> shape;
  std::vector<unsigned char> bytes;  // exactly the tensor (AddressSanitizer sees reads past it)
  bool output = false;
};

class Call {
 public:
  std::map<std::string, Arg> tensors;
  std::map<std::string, std::vector<double>> numbers;
  foveal::ExecContext ctx;

  foveal::ConstTensorView in(const std::string& name) const;
  foveal::TensorView out(const std::string& name);
  bool has(const std::string& name) const { return tensors.count(name) || numbers.count(name); }
  double num(const std::string& name) const;
  std::int64_t i64(const std::string& name) const { return static_cast<std::int64_t>(num(name)); }
  const std::vector<double>& nums(const std::string& name) const;
  std::vector<std::int64_t> i64s(const std::string& name) const;
};

using Adapter = std::function<void(Call&)>;
std::map<std::string, Adapter>& registry();

struct Register {
  Register(const char* name, Adapter f) { registry()[name] = std::move(f); }
};
}  // namespace emu

#define FOVEAL_EMU_CAT2(a, b) a##b
#define FOVEAL_EMU_CAT(a, b) FOVEAL_EMU_CAT2(a, b)
#define FOVEAL_EMU_OP(name) \
  static void FOVEAL_EMU_CAT(emu_op_, __LINE__)(::emu::Call & c); \
  static const ::emu::Register FOVEAL_EMU_CAT(emu_reg_, __LINE__)(name, FOVEAL_EMU_CAT(emu_op_, __LINE__)); \
  static void FOVEAL_EMU_CAT(emu_op_, __LINE__)(::emu::Call & c)
