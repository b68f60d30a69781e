"""The C++ core's error contract as Python sees it: a host allocation failure inside an op is a
MemoryError naming the op and the size of its workspace (not std::bad_alloc / a bare
"std::bad_alloc" RuntimeError)."""

from __future__ import annotations

import numpy as np
import pytest

import foveal._core as core


class _Huge:
    """A contiguous float32 array interface that claims `shape` over a 16-byte buffer. The core
    fails to allocate its workspace before it reads any element, so nothing past the buffer is
    ever touched."""

    def __init__(self, backing: np.ndarray, shape: tuple[int, ...]):
        self.__array_interface__ = {
            "data": (backing.ctypes.data, False),
            "shape": shape,
            "typestr": "<f4",
            "version": 3,
        }


def test_box_iou_workspace_allocation_failure_is_memory_error():
    backing = np.zeros((1, 4), np.float32)
    m = 2**44  # boxes2 as structure-of-arrays: 5 float32 a box = 352 TB, beyond the address space
    boxes2 = np.asarray(_Huge(backing, (m, 4)))
    out = np.asarray(_Huge(backing, (1, m)))
    assert boxes2.flags.c_contiguous and out.flags.writeable
    expected = r"^box_iou: cannot allocate 351\.8 TB of workspace for 17592186044416 boxes"
    with pytest.raises(MemoryError, match=expected):
        core.box_iou(backing, boxes2, out)
    assert backing.tolist() == [[0.0, 0.0, 0.0, 0.0]]  # nothing was written
