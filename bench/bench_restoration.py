"""Restoration workloads of BENCHMARKS.md: ``tv_chambolle``, ``tv_chambolle_3d``, ``tv_bregman``,
``rl_gauss``, ``rl_motion``, ``rl_3d``, ``rl_disk_fft``, ``wiener_512``, ``bilateral_gray``, ``bilateral_rgb_u8`` and
``nlm_gray``, and ``ssim_1024`` (foveal.metrics.structural_similarity against skimage.metrics', to 1e-7).

foveal.restoration.denoise_tv_chambolle against skimage.restoration.denoise_tv_chambolle (the
reference; it runs on the CPU only), with eps=0 so that both run exactly the stated number of
iterations; foveal.restoration.denoise_tv_bregman against skimage's (eps=0: exactly 100 sweeps);
foveal.restoration.richardson_lucy against skimage.restoration.richardson_lucy.
foveal must agree with skimage to 1e-4.

Bilateral: ``bilateral_gray`` times foveal.restoration.bilateral_filter in its exact mode
(OpenCV's parameters and disk window, exp evaluated without a table) against cv2.bilateralFilter
(the reference, to 1e-5) and skimage's denoise_bilateral(win_size=9, sigma_color=0.1,
sigma_spatial=3) (its square window differs: recorded, not checked). ``bilateral_gray_skimage``
(not in BENCHMARKS.md) times foveal.restoration.denoise_bilateral with the same parameters against
skimage, which it must match to 1e-4. ``bilateral_rgb_u8`` times bilateral_filter (OpenCV's uint8
table) against cv2, which it must match up to rare rounding ties (|diff| <= 1 on at most 1e-4 of
the values).

NLM: foveal.restoration.denoise_nl_means against skimage.restoration.denoise_nl_means (fast_mode,
the reference, to 1e-4) and cv2.fastNlMeansDenoising on the uint8 image (OpenCV's own weights:
recorded, not checked). ``nlm_gray_u8`` (the same image as uint8) times
foveal.restoration.fast_nl_means against cv2.fastNlMeansDenoising (h 10, 7, 21), which it must
equal pixel for pixel. ``nlm_rgb_u8`` times fast_nl_means on a uint8 colour image against
cv2.fastNlMeansDenoisingColored (h 10, hColor 10, 7, 21), ``nlm_gray_u16`` (not in BENCHMARKS.md)
on the nlm_gray image as uint16 against cv2.fastNlMeansDenoising with NORM_L1; both must be equal
pixel for pixel. ``nlm_gray_1024`` (not in BENCHMARKS.md; issue 8's 1 Gpix/s goal) times foveal on
CUDA alone on a 1024x1024 camera with nlm_gray's parameters, checked against skimage (to 1e-4).
"""

import pytest

from _harness import Impl, Workload, allclose, cases, exact, run_case


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


def _cucim_tv(x, weight, iters):
    from cucim.skimage.restoration import denoise_tv_chambolle

    return denoise_tv_chambolle(x, weight=weight, eps=0.0, max_num_iter=iters)


def _impls(weight, iters):
    return [
        Impl("foveal", lambda x: _foveal(x, weight, iters)),
        Impl("skimage", lambda x: _skimage(x, weight, iters), lib="numpy", devices=("cpu",)),
        Impl("cucim", lambda x: _cucim_tv(x, weight, iters), lib="cupy", devices=("cuda",)),
    ]


def _bregman_impls(weight, iters):
    def fov(x):
        import foveal.restoration

        return foveal.restoration.denoise_tv_bregman(x, weight=weight, eps=0.0, max_num_iter=iters)

    def sk(x):
        from skimage.restoration import denoise_tv_bregman

        return denoise_tv_bregman(x, weight=weight, eps=0.0, max_num_iter=iters)

    return [Impl("foveal", fov), Impl("skimage", sk, lib="numpy", devices=("cpu",))]


def _blurred_poisson(size, psf):
    """``camera`` bilinear-resized to ``size``, blurred by ``psf`` ('same', zero padding), Poisson
    noise at peak 1000 (rng(0)), float32; returned with the float32 psf."""
    import numpy as np
    from scipy.signal import convolve
    from skimage import data, img_as_float
    from skimage.transform import resize

    img = img_as_float(data.camera())
    if img.shape != (size, size):
        img = resize(img, (size, size), order=1)
    blurred = np.clip(convolve(img, psf, mode="same"), 0, None)
    noisy = np.random.default_rng(0).poisson(blurred * 1000.0) / 1000.0
    return noisy.astype(np.float32), psf.astype(np.float32)


