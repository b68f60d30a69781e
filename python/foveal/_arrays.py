# SPDX-License-Identifier: Apache-2.0
"""The plumbing of every op's Python front end.

:class:`Call` does, once per call: which array library the arguments come from, their device,
the dtype the op computes in (a *policy* chosen by name), contiguity, output allocation in the
caller's library and on its device, the CUDA stream, and the hand-back. An op's Python body is
its numpydoc plus a few lines::

    call = Call("box_iou", boxes1=boxes1, boxes2=boxes2)
    b1, b2 = call.floats("boxes1", "boxes2")
    out = call.empty((dim(b1, 0, 2), dim(b2, 0, 2)))
    call.run(_core.box_iou, b1, b2, out)
    return call.wrap(out)

The native core borrows every array zero-copy (buffer protocol, ``__cuda_array_interface__`` or
DLPack) and validates shapes; this module only decides *what* to hand it. torch CPU tensors
travel as numpy views of the same memory (the cheapest borrow), and outputs for them are made in
numpy and handed back with ``torch.from_numpy`` (no copy).
"""
from __future__ import annotations

import math
import numbers
import sys
from typing import Any, Callable

import numpy as np

from ._errors import FovealTypeError, FovealValueError

_FLOAT_RANK = {"float16": 1, "float32": 2, "float64": 3}


