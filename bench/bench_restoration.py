"""Restoration workloads of BENCHMARKS.md: ``tv_chambolle`` and ``tv_chambolle_3d``.

foveal.restoration.denoise_tv_chambolle against skimage.restoration.denoise_tv_chambolle (the
reference; it runs on the CPU only), with eps=0 so that both run exactly the stated number of
iterations; foveal must agree with skimage to 1e-4.
"""

import pytest

from _harness import Impl, Workload, allclose, cases, run_case


def _image_1024():
    """``camera`` bilinear-resized to 1024x1024, float32, + N(0, 0.08) (rng(0))."""
    import numpy as np
    from skimage import data, img_as_float
    from skimage.transform import resize

    img = resize(img_as_float(data.camera()), (1024, 1024), order=1)
    rng = np.random.default_rng(0)
    return ((img + rng.normal(0.0, 0.08, img.shape)).astype(np.float32),)


def _volume_96():
    """(96, 96, 96) uniform(0, 1) float32 (rng(0))."""
    import numpy as np

    return (np.random.default_rng(0).random((96, 96, 96), dtype=np.float32),)


def _foveal(x, weight, iters):
    import foveal.restoration

    return foveal.restoration.denoise_tv_chambolle(x, weight=weight, eps=0.0, max_num_iter=iters)


def _skimage(x, weight, iters):
    from skimage.restoration import denoise_tv_chambolle

    return denoise_tv_chambolle(x, weight=weight, eps=0.0, max_num_iter=iters)


def _impls(weight, iters):
    return [
        Impl("foveal", lambda x: _foveal(x, weight, iters)),
        Impl("skimage", lambda x: _skimage(x, weight, iters), lib="numpy", devices=("cpu",)),
    ]


WORKLOADS = [
    Workload(
        name="tv_chambolle",
        definition="camera resized (bilinear) to 1024x1024 float32 + N(0,0.08); weight 0.1, exactly 100 iterations",
        inputs=_image_1024,
        impls=_impls(0.1, 100),
        reference="skimage",
        check=allclose(rtol=0, atol=1e-4),
        items=1024 * 1024 * 100,
        unit="pixel-iterations/s",
        extra={"weight": 0.1, "max_num_iter": 100, "eps": 0.0},
    ),
    Workload(
        name="tv_chambolle_3d",
        definition="volume (96,96,96) uniform(0,1) float32 (rng(0)); weight 0.1, exactly 50 iterations",
        inputs=_volume_96,
        impls=_impls(0.1, 50),
        reference="skimage",
        check=allclose(rtol=0, atol=1e-4),
        items=96**3 * 50,
        unit="voxel-iterations/s",
        extra={"weight": 0.1, "max_num_iter": 50, "eps": 0.0},
    ),
]


@pytest.mark.parametrize(("workload", "impl", "device"), cases(WORKLOADS))
def bench_restoration(benchmark, workload, impl, device):
    run_case(benchmark, workload, impl, device)
