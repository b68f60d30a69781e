"""nms_cuda.cu's greedy pass (nms_common.cuh's greedy_reduce_kernel) past its stride: one block of
256 threads folds the kept rows into the later tiles' words 256 words apart, so n > 257 * 64 boxes
crosses it. Apart from check_detect_nms.py because it is a slow one: its pair mask is 261 x 261
blocks of 64 CUDA threads with barriers (run.sh runs the checks two at a time)."""
import numpy as np

import foveal.ops as fops
from detect_inputs import F32, cluster_boxes, cluster_scores, kept
from emu import call, check, report

n = 257 * 64 + 200
b, s = cluster_boxes(n, F32, spread=2000.0), cluster_scores(n, F32)
r = call("nms", boxes=b, scores=s, iou_threshold=0.4, outputs={"keep": ((n,), "int64"), "count": ((1,), "int64")})
got, ok = kept(r, n)
check(ok and np.array_equal(got, fops.nms(b, s, 0.4)), "nms past 257 tiles", n)
report("detect_big")
