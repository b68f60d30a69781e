"""Array-library interop: numpy in -> numpy out, torch in -> torch out (CPU and
CUDA), cupy / jax CUDA arrays, CPU == CUDA parity, float16 on CUDA, streams.

CUDA tests carry the ``needs_cuda`` marker (tests/conftest.py) and are skipped
with a reason when ``foveal.cuda_available()`` is False."""

from __future__ import annotations

import functools
import zlib

import numpy as np
import pytest
import torch

import foveal
from foveal.ops import box_iou, nms
from reference.box_data import (
    SCENARIOS,
    THRESHOLDS,
    extreme_coordinate_boxes,
    random_boxes,
    random_scores,
    scenario,
    subnormal_area_boxes,
)
from reference.box_ref import box_iou_ref, compute_dtype, nms_ref

TORCH_TO_NP = {
    torch.float16: np.float16,
    torch.float32: np.float32,
    torch.float64: np.float64,
    torch.int64: np.int64,
    torch.int32: np.int32,
    torch.uint8: np.uint8,
    torch.bool: np.bool_,
}


def _boxes(n, seed=0, field=80.0):
    return random_boxes(np.random.default_rng(seed), n, field=field, min_size=2.0, max_size=30.0)


# ------------------------------------------------------------------ torch CPU


@pytest.mark.parametrize(
    "tdtype, want",
    [
        (torch.float32, torch.float32),
        (torch.float64, torch.float64),
        (torch.float16, torch.float32),
        (torch.int64, torch.float32),
        (torch.int32, torch.float32),
        (torch.uint8, torch.float32),
    ],
)
def test_torch_cpu_box_iou(tdtype, want):
    b1 = torch.from_numpy(_boxes(33, 1).round()).to(tdtype)
    b2 = torch.from_numpy(_boxes(17, 2).round()).to(tdtype)
    out = box_iou(b1, b2)
    assert isinstance(out, torch.Tensor)
    assert out.dtype == want and out.device.type == "cpu" and out.shape == (33, 17)
    np_out = box_iou(b1.numpy(), b2.numpy())
    assert np_out.dtype == TORCH_TO_NP[want]
    np.testing.assert_array_equal(out.numpy(), np_out)


@pytest.mark.parametrize("tdtype", [torch.float32, torch.float64, torch.float16, torch.int64])
def test_torch_cpu_nms(tdtype):
    rng = np.random.default_rng(3)
    b = random_boxes(rng, 300, field=150.0, min_size=3.0, max_size=40.0).round()
    s = rng.permutation(300) / 512.0
    tb = torch.from_numpy(b).to(tdtype)
    ts = torch.from_numpy(s).to(torch.float32 if tdtype == torch.int64 else tdtype)
    keep = nms(tb, ts, 0.5)
    assert isinstance(keep, torch.Tensor)
    assert keep.dtype == torch.int64 and keep.device.type == "cpu" and keep.ndim == 1
    np_keep = nms(tb.numpy(), ts.numpy(), 0.5)
    np.testing.assert_array_equal(keep.numpy(), np_keep)
    cdt = compute_dtype(tb.numpy().dtype, ts.numpy().dtype)
    np.testing.assert_array_equal(
        keep.numpy(), nms_ref(tb.numpy().astype(cdt), ts.numpy(), 0.5, cdt)
    )


def test_torch_cpu_empty():
    keep = nms(torch.zeros((0, 4)), torch.zeros((0,)), 0.5)
    assert isinstance(keep, torch.Tensor) and keep.dtype == torch.int64 and keep.shape == (0,)
    out = box_iou(torch.zeros((0, 4)), torch.zeros((5, 4)))
    assert isinstance(out, torch.Tensor) and out.shape == (0, 5) and out.dtype == torch.float32


def test_torch_cpu_non_contiguous():
    b = torch.from_numpy(_boxes(200, 4)).float()
    s = torch.from_numpy(random_scores(np.random.default_rng(4), 200)).float()
    want_keep = nms(b[::2].contiguous(), s[::2].contiguous(), 0.5)
    want_iou = box_iou(b[::2].contiguous(), b[:9].contiguous())
    wide = torch.zeros((200, 9))
    wide[:, 3:7] = b
    views = [b[::2], b.t().contiguous().t()[::2], wide[::2, 3:7]]
    for v in views:
        assert not v.is_contiguous()
        torch.testing.assert_close(v, b[::2], rtol=0, atol=0)
        assert torch.equal(nms(v, s[::2], 0.5), want_keep)
        assert torch.equal(box_iou(v, b[:9]), want_iou)
    assert torch.equal(nms(b[::2], torch.stack([s, s], 1)[::2, 1], 0.5), want_keep)


