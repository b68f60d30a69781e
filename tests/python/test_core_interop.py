# SPDX-License-Identifier: Apache-2.0
"""The native borrow path (foveal._core) with each array protocol, on any machine."""
import numpy as np
import pytest

import foveal
from foveal import _core
from reference.box_ref import box_iou_ref, nms_ref


class DLPackOnly:
    """Exposes an array through __dlpack__ / __dlpack_device__ and nothing else."""

    def __init__(self, a):
        self._a = a

    def __dlpack__(self, stream=None):
        return self._a.__dlpack__()

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()


class FakeCudaArray:
    """A __cuda_array_interface__ whose pointer is not device memory."""

    def __init__(self, shape, typestr="<f4"):
        self.__cuda_array_interface__ = {
            "shape": shape,
            "typestr": typestr,
            "data": (0x10000, False),
            "strides": None,
            "version": 3,
        }


def _boxes(n, seed):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (n, 2))
    return np.concatenate([xy, xy + rng.uniform(1, 40, (n, 2))], 1).astype(np.float32)


def test_dlpack_inputs_and_output():
    b = _boxes(19, 0)
    s = np.random.default_rng(1).random(19).astype(np.float32)
    out = np.full((19, 19), -1.0, np.float32)
    _core.box_iou(DLPackOnly(b), DLPackOnly(b), DLPackOnly(out))
    np.testing.assert_allclose(out, box_iou_ref(b, b), rtol=1e-6, atol=1e-7)
    keep = np.zeros(19, np.int64)
    count = _core.nms(DLPackOnly(b), DLPackOnly(s), 0.3, DLPackOnly(keep))
    np.testing.assert_array_equal(keep[:count], nms_ref(b, s, 0.3))


def test_strided_views_are_rejected_by_the_strict_core():
    b = _boxes(10, 2)
    out = np.empty((5, 10), np.float32)
    with pytest.raises(ValueError, match="boxes1 must be C-contiguous"):
        _core.box_iou(b[::2], b, out)


def test_fake_cuda_array_gives_a_clear_error():
    # Without a CUDA build: NotImplementedError; with CUDA but no GPU: a CUDA runtime error;
    # with a GPU: the pointer is host memory. Each names CUDA, none crashes.
    fake = FakeCudaArray((3, 4))
    out = FakeCudaArray((3, 3))
    with pytest.raises((RuntimeError, ValueError), match="boxes1: .*(?i:cuda)"):
        _core.box_iou(fake, fake, out)
    if not foveal.build_info()["cuda_compiled"]:
        with pytest.raises(NotImplementedError, match="boxes1: is a CUDA array, but this build of foveal has no CUDA support"):
            _core.box_iou(fake, fake, out)


def test_read_only_output_is_refused():
    b = _boxes(4, 3)
    out = np.empty((4, 4), np.float32)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out: must be a writable array"):
        _core.box_iou(b, b, out)


@pytest.mark.parametrize(
    "bad, match",
    [
        ([[0, 0, 1, 1]], "boxes1: expected an array"),
        (np.zeros((1, 4), np.complex64), "boxes1: unsupported dtype"),
        (np.zeros((1, 4), object), "boxes1: unsupported dtype"),
    ],
)
def test_non_arrays_and_bad_dtypes(bad, match):
    out = np.empty((1, 1), np.float32)
    with pytest.raises(TypeError, match=match):
        _core.box_iou(bad, np.zeros((1, 4), np.float32), out)


def test_core_dtype_rules_are_strict():
    b32 = _boxes(3, 4)
    out = np.empty((3, 3), np.float32)
    with pytest.raises(TypeError, match="box_iou: boxes2 has dtype float64 but boxes1 has dtype float32"):
        _core.box_iou(b32, b32.astype(np.float64), out)
    with pytest.raises(TypeError, match=r"float16 only on CUDA"):
        _core.box_iou(b32.astype(np.float16), b32.astype(np.float16), out.astype(np.float16))
    with pytest.raises(TypeError, match="keep must be int64"):
        _core.nms(b32, b32[:, 0].copy(), 0.5, np.empty(3, np.int32))
    with pytest.raises(ValueError, match=r"keep must be 1-D with at least 3 elements"):
        _core.nms(b32, b32[:, 0].copy(), 0.5, np.empty(2, np.int64))
