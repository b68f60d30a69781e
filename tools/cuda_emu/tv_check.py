"""tv_cuda.cu's kernels (run by tv_emu, see run.sh) against foveal's CPU TV denoisers: Chambolle's
2-D tiled kernel and split Bregman's tiled sweep, float32 / float64, odd sizes, eps stops."""
import subprocess, sys, numpy as np
from foveal.restoration import denoise_tv_chambolle, denoise_tv_bregman
def run(args, x):
    x.tofile('in.bin')
    r = subprocess.run(['./tv_emu'] + [str(a) for a in args], capture_output=True, text=True, check=True)
    return r.stdout.strip()
worst = {}
bad = 0
for dt, tag in ((np.float32, 'f32'), (np.float64, 'f64')):
    for (H, W) in [(2, 2), (7, 33), (37, 53), (40, 65)]:
        x = np.random.default_rng(H * W).random((H, W)).astype(dt)
        for eps, it in ((0.0, 1), (0.0, 7), (2e-4, 60)):
            k = run(['chambolle', tag, H, W, 0.1, eps, it], x)
            got = np.fromfile('out.bin', dtype=dt).reshape(H, W)
            want = denoise_tv_chambolle(x, weight=0.1, eps=eps, max_num_iter=it)
            d = float(np.max(np.abs(got - want)))
            worst[('ch', tag)] = max(worst.get(('ch', tag), 0), d)
            if not np.isfinite(got).all() or d > (1e-5 if tag == 'f32' else 1e-12):
                print('CHAMBOLLE MISMATCH', tag, H, W, eps, it, d, k)
                bad += 1
for dt, tag in ((np.float32, 'f32'), (np.float64, 'f64')):  # the generic kernel: 1-D, 3-D, 4-D
    for shape in [(300,), (9, 10, 11), (5, 33, 2), (3, 4, 5, 6)]:
        x = np.random.default_rng(len(shape)).random(shape).astype(dt)
        for eps, it in ((0.0, 1), (0.0, 5), (2e-4, 40)):
            k = run(['chambolle_nd', tag, 'x'.join(map(str, shape)), 0.1, eps, it], x)
            got = np.fromfile('out.bin', dtype=dt).reshape(shape)
            want = denoise_tv_chambolle(x, weight=0.1, eps=eps, max_num_iter=it)
            d = float(np.max(np.abs(got - want)))
            worst[('ch_nd', tag)] = max(worst.get(('ch_nd', tag), 0), d)
            if not np.isfinite(got).all() or d > (1e-5 if tag == 'f32' else 1e-12):
                print('CHAMBOLLE_ND MISMATCH', tag, shape, eps, it, d, k)
                bad += 1
print('chambolle worst', worst)
for dt, tag in ((np.float32, 'f32'), (np.float64, 'f64')):
    for (R, C) in [(2, 2), (5, 3), (2, 130), (33, 97), (70, 200)]:
        x = np.random.default_rng(R + C).random((R, C)).astype(dt)
        for iso in (1, 0):
            for w, eps, it in ((2.0, 0.0, 1), (5.0, 0.0, 6), (2.0, 1e-3, 40)):
                k = run(['bregman', tag, 1, R, C, w, eps, it, iso, 0], x)
                got = np.fromfile('out.bin', dtype=dt).reshape(R, C)
                want = denoise_tv_bregman(x, weight=w, eps=eps, max_num_iter=it, isotropic=bool(iso))
                d = float(np.max(np.abs(got - want)))
                worst[('br', tag)] = max(worst.get(('br', tag), 0), d)
                if not np.isfinite(got).all() or d > (2e-6 if tag == 'f32' else 1e-12):
                    print('BREGMAN MISMATCH', tag, R, C, iso, w, eps, it, d, k)
                    bad += 1
print('worst', worst)
sys.exit(1 if bad else 0)