def test_numpy_in_numpy_out():
    b = _boxes(10).astype(np.float32)
    assert type(box_iou(b, b)) is np.ndarray
    assert type(nms(b, np.ones(10, np.float32), 0.5)) is np.ndarray


# ------------------------------------------------------------------ no-CUDA build


def test_cuda_tensor_without_cuda_build_is_clear_error():
    if foveal.build_info()["cuda_compiled"]:
        pytest.skip("foveal is built with CUDA")
    if not torch.cuda.is_available():
        pytest.skip("torch cannot build a CUDA tensor here (no CUDA device)")
    b = torch.zeros((3, 4), device="cuda")
    b[:, 2:] = 1
    with pytest.raises((ValueError, RuntimeError), match="(?i)cuda"):
        box_iou(b, b)
    with pytest.raises((ValueError, RuntimeError), match="(?i)cuda"):
        nms(b, torch.ones(3, device="cuda"), 0.5)


# ------------------------------------------------------------------ CUDA


@functools.lru_cache(maxsize=None)
def _cpu_case(name, dtype_name, thr):
    dtype = np.dtype(dtype_name)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    b, s, _ = scenario(name, rng, thr=thr)
    b, s = b.astype(dtype), s.astype(dtype)
    return b, s, nms_ref(b, s, thr, dtype)


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_cuda_box_iou_parity(dtype):
    b1 = torch.from_numpy(_boxes(257, 5)).to(dtype)
    b2 = torch.from_numpy(_boxes(100, 6)).to(dtype)
    cpu = box_iou(b1, b2)
    out = box_iou(b1.cuda(), b2.cuda())
    assert isinstance(out, torch.Tensor)
    assert out.device == torch.device("cuda", torch.cuda.current_device())
    assert out.dtype == dtype and out.shape == (257, 100)
    rtol = 1e-6 if dtype == torch.float32 else 1e-14
    np.testing.assert_allclose(out.cpu().numpy(), cpu.numpy(), rtol=rtol, atol=1e-30)


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_torch_cuda_box_iou_special_values(dtype):
    b = scenario("nonfinite_coords", np.random.default_rng(9))[0][:120].astype(dtype)
    b = np.concatenate([b, scenario("degenerate", np.random.default_rng(9))[0][:80].astype(dtype)])
    out = box_iou(torch.from_numpy(b).cuda(), torch.from_numpy(b).cuda()).cpu().numpy()
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(out, box_iou_ref(b, b, dtype), rtol=rtol, atol=1e-30, equal_nan=True)


