// SPDX-License-Identifier: Apache-2.0
#include "interop.hpp"

#include <cstring>
#include <string>
#include <unordered_map>

#include "foveal/build_info.hpp"
#include "foveal/core/error.hpp"

namespace py = pybind11;

namespace foveal::interop {
namespace {

// DLPack ABI (unversioned DLManagedTensor, DLPack 0.x/1.x), declared from the specification.
struct DLDevice { std::int32_t device_type; std::int32_t device_id; };
struct DLDataType { std::uint8_t code; std::uint8_t bits; std::uint16_t lanes; };
struct DLTensor {
  void* data;
  DLDevice device;
  std::int32_t ndim;
  DLDataType dtype;
  std::int64_t* shape;
  std::int64_t* strides;
  std::uint64_t byte_offset;
};
struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor*);
};
constexpr std::int32_t kDLCPU = 1, kDLCUDA = 2, kDLCUDAHost = 3, kDLCUDAManaged = 13;
constexpr std::uint8_t kDLInt = 0, kDLUInt = 1, kDLFloat = 2, kDLBfloat = 4, kDLBool = 6;

std::string type_name(py::handle obj) { return py::str(py::type::handle_of(obj).attr("__name__")); }

[[noreturn]] void bad_dtype(const char* name, const std::string& what) {
  throw TypeError(detail::concat(name, ": unsupported dtype ", what,
                                 " (expected bool, uint8, uint16, int8/16/32/64, float16, bfloat16, float32 or float64)"));
}

DType from_kind(char kind, std::size_t size, const char* name, const std::string& spelled) {
  switch (kind) {
    case 'b': if (size == 1) return DType::Bool; break;
    case 'u':
      if (size == 1) return DType::UInt8;
      if (size == 2) return DType::UInt16;
      break;
    case 'i':
      if (size == 1) return DType::Int8;
      if (size == 2) return DType::Int16;
      if (size == 4) return DType::Int32;
      if (size == 8) return DType::Int64;
      break;
    case 'f':
      if (size == 2) return DType::Float16;
      if (size == 4) return DType::Float32;
      if (size == 8) return DType::Float64;
      break;
    default: break;
  }
  bad_dtype(name, spelled);
}

// Struct-module format of the buffer protocol, e.g. "f", "<d", "=q".
DType from_format(const std::string& fmt, std::size_t itemsize, const char* name) {
  std::string f = fmt;
  if (!f.empty() && (f[0] == '<' || f[0] == '=' || f[0] == '@')) f = f.substr(1);
  if (f.size() != 1) bad_dtype(name, "'" + fmt + "'");
  switch (f[0]) {
    case '?': return from_kind('b', itemsize, name, fmt);
    case 'B': case 'H': return from_kind('u', itemsize, name, fmt);
    case 'b': case 'h': case 'i': case 'l': case 'q': case 'n': return from_kind('i', itemsize, name, fmt);
    case 'e': case 'f': case 'd': return from_kind('f', itemsize, name, fmt);
    default: bad_dtype(name, "'" + fmt + "'");
  }
}

Shape byte_strides_to_elements(const std::vector<py::ssize_t>& bytes, std::size_t itemsize, const char* name) {
  Shape s;
  std::vector<std::int64_t> v;
  for (auto b : bytes) {
    FOVEAL_CHECK_VALUE(b % static_cast<py::ssize_t>(itemsize) == 0, name,
                       ": strides must be multiples of the item size, got ", b, " bytes");
    v.push_back(b / static_cast<py::ssize_t>(itemsize));
  }
  return Shape(v.data(), static_cast<int>(v.size()));
}

std::shared_ptr<void> keep_alive(py::handle obj) {
  return std::shared_ptr<void>(obj.inc_ref().ptr(), [](void* o) { Py_DECREF(static_cast<PyObject*>(o)); });
}

// The CUDA device holding `ptr`, with the errors of a build without CUDA or of an unusable CUDA.
int device_of_cuda_pointer(std::uintptr_t ptr, const char* name, const char* source) {
  int device = 0;
  try {
    device = cuda_device_of(reinterpret_cast<const void*>(ptr));
  } catch (const NotCompiledError&) {
    throw NotCompiledError(detail::concat(name, ": is a CUDA array, but this build of foveal has no CUDA support "
                                                "(rebuild with a CUDA toolkit and FOVEAL_CUDA=ON)"));
  } catch (const Error& e) {
    throw DeviceError(detail::concat(name, ": is a CUDA array, but CUDA is not usable here: ", e.what()));
  }
  FOVEAL_CHECK_DEVICE(device >= 0, name, ": ", source, " points to host memory");
  return device;
}

