"""CPU == CUDA for the total-variation denoisers (Chambolle and split Bregman).

The CUDA split Bregman runs its Gauss-Seidel sweep as tiles with a warm start (tv_cuda.cu): the
shapes below put tile edges (32 rows; 96 float32 / 80 float64 columns) inside, on and just past
the image, and the stopping rule is checked by asking for eps values that stop at many sweeps.
"""

import numpy as np
import pytest

from foveal.restoration import denoise_tv_bregman, denoise_tv_chambolle

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.needs_cuda

TOL = {np.float32: 2e-5, np.float64: 1e-10}

BREGMAN_SHAPES = [(2, 2), (5, 3), (2, 300), (300, 2), (31, 95), (32, 96), (33, 97), (37, 53), (64, 192), (65, 193),
                  (70, 600), (129, 81), (161, 400)]


def _cuda(x):
    return torch.from_numpy(np.ascontiguousarray(x)).cuda()


def _rand(shape, seed, dtype):
    return np.random.default_rng(seed).random(shape).astype(dtype)


@pytest.mark.parametrize("shape", BREGMAN_SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("isotropic", [True, False], ids=["iso", "aniso"])
def test_bregman_cuda_matches_cpu(shape, dtype, isotropic):
    x = _rand(shape, sum(shape), dtype)
    for weight, it in ((2.0, 1), (5.0, 7), (0.5, 40)):
        want = denoise_tv_bregman(x, weight=weight, max_num_iter=it, eps=0.0, isotropic=isotropic)
        got = denoise_tv_bregman(_cuda(x), weight=weight, max_num_iter=it, eps=0.0, isotropic=isotropic)
        assert got.is_cuda and got.dtype == torch.from_numpy(want).dtype and tuple(got.shape) == want.shape
        np.testing.assert_allclose(got.cpu().numpy(), want, rtol=0, atol=TOL[dtype], err_msg=f"{weight=} {it=}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_bregman_cuda_stops_where_cpu_stops(dtype):
    """eps > 0: the CUDA stop rule (on the device, polled every 32 sweeps) picks the CPU's sweep."""
    x = _rand((70, 130), 4, dtype)
    outs = set()
    for eps in (3e-2, 1e-2, 5e-3, 2e-3, 1e-3, 5e-4, 2e-4, 1e-4, 5e-5):
        want = denoise_tv_bregman(x, weight=2.0, eps=eps, max_num_iter=200)
        got = denoise_tv_bregman(_cuda(x), weight=2.0, eps=eps, max_num_iter=200).cpu().numpy()
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL[dtype], err_msg=f"{eps=}")
        outs.add(want.tobytes())
    assert len(outs) >= 6  # the eps values really stop at different sweeps


@pytest.mark.parametrize("joint", [False, True])
def test_bregman_cuda_channels_and_batches(joint):
    """Channels (own or shared stop rule) and a batch axis: each plane of the CUDA state."""
    rng = np.random.default_rng(7)
    x = rng.random((45, 70, 3)).astype(np.float32)
    x[..., 1] *= 0.2  # a channel that converges at another sweep
    if joint:
        want = denoise_tv_bregman(x, weight=3.0, eps=1e-3, channel_axis=-1)
        got = denoise_tv_bregman(_cuda(x), weight=3.0, eps=1e-3, channel_axis=-1)
    else:
        want = denoise_tv_bregman(np.moveaxis(x, -1, 0), weight=3.0, eps=1e-3, batch_axis=0)
        got = denoise_tv_bregman(_cuda(np.moveaxis(x, -1, 0)), weight=3.0, eps=1e-3, batch_axis=0)
    np.testing.assert_allclose(got.cpu().numpy(), want, rtol=0, atol=TOL[np.float32])


def test_bregman_cuda_zero_sweeps_and_input_untouched():
    x = _rand((40, 50), 3, np.float32)
    tx = _cuda(x)
    before = tx.clone()
    np.testing.assert_array_equal(denoise_tv_bregman(tx, weight=2.0, max_num_iter=0).cpu().numpy(), x)
    denoise_tv_bregman(tx, weight=2.0, max_num_iter=5)
    assert torch.equal(tx, before)


@pytest.mark.parametrize(
    "shape", [(2, 2), (37, 53), (256, 300), (1, 1000), (9, 10, 11), (40, 33, 20)], ids=lambda s: "x".join(map(str, s))
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_chambolle_cuda_matches_cpu(shape, dtype):
    x = _rand(shape, 11, dtype)
    for eps, it in ((0.0, 1), (0.0, 30), (2e-4, 200)):
        want = denoise_tv_chambolle(x, weight=0.1, eps=eps, max_num_iter=it)
        got = denoise_tv_chambolle(_cuda(x), weight=0.1, eps=eps, max_num_iter=it)
        assert got.is_cuda and tuple(got.shape) == want.shape
        np.testing.assert_allclose(got.cpu().numpy(), want, rtol=0, atol=TOL[dtype] * 10, err_msg=f"{eps=} {it=}")


def test_chambolle_cuda_channels_and_batches():
    x = _rand((30, 41, 3), 12, np.float32)
    want = denoise_tv_chambolle(x, weight=0.2, channel_axis=-1)
    got = denoise_tv_chambolle(_cuda(x), weight=0.2, channel_axis=-1)
    np.testing.assert_allclose(got.cpu().numpy(), want, rtol=0, atol=2e-4)
    xb = np.moveaxis(x, -1, 0)
    want = denoise_tv_chambolle(xb, weight=0.2, batch_axis=0)
    got = denoise_tv_chambolle(_cuda(xb), weight=0.2, batch_axis=0)
    np.testing.assert_allclose(got.cpu().numpy(), want, rtol=0, atol=2e-4)
