"""box_coder_cuda.cu (emulated whole, see ops_boxes.cpp) against foveal.ops' CPU encode / decode."""
import numpy as np

import foveal.ops as fops
from emu import call, check, report

rng = np.random.default_rng(11)


def boxes(n, dt):
    xy = rng.uniform(-50, 300, (n, 2))
    wh = rng.uniform(0.5, 120, (n, 2))
    return np.concatenate([xy, xy + wh], 1).astype(dt)


for dt in (np.float32, np.float64, np.float16):
    for n, k in ((1, 1), (37, 1), (300, 3), (1025, 2)):
        w = (10.0, 10.0, 5.0, 5.0) if k > 1 else (1.0, 1.0, 1.0, 1.0)
        b = boxes(n, dt)
        codes = rng.normal(0, 1.5, (n, 4 * k)).astype(dt)
        codes[::7, 2] = 9.0  # past the clip
        want = fops.decode_boxes(codes, b, w)
        got = call("decode_boxes", rel_codes=codes.reshape(n, k, 4), boxes=b, weights=w, clip=np.log(1000 / 16),
                   outputs={"out": ((n, k, 4), np.dtype(dt).name)})["out"]
        # the CPU computes float16 in float32 and returns float32: the device rounds that once
        check(np.array_equal(got.reshape(want.shape), want.astype(dt), equal_nan=True), "decode", dt.__name__, n, k)
        g = boxes(n, dt)
        want = fops.encode_boxes(g, b, w)
        got = call("encode_boxes", reference_boxes=g, proposals=b, weights=w,
                   outputs={"out": ((n, 4), np.dtype(dt).name)})["out"]
        check(np.array_equal(got, want.astype(dt), equal_nan=True), "encode", dt.__name__, n)
report("boxes")
