// Driver of the whole-file emulators (see registry.hpp, emu.py and run.sh).
//
//   ops_emu OP DIR
//     DIR/args: one line per argument, `T name dtype host output ndim dims...` for a tensor (an
//     input's bytes in DIR/name.bin) or `N name values...` for numbers. The adapter of OP runs twice:
//     first on outputs and workspace filled with 0xff bytes (NaN, -1), then with 0x00; both runs
//     must write the same outputs and leave the inputs as they were. Outputs go to DIR/name.bin.
//     Prints `launches L wrong_stream W repeat_same R inputs_kept K`.
#include <cuda_runtime.h>

#include <cstdio>
#include <exception>
#include <fstream>
#include <sstream>

#include "common.cuh"
#include "registry.hpp"
// cuda/device_cuda.cu's messages (the only source of cpp/src it needs)
#include "core/messages.cpp"

namespace emu {
namespace {
const foveal::Device kGpu = foveal::Device::cuda(0), kHost = foveal::Device::cpu();

const Arg& find(const std::map<std::string, Arg>& m, const std::string& name) {
  const auto it = m.find(name);
  if (it == m.end()) throw std::runtime_error("ops_emu: no tensor argument " + name);
  return it->second;
}
foveal::Shape shape_of(const Arg& a) { return foveal::Shape(a.shape.data(), static_cast<int>(a.shape.size())); }
}  // namespace

std::map<std::string, Adapter>& registry() {
  static std::map<std::string, Adapter> r;
  return r;
}

foveal::ConstTensorView Call::in(const std::string& name) const {
  const Arg& a = find(tensors, name);
  return foveal::ConstTensorView(a.bytes.data(), a.dtype, a.host ? kHost : kGpu, shape_of(a));
}
foveal::TensorView Call::out(const std::string& name) {
  Arg& a = tensors.at(name);
  if (!a.output) throw std::runtime_error("ops_emu: " + name + " is not an output");
  return foveal::TensorView(a.bytes.data(), a.dtype, a.host ? kHost : kGpu, shape_of(a));
}
const std::vector<double>& Call::nums(const std::string& name) const {
  const auto it = numbers.find(name);
  if (it == numbers.end()) throw std::runtime_error("ops_emu: no number argument " + name);
  return it->second;
}
double Call::num(const std::string& name) const {
  const auto& v = nums(name);
  if (v.size() != 1) throw std::runtime_error("ops_emu: " + name + " is not one number");
  return v[0];
}
std::vector<std::int64_t> Call::i64s(const std::string& name) const {
  std::vector<std::int64_t> r;
  for (double v : nums(name)) r.push_back(static_cast<std::int64_t>(v));
  return r;
}
}  // namespace emu

// The error path and pool tuning of cuda/device_cuda.cu, for the runs that do not link that file
// (where an adapter emulates it, its strong definitions win).
namespace foveal::cuda {
[[gnu::weak]] void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line) {
  cudaGetLastError();
  throw DeviceError(detail::concat("CUDA error ", static_cast<int>(err), " in ", what, " (", file, " line ", line, ")"));
}
[[gnu::weak]] void keep_pool_memory() {}
}  // namespace foveal::cuda

namespace {
foveal::DType dtype_named(const std::string& s) {
  using foveal::DType;
  static const std::map<std::string, DType> m = {
      {"bool", DType::Bool},       {"uint8", DType::UInt8},       {"int8", DType::Int8},
      {"int16", DType::Int16},     {"int32", DType::Int32},       {"int64", DType::Int64},
      {"float16", DType::Float16}, {"bfloat16", DType::BFloat16}, {"float32", DType::Float32},
      {"float64", DType::Float64}, {"uint16", DType::UInt16}};
  return m.at(s);
}

emu::Call read_call(const std::string& dir) {
  emu::Call c;
  std::ifstream f(dir + "/args");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream s(line);
    std::string kind, name;
    s >> kind >> name;
    if (kind == "N") {
      double v;
      auto& vs = c.numbers[name];
      while (s >> v) vs.push_back(v);
    } else if (kind == "T") {
      emu::Arg a;
      std::string dt;
      int host, output, nd;
      s >> dt >> host >> output >> nd;
      a.dtype = dtype_named(dt), a.host = host, a.output = output;
      a.shape.resize(nd);
      std::int64_t n = 1;
      for (auto& d : a.shape) s >> d, n *= d;
      a.bytes.resize(static_cast<std::size_t>(n) * foveal::itemsize(a.dtype));
      if (!output) {
        FILE* in = std::fopen((dir + "/" + name + ".bin").c_str(), "rb");
        if (!in || (a.bytes.size() && std::fread(a.bytes.data(), 1, a.bytes.size(), in) != a.bytes.size()))
          throw std::runtime_error("ops_emu: cannot read " + name + ".bin");
        std::fclose(in);
      }
      c.tensors[name] = std::move(a);
    } else if (!kind.empty()) {
      throw std::runtime_error("ops_emu: bad args line: " + line);
    }
  }
  return c;
}

void fill_outputs(emu::Call& c, unsigned char v) {
  for (auto& [name, a] : c.tensors)
    if (a.output) std::fill(a.bytes.begin(), a.bytes.end(), v);
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: ops_emu OP DIR\n");
    return 2;
  }
  const std::string op = argv[1], dir = argv[2];
  try {
    const auto it = emu::registry().find(op);
    if (it == emu::registry().end()) throw std::runtime_error("ops_emu: no adapter for " + op);
    emu::Call c = read_call(dir);
    const emu::Call before = c;
    c.ctx.stream = 0x5eed0;
    emu::stream = reinterpret_cast<cudaStream_t>(c.ctx.stream);
    emu::workspace_fill = 0xff;
    fill_outputs(c, 0xff);
    it->second(c);
    FOVEAL_CUDA_CHECK(cudaGetLastError());
    const long launches = emu::launches;
    const auto kernels = emu::kernel_launches;
    emu::Call second = c;
    emu::workspace_fill = 0x00;
    fill_outputs(second, 0x00);
    it->second(second);
    bool same = true, kept = true;
    for (const auto& [name, a] : c.tensors) {
      if (a.output) same = same && a.bytes == second.tensors.at(name).bytes;
      else kept = kept && a.bytes == before.tensors.at(name).bytes && a.bytes == second.tensors.at(name).bytes;
    }
    for (const auto& [name, a] : c.tensors) {
      if (!a.output) continue;
      FILE* o = std::fopen((dir + "/" + name + ".bin").c_str(), "wb");
      if (a.bytes.size()) std::fwrite(a.bytes.data(), 1, a.bytes.size(), o);
      std::fclose(o);
    }
    std::printf("launches %ld wrong_stream %ld repeat_same %d inputs_kept %d", launches, emu::wrong_stream,
                same ? 1 : 0, kept ? 1 : 0);
    for (const auto& [name, n] : kernels) std::printf(" kernel:%s %ld", name.c_str(), n);  // of the first run
    std::printf("\n");
    return 0;
  } catch (const std::exception& e) {
    std::printf("ERROR %s\n", e.what());
    return 1;
  }
}
