"""Time foveal.ops.nms on the outlier scenes against the same scenes without
the outlier (foveal.synthetic.outlier_scene), plus nms_10k / nms_100k.

    python bench/scripts/nms_outliers.py [N ...]       (default: 100000 1000000)

Best of a few runs, milliseconds; the ratio column is outlier / no outlier
(the goal is <= 2). A quick check, not a benchmark of record: bench/ is.
"""

from __future__ import annotations

import sys
import time

from foveal.ops import nms
from foveal.synthetic import OUTLIER_KINDS, clustered_boxes, outlier_scene


def best_ms(fn, reps, budget_s=3.0):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if sum(times) > budget_s:
            break
    return 1e3 * min(times)


def main(sizes):
    for n, reps in ((10_000, 200), (100_000, 20)):
        b, s = clustered_boxes(n, seed=0)
        print(f"nms_{n // 1000}k: {best_ms(lambda: nms(b, s, 0.5), reps):.3f} ms")
    for n in sizes:
        for kind, thr in OUTLIER_KINDS.items():
            t = {}
            for outlier in (False, True):
                b, s = outlier_scene(n, kind, outlier=outlier)
                t[outlier] = best_ms(lambda: nms(b, s, thr), 5)
            print(
                f"{kind:5s} n={n:>8}: without {t[False]:9.2f} ms, with {t[True]:9.2f} ms,"
                f" ratio {t[True] / t[False]:.2f}"
            )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100_000, 1_000_000])
