# SPDX-License-Identifier: Apache-2.0
"""The Python contract every op inherits from foveal._arrays.Call: exception classes, real
shapes of 0-d arrays, torch layouts / devices / autograd, scalar arguments, and results that
do not pin oversized buffers."""
import gc
import math

import numpy as np
import pytest
import torch

import foveal
from foveal import FovealTypeError, FovealValueError
from foveal.ops import box_iou, nms
from reference.box_ref import nms_ref


def _boxes(n, seed=0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (n, 2))
    return np.concatenate([xy, xy + rng.uniform(1, 40, (n, 2))], 1).astype(np.float32)


# ------------------------------------------------------------------ exception classes


def test_error_classes_are_also_runtime_errors():
    assert issubclass(FovealValueError, ValueError) and issubclass(FovealValueError, RuntimeError)
    assert issubclass(FovealTypeError, TypeError) and issubclass(FovealTypeError, RuntimeError)
    assert issubclass(foveal.FovealMemoryError, MemoryError)
    assert issubclass(foveal.FovealMemoryError, RuntimeError)
    assert issubclass(foveal.FovealNotCompiledError, NotImplementedError)


@pytest.mark.parametrize("catch", [ValueError, RuntimeError, FovealValueError])
def test_bad_shape_is_catchable_as_torchvision_users_expect(catch):
    with pytest.raises(catch, match=r"nms: boxes must have shape \(N, 4\), got \(3, 5\)"):
        nms(np.zeros((3, 5), np.float32), np.zeros(3, np.float32), 0.5)
    with pytest.raises(catch, match=r"box_iou: boxes2 must have shape \(M, 4\), got \(3,\)"):
        box_iou(np.zeros((3, 4), np.float32), np.zeros((3,), np.float32))


@pytest.mark.parametrize("catch", [TypeError, RuntimeError, FovealTypeError])
def test_bad_dtype_and_library_are_catchable_as_runtime_error(catch):
    with pytest.raises(catch, match="boxes1"):
        box_iou(np.zeros((1, 4), np.complex64), np.zeros((1, 4), np.float32))
    with pytest.raises(catch, match="same array library"):
        nms(np.zeros((1, 4), np.float32), torch.zeros(1), 0.5)
    with pytest.raises(catch, match="boxes"):
        nms([[0, 0, 1, 1]], np.zeros(1, np.float32), 0.5)


def test_same_errors_for_torch_inputs():
    with pytest.raises(RuntimeError, match=r"scores must have shape \(N,\) with N = 3"):
        nms(torch.zeros(3, 4), torch.zeros(4), 0.5)


# ------------------------------------------------------------------ 0-d arrays


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_0d_scores_are_rejected_with_their_real_shape(lib):
    b = _boxes(1)
    s = np.array(0.5, np.float32)
    if lib == "torch":
        b, s = torch.from_numpy(b), torch.tensor(0.5)
    with pytest.raises(ValueError, match=r"scores must have shape \(N,\) with N = 1 .*got \(\)"):
        nms(b, s, 0.5)


def test_0d_boxes_report_shape_empty_tuple():
    with pytest.raises(ValueError, match=r"boxes1 must have shape \(N, 4\), got \(\)"):
        box_iou(np.zeros((), np.float32), _boxes(2))


# ------------------------------------------------------------------ torch layouts and devices


def test_sparse_tensor_is_a_clear_type_error():
    b = torch.from_numpy(_boxes(3)).to_sparse()
    with pytest.raises(TypeError, match=r"box_iou: boxes1 must be a dense \(strided\) tensor, got layout torch.sparse_coo"):
        box_iou(b, torch.from_numpy(_boxes(3)))
    with pytest.warns(UserWarning, match="CSR"):  # torch's own beta warning
        csr = torch.from_numpy(_boxes(3)).to_sparse_csr()
    with pytest.raises(TypeError, match="boxes2 must be a dense"):
        box_iou(torch.from_numpy(_boxes(3)), csr)