def _rl_gauss_inputs():
    """1024x1024 camera, normalised 13x13 Gaussian psf (sigma 2), Poisson noise (peak 1000)."""
    import foveal.restoration

    return _blurred_poisson(1024, foveal.restoration.gaussian_psf((13, 13), 2.0))


def _rl_motion_inputs():
    """512x512 camera, 15x15 horizontal motion psf (middle row 1/15), Poisson noise (peak 1000)."""
    import foveal.restoration

    return _blurred_poisson(512, foveal.restoration.motion_psf(15, 0.0))


def _rl_3d_inputs():
    """The (96, 96, 96) uniform(0, 1) float32 volume (rng(0)) and a 5x5x5 box psf."""
    import numpy as np

    return _volume_96()[0], np.full((5, 5, 5), 1 / 125, dtype=np.float32)


def _rl_impls(num_iter, clip):
    def fov(x, psf):
        import foveal.restoration

        return foveal.restoration.richardson_lucy(x, psf, num_iter=num_iter, clip=clip)

    def sk(x, psf):
        from skimage.restoration import richardson_lucy

        return richardson_lucy(x, psf, num_iter=num_iter, clip=clip)

    def cu(x, psf):
        from cucim.skimage.restoration import richardson_lucy

        return richardson_lucy(x, psf, num_iter=num_iter, clip=clip)

    return [
        Impl("foveal", fov),
        Impl("skimage", sk, lib="numpy", devices=("cpu",)),
        Impl("cucim", cu, lib="cupy", devices=("cuda",)),
    ]


def _rl_disk_inputs():
    """The rl_gauss image (1024x1024 camera, Poisson noise, peak 1000) blurred by a normalised
    31x31 binary disk psf (skimage.morphology.disk(15): 709 non-zero taps, not separable)."""
    import numpy as np
    from skimage.morphology import disk

    psf = disk(15).astype(np.float64)
    return _blurred_poisson(1024, psf / psf.sum())


def _wiener_inputs():
    """camera resized to 512x512 float32, blurred by a 5x5 box (scipy 'same'), + N(0, 0.01) (rng(0))."""
    import numpy as np
    from scipy.signal import convolve
    from skimage import data, img_as_float
    from skimage.transform import resize

    img = resize(img_as_float(data.camera()), (512, 512), order=1)
    psf = np.full((5, 5), 1 / 25)
    y = convolve(img, psf, mode="same") + np.random.default_rng(0).normal(0.0, 0.01, img.shape)
    return y.astype(np.float32), psf.astype(np.float32)


def _wiener_impls(balance):
    def fov(x, psf):
        import foveal.restoration

        return foveal.restoration.wiener(x, psf, balance)

    def sk(x, psf):
        from skimage.restoration import wiener

        return wiener(x, psf, balance)

    return [Impl("foveal", fov, lib="numpy", devices=("cpu",)), Impl("skimage", sk, lib="numpy", devices=("cpu",))]


def _camera_noisy_1024():
    """``camera`` bilinear-resized to 1024x1024 in [0, 1], + N(0, 0.05) (rng(0)), clipped, float32."""
    import numpy as np
    from skimage import data, img_as_float
    from skimage.transform import resize

    img = resize(img_as_float(data.camera()), (1024, 1024), order=1)
    rng = np.random.default_rng(0)
    return (np.clip(img + rng.normal(0.0, 0.05, img.shape), 0.0, 1.0).astype(np.float32),)


def _astronaut_u8_1024():
    """``astronaut`` bilinear-resized to 1024x1024x3 (0..255), + N(0, 10) (rng(0)), rounded and
    clipped to uint8."""
    import numpy as np
    from skimage import data
    from skimage.transform import resize

    img = resize(data.astronaut(), (1024, 1024), order=1, preserve_range=True)
    rng = np.random.default_rng(0)
    return (np.clip(np.rint(img + rng.normal(0.0, 10.0, img.shape)), 0, 255).astype(np.uint8),)


def _bilateral_filter(x, d, sc, ss, exact):
    import foveal.restoration

    return foveal.restoration.bilateral_filter(x, d, sc, ss, exact=exact)