// torch tensors, read through their attributes (data_ptr, shape, stride, dtype): torch's
// __cuda_array_interface__ and __dlpack__ are Python code costing several microseconds a tensor
// (DLPack's stream handshake looks up torch's current stream each time). foveal launches on
// torch's current stream, so no handshake is needed.
struct TorchInfo {
  PyTypeObject* tensor = nullptr;
  std::vector<std::pair<PyObject*, DType>> dtypes;  // torch.float32 -> Float32, ...
};

const TorchInfo* torch_info() {
  static TorchInfo* info = [] {
    auto* t = new TorchInfo();  // lives as long as the process (torch is never unloaded)
    py::module_ torch = py::module_::import("torch");
    t->tensor = reinterpret_cast<PyTypeObject*>(torch.attr("Tensor").ptr());
    const std::pair<const char*, DType> names[] = {
        {"bool", DType::Bool},       {"uint8", DType::UInt8},     {"int8", DType::Int8},
        {"int16", DType::Int16},     {"int32", DType::Int32},     {"int64", DType::Int64},
        {"float16", DType::Float16}, {"bfloat16", DType::BFloat16}, {"float32", DType::Float32},
        {"float64", DType::Float64}, {"uint16", DType::UInt16}};
    for (const auto& [n, d] : names)
      if (py::hasattr(torch, n)) t->dtypes.emplace_back(py::object(torch.attr(n)).release().ptr(), d);
    return t;
  }();
  return info;
}

bool is_torch_tensor(PyTypeObject* type) {
  // Only once torch is imported: a type can only be a torch tensor's if it is.
  if (!PyDict_GetItemString(PySys_GetObject("modules"), "torch")) return false;
  return PyType_IsSubtype(type, torch_info()->tensor) != 0;
}

Borrowed from_torch(py::handle obj, const char* name) {
  const TorchInfo* t = torch_info();
  const py::object dt = obj.attr("dtype");
  DType dtype = DType::Float32;
  bool known = false;
  for (const auto& [o, d] : t->dtypes)
    if (dt.ptr() == o) dtype = d, known = true;
  if (!known) bad_dtype(name, std::string(py::str(dt)));
  const bool cuda = obj.attr("is_cuda").cast<bool>();
  if (!cuda) {
    const std::string type = py::str(obj.attr("device").attr("type"));
    if (type != "cpu")
      throw DeviceError(detail::concat(name, ": arrays on torch device '", type,
                                       "' are not supported (expected CPU or CUDA)"));
  }
  const auto ptr = obj.attr("data_ptr")().cast<std::uintptr_t>();
  std::vector<std::int64_t> dims, strides;
  for (auto d : py::tuple(obj.attr("shape"))) dims.push_back(d.cast<std::int64_t>());
  for (auto d : py::tuple(obj.attr("stride")())) strides.push_back(d.cast<std::int64_t>());
  const int nd = static_cast<int>(dims.size());
  Device dev = Device::cpu();
  if (cuda) dev = Device::cuda(ptr != 0 ? device_of_cuda_pointer(ptr, name, "data_ptr()")
                                        : obj.attr("get_device")().cast<int>());
  Borrowed b;
  b.owner = keep_alive(obj);
  b.view = TensorView(reinterpret_cast<void*>(ptr), dtype, dev, Shape(dims.data(), nd), Shape(strides.data(), nd));
  return b;
}

Borrowed from_cuda_array_interface(py::handle obj, const py::dict& cai, const char* name, bool writable) {
  const std::string typestr = py::str(cai["typestr"]);
  FOVEAL_CHECK_TYPE(typestr.size() >= 3 && typestr[0] != '>', name, ": unsupported typestr '", typestr, "'");
  const std::size_t itemsize = std::stoul(typestr.substr(2));
  const DType dt = from_kind(typestr[1], itemsize, name, "'" + typestr + "'");
  if (cai.contains("mask") && !cai["mask"].is_none())
    throw ValueError(detail::concat(name, ": masked CUDA arrays are not supported"));
  const py::tuple data = cai["data"];
  const auto ptr = data[0].cast<std::uintptr_t>();
  const bool readonly = data[1].cast<bool>();
  FOVEAL_CHECK_VALUE(!(writable && readonly), name, ": must be writable, got a read-only CUDA array");
  std::vector<std::int64_t> dims;
  for (auto d : py::tuple(cai["shape"])) dims.push_back(d.cast<std::int64_t>());
  const Shape shape(dims.data(), static_cast<int>(dims.size()));
  const int device = ptr != 0 ? device_of_cuda_pointer(ptr, name, "__cuda_array_interface__") : 0;
  void* p = reinterpret_cast<void*>(ptr);
  Borrowed b;
  b.owner = keep_alive(obj);
  if (!cai.contains("strides") || cai["strides"].is_none()) {
    b.view = TensorView(p, dt, Device::cuda(device), shape);
  } else {
    std::vector<py::ssize_t> sb;
    for (auto s : py::tuple(cai["strides"])) sb.push_back(s.cast<py::ssize_t>());
    b.view = TensorView(p, dt, Device::cuda(device), shape, byte_strides_to_elements(sb, itemsize, name));
  }
  return b;
}

