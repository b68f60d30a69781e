# SPDX-License-Identifier: Apache-2.0
"""The checked-in type stub of the extension (python/foveal/_core.pyi) names exactly the
functions the extension exports."""
import ast
import inspect
from pathlib import Path

import foveal
from foveal import _core


def test_stub_matches_the_extension():
    stub = Path(foveal.__file__).with_name("_core.pyi")
    tree = ast.parse(stub.read_text())
    stubbed = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    exported = {name for name, obj in vars(_core).items() if not name.startswith("_") and callable(obj)
                and not inspect.isclass(obj)}
    assert exported - stubbed == set(), f"functions without a stub: {sorted(exported - stubbed)}"
    assert stubbed - exported == set(), f"stubs without a function: {sorted(stubbed - exported)}"
