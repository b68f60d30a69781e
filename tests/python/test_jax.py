# SPDX-License-Identifier: Apache-2.0
"""jax arrays in, jax arrays out (CPU here; the CUDA path is the same code with a GPU)."""
import numpy as np
import pytest

import foveal
from reference.box_ref import box_iou_ref, nms_ref

jax = pytest.importorskip("jax", reason="jax is part of the [test] extra")
jnp = jax.numpy


def _scene(n, seed):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 200, (n, 2))
    wh = rng.uniform(2, 60, (n, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    return boxes, rng.random(n).astype(np.float32)


@pytest.mark.parametrize("n", [0, 1, 37, 300])
def test_jax_box_iou_and_nms_match_oracle(n):
    boxes, scores = _scene(n, n)
    jb, js = jnp.asarray(boxes), jnp.asarray(scores)
    iou = foveal.ops.box_iou(jb, jb)
    assert isinstance(iou, jax.Array)
    assert iou.dtype == jnp.float32 and iou.shape == (n, n)
    np.testing.assert_allclose(np.asarray(iou), box_iou_ref(boxes, boxes), rtol=1e-6, atol=1e-7)
    keep = foveal.ops.nms(jb, js, 0.4)
    assert isinstance(keep, jax.Array)
    # jax's default 32-bit mode turns int64 into int32; the indices are the same.
    assert jnp.issubdtype(keep.dtype, jnp.integer)
    np.testing.assert_array_equal(np.asarray(keep), nms_ref(boxes, scores, 0.4))


def test_jax_mixed_with_numpy_is_a_type_error():
    boxes, scores = _scene(5, 0)
    with pytest.raises(TypeError, match="same array library"):
        foveal.ops.nms(jnp.asarray(boxes), scores, 0.5)