bool dlpack_on_cuda(py::handle obj) {
  if (!py::hasattr(obj, "__dlpack_device__")) return false;
  const auto t = py::tuple(obj.attr("__dlpack_device__")())[0].cast<std::int32_t>();
  return t == kDLCUDA || t == kDLCUDAManaged;
}

// `unreadable`, when given, is set instead of throwing if the object refuses the buffer protocol.
Borrowed from_buffer(py::handle obj, const char* name, bool writable, bool* unreadable = nullptr) {
  auto* view = new Py_buffer();
  const int flags = PyBUF_RECORDS_RO | (writable ? PyBUF_WRITABLE : 0);
  if (PyObject_GetBuffer(obj.ptr(), view, flags) != 0) {
    delete view;
    PyErr_Clear();
    // A GPU array (cupy, jax) may have a buffer slot that refuses: the caller falls back to
    // DLPack, for outputs too. A CPU array that refuses a writable view is read-only.
    if (unreadable && (!writable || dlpack_on_cuda(obj))) {
      *unreadable = true;
      return {};
    }
    FOVEAL_CHECK_VALUE(!writable, name, ": must be a writable array, got a read-only ", type_name(obj));
    throw TypeError(detail::concat(name, ": cannot read ", type_name(obj), " through the buffer protocol"));
  }
  Borrowed b;
  b.owner = std::shared_ptr<void>(view, [](void* v) {
    PyBuffer_Release(static_cast<Py_buffer*>(v));
    delete static_cast<Py_buffer*>(v);
  });
  const std::string fmt = view->format ? view->format : "B";
  const DType dt = from_format(fmt, static_cast<std::size_t>(view->itemsize), name);
  std::vector<py::ssize_t> dims(view->shape, view->shape + view->ndim);
  std::vector<std::int64_t> d64(dims.begin(), dims.end());
  std::vector<py::ssize_t> sb(view->strides, view->strides + view->ndim);
  b.view = TensorView(view->buf, dt, Device::cpu(), Shape(d64.data(), view->ndim),
                      byte_strides_to_elements(sb, static_cast<std::size_t>(view->itemsize), name));
  return b;
}

Borrowed from_dlpack(py::handle obj, const char* name, bool writable, std::uintptr_t stream) {
  std::int32_t dev_type = kDLCPU;
  if (py::hasattr(obj, "__dlpack_device__")) dev_type = py::tuple(obj.attr("__dlpack_device__")())[0].cast<std::int32_t>();
  py::object cap;
  if (dev_type == kDLCUDA || dev_type == kDLCUDAManaged) {
    // DLPack reserves 0; 1 names the legacy default stream.
    cap = obj.attr("__dlpack__")(py::arg("stream") = stream == 0 ? std::uintptr_t(1) : stream);
  } else {
    cap = obj.attr("__dlpack__")();
  }
  auto* mt = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap.ptr(), "dltensor"));
  if (!mt) {
    PyErr_Clear();
    throw TypeError(detail::concat(name, ": __dlpack__ did not return a 'dltensor' capsule"));
  }
  PyCapsule_SetName(cap.ptr(), "used_dltensor");  // we own it now; its deleter is ours to call
  Borrowed b;
  b.owner = std::shared_ptr<void>(mt, [](void* p) {
    auto* m = static_cast<DLManagedTensor*>(p);
    if (m->deleter) m->deleter(m);
  });
  const DLTensor& t = mt->dl_tensor;
  FOVEAL_CHECK_TYPE(t.dtype.lanes == 1, name, ": vector dtypes (lanes > 1) are not supported");
  DType dt;
  const std::size_t size = t.dtype.bits / 8;
  switch (t.dtype.code) {
    case kDLBool: dt = from_kind('b', size, name, "bool"); break;
    case kDLUInt: dt = from_kind('u', size, name, "uint" + std::to_string(t.dtype.bits)); break;
    case kDLInt: dt = from_kind('i', size, name, "int" + std::to_string(t.dtype.bits)); break;
    case kDLFloat: dt = from_kind('f', size, name, "float" + std::to_string(t.dtype.bits)); break;
    case kDLBfloat:
      FOVEAL_CHECK_TYPE(t.dtype.bits == 16, name, ": unsupported bfloat", int(t.dtype.bits));
      dt = DType::BFloat16;
      break;
    default: bad_dtype(name, "with DLPack type code " + std::to_string(t.dtype.code));
  }
  Device dev;
  if (t.device.device_type == kDLCPU || t.device.device_type == kDLCUDAHost) dev = Device::cpu();
  else if (t.device.device_type == kDLCUDA || t.device.device_type == kDLCUDAManaged) dev = Device::cuda(t.device.device_id);
  else throw DeviceError(detail::concat(name, ": arrays on DLPack device type ", t.device.device_type,
                                        " are not supported (expected CPU or CUDA)"));
  (void)writable;  // DLPack 0.x carries no read-only flag; the Python layer only passes its own outputs
  void* p = static_cast<char*>(t.data) + t.byte_offset;
  const Shape shape(t.shape, t.ndim);
  b.view = t.strides ? TensorView(p, dt, dev, shape, Shape(t.strides, t.ndim)) : TensorView(p, dt, dev, shape);
  return b;
}

