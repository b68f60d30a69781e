# SPDX-License-Identifier: Apache-2.0
"""Every public op keeps the contract under awkward inputs (tools/fuzz_contract.py: about 11,000
calls in forked children): no crash, no hang, no exception other than a value / type error,
no write into the caller's arrays, no result sharing memory with an input, no warning on the
way, and the same values from the same values in another layout (big-endian, zero-stride,
Fortran, ...). A new op is added to its specs."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

TOOL = Path(__file__).resolve().parents[2] / "tools" / "fuzz_contract.py"


def test_public_ops_keep_the_contract_under_awkward_inputs(tmp_path):
    r = subprocess.run([sys.executable, str(TOOL), "--timeout", "60"], capture_output=True, text=True, timeout=1800,
                       cwd=tmp_path, env={**os.environ, "FOVEAL_NUM_THREADS": "2"})
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    assert " 0 contract breaks" in r.stdout


def test_every_public_op_has_a_spec():
    sys.path.insert(0, str(TOOL.parent))
    try:
        import fuzz_contract
    finally:
        sys.path.pop(0)
    import foveal.metrics
    import foveal.nn
    import foveal.ops
    import foveal.restoration

    covered = {f(np.random.default_rng(0))[0] for f in fuzz_contract.specs().values()}
    for mod in (foveal.ops, foveal.nn, foveal.restoration, foveal.metrics):
        for name in dir(mod):
            obj = getattr(mod, name)
            own = getattr(obj, "__module__", "").startswith(mod.__name__)  # not an import from elsewhere
            if callable(obj) and own and not name.startswith("_") and not isinstance(obj, type):
                assert obj in covered, f"{mod.__name__}.{name} has no spec in tools/fuzz_contract.py"