@pytest.mark.needs_cuda
@pytest.mark.parametrize("thr", THRESHOLDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", SCENARIOS)
def test_torch_cuda_nms_same_keep_as_cpu(name, dtype, thr):
    b, s, ref = _cpu_case(name, np.dtype(dtype).name, thr)
    tb, ts = torch.from_numpy(b), torch.from_numpy(s)
    keep_cuda = nms(tb.cuda(), ts.cuda(), thr)
    assert isinstance(keep_cuda, torch.Tensor)
    assert keep_cuda.is_cuda and keep_cuda.dtype == torch.int64
    np.testing.assert_array_equal(keep_cuda.cpu().numpy(), ref)
    np.testing.assert_array_equal(keep_cuda.cpu().numpy(), nms(b, s, thr))


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_torch_cuda_nms_subnormal_and_extreme(dtype):
    """Same IEEE semantics on the GPU: subnormal areas (no flush to zero) and
    coordinates near finfo.max (compared with the oracle, not with the CPU)."""
    rng = np.random.default_rng(16)
    for b in (subnormal_area_boxes(rng, 300, dtype), extreme_coordinate_boxes(dtype)):
        s = random_scores(rng, len(b)).astype(dtype)
        tb, ts = torch.from_numpy(b).cuda(), torch.from_numpy(s).cuda()
        for thr in (0.0, 0.5, 0.7):
            keep = nms(tb, ts, thr).cpu().numpy()
            np.testing.assert_array_equal(keep, nms_ref(b, s, thr, dtype))
        iou = box_iou(tb, tb).cpu().numpy()
        rtol = 1e-6 if dtype == np.float32 else 1e-14
        np.testing.assert_allclose(iou, box_iou_ref(b, b, dtype), rtol=rtol, atol=0, equal_nan=True)


@pytest.mark.needs_cuda
def test_torch_cuda_empty_and_single():
    keep = nms(torch.zeros((0, 4), device="cuda"), torch.zeros((0,), device="cuda"), 0.5)
    assert keep.is_cuda and keep.dtype == torch.int64 and keep.shape == (0,)
    one = torch.tensor([[0.0, 0.0, 1.0, 1.0]], device="cuda")
    assert nms(one, torch.ones(1, device="cuda"), 0.5).cpu().tolist() == [0]


@pytest.mark.needs_cuda
def test_torch_cuda_float16():
    rng = np.random.default_rng(10)
    b16 = random_boxes(rng, 500, field=200.0, min_size=2.0, max_size=40.0).astype(np.float16)
    s16 = random_scores(rng, 500).astype(np.float16)
    tb = torch.from_numpy(b16).cuda()
    out = box_iou(tb, tb[:77])
    assert out.dtype == torch.float16 and out.is_cuda
    ref = box_iou_ref(b16.astype(np.float32), b16[:77].astype(np.float32), np.float32)
    np.testing.assert_allclose(out.cpu().numpy().astype(np.float32), ref, rtol=1e-3, atol=1e-7)
    for thr in (0.3, 0.5, 0.7):
        keep = nms(tb, torch.from_numpy(s16).cuda(), thr)
        assert keep.dtype == torch.int64 and keep.is_cuda
        np.testing.assert_array_equal(
            keep.cpu().numpy(), nms_ref(b16.astype(np.float32), s16, thr, np.float32)
        )


@pytest.mark.needs_cuda
def test_torch_cuda_non_default_stream():
    b = torch.from_numpy(_boxes(3000, 11, field=1500.0)).float()
    s = torch.from_numpy(random_scores(np.random.default_rng(11), 3000)).float()
    want_iou = box_iou(b, b[:100])
    want_keep = nms(b, s, 0.5)
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        gb = b.to("cuda", non_blocking=True)
        gs = s.to("cuda", non_blocking=True)
        gb = gb * 1.0  # enqueue work on this stream before the call
        out = box_iou(gb, gb[:100])
        keep = nms(gb, gs, 0.5)
    stream.synchronize()
    np.testing.assert_allclose(out.cpu().numpy(), want_iou.numpy(), rtol=1e-6, atol=1e-30)
    np.testing.assert_array_equal(keep.cpu().numpy(), want_keep.numpy())


@pytest.mark.needs_cuda
def test_torch_cuda_non_contiguous():
    b = torch.from_numpy(_boxes(400, 12)).float().cuda()
    s = torch.from_numpy(random_scores(np.random.default_rng(12), 400)).float().cuda()
    want = nms(b[::2].contiguous(), s[::2].contiguous(), 0.5)
    assert torch.equal(nms(b.t().contiguous().t()[::2], s[::2], 0.5), want)
    assert torch.equal(box_iou(b[::3], b[1::5]), box_iou(b[::3].contiguous(), b[1::5].contiguous()))


@pytest.mark.needs_cuda
def test_cpu_and_cuda_mixed_is_error():
    b = torch.from_numpy(_boxes(5)).float()
    with pytest.raises((ValueError, RuntimeError), match="(?i)cuda"):
        nms(b.cuda(), torch.ones(5), 0.5)
    with pytest.raises((ValueError, RuntimeError), match="(?i)cuda"):
        box_iou(b, b.cuda())


@pytest.mark.needs_cuda
def test_second_device():
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two CUDA devices")
    b = torch.from_numpy(_boxes(50)).float()
    s = torch.ones(50)
    out = box_iou(b.to("cuda:1"), b.to("cuda:1"))
    assert out.device == torch.device("cuda", 1)
    keep = nms(b.to("cuda:1"), s.to("cuda:1"), 0.5)
    assert keep.device == torch.device("cuda", 1)
    np.testing.assert_array_equal(keep.cpu().numpy(), nms(b.numpy(), s.numpy(), 0.5))
    with pytest.raises((ValueError, RuntimeError), match="(?i)cuda"):
        box_iou(b.to("cuda:0"), b.to("cuda:1"))


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_cupy_arrays(dtype):
    cp = pytest.importorskip("cupy")
    rng = np.random.default_rng(13)
    b = random_boxes(rng, 333, field=150.0, min_size=2.0, max_size=40.0).astype(dtype)
    s = random_scores(rng, 333).astype(dtype)
    gb, gs = cp.asarray(b), cp.asarray(s)
    out = box_iou(gb, gb[:40])
    assert isinstance(out, cp.ndarray)
    assert out.device.id == gb.device.id
    assert out.dtype == np.dtype(dtype)  # float16 stays float16 on CUDA
    cdt = np.float32 if dtype == "float16" else np.dtype(dtype)
    ref = box_iou_ref(b.astype(cdt), b[:40].astype(cdt), cdt)
    rtol = {"float16": 1e-3, "float32": 1e-6, "float64": 1e-14}[dtype]
    np.testing.assert_allclose(cp.asnumpy(out).astype(cdt), ref, rtol=rtol, atol=1e-7)
    keep = nms(gb, gs, 0.5)
    assert isinstance(keep, cp.ndarray) and keep.dtype == np.int64
    np.testing.assert_array_equal(cp.asnumpy(keep), nms_ref(b.astype(cdt), s, 0.5, cdt))
    # strided cupy view
    np.testing.assert_array_equal(
        cp.asnumpy(nms(gb[::2], gs[::2], 0.5)), nms_ref(b[::2].astype(cdt), s[::2], 0.5, cdt)
    )


@pytest.mark.needs_cuda
def test_cupy_non_default_stream_and_mixing():
    cp = pytest.importorskip("cupy")
    b = _boxes(2000, 14, field=1000.0).astype(np.float32)
    s = random_scores(np.random.default_rng(14), 2000).astype(np.float32)
    with cp.cuda.Stream(non_blocking=True) as stream:
        gb, gs = cp.asarray(b), cp.asarray(s)
        keep = nms(gb, gs, 0.5)
        out = box_iou(gb, gb[:64])
    stream.synchronize()
    np.testing.assert_array_equal(cp.asnumpy(keep), nms(b, s, 0.5))
    np.testing.assert_allclose(cp.asnumpy(out), box_iou(b, b[:64]), rtol=1e-6, atol=1e-30)
    with pytest.raises(TypeError):
        nms(gb, torch.from_numpy(s).cuda(), 0.5)


@pytest.mark.needs_cuda
def test_jax_cuda_arrays():
    jax = pytest.importorskip("jax")
    try:
        gpu = jax.devices("gpu")[0]
    except RuntimeError:
        pytest.skip("jax has no GPU backend here")
    b = _boxes(300, 15).astype(np.float32)
    s = random_scores(np.random.default_rng(15), 300).astype(np.float32)
    jb, js = jax.device_put(b, gpu), jax.device_put(s, gpu)
    out = box_iou(jb, jb)
    assert isinstance(out, jax.Array)
    np.testing.assert_allclose(np.asarray(out), box_iou(b, b), rtol=1e-6, atol=1e-30)
    keep = nms(jb, js, 0.5)
    assert isinstance(keep, jax.Array)
    np.testing.assert_array_equal(np.asarray(keep), nms(b, s, 0.5))


def _core_box_iou(a, b, out):
    from foveal import _core

    _core.box_iou(a, b, out, stream=0)
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_core_reads_torch_tensors_by_attribute(dtype):
    """The native layer reads a torch tensor through data_ptr / shape / stride / dtype (no
    DLPack or array-interface round trip): values, dtypes, strides and offsets all arrive."""
    a = torch.from_numpy(_boxes(9, seed=1)).to(dtype)
    base = torch.from_numpy(_boxes(12, seed=2)).to(dtype)
    b = base[3:10]  # a view with a storage offset
    out = torch.full((9, 7), float("nan"), dtype=dtype)
    got = _core_box_iou(a, b, out)
    want = box_iou_ref(a.numpy().astype(np.float64), b.numpy().astype(np.float64))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6 if dtype == torch.float32 else 1e-12, atol=1e-7)
    with pytest.raises(foveal.FovealValueError, match="boxes1"):  # strides arrive: a transposed view is caught
        _core_box_iou(torch.from_numpy(_boxes(4, seed=3).T.copy()).to(dtype).T, b, torch.empty((4, 7), dtype=dtype))


def test_core_torch_tensor_errors():
    b = torch.from_numpy(_boxes(3)).float()
    out = torch.empty((3, 3))
    with pytest.raises(foveal.FovealTypeError, match=r"boxes1: unsupported dtype torch\.complex64"):
        _core_box_iou(b.to(torch.complex64), b, out)
    with pytest.raises(foveal.FovealError, match="torch device 'meta'"):
        _core_box_iou(b.to("meta"), b, out)


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_core_reads_torch_cuda_tensors_by_attribute(dtype):
    a = torch.from_numpy(_boxes(9, seed=1)).to("cuda", dtype)
    b = torch.from_numpy(_boxes(12, seed=2)).to("cuda", dtype)[3:10]
    got = _core_box_iou(a, b, torch.full((9, 7), float("nan"), dtype=dtype, device="cuda"))
    want = box_iou(a.cpu().float().numpy(), b.cpu().float().numpy())
    np.testing.assert_allclose(got.float().cpu().numpy(), want, rtol=2e-2, atol=2e-3)