def test_meta_tensor_is_a_clear_error():
    m = torch.empty(3, 4, device="meta")
    with pytest.raises(RuntimeError, match=r"nms: boxes must be on the CPU or a CUDA device, got a tensor on 'meta'"):
        nms(m, torch.empty(3, device="meta"), 0.5)
    with pytest.raises(ValueError, match="scores must be on the CPU or a CUDA device"):
        nms(torch.zeros(3, 4), torch.empty(3, device="meta"), 0.5)


# ------------------------------------------------------------------ autograd: refused, never detached


def test_requires_grad_is_refused_not_silently_detached():
    b = torch.from_numpy(_boxes(4)).requires_grad_()
    with pytest.raises(RuntimeError, match=r"box_iou: boxes1 requires grad.*no_grad"):
        box_iou(b, b.detach())
    with pytest.raises(ValueError, match="boxes requires grad"):
        nms(b, torch.rand(4), 0.5)
    with torch.no_grad():  # explicitly without autograd: fine, and b is not touched
        out = box_iou(b, b)
    assert not out.requires_grad
    np.testing.assert_allclose(out.numpy(), box_iou(_boxes(4), _boxes(4)), rtol=0, atol=0)
    assert b.grad is None


# ------------------------------------------------------------------ scalar arguments


@pytest.mark.parametrize("bad", ["0.5", b"0.5", None, 0.5 + 0j, [0.5], np.str_("0.5")])
def test_threshold_must_be_a_real_number(bad):
    with pytest.raises(TypeError, match="nms: iou_threshold must be a real number"):
        nms(_boxes(3), np.ones(3, np.float32), bad)


def test_threshold_nan_is_refused():
    with pytest.raises(ValueError, match="iou_threshold"):
        nms(_boxes(3), np.ones(3, np.float32), float("nan"))
    with pytest.raises(ValueError, match="iou_threshold"):
        nms(_boxes(3), np.ones(3, np.float32), np.float32("nan"))


def test_threshold_beyond_float_range_behaves_as_infinity():
    b = _boxes(40, 3)
    s = np.random.default_rng(4).random(40).astype(np.float32)
    # 10**400 > every IoU: nothing is suppressed; -10**400 < 0: only the best box survives.
    np.testing.assert_array_equal(nms(b, s, 10**400), nms_ref(b, s, math.inf))
    assert nms(b, s, 10**400).size == 40
    np.testing.assert_array_equal(nms(b, s, -(10**400)), [int(np.argmax(s))])


# ------------------------------------------------------------------ results own their memory


def test_small_keep_does_not_pin_the_capacity_buffer():
    n = 200_000
    b = np.tile(np.array([[0, 0, 10, 10]], np.float32), (n, 1))  # all identical: one is kept
    keep = nms(b, np.ones(n, np.float32), 0.5)
    assert keep.tolist() == [0]
    base = keep.base
    assert base is None or base.nbytes < 1024, "keep pins an N-element buffer"


def test_large_keep_is_still_right():
    b = _boxes(3000, 5)
    s = np.random.default_rng(6).random(3000).astype(np.float32)
    keep = nms(b, s, 0.9)
    np.testing.assert_array_equal(keep, nms_ref(b, s, 0.9))


def test_torch_cpu_results_are_torch_tensors_not_aliasing_inputs():
    b = torch.from_numpy(_boxes(50, 7))
    s = torch.rand(50, generator=torch.Generator().manual_seed(0))
    keep = nms(b, s, 0.5)
    assert isinstance(keep, torch.Tensor) and keep.dtype == torch.int64 and keep.device.type == "cpu"
    np.testing.assert_array_equal(keep.numpy(), nms_ref(b.numpy(), s.numpy(), 0.5))
    iou = box_iou(b, b)
    assert isinstance(iou, torch.Tensor) and iou.dtype == torch.float32
    before = b.clone()
    iou.fill_(1e6)  # the result is writable and its own memory
    assert torch.equal(b, before)
    del iou
    gc.collect()


def test_torch_subclass_parameter_is_accepted():
    p = torch.nn.Parameter(torch.from_numpy(_boxes(5, 8)), requires_grad=False)
    np.testing.assert_allclose(box_iou(p, p).numpy(), box_iou(_boxes(5, 8), _boxes(5, 8)))