def _denoise_bilateral(x, win, sc, ss):
    import foveal.restoration

    return foveal.restoration.denoise_bilateral(x, win_size=win, sigma_color=sc, sigma_spatial=ss)


def _cv2_bilateral(x, d, sc, ss):
    import cv2

    return cv2.bilateralFilter(x, d, sc, ss)


def _kornia_bilateral(x, d, sc, ss):
    """kornia.filters.bilateral_blur on an NCHW float tensor (square d x d window, reflect border)."""
    from kornia.filters import bilateral_blur

    return bilateral_blur(x, (d, d), sc, (ss, ss))


def _to_nchw(x):
    """(H, W) or (H, W, C) numpy -> (1, C, H, W) float32 numpy in kornia's layout (uint8 scaled to [0, 1])."""
    import numpy as np

    scale = 1.0 / 255.0 if x.dtype == np.uint8 else 1.0
    y = x.astype(np.float32) * np.float32(scale)
    y = y[None, None] if y.ndim == 2 else np.moveaxis(y, -1, 0)[None]
    return (np.ascontiguousarray(y),)


def _sk_bilateral(x, win, sc, ss):
    from skimage.restoration import denoise_bilateral

    return denoise_bilateral(x, win_size=win, sigma_color=sc, sigma_spatial=ss)


def _rounding_ties(max_fraction=1e-4):
    """uint8 results equal but for rare rounding ties: |diff| <= 1 on at most ``max_fraction``."""
    import numpy as np

    def check(got, want, workload):
        got, want = np.asarray(got), np.asarray(want)
        if got.shape != want.shape or got.dtype != want.dtype:
            return False, f"shape/dtype {got.shape} {got.dtype}, reference {want.shape} {want.dtype}"
        diff = np.abs(got.astype(np.int64) - want)
        n = int(np.count_nonzero(diff))
        ok = int(diff.max(initial=0)) <= 1 and n <= max_fraction * diff.size
        return ok, f"{n} of {diff.size} values differ, max |diff| {int(diff.max(initial=0))}"

    return check


def _nlm_gray_inputs():
    """``camera`` 512x512 float32 + N(0, 0.08) (rng(0)), clipped to [0, 1]."""
    import numpy as np
    from skimage import data, img_as_float

    img = img_as_float(data.camera())
    noisy = np.clip(img + np.random.default_rng(0).normal(0.0, 0.08, img.shape), 0.0, 1.0)
    return (noisy.astype(np.float32),)


def _nlm_impls():
    def fov(x):
        import foveal.restoration

        return foveal.restoration.denoise_nl_means(x, patch_size=7, patch_distance=10, h=0.08, sigma=0.08)

    def sk(x):
        from skimage.restoration import denoise_nl_means

        return denoise_nl_means(x, patch_size=7, patch_distance=10, h=0.08, sigma=0.08, fast_mode=True)

    def to_u8(x):
        import numpy as np

        return (np.round(x * 255.0).astype(np.uint8),)

    def cv(x):
        import cv2

        return cv2.fastNlMeansDenoising(x, None, h=10, templateWindowSize=7, searchWindowSize=21).astype("float32") / 255

    return [
        Impl("foveal", fov),
        Impl("skimage", sk, lib="numpy", devices=("cpu",)),
        Impl("opencv", cv, lib="numpy", devices=("cpu",), prepare=to_u8),
    ]


def _nlm_gray_1024_inputs():
    """``camera`` bilinear-resized to 1024x1024 in [0, 1] + N(0, 0.08) (rng(0)), clipped, float32."""
    import numpy as np
    from skimage import data, img_as_float
    from skimage.transform import resize

    img = resize(img_as_float(data.camera()), (1024, 1024), order=1)
    noisy = np.clip(img + np.random.default_rng(0).normal(0.0, 0.08, img.shape), 0.0, 1.0)
    return (noisy.astype(np.float32),)


def _nlm_1024_impls():
    foveal_impl, sk_impl = _nlm_impls()[:2]
    # foveal timed on CUDA only (the goal row); skimage is the reference, computed once on the CPU
    # and never timed (no devices).
    return [
        Impl("foveal", foveal_impl.fn, devices=("cuda",)),
        Impl("skimage", sk_impl.fn, lib="numpy", devices=()),
    ]


