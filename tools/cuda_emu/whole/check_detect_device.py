"""device_cuda.cu (emulated whole, see ops_detect.cpp): the device queries, the memory-pool tuning
and the CUDA error path (throw_cuda_error through FOVEAL_CUDA_CHECK), on the fake runtime's one
device of CUDA 13.0."""
import numpy as np

from emu import call, check, report

r = call("device_queries", probe=np.zeros(16, np.float32), outputs={"out": ((5,), "int64")})["out"]
# one device; CUDART 13000; the pool keeps 1 GiB; a pointer inside device memory is on device 0,
# a host stack address on none (-1)
check(list(r) == [1, 13000, 1 << 30, 0, -1], "device queries", list(r))


def error_of(code):
    try:
        call("cuda_error", code=code, outputs={})
    except RuntimeError as e:
        return str(e)
    return ""


msg = error_of(1)
check("DeviceError: CUDA error cudaErrorInvalidValue (invalid argument) in static_cast<cudaError_t>" in msg
      and "ops_detect.cpp:" in msg and "/" not in msg.split(" at ")[-1].split("\n")[0], "invalid value", msg)
msg = error_of(2)
check("MemoryError: CUDA error cudaErrorMemoryAllocation (out of memory)" in msg, "allocation", msg)
check(error_of(0) == "", "success is no error")
report("detect_device")
