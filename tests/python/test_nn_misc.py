"""foveal.nn batch_norm, fold_batch_norm, relu, sigmoid, softmax and add against torch and the
float64 oracles (tests/reference/nn_misc_ref.py), and bad input."""

import numpy as np
import pytest

import foveal
import foveal.nn as fnn
from reference.nn_misc_ref import batch_norm_ref, sigmoid_ref, softmax_ref

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
F = torch.nn.functional
T = torch.from_numpy

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}


def _bn_params(rng, c, dtype):
    return (rng.standard_normal(c).astype(dtype), rng.uniform(0.1, 3.0, c).astype(dtype),
            rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (4, 6), (1, 5, 9), (0, 3, 2, 2), (3, 1, 1, 1)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm(shape, dtype, affine):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    m, v, w, b = _bn_params(rng, shape[1], dtype)
    w, b = (w, b) if affine else (None, None)
    got = fnn.batch_norm(x, m, v, w, b, eps=1e-3)
    want = F.batch_norm(T(x), T(m), T(v), None if w is None else T(w), None if b is None else T(b), False,
                        0.1, 1e-3).numpy()
    assert got.shape == x.shape and got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5 if dtype ==
                               np.float32 else 1e-12)
    np.testing.assert_allclose(got, batch_norm_ref(x, m, v, w, b, 1e-3), rtol=1e-5 if dtype == np.float32 else
                               1e-12, atol=1e-5 if dtype == np.float32 else 1e-12)


def test_fold_batch_norm_matches_frozen_bn_after_conv():
    """conv2d with the folded weight/bias equals conv2d then torchvision's FrozenBatchNorm2d
    (whose default eps, 1e-5, is ours)."""
    from torchvision.ops import FrozenBatchNorm2d

    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 9, 9))
    w = rng.standard_normal((6, 4, 3, 3))
    cb = rng.standard_normal(6)
    m, v, g, h = _bn_params(rng, 6, np.float64)
    bn = FrozenBatchNorm2d(6).double()
    assert bn.eps == 1e-5
    bn.running_mean.copy_(T(m)), bn.running_var.copy_(T(v)), bn.weight.copy_(T(g)), bn.bias.copy_(T(h))
    want = bn(F.conv2d(T(x), T(w), T(cb), padding=1)).numpy()
    wf, bf = fnn.fold_batch_norm(w, cb, m, v, g, h)
    np.testing.assert_allclose(fnn.conv2d(x, wf, bf, padding=1), want, rtol=1e-11, atol=1e-11)
    wf0, bf0 = fnn.fold_batch_norm(w, None, m, v, g, h, eps=0.1)  # no conv bias: zero
    scale = g / np.sqrt(v + 0.1)
    np.testing.assert_allclose(wf0, w * scale[:, None, None, None], rtol=1e-14)
    np.testing.assert_allclose(bf0, -m * scale + h, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_sigmoid_add(dtype):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((3, 5, 7, 11)) * 10).astype(dtype)
    y = rng.standard_normal(x.shape).astype(dtype)
    x.flat[::17] = 0.0
    np.testing.assert_array_equal(fnn.relu(x), F.relu(T(x)).numpy())
    np.testing.assert_allclose(fnn.sigmoid(x), torch.sigmoid(T(x)).numpy(), **TOL[dtype])
    np.testing.assert_allclose(fnn.sigmoid(x), sigmoid_ref(x), **TOL[dtype])
    np.testing.assert_array_equal(fnn.add(x, y), (T(x) + T(y)).numpy())
    big = rng.standard_normal(100_003).astype(dtype)  # several parallel blocks plus a tail
    np.testing.assert_array_equal(fnn.relu(big), np.maximum(big, 0))


def test_relu_sigmoid_special_values():
    x = np.array([np.nan, -np.inf, np.inf, -0.0, -800.0, 800.0])
    r = fnn.relu(x)
    assert np.isnan(r[0]) and list(r[1:]) == [0.0, np.inf, 0.0, 0.0, 800.0]
    s = fnn.sigmoid(x)
    assert np.isnan(s[0]) and list(s[1:]) == [0.0, 1.0, 0.5, 0.0, 1.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, dim", [((4, 10), 1), ((4, 10), 0), ((2, 3, 5, 7), 1), ((2, 3, 5, 7), -1),
                                        ((2, 3, 5, 7), 2), ((91,), 0), ((1000, 91), -1)])
def test_softmax(shape, dim, dtype):
    x = (np.random.default_rng(3).standard_normal(shape) * 5).astype(dtype)
    got = fnn.softmax(x, dim)
    np.testing.assert_allclose(got, torch.softmax(T(x), dim).numpy(), **TOL[dtype])
    np.testing.assert_allclose(got, softmax_ref(x, dim), **TOL[dtype])


def test_softmax_is_stable_for_large_logits():
    x = np.array([[1000.0, 1000.0, -1000.0], [-1e30, 0.0, 1e30]], np.float32)
    got = fnn.softmax(x, 1)
    np.testing.assert_allclose(got, [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]], atol=1e-7)
    assert np.isnan(fnn.softmax(np.array([1.0, np.nan]), 0)).all()


def test_torch_io_and_inputs_untouched():
    x = torch.randn(2, 3, 4)
    x0 = x.clone()
    assert torch.equal(fnn.relu(x), F.relu(x))
    torch.testing.assert_close(fnn.softmax(x, 2), torch.softmax(x, 2))
    assert torch.equal(x, x0)


def test_bad_input():
    x = np.zeros((2, 3, 4, 4), np.float32)
    c = np.ones(3, np.float32)
    with pytest.raises(foveal.FovealValueError, match=r"batch_norm: running_mean must have shape \(3,\)"):
        fnn.batch_norm(x, np.zeros(4, np.float32), c)
    with pytest.raises(foveal.FovealValueError, match=r"batch_norm: input must have shape \(N, C, ...\)"):
        fnn.batch_norm(np.zeros(3, np.float32), c, c)
    with pytest.raises(foveal.FovealValueError, match="batch_norm: eps must be finite and non-negative"):
        fnn.batch_norm(x, c, c, eps=-1.0)
    with pytest.raises(foveal.FovealTypeError, match="batch_norm: .*float64|batch_norm: running_var"):
        fnn.batch_norm(x, c, c.astype(np.float64))
    w = np.zeros((3, 2, 1, 1), np.float32)
    with pytest.raises(foveal.FovealValueError, match=r"fold_batch_norm: bn_bias must have shape \(3,\)"):
        fnn.fold_batch_norm(w, None, c, c, c, np.ones(2, np.float32))
    with pytest.raises(foveal.FovealValueError, match=r"fold_batch_norm: conv_bias must have shape \(3,\)"):
        fnn.fold_batch_norm(w, np.ones(4, np.float32), c, c, c, c)
    with pytest.raises(foveal.FovealValueError, match=r"add: b must have shape \(2, 3, 4, 4\)"):
        fnn.add(x, np.zeros((2, 3, 4, 1), np.float32))
    with pytest.raises(foveal.FovealValueError, match=r"softmax: dim must be in \[-4, 4\)"):
        fnn.softmax(x, 4)
    with pytest.raises(foveal.FovealTypeError, match="softmax: dim must be an int"):
        fnn.softmax(x, 1.0)