template <typename P>
Borrowed borrow_with(P protocol, py::handle obj, const char* name, bool writable, std::uintptr_t stream) {
  switch (static_cast<int>(protocol)) {
    case 0: return from_buffer(obj, name, writable);
    case 3: {
      // A jax array on a GPU has a buffer slot but refuses it: then DLPack.
      bool unreadable = false;
      Borrowed b = from_buffer(obj, name, writable, &unreadable);
      return unreadable ? from_dlpack(obj, name, writable, stream) : b;
    }
    case 1: {
      // A CUDA tensor may also be a CPU one of the same type (torch): fall through to DLPack
      // when the attribute raises.
      py::object cai = py::getattr(obj, "__cuda_array_interface__", py::none());
      if (!cai.is_none()) {
        const auto d = cai.cast<py::dict>();
        // The interface has no kind for bfloat16 (torch spells it '<V2'); DLPack names it.
        const std::string typestr = py::str(d["typestr"]);
        if (typestr.size() > 1 && typestr[1] == 'V' && py::hasattr(obj, "__dlpack__"))
          return from_dlpack(obj, name, writable, stream);
        return from_cuda_array_interface(obj, d, name, writable);
      }
      if (PyObject_CheckBuffer(obj.ptr())) return from_buffer(obj, name, writable);
      return from_dlpack(obj, name, writable, stream);
    }
    case 4: return from_torch(obj, name);
    default: return from_dlpack(obj, name, writable, stream);
  }
}

}  // namespace

Borrowed borrow(py::handle obj, const char* name, bool writable, std::uintptr_t stream) {
  // The protocol a type speaks is decided once per type (the GIL guards the cache); probing
  // __cuda_array_interface__ on a torch tensor builds a dict, so it is never probed twice.
  enum class Protocol : std::uint8_t { Buffer, Cai, DLPack, BufferOrDLPack, Torch };
  static std::unordered_map<PyTypeObject*, Protocol> by_type;
  PyTypeObject* type = Py_TYPE(obj.ptr());
  auto it = by_type.find(type);
  if (it == by_type.end()) {
    Protocol p;
    if (is_torch_tensor(type)) p = Protocol::Torch;
    else if (PyObject_CheckBuffer(obj.ptr()))  // numpy: the common case first
      p = std::strcmp(type->tp_name, "numpy.ndarray") != 0 && py::hasattr(obj, "__dlpack__") ? Protocol::BufferOrDLPack
                                                                                              : Protocol::Buffer;
    else if (py::hasattr(obj, "__cuda_array_interface__")) p = Protocol::Cai;
    else if (py::hasattr(obj, "__dlpack__")) p = Protocol::DLPack;
    else throw TypeError(detail::concat(name, ": expected an array (numpy, cupy, torch or jax), got ", type_name(obj)));
    // Only heap types can be freed and their address reused; static types are cached forever.
    if (!(type->tp_flags & Py_TPFLAGS_HEAPTYPE) || by_type.size() < 64) it = by_type.emplace(type, p).first;
    else return borrow_with(p, obj, name, writable, stream);
  }
  return borrow_with(it->second, obj, name, writable, stream);
}

}  // namespace foveal::interop
