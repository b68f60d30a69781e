# SPDX-License-Identifier: Apache-2.0
"""Batches of images for the restoration filters: ``batch_axis=`` or a list of images.

:func:`batchable` adds a keyword-only ``batch_axis`` to a filter ``f(image, ...)``:

- ``f(images, ..., batch_axis=k)`` filters every ``images[..., i, ...]`` (index ``i`` on axis
  ``k``) and stacks the results along axis ``k`` again (in the images' array library);
- ``f([a, b, ...], ...)`` (a list or tuple; the images may differ in shape) returns a list.

The other arguments (``channel_axis`` included) are those of one image. The images run in
parallel on a pool of Python threads (as many as cores): the native kernels release the GIL, and
each call gets ``cores // workers`` CPU threads (one when the batch has at least as many images
as cores; more, inside each image, for a small batch).

Ctrl-C while a batch runs: the calling thread sets a :class:`foveal._core.CancelFlag` that every
kernel of the batch polls between row blocks, waits for them to stop, and re-raises the
KeyboardInterrupt; nothing is returned. :func:`cancel_flag` is the flag a kernel call made on a
batch worker passes as ``cancel=``.
"""
from __future__ import annotations

import functools
import inspect
import operator
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, Callable

import numpy as np

from .. import _core
from .._errors import FovealTypeError, FovealValueError

_LOCAL = threading.local()
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """The batch workers, created once (a pool per call would cost more than a small image)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=_workers(1 << 30), thread_name_prefix="foveal-batch")
        return _POOL


def cancel_flag() -> Any:
    """The cancellation flag of the batch this thread works for (None outside a batch)."""
    return getattr(_LOCAL, "flag", None)


def _workers(n: int) -> int:
    env = os.environ.get("FOVEAL_NUM_THREADS")
    try:
        cores = int(env) if env else len(os.sched_getaffinity(0))
    except (ValueError, AttributeError):
        cores = os.cpu_count() or 1
    return max(1, min(n, cores))


def run_batch(fn: Callable[[Any], Any], items: list[Any], op: str) -> list[Any]:
    """``[fn(x) for x in items]`` on a thread pool, cancellable as the module docstring says. The
    first error (in item order) is raised after every item has finished."""
    # A batch inside a batch worker runs in that worker (waiting on the shared pool could deadlock).
    if len(items) <= 1 or _workers(len(items)) == 1 or cancel_flag() is not None:
        return [fn(x) for x in items]
    flag = _core.CancelFlag()
    # each image gets its share of the cores (parallel over images, and inside each when the
    # batch is smaller than the core count), so that the calls do not oversubscribe the CPU
    flag.threads = max(1, _workers(1 << 30) // _workers(len(items)))

    def one(x: Any) -> Any:
        _LOCAL.flag = flag
        try:
            return fn(x)
        finally:
            _LOCAL.flag = None

    futures = [_pool().submit(one, x) for x in items]
    try:
        wait(futures)
    except BaseException:  # KeyboardInterrupt (or another signal handler's error): stop the kernels
        flag.set()
        for f in futures:
            f.cancel()
        wait(futures)
        raise
    return [f.result() for f in futures]


def _stack(results: list[Any], axis: int) -> Any:
    first = results[0]
    if isinstance(first, tuple):  # several outputs per image (blind_richardson_lucy): each stacked
        return tuple(_stack([r[i] for r in results], axis) for i in range(len(first)))
    if isinstance(first, np.ndarray):
        return np.stack(results, axis=axis)
    mod = type(first).__module__.split(".")[0]
    if mod == "torch":
        import torch

        return torch.stack(results, dim=axis)
    if mod == "cupy":
        import cupy

        return cupy.stack(results, axis=axis)
    import jax.numpy as jnp

    return jnp.stack(results, axis=axis)


_BATCH_AXIS_DOC = """\
    batch_axis : int or None, optional
        Axis of ``image`` holding a batch of images, processed in parallel (one call for many
        images; the other arguments, ``channel_axis`` and ``psf`` included, are those of one
        image); the results are stacked on the same axis (each of them, for a function with
        several outputs). A list or tuple of images (shapes may differ) also runs as a batch and
        returns a list. See :mod:`foveal.restoration._batch`."""


def batchable(
    fn: Callable[..., Any] | None = None,
    *,
    item_kwargs: Callable[[dict[str, Any], int], list[dict[str, Any]]] | None = None,
    stack: Callable[[list[Any], int], Any] | None = None,
) -> Any:
    """Adds ``batch_axis`` (and list-of-images input) to filter ``fn(image, ...)``.

    ``item_kwargs(kwargs, n)``, when given, makes the n images' keyword arguments (e.g. one random
    generator each); ``stack(results, axis)`` replaces the default stacking of the results."""
    if fn is None:
        return lambda f: batchable(f, item_kwargs=item_kwargs, stack=stack)
    op = fn.__name__
    stack_results = stack or _stack

    def run_items(items: list[Any], args: tuple, kwargs: dict[str, Any]) -> list[Any]:
        if item_kwargs is None:
            return run_batch(lambda x: fn(x, *args, **kwargs), items, op)
        pairs = list(zip(items, item_kwargs(kwargs, len(items))))
        return run_batch(lambda p: fn(p[0], *args, **p[1]), pairs, op)

    @functools.wraps(fn)
    def wrapper(image: Any, *args: Any, batch_axis: int | None = None, **kwargs: Any) -> Any:
        if isinstance(image, (list, tuple)):
            if batch_axis is not None:
                raise FovealValueError(f"{op}: batch_axis must be None when image is a list of images, got {batch_axis!r}")
            return run_items(list(image), args, kwargs)
        if batch_axis is None:
            return fn(image, *args, **kwargs)
        if isinstance(batch_axis, (bool, np.bool_)):
            raise FovealTypeError(f"{op}: batch_axis must be None or an integer, got bool {batch_axis!r}")
        try:
            ax = operator.index(batch_axis)
        except TypeError:
            raise FovealTypeError(
                f"{op}: batch_axis must be None or an integer, got {type(batch_axis).__name__} {batch_axis!r}"
            ) from None
        ndim = getattr(image, "ndim", None)
        if ndim is None:
            raise FovealTypeError(f"{op}: image must be an array or a list of arrays, got {type(image).__name__}")
        if not -ndim <= ax < ndim:
            raise FovealValueError(f"{op}: batch_axis must be an axis of image (-{ndim} <= batch_axis < {ndim}), got {ax}")
        ax %= ndim
        n = int(image.shape[ax])
        if n == 0:
            raise FovealValueError(f"{op}: the batch must hold at least one image, got shape {tuple(image.shape)}")
        lead = (slice(None),) * ax
        items = [image[lead + (i,)] for i in range(n)]
        return stack_results(run_items(items, args, kwargs), ax)

    if fn.__doc__ and "\n    Returns\n" in fn.__doc__:
        head, tail = fn.__doc__.split("\n    Returns\n", 1)
        wrapper.__doc__ = head + _BATCH_AXIS_DOC + "\n\n    Returns\n" + tail
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    params.append(inspect.Parameter("batch_axis", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="int | None"))
    wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    return wrapper