def _is_torch(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _is_cupy(x: Any) -> bool:
    cupy = sys.modules.get("cupy")
    return cupy is not None and isinstance(x, cupy.ndarray)


def _is_jax(x: Any) -> bool:
    jax = sys.modules.get("jax")
    return jax is not None and isinstance(x, jax.Array)


_LIB_OF_TYPE: dict = {np.ndarray: "numpy"}  # exact type -> library, filled on first sight


def library_of(x: Any, name: str, op: str = "") -> str:
    """Name the array library of argument ``name`` (of ``op``): 'numpy', 'torch', 'cupy' or 'jax'."""
    lib = _LIB_OF_TYPE.get(type(x))
    if lib is not None:
        return lib
    if isinstance(x, np.ndarray):
        lib = "numpy"
    elif _is_torch(x):
        lib = "torch"
    elif _is_cupy(x):
        lib = "cupy"
    elif _is_jax(x):
        lib = "jax"
    else:
        raise FovealTypeError(
            f"{op + ': ' if op else ''}{name} must be an array (numpy.ndarray, cupy.ndarray, torch.Tensor or jax.Array), "
            f"got {type(x).__module__}.{type(x).__qualname__}"
        )
    _LIB_OF_TYPE[type(x)] = lib
    return lib


_DTYPE_NAMES: dict = {}


def dtype_name(x: Any) -> str:
    """numpy-style dtype name of any supported array ('float32', 'bfloat16', 'int64', ...)."""
    dt = x.dtype
    try:
        return _DTYPE_NAMES[dt]
    except (KeyError, TypeError):
        pass
    name = str(dt).rsplit(".", 1)[-1] if _is_torch(x) else str(np.dtype(dt).name)
    try:
        _DTYPE_NAMES[dt] = name
    except TypeError:  # unhashable dtype object
        pass
    return name


def host_array(op: str, name: str, x: Any, *, sequences: bool = True) -> Any:
    """numpy view of a CPU array of any supported library, for ops that run on the host only (a
    CUDA array is refused by name). None stays None; lists and scalars become arrays when
    ``sequences``, else they are refused."""
    if x is None or isinstance(x, np.ndarray):
        return x
    try:
        lib = library_of(x, name, op)
    except FovealTypeError:
        if sequences:
            return np.asarray(x)  # lists, scalars
        raise FovealTypeError(
            f"{op}: {name} must be an array (numpy, or torch / cupy / jax on the CPU), got {type(x).__name__}"
        ) from None
    if is_cuda(x, lib):
        raise FovealTypeError(f"{op}: {name} must be a CPU array (no CUDA path yet), got a {lib} array on the GPU")
    return np.asarray(x.detach() if lib == "torch" else x)


def is_cuda(x: Any, lib: str) -> bool:
    if lib == "numpy":
        return False
    if lib == "torch":
        return x.device.type == "cuda"
    if lib == "cupy":
        return True
    return any(d.platform == "gpu" for d in x.devices())  # jax


def dim(x: Any, axis: int, ndim: int) -> int:
    """``x.shape[axis]`` when ``x`` has ``ndim`` dimensions, else 0.

    Output shapes are computed before the core validates the inputs; a malformed input only
    needs *some* output to reach the core's check, which names the argument.
    """
    return x.shape[axis] if x.ndim == ndim else 0


# -- dtype policies ------------------------------------------------------------------------


def detection_policy(op: str, dtypes: dict[str, str], cuda: bool) -> str:
    """Float dtype a detection op computes in (``foveal.ops``).

    float64 -> float64; float32 -> float32; float16 -> float16 on CUDA (arithmetic in float32),
    float32 on the CPU; bfloat16, integers and bool -> float32. Mixed arguments use the widest
    of those, as torch promotes.
    """
    best = 0
    for arg, dt in dtypes.items():
        if dt in _FLOAT_RANK:
            rank = _FLOAT_RANK[dt]
        elif dt == "bfloat16" or dt == "bool" or dt.startswith(("int", "uint")):
            rank = _FLOAT_RANK["float32"]
        else:
            raise FovealTypeError(f"{op}: {arg} must have a real numeric dtype, got {dt}")
        best = max(best, rank)
    if best == 1 and not cuda:
        best = 2
    return {1: "float16", 2: "float32", 3: "float64"}[best]


def same_dtype_policy(op: str, dtypes: dict[str, str], cuda: bool) -> str:
    """Output dtype = input dtype (``foveal.nn``): float32 and float64 on the CPU; float16,
    bfloat16, float32 and float64 on CUDA (arithmetic in float32). Every float argument must have
    the first one's dtype, as torch.nn.functional requires."""
    allowed = ("float16", "bfloat16", "float32", "float64") if cuda else ("float32", "float64")
    first, want = next(iter(dtypes.items()))
    if want not in allowed:
        where = "on CUDA" if cuda else "on the CPU (float16 and bfloat16 only on CUDA)"
        raise FovealTypeError(f"{op}: {first} must be {', '.join(allowed)} {where}, got {want}")
    for arg, dt in dtypes.items():
        if dt != want:
            raise FovealTypeError(f"{op}: {arg} has dtype {dt} but {first} has dtype {want}")
    return want


_POLICY_CACHE: dict = {}  # (policy, cuda, *dtypes) -> dtype
POLICIES: dict[str, Callable[[str, dict, bool], str]] = {
    "detection": detection_policy,
    "same": same_dtype_policy,
}


def register_policy(name: str, fn: Callable[[str, dict, bool], str]) -> None:
    """Make a dtype policy available to :class:`Call` by name (a module with other rules)."""
    POLICIES[name] = fn
    for key in [k for k in _POLICY_CACHE if k[0] == name]:
        del _POLICY_CACHE[key]


# kept for callers of the foundation's name
float_type = detection_policy


# -- one call ----------------------------------------------------------------------------------


def _check_torch(x: Any, op: str, name: str) -> bool:
    """Refuse what foveal cannot borrow or would silently detach; True for a CUDA tensor."""
    import torch

    if x.layout is not torch.strided:
        raise FovealTypeError(f"{op}: {name} must be a dense (strided) tensor, got layout {x.layout}")
    cuda = x.is_cuda
    if not (cuda or x.is_cpu):
        raise FovealValueError(
            f"{op}: {name} must be on the CPU or a CUDA device, got a tensor on '{x.device.type}'"
        )
    if x.requires_grad and torch.is_grad_enabled():
        raise FovealValueError(
            f"{op}: {name} requires grad, but foveal.{op} does not record autograd graphs; pass "
            f"{name}.detach(), or call it under torch.no_grad()"
        )
    return cuda


class Call:
    """The plumbing of one op call (see the module docstring).

    Parameters
    ----------
    op : str
        The op's name, used in error messages.
    policy : str
        Name of the dtype policy in :data:`POLICIES` ('detection', 'same', or one registered by
        a module).
    **arrays
        Every array argument of the call, by its public name (``None`` values are ignored).
        They must come from one library; the first one fixes the device.
    """

    __slots__ = ("op", "policy", "arrays", "lib", "cuda", "stream", "dtype", "_torch_cpu")

    def __init__(self, op: str, policy: str = "detection", **arrays: Any) -> None:
        self.op = op
        self.policy = policy
        self.arrays = arrays
        lib = first = None
        cuda = False
        for name, x in arrays.items():
            if x is None:
                continue
            this = library_of(x, name, op)
            if lib is None:
                lib, first = this, name
                if this == "torch":
                    cuda = _check_torch(x, op, name)
                elif this != "numpy":
                    cuda = is_cuda(x, this)
            elif this != lib:
                raise FovealTypeError(
                    f"{op}: arrays must come from the same array library, got {first} from {lib} and "
                    f"{name} from {this}"
                )
            elif this == "torch":
                _check_torch(x, op, name)
        self.lib = lib or "numpy"
        self.cuda = cuda
        self._torch_cpu = lib == "torch" and not cuda
        self.stream = _stream_of(arrays[first], lib) if cuda else 0
        self.dtype = None

    # inputs ------------------------------------------------------------------------------

    def floats(self, *names: str, keep_channels_last: bool = False) -> Any:
        """The named arrays, C-contiguous, in the dtype the policy picks from their dtypes (which
        also becomes ``self.dtype``, the default dtype of :meth:`empty`). One name returns one
        array; several return a tuple. ``keep_channels_last``: a CPU (N, C, H, W) array laid out
        densely as (N, H, W, C) (torch's channels_last) is passed as it is, for kernels that read
        that layout."""
        xs = [self._get(n) for n in names]
        key = (self.policy, self.cuda, *[dtype_name(x) for x in xs])
        dtype = _POLICY_CACHE.get(key)
        if dtype is None:  # first sight of these dtypes (errors are never cached)
            dtype = POLICIES[self.policy](self.op, dict(zip(names, key[2:])), self.cuda)
            _POLICY_CACHE[key] = dtype
        self.dtype = dtype
        keep = keep_channels_last and not self.cuda
        if len(xs) == 1:
            return self._prepare(xs[0], dtype, names[0], keep)
        return tuple([self._prepare(x, dtype, n, keep) for x, n in zip(xs, names)])

    def prepare(self, name: str, dtype: str) -> Any:
        """Array ``name`` as a C-contiguous array of ``dtype`` (no copy when it already is)."""
        return self._prepare(self._get(name), dtype, name)

    def _get(self, name: str) -> Any:
        x = self.arrays[name]
        if x is None:  # optional arrays are None; ops only ask for the ones they were given
            library_of(x, name, self.op)
        return x

    def _prepare(self, x: Any, dtype: str, name: str, keep_cl: bool = False) -> Any:
        lib = self.lib
        if lib == "numpy":
            if keep_cl and _channels_last(x) and x.dtype == dtype:
                return x
            # NB: asarray, not ascontiguousarray, which turns a 0-d array into shape (1,).
            return np.asarray(x, dtype=dtype, order="C")
        if lib == "torch":
            if x.requires_grad:
                x = x.detach()
            if dtype_name(x) != dtype:
                import torch

                x = x.to(getattr(torch, dtype))
            if not x.is_contiguous() and not (
                keep_cl and x.dim() == 4 and x.is_contiguous(memory_format=torch_channels_last())
            ):
                x = x.contiguous()
            if not self._torch_cpu:
                return x
            try:
                return x.numpy()
            except TypeError:  # a CUDA tensor after CPU ones (the reverse is caught natively)
                if x.device.type == "cpu":
                    raise
                raise FovealValueError(
                    f"{self.op}: {name} is on {x.device} but the arrays before it are on cpu"
                ) from None
        if lib == "cupy":
            import cupy

            with x.device:
                return cupy.ascontiguousarray(x, dtype=dtype) if x.ndim else cupy.asarray(x, dtype=dtype)
        return x.astype(dtype)  # jax arrays are dense

    def ints(self, name: str, dtype: str = "int64") -> Any:
        """Integer array ``name`` (labels, batch indices) as C-contiguous ``dtype``. Floats are
        refused, as torchvision refuses float ``idxs``."""
        dt = dtype_name(self._get(name))
        if not (dt.startswith(("int", "uint")) or dt == "bool"):
            raise FovealTypeError(f"{self.op}: {name} must have an integer dtype, got {dt}")
        return self.prepare(name, dtype)

    # outputs -----------------------------------------------------------------------------

    def empty(self, shape: tuple[int, ...], dtype: str | None = None) -> Any:
        """Uninitialised output of ``shape`` (default dtype: the policy's) on the call's device,
        in a library foveal can write into."""
        dtype = dtype or self.dtype
        lib = self.lib
        if lib == "numpy" or self._torch_cpu or (lib == "jax" and not self.cuda):
            return np.empty(shape, dtype=dtype)
        like = next(x for x in self.arrays.values() if x is not None)
        if lib == "torch":
            import torch

            return torch.empty(shape, dtype=getattr(torch, dtype), device=like.device)
        if lib == "cupy":
            import cupy

            with like.device:
                return cupy.empty(shape, dtype=dtype)
        # jax on CUDA: made in cupy or torch, handed back through DLPack by wrap()
        index = next(iter(like.devices())).id
        if "cupy" in sys.modules or _importable("cupy"):
            import cupy

            with cupy.cuda.Device(index):
                return cupy.empty(shape, dtype=dtype)
        if _importable("torch"):
            import torch

            return torch.empty(shape, dtype=getattr(torch, dtype), device=f"cuda:{index}")
        raise FovealValueError(f"{self.op}: jax CUDA arrays need cupy or torch installed, to allocate outputs")

    def run(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        """Call the native entry point ``fn`` on the call's stream."""
        return fn(*args, stream=self.stream, **kwargs)

    def wrap(self, out: Any) -> Any:
        """Hand ``out`` back in the caller's library."""
        if self._torch_cpu:
            import torch

            return torch.from_numpy(out)
        if self.lib != "jax":
            return out
        import jax.dlpack
        import jax.numpy as jnp

        try:
            return jax.dlpack.from_dlpack(out)
        except Exception:  # noqa: BLE001 - an unaligned or unsupported buffer: copy instead
            return jnp.asarray(out)

    def head(self, out: Any, count: int) -> Any:
        """``out[:count]`` of a capacity-sized result, handed back. Copied when it would pin a
        buffer of over 64 KiB more than twice its size (50 small results of 1M boxes must not hold
        1M each)."""
        part = out[:count]
        if 2 * count < out.shape[0] and out.nbytes > 1 << 16:
            part = part.copy() if not (self.cuda and self.lib == "torch") else part.clone()
        return self.wrap(part)


def _channels_last(x: Any) -> bool:
    """A numpy (N, C, H, W) array stored densely as (N, H, W, C)."""
    return isinstance(x, np.ndarray) and x.ndim == 4 and x.transpose(0, 2, 3, 1).flags.c_contiguous


def channels_last(x: Any, lib: str) -> bool:
    """A 4-D numpy / torch array laid out densely as (N, H, W, C) (also when it is C-contiguous
    too, with unit dimensions)."""
    if lib == "numpy":
        return _channels_last(x)
    if lib == "torch":
        return x.dim() == 4 and x.is_contiguous(memory_format=torch_channels_last())
    return False


def torch_channels_last() -> Any:
    import torch

    return torch.channels_last


def real(op: str, name: str, value: Any, *, allow_nan: bool = False) -> float:
    """A real-number argument as a float. Strings, complex and None are refused (TypeError);
    integers too large for a float become +-inf; NaN is refused unless ``allow_nan``."""
    if type(value) is float:  # the common case, first
        if value != value and not allow_nan:
            raise FovealValueError(f"{op}: {name} must not be NaN, got nan")
        return value
    if isinstance(value, (str, bytes, np.str_, np.bytes_, np.complexfloating)) or not isinstance(
        value, (numbers.Real, np.generic)
    ):
        raise FovealTypeError(f"{op}: {name} must be a real number, got {type(value).__name__} {value!r}")
    try:
        out = float(value)
    except OverflowError:
        out = math.inf if value > 0 else -math.inf
    if out != out and not allow_nan:
        raise FovealValueError(f"{op}: {name} must not be NaN, got nan")
    return out


def _stream_of(x: Any, lib: str) -> int:
    """The caller's current CUDA stream for ``x``'s device."""
    if lib == "torch":
        import torch

        # The raw-stream lookup (the one torch's own kernels use) skips building a Stream object.
        raw = getattr(torch._C, "_cuda_getCurrentRawStream", None)
        if raw is not None:
            return int(raw(x.get_device()))
        return int(torch.cuda.current_stream(x.device).cuda_stream)
    if lib == "cupy":
        import cupy

        with x.device:
            return int(cupy.cuda.get_current_stream().ptr)
    return 0  # jax: its own streams are synchronised before DLPack hands the buffer over


def _importable(mod: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(mod) is not None
