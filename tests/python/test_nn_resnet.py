"""A small ResNet-FPN-Mask-head stack run with foveal alone, checked against the same network in
torch/torchvision (float32, 1e-4 relative to the output's scale): stem conv 7x7/2 with a frozen
batch norm folded in + relu + max pool 3/2, two bottleneck blocks (1x1, 3x3 stride 2, 1x1, a 1x1
stride-2 downsample on the skip path added through conv2d's fused residual epilogue), an FPN
lateral 1x1 + nearest 2x upsample + add, and a 2x2 stride-2 transposed conv mask-head step."""

import numpy as np
import pytest

import foveal.nn as fnn

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
F = torch.nn.functional


class Params:
    """Random conv weights and frozen-BN statistics, as numpy float32 (rng(0))."""

    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)

    def conv(self, cout, cin, k):
        return (self.rng.standard_normal((cout, cin, k, k)) / np.sqrt(cin * k * k)).astype(np.float32)

    def bn(self, c):
        r = self.rng
        return dict(mean=(r.standard_normal(c) * 0.1).astype(np.float32), var=r.uniform(0.5, 2.0, c).astype(np.float32),
                    weight=r.uniform(0.5, 1.5, c).astype(np.float32), bias=(r.standard_normal(c) * 0.1).astype(np.float32))


def _build(p: Params):
    net = {"stem": (p.conv(16, 3, 7), p.bn(16))}
    for name, cin, mid, cout in (("b1", 16, 8, 32), ("b2", 32, 16, 64)):
        net[name] = dict(c1=(p.conv(mid, cin, 1), p.bn(mid)), c2=(p.conv(mid, mid, 3), p.bn(mid)),
                         c3=(p.conv(cout, mid, 1), p.bn(cout)), down=(p.conv(cout, cin, 1), p.bn(cout)))
    net["lat1"] = (p.conv(32, 32, 1), p.rng.standard_normal(32).astype(np.float32) * 0.1)
    net["lat2"] = (p.conv(32, 64, 1), p.rng.standard_normal(32).astype(np.float32) * 0.1)
    net["mask_up"] = ((p.rng.standard_normal((32, 16, 2, 2)) / np.sqrt(32 * 4)).astype(np.float32),
                      p.rng.standard_normal(16).astype(np.float32) * 0.1)
    net["mask_logits"] = (p.conv(3, 16, 1), np.zeros(3, np.float32))
    return net


# -- foveal ------------------------------------------------------------------------------------

def _fold(w, bn):
    return fnn.fold_batch_norm(w, None, bn["mean"], bn["var"], bn["weight"], bn["bias"])


def _foveal_block(x, blk, stride):
    w, b = _fold(*blk["down"])
    skip = fnn.conv2d(x, w, b, stride=stride)
    w, b = _fold(*blk["c1"])
    y = fnn.conv2d(x, w, b, activation="relu")
    w, b = _fold(*blk["c2"])
    y = fnn.conv2d(y, w, b, stride=stride, padding=1, activation="relu")
    w, b = _fold(*blk["c3"])
    return fnn.conv2d(y, w, b, residual=skip, activation="relu")


def _foveal_forward(net, x):
    w, b = _fold(*net["stem"])
    y = fnn.conv2d(x, w, b, stride=2, padding=3, activation="relu")
    y = fnn.max_pool2d(y, 3, 2, 1)
    c1 = _foveal_block(y, net["b1"], 2)
    c2 = _foveal_block(c1, net["b2"], 2)
    top = fnn.conv2d(c2, *net["lat2"])
    p1 = fnn.add(fnn.interpolate(top, scale_factor=2), fnn.conv2d(c1, *net["lat1"]))
    m = fnn.conv_transpose2d(p1, *net["mask_up"], stride=2, activation="relu")
    return p1, fnn.sigmoid(fnn.conv2d(m, *net["mask_logits"]))


# -- torch -------------------------------------------------------------------------------------

def _frozen(bn):
    from torchvision.ops import FrozenBatchNorm2d

    m = FrozenBatchNorm2d(bn["mean"].shape[0])
    for k in ("mean", "var"):
        getattr(m, f"running_{k}").copy_(torch.from_numpy(bn[k]))
    m.weight.copy_(torch.from_numpy(bn["weight"]))
    m.bias.copy_(torch.from_numpy(bn["bias"]))
    return m


def _t(a):
    return torch.from_numpy(a)


def _torch_block(x, blk, stride):
    skip = _frozen(blk["down"][1])(F.conv2d(x, _t(blk["down"][0]), stride=stride))
    y = F.relu(_frozen(blk["c1"][1])(F.conv2d(x, _t(blk["c1"][0]))))
    y = F.relu(_frozen(blk["c2"][1])(F.conv2d(y, _t(blk["c2"][0]), stride=stride, padding=1)))
    y = _frozen(blk["c3"][1])(F.conv2d(y, _t(blk["c3"][0])))
    return F.relu(y + skip)


def _torch_forward(net, x):
    y = F.relu(_frozen(net["stem"][1])(F.conv2d(x, _t(net["stem"][0]), stride=2, padding=3)))
    y = F.max_pool2d(y, 3, 2, 1)
    c1 = _torch_block(y, net["b1"], 2)
    c2 = _torch_block(c1, net["b2"], 2)
    top = F.conv2d(c2, *map(_t, net["lat2"]))
    p1 = F.interpolate(top, scale_factor=2, mode="nearest") + F.conv2d(c1, *map(_t, net["lat1"]))
    m = F.relu(F.conv_transpose2d(p1, *map(_t, net["mask_up"]), stride=2))
    return p1, torch.sigmoid(F.conv2d(m, *map(_t, net["mask_logits"])))


def _close(got, want, rel=1e-4):
    scale = float(np.abs(want).max())
    assert scale > 0
    np.testing.assert_allclose(got, want, rtol=rel, atol=rel * scale)


@pytest.mark.parametrize("seed", [0, 1])
def test_resnet_fpn_mask_stack_matches_torch(seed):
    net = _build(Params(seed))
    x = np.random.default_rng(100 + seed).standard_normal((2, 3, 64, 64)).astype(np.float32)
    p1, mask = _foveal_forward(net, x)
    with torch.no_grad():
        tp1, tmask = _torch_forward(net, torch.from_numpy(x))
    assert p1.shape == (2, 32, 8, 8) and mask.shape == (2, 3, 16, 16)
    assert p1.dtype == np.float32 and mask.dtype == np.float32
    _close(p1, tp1.numpy())
    _close(mask, tmask.numpy())
    assert 0.01 < float(mask.std())  # the stack is not degenerate (not all saturated / constant)
