# SPDX-License-Identifier: Apache-2.0
"""Results do not depend on the thread count, and hardly on the SIMD level: every CPU op below gives
the same bits with 1, 2 and 3 threads (3 splits the work unevenly on any machine), and with the
AVX2 and AVX-512 kernels; only the GEMM family (conv2d, conv_transpose2d, linear) sums in another
order at another SIMD level, within float32 rounding. Each configuration runs in a process of its
own (foveal reads FOVEAL_NUM_THREADS and FOVEAL_SIMD at import): this file, run as a script."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

GEMM = ("conv2d", "conv_transpose2d", "linear")


def results() -> dict:
    import foveal.metrics as fm
    import foveal.nn as fnn
    import foveal.ops as fo
    import foveal.restoration as fr

    r = np.random.default_rng(7)
    img, img3 = r.uniform(0, 1, (150, 140)), r.uniform(0, 1, (20, 30, 40))
    rgb = r.uniform(0, 1, (100, 90, 3))
    x = r.normal(size=(2, 16, 40, 50)).astype(np.float32)
    w = r.normal(size=(24, 16, 3, 3)).astype(np.float32)
    xy = r.uniform(0, 800, (8000, 2)).astype(np.float32)
    b = np.concatenate([xy, xy + r.uniform(5, 80, (8000, 2)).astype(np.float32)], 1)
    s = r.uniform(0, 1, 8000).astype(np.float32)
    rois = np.concatenate([r.integers(0, 2, (1000, 1)), r.uniform(0, 20, (1000, 2)), r.uniform(20, 49, (1000, 2))],
                          1).astype(np.float32)
    rb = np.concatenate([r.uniform(0, 800, (3000, 2)), r.uniform(5, 80, (3000, 2)), r.uniform(-90, 90, (3000, 1))],
                        1).astype(np.float32)
    jobs = {
        "conv2d": lambda: fnn.conv2d(x, w, padding=1, activation="relu"),
        "conv_transpose2d": lambda: fnn.conv_transpose2d(x, w.transpose(1, 0, 2, 3).copy(), stride=2, padding=1),
        "linear": lambda: fnn.linear(x.reshape(2, -1)[:, :800], r.normal(size=(200, 800)).astype(np.float32)),
        "softmax": lambda: fnn.softmax(x, 1),
        "max_pool2d": lambda: fnn.max_pool2d(x, 3, 2, 1, return_indices=True),
        "avg_pool2d": lambda: fnn.avg_pool2d(x, 3, 2, 1),
        "interpolate": lambda: fnn.interpolate(x, scale_factor=1.7, mode="bilinear", align_corners=False),
        "nms": lambda: fo.nms(b, s, 0.5),
        "batched_nms": lambda: fo.batched_nms(b, s, r.integers(0, 80, 8000), 0.5),
        "soft_nms": lambda: fo.soft_nms(b[:2000], s[:2000]),
        "generalized_box_iou": lambda: fo.generalized_box_iou(b[:1000], b[:900]),
        "box_iou_rotated": lambda: fo.box_iou_rotated(rb[:500], rb[:400]),
        "nms_rotated": lambda: fo.nms_rotated(rb, s[:3000], 0.5),
        "roi_align": lambda: fo.roi_align(x, rois, 7, 1.0, 2),
        "roi_pool": lambda: fo.roi_pool(x, rois, 7),
        "roi_align_backward": lambda: fo.roi_align_backward(r.normal(size=(1000, 16, 7, 7)).astype(np.float32), rois,
                                                            x.shape, 7, 1.0, 2),
        "roi_align_rotated": lambda: fo.roi_align_rotated(x, np.concatenate([rois[:, :1], rb[:1000] / 16], 1), 7),
        "denoise_tv_chambolle": lambda: fr.denoise_tv_chambolle(img, 0.1),
        "denoise_tv_chambolle_3d": lambda: fr.denoise_tv_chambolle(img3, 0.1),
        "denoise_tv_bregman": lambda: fr.denoise_tv_bregman(img, 5.0),
        "richardson_lucy": lambda: fr.richardson_lucy(img, fr.gaussian_psf((9, 9), 2.0), 10),
        "richardson_lucy_fft": lambda: fr.richardson_lucy(img, fr.disk_psf(15), 5, method="fft"),
        "richardson_lucy_biggs": lambda: fr.richardson_lucy(img, fr.gaussian_psf((9, 9), 2.0), 10,
                                                            acceleration="biggs"),
        "blind_richardson_lucy": lambda: fr.blind_richardson_lucy(img[:80, :80], fr.gaussian_psf((7, 7), 1.5), 3, 3),
        "denoise_bilateral": lambda: fr.denoise_bilateral(rgb, sigma_color=0.1, sigma_spatial=3, channel_axis=-1),
        "bilateral_filter": lambda: fr.bilateral_filter((rgb * 255).astype(np.uint8), 9, 30.0, 5.0),
        "denoise_nl_means": lambda: fr.denoise_nl_means(img[:80, :80], 5, 6, 0.1),
        "denoise_nl_means_rgb": lambda: fr.denoise_nl_means(rgb[:50, :50], 5, 5, 0.1, channel_axis=-1),
        "fast_nl_means": lambda: fr.fast_nl_means((img * 255).astype(np.uint8), 10.0),
        "ssim": lambda: fm.ssim(img, img[::-1].copy(), data_range=1.0, full=True, gradient=True),
        "wiener": lambda: fr.wiener(img, fr.gaussian_psf((5, 5), 1.0), 0.1),
    }
    return {k: job() for k, job in jobs.items()}


def _run(tmp_path, **env) -> dict:
    out = tmp_path / ("_".join(f"{k}{v}" for k, v in env.items()) + ".pkl")
    r = subprocess.run([sys.executable, __file__, str(out)], env={**os.environ, **env}, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return pickle.loads(out.read_bytes())


def _equal(a, b) -> bool:
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)


def _flat(a) -> np.ndarray:
    return np.concatenate([_flat(x) for x in a]) if isinstance(a, (tuple, list)) else np.ravel(a).astype(np.float64)


@pytest.fixture(scope="module")
def one_thread(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("det"), FOVEAL_NUM_THREADS="1")


@pytest.mark.parametrize("threads", ["2", "3"])
def test_thread_count_changes_no_bit(one_thread, tmp_path, threads):
    other = _run(tmp_path, FOVEAL_NUM_THREADS=threads)
    assert [k for k in one_thread if not _equal(one_thread[k], other[k])] == []


@pytest.mark.parametrize("level", ["avx2", "baseline"])
def test_simd_level_changes_only_the_gemm_summation_order(one_thread, tmp_path, level):
    import foveal

    if level not in foveal.build_info()["simd_compiled"]:
        pytest.skip(f"{level} kernels not compiled in this build")
    other = _run(tmp_path, FOVEAL_NUM_THREADS="1", FOVEAL_SIMD=level)
    differ = [k for k in one_thread if not _equal(one_thread[k], other[k])]
    assert set(differ) <= set(GEMM), differ
    for k in differ:  # float32 sums of up to 800 products: within 1e-6 of the output's scale
        a, b = _flat(one_thread[k]), _flat(other[k])
        assert np.max(np.abs(a - b)) <= 1e-6 * np.max(np.abs(a)), k


if __name__ == "__main__":
    with open(sys.argv[1], "wb") as f:
        pickle.dump(results(), f)