def _nlm_gray_u8_inputs():
    """The nlm_gray image rounded to uint8 (x 255)."""
    import numpy as np

    return (np.round(_nlm_gray_inputs()[0] * 255.0).astype(np.uint8),)


def _nlm_u8_impls():
    def fov(x):
        import foveal.restoration

        return foveal.restoration.fast_nl_means(x, h=10, template_window_size=7, search_window_size=21)

    def cv(x):
        import cv2

        return cv2.fastNlMeansDenoising(x, None, h=10, templateWindowSize=7, searchWindowSize=21)

    return [Impl("foveal", fov, lib="numpy", devices=("cpu",)), Impl("opencv", cv, lib="numpy", devices=("cpu",))]


def _ssim_inputs():
    """``camera`` resized (bilinear) to 1024x1024 float64 and the same + N(0, 0.08) (rng(0))."""
    import numpy as np
    from skimage import data, img_as_float
    from skimage.transform import resize

    img = resize(img_as_float(data.camera()), (1024, 1024), order=1)
    noisy = img + np.random.default_rng(0).normal(0.0, 0.08, img.shape)
    return img, noisy


def _ssim_impls():
    def fov(a, b):
        import foveal.metrics

        return foveal.metrics.structural_similarity(a, b, data_range=1.0)

    def sk(a, b):
        from skimage.metrics import structural_similarity

        return structural_similarity(a, b, data_range=1.0)

    return [Impl("foveal", fov, lib="numpy", devices=("cpu",)), Impl("skimage", sk, lib="numpy", devices=("cpu",))]
def _nlm_rgb_u8_inputs():
    """``astronaut`` (512x512x3) + N(0, 10) (rng(0)), rounded and clipped to uint8 (its RGB order is
    taken as BGR by both sides)."""
    import numpy as np
    from skimage import data

    img = data.astronaut().astype(np.float64)
    rng = np.random.default_rng(0)
    return (np.clip(np.rint(img + rng.normal(0.0, 10.0, img.shape)), 0, 255).astype(np.uint8),)


def _nlm_rgb_u8_impls():
    def fov(x):
        import foveal.restoration

        return foveal.restoration.fast_nl_means(x, h=10, template_window_size=7, search_window_size=21, h_color=10)

    def cv(x):
        import cv2

        return cv2.fastNlMeansDenoisingColored(x, None, 10, 10, 7, 21)

    return [Impl("foveal", fov, lib="numpy", devices=("cpu",)), Impl("opencv", cv, lib="numpy", devices=("cpu",))]


def _nlm_gray_u16_inputs():
    """The nlm_gray image as uint16 (x 65535, rounded)."""
    import numpy as np

    return (np.round(_nlm_gray_inputs()[0].astype(np.float64) * 65535.0).astype(np.uint16),)


def _nlm_u16_impls():
    def fov(x):
        import foveal.restoration

        return foveal.restoration.fast_nl_means(x, h=2570, template_window_size=7, search_window_size=21)

    def cv(x):
        import cv2

        return cv2.fastNlMeansDenoising(x, h=[2570.0], templateWindowSize=7, searchWindowSize=21, normType=cv2.NORM_L1)

    return [Impl("foveal", fov, lib="numpy", devices=("cpu",)), Impl("opencv", cv, lib="numpy", devices=("cpu",))]


