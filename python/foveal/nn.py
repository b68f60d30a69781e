# SPDX-License-Identifier: Apache-2.0
"""Neural-network layers as functions, with torch.nn.functional names, signatures and semantics.

Pooling: :func:`max_pool2d`, :func:`avg_pool2d`, :func:`adaptive_max_pool2d`,
:func:`adaptive_avg_pool2d`. Dense layers: :func:`conv2d` and :func:`linear`, with a fused
epilogue (bias, then an optional residual, then an activation). Input is ``(N, C, H, W)`` or
unbatched ``(C, H, W)``; C, H and W must be positive (N may be 0).

dtype policy: the output has the input's dtype: float32 or float64 on the CPU; float16, bfloat16,
float32 or float64 on CUDA (float16 / bfloat16 computed in float32; in conv2d, conv_transpose2d and
linear on tensor cores with float32 sums). Indices are int64, the flat
index ``h * W + w`` within each input plane, as torch returns them. Inputs are never modified;
non-contiguous inputs are copied to contiguous ones first.

Errors: bad shapes and parameters raise :class:`foveal.FovealValueError`, bad types and dtypes
:class:`foveal.FovealTypeError`, naming the argument; both are also ``RuntimeError``.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from . import _core
from ._arrays import Call, real
from ._errors import FovealTypeError, FovealValueError

__all__ = [
    "adaptive_avg_pool2d",
    "adaptive_max_pool2d",
    "add",
    "avg_pool2d",
    "batch_norm",
    "conv2d",
    "conv_transpose2d",
    "fold_batch_norm",
    "interpolate",
    "linear",
    "max_pool2d",
    "relu",
    "sigmoid",
    "softmax",
]


_INT32_MAX = 2**31 - 1


def _is_int(v: Any) -> bool:
    return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, (bool, np.bool_))


def _pair(op: str, name: str, value: Any, *, allow_none: bool = False) -> tuple:
    """An int or a sequence of one or two ints (None entries where ``allow_none``) as (H, W)."""
    # Fast paths (a plain int or a pair of plain ints in range): the generic checks below go
    # through numbers.Integral's ABC test, a few microseconds per call.
    if type(value) is int and -_INT32_MAX <= value <= _INT32_MAX:
        return (value, value)
    if (type(value) is tuple and len(value) == 2 and type(value[0]) is int and type(value[1]) is int
            and -_INT32_MAX <= value[0] <= _INT32_MAX and -_INT32_MAX <= value[1] <= _INT32_MAX):
        return value
    items = (value,) if _is_int(value) or (allow_none and value is None) else value
    try:
        items = tuple(items)
    except TypeError:
        items = None
    ok = items is not None and len(items) in (1, 2)
    ok = ok and all(_is_int(v) or (allow_none and v is None) for v in items)
    if not ok:
        kind = "an int, None" if allow_none else "an int"
        raise FovealTypeError(f"{op}: {name} must be {kind} or a pair of those, got {value!r}")
    items = tuple(v if v is None else int(v) for v in items)
    if any(v is not None and abs(v) > _INT32_MAX for v in items):  # beyond what the core takes
        raise FovealValueError(f"{op}: {name} must be at most 2147483647 in magnitude, got {value!r}")
    return items * 2 if len(items) == 1 else items


def _plane_hw(x: Any) -> tuple | None:
    """(H, W) of a well-formed input, else None (the core then names the bad shape)."""
    if x.ndim in (3, 4) and all(d > 0 for d in x.shape[-3:]):
        return x.shape[-2], x.shape[-1]
    return None


def _pool_params(op: str, kernel_size: Any, stride: Any, padding: Any, dilation: Any) -> tuple:
    k = _pair(op, "kernel_size", kernel_size)
    empty = stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)
    s = k if empty else _pair(op, "stride", stride)
    return k, s, _pair(op, "padding", padding), _pair(op, "dilation", dilation)


def _pooled_shape(x: Any, call_op: str, k, s, p, d, ceil_mode: bool) -> tuple:
    hw = _plane_hw(x)
    if hw is None:
        return (0,)  # the core refuses the input's shape, naming it
    oh, ow = _core.pool2d_output_size(call_op, hw[0], hw[1], k, s, p, d, bool(ceil_mode))
    return (*x.shape[:-2], oh, ow)


def max_pool2d(
    input: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """2-D max pooling over the last two dimensions.

    Parameters
    ----------
    input : array, shape (N, C, H, W) or (C, H, W)
        numpy, or cupy / torch / jax (CPU or CUDA).
    kernel_size : int or (int, int)
        Window size (H, W).
    stride : int or (int, int), optional
        Window step; default ``kernel_size``.
    padding : int or (int, int)
        Implicit -inf padding on both sides; at most half of ``kernel_size``.
    dilation : int or (int, int)
        Spacing between window taps.
    ceil_mode : bool
        Round the output size up instead of down; a last window that would start in the right
        padding is dropped, as in torch.
    return_indices : bool
        Also return the index of each maximum.

    Returns
    -------
    out : array, shape (..., H_out, W_out)
        ``H_out = floor((H + 2 padding - dilation (kernel_size - 1) - 1) / stride) + 1`` (ceil with
        ``ceil_mode``), the same for W; dtype of ``input``.
    indices : array of int64, same shape, only with ``return_indices``
        Flat index ``h * W + w`` of each maximum in its input plane (int32 for jax without x64).

    Notes
    -----
    Matches ``torch.nn.functional.max_pool2d`` (tested), NaN included: a window holding a NaN gives
    NaN, and its index is the window's last NaN in row-major order; otherwise the index is the
    first maximum. A window lying wholly in the padding (possible only with dilation) gives -inf.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> x = np.array([[[3, 1, 3, 5], [6, 0, 7, 9], [3, 2, 1, 4], [0, 2, 4, 3]]], dtype=np.float32)
    >>> foveal.nn.max_pool2d(x, 2)
    array([[[6., 9.],
            [3., 4.]]], dtype=float32)
    """
    op = "max_pool2d"
    call = Call(op, policy="same", input=input)
    k, s, p, d = _pool_params(op, kernel_size, stride, padding, dilation)
    x = call.floats("input")
    shape = _pooled_shape(x, op, k, s, p, d, ceil_mode)
    out = call.empty(shape)
    idx = call.empty(shape, "int64") if return_indices else None
    call.run(_core.max_pool2d, x, out, idx, k, s, p, d, bool(ceil_mode))
    return (call.wrap(out), call.wrap(idx)) if return_indices else call.wrap(out)


def avg_pool2d(
    input: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Any:
    """2-D average pooling over the last two dimensions.

    Parameters
    ----------
    input : array, shape (N, C, H, W) or (C, H, W)
        numpy, or cupy / torch / jax (CPU or CUDA).
    kernel_size : int or (int, int)
        Window size (H, W).
    stride : int or (int, int), optional
        Window step; default ``kernel_size``.
    padding : int or (int, int)
        Implicit zero padding on both sides; at most half of ``kernel_size``.
    ceil_mode : bool
        Round the output size up; a last window that would start in the right padding is dropped.
    count_include_pad : bool
        Divide by the window size counting the padding (but not what lies past the right
        padding, in ``ceil_mode``), else by the number of input samples in the window.
    divisor_override : int, optional
        A non-zero divisor used for every window instead.

    Returns
    -------
    out : array, shape (..., H_out, W_out)
        Output sizes as in :func:`max_pool2d` with dilation 1; dtype of ``input``.

    Notes
    -----
    Matches ``torch.nn.functional.avg_pool2d`` (tested; sums may round differently in the last
    bit, as the CPU kernel adds the window's rows first).

    Examples
    --------
    >>> import numpy as np, foveal
    >>> x = np.array([[[3, 1, 3, 5], [6, 0, 7, 9], [3, 2, 1, 4], [0, 2, 4, 3]]], dtype=np.float32)
    >>> foveal.nn.avg_pool2d(x, 2)
    array([[[2.5 , 6.  ],
            [1.75, 3.  ]]], dtype=float32)
    """
    op = "avg_pool2d"
    call = Call(op, policy="same", input=input)
    k, s, p, _ = _pool_params(op, kernel_size, stride, padding, 1)
    if divisor_override is None:
        div = 0
    elif not _is_int(divisor_override):
        raise FovealTypeError(f"{op}: divisor_override must be an int or None, got {divisor_override!r}")
    elif divisor_override == 0 or abs(int(divisor_override)) > 2**31 - 1:
        raise FovealValueError(f"{op}: divisor_override must be non-zero (and fit in int32), got {divisor_override}")
    else:
        div = int(divisor_override)
    x = call.floats("input")
    out = call.empty(_pooled_shape(x, op, k, s, p, (1, 1), ceil_mode))
    call.run(_core.avg_pool2d, x, out, k, s, p, bool(ceil_mode), bool(count_include_pad), div)
    return call.wrap(out)


def _adaptive_shape(op: str, x: Any, output_size: Any) -> tuple:
    size = _pair(op, "output_size", output_size, allow_none=True)
    hw = _plane_hw(x)
    if hw is None:
        return (0,)
    size = tuple(hw[i] if v is None else v for i, v in enumerate(size))
    if size[0] < 0 or size[1] < 0:
        raise FovealValueError(f"{op}: output_size must be non-negative, got {tuple(size)}")
    return (*x.shape[:-2], *size)


def adaptive_max_pool2d(input: Any, output_size: Any, return_indices: bool = False) -> Any:
    """2-D adaptive max pooling: the last two dimensions split into ``output_size`` bins.

    Parameters
    ----------
    input : array, shape (N, C, H, W) or (C, H, W)
        numpy, or cupy / torch / jax (CPU or CUDA).
    output_size : int or (int or None, int or None)
        Output (H_out, W_out); None keeps the input's size; 0 gives an empty output, as in torch.
        Bin ``i`` of ``n`` over ``L`` samples is ``[floor(i L / n), ceil((i + 1) L / n))``.
    return_indices : bool
        Also return the index of each maximum.

    Returns
    -------
    out : array, shape (..., H_out, W_out), dtype of ``input``
    indices : array of int64, only with ``return_indices``
        Flat index ``h * W + w`` of each maximum in its input plane.

    Notes
    -----
    Matches ``torch.nn.functional.adaptive_max_pool2d`` (tested), NaN and ties as in
    :func:`max_pool2d`.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    >>> foveal.nn.adaptive_max_pool2d(x, (1, 2))
    array([[[13., 15.]]], dtype=float32)
    """
    op = "adaptive_max_pool2d"
    call = Call(op, policy="same", input=input)
    x = call.floats("input")
    shape = _adaptive_shape(op, x, output_size)
    out = call.empty(shape)
    idx = call.empty(shape, "int64") if return_indices else None
    call.run(_core.adaptive_max_pool2d, x, out, idx)
    return (call.wrap(out), call.wrap(idx)) if return_indices else call.wrap(out)


def adaptive_avg_pool2d(input: Any, output_size: Any) -> Any:
    """2-D adaptive average pooling: the last two dimensions split into ``output_size`` bins.

    Parameters
    ----------
    input : array, shape (N, C, H, W) or (C, H, W)
        numpy, or cupy / torch / jax (CPU or CUDA).
    output_size : int or (int or None, int or None)
        Output (H_out, W_out); None keeps the input's size. Bins as in
        :func:`adaptive_max_pool2d`.

    Returns
    -------
    out : array, shape (..., H_out, W_out), dtype of ``input``
        Each bin's mean: its sum divided by its height, then by its width.

    Notes
    -----
    Matches ``torch.nn.functional.adaptive_avg_pool2d`` (tested).

    Examples
    --------
    >>> import numpy as np, foveal
    >>> x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    >>> foveal.nn.adaptive_avg_pool2d(x, 1)
    array([[[7.5]]], dtype=float32)
    """
    op = "adaptive_avg_pool2d"
    call = Call(op, policy="same", input=input)
    x = call.floats("input")
    out = call.empty(_adaptive_shape(op, x, output_size))
    call.run(_core.adaptive_avg_pool2d, x, out)
    return call.wrap(out)


# -- dense layers ------------------------------------------------------------------------------

_ACTIVATIONS = {None: 0, "relu": 1, "leaky_relu": 2, "silu": 3, "sigmoid": 4}


def _activation(op: str, activation: Any) -> tuple:
    """(code, negative_slope) of ``activation``: None, a name, or ("leaky_relu", slope)."""
    slope = 0.01
    name = activation
    if isinstance(activation, (tuple, list)):
        if len(activation) != 2 or activation[0] != "leaky_relu":
            raise FovealValueError(
                f"{op}: activation must be None, 'relu', 'leaky_relu', ('leaky_relu', negative_slope), "
                f"'silu' or 'sigmoid', got {activation!r}"
            )
        name, slope = "leaky_relu", real(op, "activation's negative_slope", activation[1])
    elif not (activation is None or isinstance(activation, str)):
        raise FovealTypeError(f"{op}: activation must be None or a str (or ('leaky_relu', slope)), got {activation!r}")
    if name not in _ACTIVATIONS:
        raise FovealValueError(
            f"{op}: activation must be None, 'relu', 'leaky_relu', ('leaky_relu', negative_slope), 'silu' or "
            f"'sigmoid', got {activation!r}"
        )
    return _ACTIVATIONS[name], slope


def _floats(call: Call, **given: Any) -> list:
    """The given (non-None) arrays in the call's dtype, in order; None stays None."""
    names = [n for n, v in given.items() if v is not None]
    xs = call.floats(*names)
    xs = list(xs) if len(names) > 1 else [xs]
    it = iter(xs)
    return [next(it) if v is not None else None for v in given.values()]


def linear(input: Any, weight: Any, bias: Any = None, *, activation: Any = None, allow_tf32: bool = False) -> Any:
    """Affine map of the last dimension, ``input @ weight.T + bias``, then an activation.

    Parameters
    ----------
    input : array, shape (..., in_features)
        numpy, or cupy / torch / jax (CPU or CUDA); any number of leading (batch) dimensions.
    weight : array, shape (out_features, in_features)
    bias : array, shape (out_features,), optional
    activation : None, 'relu', 'leaky_relu', ('leaky_relu', negative_slope), 'silu' or 'sigmoid'
        Applied after the bias (fused). 'leaky_relu' alone uses torch's slope 0.01.
    allow_tf32 : bool
        CUDA, float32 only: the product runs on TF32 tensor cores (sm_80 and newer; inputs
        rounded to a 10-bit mantissa, float32 sums; about 1e-3 relative error, like torch's
        ``torch.backends.cudnn.allow_tf32``). False (default) keeps exact float32 multiply-adds.
        No effect on the CPU, which always computes in float32 (or float64).

    Returns
    -------
    out : array, shape (..., out_features), dtype of ``input``

    Notes
    -----
    Matches ``torch.nn.functional.linear`` (then the activation's torch function) within float
    tolerance: the CPU kernel is a packed, cache-blocked GEMM with fused multiply-adds, so sums
    round differently from torch's, and differently at each SIMD level. Every array must have
    ``input``'s dtype (float32 or float64 on the CPU; also float16 / bfloat16 on CUDA, multiplied on
    tensor cores and accumulated in float32).

    Examples
    --------
    >>> import numpy as np, foveal
    >>> x = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    >>> w = np.array([[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]], dtype=np.float32)
    >>> foveal.nn.linear(x, w, np.array([0.5, -1.0], dtype=np.float32), activation="relu")
    array([[0., 2.]], dtype=float32)
    """
    op = "linear"
    act, slope = _activation(op, activation)
    tf32 = _allow_tf32(op, allow_tf32)
    call = Call(op, policy="same", input=input, weight=weight, bias=bias)
    x, w, b = _floats(call, input=input, weight=weight, bias=bias)
    n = w.shape[0] if w.ndim == 2 else 0
    out = call.empty((*x.shape[:-1], n) if x.ndim >= 1 else (0,))
    call.run(_core.linear, x, w, b, out, act, slope, allow_tf32=tf32)
    return call.wrap(out)


def _allow_tf32(op: str, allow_tf32: Any) -> bool:
    if not isinstance(allow_tf32, (bool, np.bool_)):
        raise FovealTypeError(f"{op}: allow_tf32 must be a bool, got {allow_tf32!r}")
    return bool(allow_tf32)


def _conv_padding(op: str, padding: Any, weight: Any, stride: tuple, dilation: tuple) -> tuple:
    """padding as (top, bottom, left, right)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding != "same":
            raise FovealValueError(f"{op}: padding must be an int, a pair of ints, 'same' or 'valid', got {padding!r}")
        if stride != (1, 1):
            raise FovealValueError(f"{op}: padding='same' needs stride 1 (as in torch), got stride {stride}")
        if weight.ndim != 4 or min(dilation) < 1:
            return (0, 0, 0, 0)  # the core names the bad weight or dilation
        return tuple(_core.conv2d_same_padding(weight.shape[2], weight.shape[3], dilation))
    ph, pw = _pair(op, "padding", padding)
    return (ph, ph, pw, pw)


def conv2d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    *,
    activation: Any = None,
    residual: Any = None,
    allow_tf32: bool = False,
) -> Any:
    """2-D convolution (cross-correlation, as in deep learning) with a fused epilogue.

    ``out[n, o, y, x] = act(bias[o] + residual[n, o, y, x] + sum_{c, i, j} weight[o, c, i, j] *
    input[n, g C_in/groups + c, y stride + i dilation - pad_top, x stride + j dilation - pad_left])``
    with zero padding, ``g`` the group of output channel ``o``.

    Parameters
    ----------
    input : array, shape (N, C_in, H, W) or (C_in, H, W)
        numpy, or cupy / torch / jax (CPU or CUDA).
    weight : array, shape (C_out, C_in / groups, kH, kW)
    bias : array, shape (C_out,), optional
    stride : int or (int, int)
    padding : int, (int, int), 'valid' or 'same'
        Zero padding on both sides of H and W. 'valid' is 0; 'same' (stride 1 only) keeps the
        input's size, padding ``dilation (k - 1)`` in all with the odd sample after (bottom /
        right), as torch does.
    dilation : int or (int, int)
        Spacing between kernel taps.
    groups : int
        Input and output channels split into ``groups`` independent convolutions; it must divide
        both. ``groups == C_in == C_out`` is a depthwise convolution.
    activation : None, 'relu', 'leaky_relu', ('leaky_relu', negative_slope), 'silu' or 'sigmoid'
        Applied last. 'leaky_relu' alone uses torch's slope 0.01.
    residual : array, shape of the output, optional
        Added after the bias and before the activation (a ResNet block's skip connection).
    allow_tf32 : bool
        CUDA, float32 only: the product runs on TF32 tensor cores (sm_80 and newer; inputs
        rounded to a 10-bit mantissa, float32 sums; about 1e-3 relative error, like torch's
        ``torch.backends.cudnn.allow_tf32``). False (default) keeps exact float32 multiply-adds.
        No effect on the CPU, which always computes in float32 (or float64).

    Returns
    -------
    out : array, shape (N, C_out, H_out, W_out) (or unbatched), dtype of ``input``
        ``H_out = floor((H + pad_top + pad_bottom - dilation (kH - 1) - 1) / stride) + 1``, the
        same for W.

    Notes
    -----
    Matches ``torch.nn.functional.conv2d`` (plus ``residual`` and the activation's torch function)
    within float tolerance (tested): the CPU computes it as a packed GEMM over implicit im2col
    panels (a 1x1 stride-1 kernel reads the input in place; depthwise is a direct kernel), with
    fused multiply-adds, so sums round differently from torch's. float32 3x3 stride-1 kernels
    (groups 1, at least 16 channels in and out) use Winograd F(2, 3): 2.25x fewer multiply-adds;
    its transforms only add, subtract and halve, and its error stays within float32 tolerance of
    the exact result (tested against float64; about the direct sum's size). Every array must have
    ``input``'s dtype (float32 or float64 on the CPU; also float16 / bfloat16 on CUDA, multiplied on
    tensor cores and accumulated in float32). Non-contiguous inputs are copied first.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> x = np.array([[[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2],
    ...                [2, 0, 0, 0, 1]]], dtype=np.float32)
    >>> w = np.array([[[[0, 1, 2], [2, 2, 0], [0, 1, 2]]]], dtype=np.float32)
    >>> foveal.nn.conv2d(x, w)
    array([[[12., 12., 17.],
            [10., 17., 19.],
            [ 9.,  6., 14.]]], dtype=float32)
    """
    op = "conv2d"
    act, slope = _activation(op, activation)
    tf32 = _allow_tf32(op, allow_tf32)
    if not _is_int(groups):
        raise FovealTypeError(f"{op}: groups must be an int, got {groups!r}")
    if not 1 <= groups <= 2**31 - 1:
        raise FovealValueError(f"{op}: groups must be positive, got {groups}")
    s, d = _pair(op, "stride", stride), _pair(op, "dilation", dilation)
    call = Call(op, policy="same", input=input, weight=weight, bias=bias, residual=residual)
    x, w, b, r = _floats(call, input=input, weight=weight, bias=bias, residual=residual)
    pad = _conv_padding(op, padding, w, s, d)
    shape: tuple = (0,)
    if x.ndim in (3, 4) and all(v > 0 for v in x.shape[-3:]) and w.ndim == 4 and all(v > 0 for v in w.shape):
        oh, ow = _core.conv2d_output_size(x.shape[-2], x.shape[-1], w.shape[2], w.shape[3], s, pad, d, int(groups))
        shape = (*x.shape[:-3], w.shape[0], oh, ow)
    out = call.empty(shape)
    call.run(_core.conv2d, x, w, b, r, out, s, pad, d, int(groups), act, slope, allow_tf32=tf32)
    return call.wrap(out)


def _groups(op: str, groups: Any) -> int:
    if not _is_int(groups):
        raise FovealTypeError(f"{op}: groups must be an int, got {groups!r}")
    if not 1 <= groups <= 2**31 - 1:
        raise FovealValueError(f"{op}: groups must be positive, got {groups}")
    return int(groups)


def conv_transpose2d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
    *,
    activation: Any = None,
    residual: Any = None,
    allow_tf32: bool = False,
) -> Any:
    """2-D transposed convolution (the adjoint of :func:`conv2d`) with a fused epilogue.

    Each input pixel scatters its kernel, scaled, onto the output:
    ``out[n, g C_out/groups + o, y stride + i dilation - padding, x stride + j dilation - padding]
    += input[n, c, y, x] * weight[c, o, i, j]`` for ``c`` in group ``g``; then
    ``act(out + bias[o] + residual)``.

    Parameters
    ----------
    input : array, shape (N, C_in, H, W) or (C_in, H, W)
        numpy, or cupy / torch / jax (CPU or CUDA).
    weight : array, shape (C_in, C_out / groups, kH, kW)
        torch's layout for transposed convolutions.
    bias : array, shape (C_out,), optional
    stride : int or (int, int)
    padding : int or (int, int)
        Removed from both sides of the full output (``dilation (k - 1) - padding`` zero padding of
        the equivalent direct convolution).
    output_padding : int or (int, int)
        Extra rows / columns at the bottom / right; each must be smaller than its stride or its
        dilation (torch's rule).
    groups : int
        Must divide C_in.
    dilation : int or (int, int)
    activation : None, 'relu', 'leaky_relu', ('leaky_relu', negative_slope), 'silu' or 'sigmoid'
        Applied last.
    residual : array, shape of the output, optional
        Added after the bias and before the activation.
    allow_tf32 : bool
        CUDA, float32 only: the product runs on TF32 tensor cores (sm_80 and newer; inputs
        rounded to a 10-bit mantissa, float32 sums; about 1e-3 relative error, like torch's
        ``torch.backends.cudnn.allow_tf32``). False (default) keeps exact float32 multiply-adds.
        No effect on the CPU, which always computes in float32 (or float64).

    Returns
    -------
    out : array, shape (N, C_out, H_out, W_out) (or unbatched), dtype of ``input``
        ``H_out = (H - 1) stride - 2 padding + dilation (kH - 1) + output_padding + 1``, the same for W.

    Notes
    -----
    Matches ``torch.nn.functional.conv_transpose2d`` within float tolerance (tested, with the
    adjoint identity ``<conv2d(x, w), y> = <x, conv_transpose2d(y, w)>``). On the CPU, with
    dilation 1, it is split into ``stride_h * stride_w`` output phases (sub-pixel decomposition),
    each a small stride-1 convolution with its taps on the packed GEMM, stored straight into its
    strided output places (with stride equal to the kernel and no padding, as in Mask R-CNN's
    head, all phases are one product over the whole batch, stored pixel-shuffled); dilated, it is
    the GEMM ``W^T X`` into a column buffer then a scatter-add of the columns (col2im).

    Examples
    --------
    >>> import numpy as np, foveal
    >>> x = np.array([[[0, 1], [2, 3]]], dtype=np.float32)
    >>> k = np.array([[[[0, 1], [2, 3]]]], dtype=np.float32)
    >>> foveal.nn.conv_transpose2d(x, k)
    array([[[ 0.,  0.,  1.],
            [ 0.,  4.,  6.],
            [ 4., 12.,  9.]]], dtype=float32)
    """
    op = "conv_transpose2d"
    act, slope = _activation(op, activation)
    tf32 = _allow_tf32(op, allow_tf32)
    g = _groups(op, groups)
    s, d = _pair(op, "stride", stride), _pair(op, "dilation", dilation)
    p, op_ = _pair(op, "padding", padding), _pair(op, "output_padding", output_padding)
    call = Call(op, policy="same", input=input, weight=weight, bias=bias, residual=residual)
    x, w, b, r = _floats(call, input=input, weight=weight, bias=bias, residual=residual)
    shape: tuple = (0,)
    if x.ndim in (3, 4) and all(v > 0 for v in x.shape[-3:]) and w.ndim == 4 and all(v > 0 for v in w.shape):
        oh, ow = _core.conv_transpose2d_output_size(x.shape[-2], x.shape[-1], w.shape[2], w.shape[3], s, p, op_, d, g)
        shape = (*x.shape[:-3], w.shape[1] * g, oh, ow)
    out = call.empty(shape)
    call.run(_core.conv_transpose2d, x, w, b, r, out, s, p, op_, d, g, act, slope, allow_tf32=tf32)
    return call.wrap(out)


def _size_pair(op: str, size: Any) -> tuple:
    hw = _pair(op, "size", size)
    if hw[0] < 1 or hw[1] < 1:
        raise FovealValueError(f"{op}: size must be positive, got {size!r}")
    return hw


def _scale_pair(op: str, scale_factor: Any) -> tuple:
    items = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,)
    if len(items) not in (1, 2):
        raise FovealValueError(f"{op}: scale_factor must be a number or a pair of numbers, got {scale_factor!r}")
    scales = tuple(real(op, "scale_factor", v) for v in items)
    if not all(0 < v < math.inf for v in scales):
        raise FovealValueError(f"{op}: scale_factor must be finite and positive, got {scale_factor!r}")
    return scales * 2 if len(scales) == 1 else scales


def interpolate(
    input: Any,
    size: Any = None,
    scale_factor: Any = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
) -> Any:
    """Resize the last two dimensions of an (N, C, H, W) array, as ``torch.nn.functional.interpolate``.

    Parameters
    ----------
    input : array, shape (N, C, H, W)
        numpy, or cupy / torch / jax (CPU or CUDA).
    size : int or (int, int), optional
        Output (H_out, W_out). Exactly one of ``size`` and ``scale_factor``.
    scale_factor : float or (float, float), optional
        Output size ``floor(H * scale_factor)`` (the same for W). Unless
        ``recompute_scale_factor`` is True, the index rule uses ``1 / scale_factor`` itself, not
        ``H / H_out`` (as torch does; they differ for non-integer factors).
    mode : 'nearest' or 'bilinear'
        'nearest': source ``min(floor(dst * scale), H - 1)`` with ``scale`` in float32 (torch's
        legacy nearest, not 'nearest-exact'). 'bilinear': a 2x2 blend.
    align_corners : bool, optional
        Bilinear only (None is False): True maps the corner pixels' centres onto each other
        (``scale = (H - 1) / (H_out - 1)``, ``src = dst * scale``); False maps pixel areas
        (``src = max((dst + 0.5) scale - 0.5, 0)``).
    recompute_scale_factor : bool, optional
        True: compute the index rule's scale from the sizes, ignoring ``scale_factor``'s value.

    Returns
    -------
    out : array, shape (N, C, H_out, W_out), dtype of ``input``

    Notes
    -----
    Matches ``torch.nn.functional.interpolate`` (tested; bilinear within float rounding, as the
    CPU blends rows first). Nearest 2x (the FPN top-down upsample) is a fast path.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> x = np.array([[[[1, 2], [3, 4]]]], dtype=np.float32)
    >>> foveal.nn.interpolate(x, scale_factor=2)[0, 0]
    array([[1., 1., 2., 2.],
           [1., 1., 2., 2.],
           [3., 3., 4., 4.],
           [3., 3., 4., 4.]], dtype=float32)
    >>> foveal.nn.interpolate(x, size=3, mode="bilinear", align_corners=True)[0, 0]
    array([[1. , 1.5, 2. ],
           [2. , 2.5, 3. ],
           [3. , 3.5, 4. ]], dtype=float32)
    """
    op = "interpolate"
    if mode not in ("nearest", "bilinear"):
        raise FovealValueError(f"{op}: mode must be 'nearest' or 'bilinear', got {mode!r}")
    if align_corners is not None and not isinstance(align_corners, (bool, np.bool_)):
        raise FovealTypeError(f"{op}: align_corners must be None or a bool, got {align_corners!r}")
    if mode == "nearest" and align_corners is not None:
        raise FovealValueError(f"{op}: align_corners must be None with mode 'nearest' (it is for 'bilinear'), "
                               f"got {align_corners!r}")
    if (size is None) == (scale_factor is None):
        raise FovealValueError(f"{op}: give exactly one of size and scale_factor, got size={size!r}, "
                               f"scale_factor={scale_factor!r}")
    call = Call(op, policy="same", input=input)
    x = call.floats("input")
    scales = (0.0, 0.0)
    if size is not None:
        if recompute_scale_factor is not None:
            raise FovealValueError(f"{op}: recompute_scale_factor needs scale_factor, not size")
        out_hw = _size_pair(op, size)
    else:
        scales = _scale_pair(op, scale_factor)
        out_hw = (0, 0)
        if x.ndim == 4:
            out_hw = tuple(math.floor(float(x.shape[2 + i]) * scales[i]) for i in range(2))
            if min(out_hw) < 1:
                raise FovealValueError(f"{op}: scale_factor {scale_factor!r} gives an empty output {out_hw} for "
                                       f"input size {tuple(x.shape[2:])}")
        if recompute_scale_factor:
            scales = (0.0, 0.0)
    shape = (*x.shape[:2], *out_hw) if x.ndim == 4 else (0,)
    out = call.empty(shape)
    call.run(_core.interpolate, x, out, 0 if mode == "nearest" else 1, bool(align_corners), *scales)
    return call.wrap(out)


# -- element-wise ------------------------------------------------------------------------------


def _eps(op: str, eps: Any) -> float:
    e = real(op, "eps", eps)
    if not 0 <= e < math.inf:
        raise FovealValueError(f"{op}: eps must be finite and non-negative, got {eps!r}")
    return e


def batch_norm(
    input: Any, running_mean: Any, running_var: Any, weight: Any = None, bias: Any = None, eps: float = 1e-5
) -> Any:
    """Inference batch normalisation over channel axis 1 (``torch.nn.functional.batch_norm`` with
    ``training=False``).

    ``out = (input - running_mean) / sqrt(running_var + eps) * weight + bias``, per channel,
    computed as ``input * scale + shift`` with ``scale = weight / sqrt(running_var + eps)``.

    Parameters
    ----------
    input : array, shape (N, C, ...)
    running_mean, running_var : arrays, shape (C,)
    weight, bias : arrays, shape (C,), optional
        1 and 0 when omitted.
    eps : float
        Added to the variance.

    Returns
    -------
    out : array, shape and dtype of ``input``

    Examples
    --------
    >>> import numpy as np, foveal
    >>> x = np.array([[[[1.0]], [[4.0]]]], dtype=np.float32)
    >>> m, v = np.array([1.0, 2.0], np.float32), np.array([1.0, 4.0], np.float32)
    >>> foveal.nn.batch_norm(x, m, v, eps=0.0)[:, :, 0, 0]
    array([[0., 1.]], dtype=float32)
    """
    op = "batch_norm"
    e = _eps(op, eps)
    call = Call(op, policy="same", input=input, running_mean=running_mean, running_var=running_var, weight=weight,
                bias=bias)
    x, m, v, w, b = _floats(call, input=input, running_mean=running_mean, running_var=running_var, weight=weight,
                            bias=bias)
    out = call.empty(x.shape)
    call.run(_core.batch_norm, x, m, v, w, b, out, e)
    return call.wrap(out)


def fold_batch_norm(
    conv_weight: Any,
    conv_bias: Any,
    running_mean: Any,
    running_var: Any,
    bn_weight: Any,
    bn_bias: Any,
    eps: float = 1e-5,
) -> tuple:
    """Fold a frozen batch norm that follows a convolution into the convolution's weight and bias.

    ``scale = bn_weight / sqrt(running_var + eps)``; ``weight = conv_weight * scale`` (per output
    channel), ``bias = (conv_bias - running_mean) * scale + bn_bias``. ``eps`` defaults to 1e-5,
    torchvision's ``FrozenBatchNorm2d`` default.

    Parameters
    ----------
    conv_weight : array, shape (C_out, ...)
    conv_bias : array, shape (C_out,), or None (zero)
    running_mean, running_var, bn_weight, bn_bias : arrays, shape (C_out,)
    eps : float

    Returns
    -------
    weight : array, shape of ``conv_weight``
    bias : array, shape (C_out,)

    Examples
    --------
    >>> import numpy as np, foveal
    >>> w = np.ones((2, 1, 1, 1), np.float32)
    >>> one, zero = np.ones(2, np.float32), np.zeros(2, np.float32)
    >>> wf, bf = foveal.nn.fold_batch_norm(w, None, one, np.array([3.0, 0.0], np.float32), one, zero, eps=1.0)
    >>> wf.ravel(), bf
    (array([0.5, 1. ], dtype=float32), array([-0.5, -1. ], dtype=float32))
    """
    op = "fold_batch_norm"
    e = _eps(op, eps)
    call = Call(op, policy="same", conv_weight=conv_weight, conv_bias=conv_bias, running_mean=running_mean,
                running_var=running_var, bn_weight=bn_weight, bn_bias=bn_bias)
    w, b, m, v, g, h = _floats(call, conv_weight=conv_weight, conv_bias=conv_bias, running_mean=running_mean,
                               running_var=running_var, bn_weight=bn_weight, bn_bias=bn_bias)
    ow = call.empty(w.shape)
    ob = call.empty((w.shape[0],) if w.ndim >= 1 else (0,))
    call.run(_core.fold_batch_norm, w, b, m, v, g, h, ow, ob, e)
    return call.wrap(ow), call.wrap(ob)


def _unary(op: str, code: int, input: Any) -> Any:
    call = Call(op, policy="same", input=input)
    x = call.floats("input")
    out = call.empty(x.shape)
    call.run(_core.unary, code, x, out)
    return call.wrap(out)


def relu(input: Any) -> Any:
    """``max(input, 0)`` element-wise (NaN stays NaN), as ``torch.nn.functional.relu``.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> foveal.nn.relu(np.array([-1.0, 0.5], np.float32))
    array([0. , 0.5], dtype=float32)
    """
    return _unary("relu", 0, input)


def sigmoid(input: Any) -> Any:
    """``1 / (1 + exp(-input))`` element-wise, as ``torch.sigmoid``.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> foveal.nn.sigmoid(np.array([0.0], np.float32))
    array([0.5], dtype=float32)
    """
    return _unary("sigmoid", 1, input)


def softmax(input: Any, dim: int) -> Any:
    """Softmax along ``dim``, numerically stable: ``exp(x - max) / sum(exp(x - max))``.

    Parameters
    ----------
    input : array, any shape with at least one dimension
    dim : int
        The axis; negative counts from the end.

    Returns
    -------
    out : array, shape and dtype of ``input``
        As ``torch.softmax`` (a line holding NaN, or +inf, gives NaN).

    Examples
    --------
    >>> import numpy as np, foveal
    >>> foveal.nn.softmax(np.array([[1000.0, 1000.0]], np.float32), dim=1)
    array([[0.5, 0.5]], dtype=float32)
    """
    op = "softmax"
    if not _is_int(dim):
        raise FovealTypeError(f"{op}: dim must be an int, got {dim!r}")
    call = Call(op, policy="same", input=input)
    x = call.floats("input")
    nd = x.ndim
    d = int(dim) + nd if -nd <= int(dim) < 0 else int(dim)
    if not 0 <= d < max(nd, 1) or nd == 0:
        raise FovealValueError(f"{op}: dim must be in [-{nd}, {nd}) for an input of {nd} dimensions, got {dim}")
    out = call.empty(x.shape)
    call.run(_core.softmax, x, d, out)
    return call.wrap(out)


def add(a: Any, b: Any) -> Any:
    """``a + b`` element-wise for two arrays of one shape and dtype (no broadcasting).

    Examples
    --------
    >>> import numpy as np, foveal
    >>> foveal.nn.add(np.array([1.0, 2.0], np.float32), np.array([0.5, 0.5], np.float32))
    array([1.5, 2.5], dtype=float32)
    """
    op = "add"
    call = Call(op, policy="same", a=a, b=b)
    x, y = call.floats("a", "b")
    out = call.empty(x.shape)
    call.run(_core.add, x, y, out)
    return call.wrap(out)
