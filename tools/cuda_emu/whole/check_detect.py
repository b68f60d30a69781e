import numpy as np
import foveal.ops as fops
from emu import call, check, report
b = np.array([[0, 0, 2, 2], [1, 1, 3, 3]], np.float32)
got = call("box_iou", boxes1=b, boxes2=b, outputs={"out": ((2, 2), "float32")})["out"]
check(np.array_equal(got, fops.box_iou(b, b)), "smoke")
report("detect")