WORKLOADS = [
    Workload(
        name="ssim_1024",
        definition="camera resized (bilinear) to 1024x1024 float64 vs the same + N(0,0.08); data_range 1, "
        "default 7x7 uniform window (not in BENCHMARKS.md)",
        inputs=_ssim_inputs,
        impls=_ssim_impls(),
        reference="skimage",
        check=allclose(rtol=0, atol=1e-7),
        items=1024 * 1024,
        unit="pixels/s",
        extra={"data_range": 1.0, "win_size": 7},
    ),
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
    Workload(
        name="tv_bregman",
        definition="camera resized (bilinear) to 1024x1024 float32 + N(0,0.08); weight 5, isotropic, exactly 100 iterations",
        inputs=_image_1024,
        impls=_bregman_impls(5.0, 100),
        reference="skimage",
        check=allclose(rtol=0, atol=1e-4),
        items=1024 * 1024 * 100,
        unit="pixel-iterations/s",
        extra={"weight": 5.0, "max_num_iter": 100, "eps": 0.0, "isotropic": True},
    ),
    Workload(
        name="rl_gauss",
        definition="camera resized to 1024x1024 float32, blurred by a normalised 13x13 Gaussian psf (sigma 2), "
        "Poisson noise (peak 1000); 30 iterations, clip=False",
        inputs=_rl_gauss_inputs,
        impls=_rl_impls(30, False),
        reference="skimage",
        check=allclose(rtol=0, atol=1e-4),
        items=1024 * 1024 * 30,
        unit="pixel-iterations/s",
        extra={"num_iter": 30, "clip": False, "psf": "gaussian 13x13 sigma 2"},
    ),
    Workload(
        name="rl_motion",
        definition="camera 512x512, 15x15 horizontal motion psf, Poisson noise (peak 1000); 50 iterations",
        inputs=_rl_motion_inputs,
        impls=_rl_impls(50, True),
        reference="skimage",
        check=allclose(rtol=0, atol=1e-4),
        items=512 * 512 * 50,
        unit="pixel-iterations/s",
        extra={"num_iter": 50, "clip": True, "psf": "motion 15 horizontal"},
    ),
    Workload(
        name="rl_3d",
        definition="volume (96,96,96) uniform(0,1) float32 (rng(0)), 5x5x5 box psf; 20 iterations, clip=False",
        inputs=_rl_3d_inputs,
        impls=_rl_impls(20, False),
        reference="skimage",
        check=allclose(rtol=0, atol=1e-4),
        items=96**3 * 20,
        unit="voxel-iterations/s",
        extra={"num_iter": 20, "clip": False, "psf": "box 5x5x5"},
    ),
    Workload(
        name="rl_disk_fft",
        definition="the rl_gauss image blurred by a normalised 31x31 disk psf (skimage disk(15)), Poisson noise "
        "(peak 1000); 30 iterations, clip=False (foveal's auto picks its FFT path)",
        inputs=_rl_disk_inputs,
        impls=_rl_impls(30, False),
        reference="skimage",
        check=allclose(rtol=0, atol=1e-4),
        items=1024 * 1024 * 30,
        unit="pixel-iterations/s",
        extra={"num_iter": 30, "clip": False, "psf": "disk 31x31"},
    ),
    Workload(
        name="wiener_512",
        definition="camera resized to 512x512 float32, 5x5 box blur, + N(0, 0.01); wiener balance 0.1 (Laplacian reg)",
        inputs=_wiener_inputs,
        impls=_wiener_impls(0.1),
        reference="skimage",
        check=allclose(rtol=0, atol=1e-4),
        items=512 * 512,
        unit="pixels/s",
        extra={"balance": 0.1},
    ),
    Workload(
        name="bilateral_gray",
        definition="camera bilinear-resized to 1024x1024 float32 in [0,1] + N(0,0.05) clipped; diameter 9, "
        "sigma_color 0.1, sigma_space 3 (foveal: bilateral_filter exact=True)",
        inputs=_camera_noisy_1024,
        impls=[
            Impl("foveal", lambda x: _bilateral_filter(x, 9, 0.1, 3.0, True)),
            Impl("opencv", lambda x: _cv2_bilateral(x, 9, 0.1, 3.0), lib="numpy", devices=("cpu",)),
            Impl("skimage", lambda x: _sk_bilateral(x, 9, 0.1, 3.0), lib="numpy", devices=("cpu",)),
            Impl(
                "kornia",
                lambda x: _kornia_bilateral(x, 9, 0.1, 3.0),
                lib="torch",
                devices=("cuda",),
                prepare=_to_nchw,
            ),
        ],
        reference="opencv",
        check=allclose(rtol=0, atol=1e-5),
        items=1024 * 1024,
        unit="pixels/s",
        extra={"d": 9, "sigma_color": 0.1, "sigma_space": 3.0, "exact": True},
    ),
    Workload(
        name="bilateral_gray_skimage",
        definition="bilateral_gray's image; skimage denoise_bilateral semantics, win_size 9, sigma_color 0.1, "
        "sigma_spatial 3, bins 10000 (foveal: denoise_bilateral)",
        inputs=_camera_noisy_1024,
        impls=[
            Impl("foveal", lambda x: _denoise_bilateral(x, 9, 0.1, 3.0)),
            Impl("skimage", lambda x: _sk_bilateral(x, 9, 0.1, 3.0), lib="numpy", devices=("cpu",)),
        ],
        reference="skimage",
        check=allclose(rtol=0, atol=1e-4),
        items=1024 * 1024,
        unit="pixels/s",
        extra={"win_size": 9, "sigma_color": 0.1, "sigma_spatial": 3.0, "bins": 10000},
    ),
    Workload(
        name="bilateral_rgb_u8",
        definition="astronaut resized to 1024x1024x3 uint8 + N(0,10); d 9, sigmaColor 75, sigmaSpace 75",
        inputs=_astronaut_u8_1024,
        impls=[
            Impl("foveal", lambda x: _bilateral_filter(x, 9, 75.0, 75.0, False)),
            Impl("opencv", lambda x: _cv2_bilateral(x, 9, 75.0, 75.0), lib="numpy", devices=("cpu",)),
            # BENCHMARKS.md's GPU anchor: kornia on the float RGB image (sigma_color scaled to [0, 1]).
            Impl(
                "kornia",
                lambda x: _kornia_bilateral(x, 9, 75.0 / 255.0, 75.0),
                lib="torch",
                devices=("cuda",),
                prepare=_to_nchw,
            ),
        ],
        reference="opencv",
        check=_rounding_ties(1e-4),
        items=1024 * 1024,
        unit="pixels/s",
        extra={"d": 9, "sigma_color": 75.0, "sigma_space": 75.0},
    ),
    Workload(
        name="nlm_gray",
        definition="camera 512x512 float32 + N(0,0.08) clipped; patch 7, search distance 10 (window 21), "
        "h = sigma = 0.08, fast mode (cv2: the uint8 image, h 10, 7, 21)",
        inputs=_nlm_gray_inputs,
        impls=_nlm_impls(),
        reference="skimage",
        check=allclose(rtol=0, atol=1e-4),
        items=512 * 512,
        unit="pixels/s",
        extra={"patch_size": 7, "patch_distance": 10, "h": 0.08, "sigma": 0.08, "fast_mode": True},
    ),
    Workload(
        name="nlm_gray_1024",
        definition="nlm_gray's parameters on camera bilinear-resized to 1024x1024 float32 + N(0,0.08) clipped; "
        "patch 7, search distance 10, h = sigma = 0.08, fast mode (foveal on CUDA only; skimage the reference)",
        inputs=_nlm_gray_1024_inputs,
        impls=_nlm_1024_impls(),
        reference="skimage",
        check=allclose(rtol=0, atol=1e-4),
        items=1024 * 1024,
        unit="pixels/s",
        extra={"patch_size": 7, "patch_distance": 10, "h": 0.08, "sigma": 0.08, "fast_mode": True},
    ),
    Workload(
        name="nlm_gray_u8",
        definition="the nlm_gray image as uint8 (x 255, rounded); h 10, template 7, search 21 (OpenCV's fastNlMeansDenoising)",
        inputs=_nlm_gray_u8_inputs,
        impls=_nlm_u8_impls(),
        reference="opencv",
        check=exact(),
        items=512 * 512,
        unit="pixels/s",
        extra={"h": 10, "template_window_size": 7, "search_window_size": 21},
    ),
    Workload(
        name="nlm_rgb_u8",
        definition="astronaut 512x512x3 uint8 + N(0,10); h 10, hColor 10, template 7, search 21 "
        "(OpenCV's fastNlMeansDenoisingColored)",
        inputs=_nlm_rgb_u8_inputs,
        impls=_nlm_rgb_u8_impls(),
        reference="opencv",
        check=exact(),
        items=512 * 512,
        unit="pixels/s",
        extra={"h": 10, "h_color": 10, "template_window_size": 7, "search_window_size": 21},
    ),
    Workload(
        name="nlm_gray_u16",
        definition="the nlm_gray image as uint16 (x 65535, rounded); h 2570, template 7, search 21, NORM_L1 "
        "(OpenCV's fastNlMeansDenoising, 16-bit)",
        inputs=_nlm_gray_u16_inputs,
        impls=_nlm_u16_impls(),
        reference="opencv",
        check=exact(),
        items=512 * 512,
        unit="pixels/s",
        extra={"h": 2570, "template_window_size": 7, "search_window_size": 21, "norm": "L1"},
    ),
]


@pytest.mark.parametrize(("workload", "impl", "device"), cases(WORKLOADS))
def bench_restoration(benchmark, workload, impl, device):
    run_case(benchmark, workload, impl, device)
