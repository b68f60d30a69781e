#!/usr/bin/env bash
# One-shot GPU validation of foveal on a lent GPU machine (no network needed).
#
#   bash bench/gpu.sh                 # from anywhere inside the checkout
#
# Steps (each logged; a failing step does not stop the later ones, except the build):
#   1. build + install: pip install --no-build-isolation --no-deps . with
#      FOVEAL_CUDA=ON and CMAKE_CUDA_ARCHITECTURES=90 (override: FOVEAL_CUDA_ARCHS=90a ...)
#   2. the full test suite:          python -m pytest tests
#   3. the benchmarks:               python -m pytest bench --benchmark-json=...
#      then bench/report.py on the JSON (table + <name>.summary.json)
#   3b. with PROFILE_K (a regex of workload names): bench/gpu_profile.py, each workload's wall time,
#      GPU-busy time, launches and top kernels (torch.profiler), foveal and anchors side by side
#   4. compute-sanitizer (memcheck, racecheck, synccheck; initcheck informational)
#      on a small Python NMS / box_iou run, compared with the CPU result, then memcheck over
#      every CUDA test of the suite (pytest -k cuda)
#
# Output goes to $OUT if set (the device tool brings it back), else bench/results/:
#   gpu-build.log gpu-tests.log gpu-sanitizer.log gpu-bench.log gpu-profile.log
#   gpu-<stamp>.json gpu-<stamp>.summary.json
# Environment knobs: PYTHON (default python3), FOVEAL_CUDA_ARCHS (default 90),
#   SKIP_TESTS=1, SKIP_SANITIZER=1, SKIP_BENCH=1, BENCH_ARGS / TESTS_ARGS (extra pytest args,
#   e.g. TESTS_ARGS="-k cuda"), *_TIMEOUT (seconds per step: TESTS, BENCH, SANITIZER_TESTS, SANITIZER),
#   FOVEAL_WHEEL (a wheel built elsewhere for this machine's Python: installed instead of building,
#   with a source build as the fallback when it does not import or sees no GPU),
#   EXTRA_WHEELS (a folder of wheels, e.g. the GPU anchors cucim and kornia: installed with
#   --target into a temporary folder put on PYTHONPATH).
#
# Saving device time (the lease is short): build the wheel here for the device's Python and carry
# it with the GPU anchors, then run only the install:
#   echo /.devcarry/ >> .git/info/exclude
#   FOVEAL_CUDA=ON CMAKE_ARGS="-DFOVEAL_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90" \
#     python3.12 -m pip wheel --no-build-isolation --no-deps . -w .devcarry
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .devcarry/extra \
#     cucim-cu13 kornia kornia_rs
# and on the device (carry .devcarry):
#   FOVEAL_WHEEL=$(ls .devcarry/foveal-*.whl) EXTRA_WHEELS=.devcarry/extra \
#     TESTS_ARGS="-k cuda --timeout=60" BENCH_ARGS="-k cuda" bash bench/gpu.sh
# A BENCH_ARGS -k expression with spaces is split by the shell: run pytest on bench/ directly for
# those. To see where a slow row's time goes, add PROFILE_K (a regex of workload names), e.g.
#   PROFILE_K="postprocess|pool|conv|roi_" (about 1-2 minutes).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
ARCHS="${FOVEAL_CUDA_ARCHS:-90}"
DEST="${OUT:-$ROOT/bench/results}"
mkdir -p "$DEST"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
FAILED=()

step() {  # step NAME LOG CMD...: run CMD, tee to LOG, record failure
    local name="$1" log="$2"
    shift 2
    echo "=== [$name] $*" | tee -a "$log"
    local t0=$SECONDS
    "$@" 2>&1 | tee -a "$log"
    local rc=${PIPESTATUS[0]}
    echo "=== [$name] exit $rc after $((SECONDS - t0)) s" | tee -a "$log"
    [ "$rc" -eq 0 ] || FAILED+=("$name(rc=$rc)")
    return "$rc"
}

# -- 0. environment ---------------------------------------------------------
BUILD_LOG="$DEST/gpu-build.log"
: >"$BUILD_LOG"
{
    echo "date: $(date -u)"; echo "host: $(hostname)"; echo "python: $(command -v "$PY")"
    nvidia-smi || echo "nvidia-smi not found"
    nvcc --version || echo "nvcc not found"
    "$PY" -c "import torch, torchvision; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available()); print('torchvision', torchvision.__version__)"
    "$PY" -m pip --version
} 2>&1 | tee -a "$BUILD_LOG"

# -- 1. build ----------------------------------------------------------------
export FOVEAL_CUDA=ON  # read by [tool.scikit-build.cmake.define] in pyproject.toml
export CMAKE_ARGS="${CMAKE_ARGS:-} -DFOVEAL_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=$ARCHS"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
PIP_CS=()
if grep -q "scikit_build_core" pyproject.toml 2>/dev/null; then
    PIP_CS=(--config-settings=cmake.define.FOVEAL_CUDA=ON
            "--config-settings=cmake.define.CMAKE_CUDA_ARCHITECTURES=$ARCHS")
fi
if [ -n "${EXTRA_WHEELS:-}" ]; then
    SITE="$(mktemp -d /tmp/foveal_site_XXXX)"
    step extra-wheels "$BUILD_LOG" "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --target "$SITE" "$EXTRA_WHEELS"/*.whl
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
build_check() {
    "$PY" -c "
import foveal, json
info = foveal.build_info()
print(json.dumps(info, indent=1))
assert info['cuda_compiled'], 'built without CUDA'
assert foveal.cuda_available(), 'foveal.cuda_available() is False on a GPU machine'
"
}
built=0
if [ -n "${FOVEAL_WHEEL:-}" ] \
    && step install-wheel "$BUILD_LOG" "$PY" -m pip install --no-index --no-deps --force-reinstall "$FOVEAL_WHEEL" \
    && step build-check "$BUILD_LOG" build_check; then
    built=1
fi
if [ "$built" != 1 ]; then
    if ! step build "$BUILD_LOG" "$PY" -m pip install --no-build-isolation --no-deps -v "${PIP_CS[@]}" .; then
        echo "build failed; see $BUILD_LOG" >&2
        exit 1
    fi
    step build-check "$BUILD_LOG" build_check
fi

# -- 2. tests ----------------------------------------------------------------
if [ "${SKIP_TESTS:-0}" != 1 ]; then
    : >"$DEST/gpu-tests.log"
    # shellcheck disable=SC2086
    step tests "$DEST/gpu-tests.log" timeout "${TESTS_TIMEOUT:-1800}" \
        "$PY" -m pytest tests -q -rs -p no:cacheprovider ${TESTS_ARGS:-}
fi

# -- 3. benchmarks --------------------------------------------------------------
if [ "${SKIP_BENCH:-0}" != 1 ]; then
    BENCH_LOG="$DEST/gpu-bench.log"
    : >"$BENCH_LOG"
    JSON="$DEST/gpu-$STAMP.json"
    # shellcheck disable=SC2086
    step bench "$BENCH_LOG" timeout "${BENCH_TIMEOUT:-3600}" "$PY" -m pytest bench -rs "--benchmark-json=$JSON" ${BENCH_ARGS:-}
    if [ -f "$JSON" ]; then
        step report "$BENCH_LOG" "$PY" bench/report.py "$JSON"
    fi
fi
# -- 3b. per-kernel profile (optional: PROFILE_K, a regex of workload names; '.' for all) ------
if [ -n "${PROFILE_K:-}" ]; then
    step profile "$DEST/gpu-profile.log" timeout "${PROFILE_TIMEOUT:-300}" \
        "$PY" bench/gpu_profile.py -k "$PROFILE_K" --json "$DEST/gpu-profile-$STAMP.json"
fi
# -- 4. compute-sanitizer (last: the slowest step, and the one a short lease can drop) -------------------------------------------------------
if [ "${SKIP_SANITIZER:-0}" != 1 ]; then
    SAN_LOG="$DEST/gpu-sanitizer.log"
    : >"$SAN_LOG"
    SAN_PY="$(mktemp /tmp/foveal_sanitize_XXXX.py)"
    cat >"$SAN_PY" <<'EOF'
# Small CUDA NMS / box_iou calls at awkward sizes, each checked against the CPU result.
import numpy as np
import torch
import foveal
import foveal.ops as ops
from foveal.synthetic import clustered_boxes, clustered_box_pair

dev = torch.device("cuda")
for n in (0, 1, 2, 31, 63, 64, 65, 127, 1000, 4099):
    boxes, scores = clustered_boxes(n, seed=n)
    want = np.asarray(ops.nms(boxes, scores, 0.5))
    got = ops.nms(torch.from_numpy(boxes).to(dev), torch.from_numpy(scores).to(dev), 0.5)
    torch.cuda.synchronize()
    assert isinstance(got, torch.Tensor) and got.is_cuda, type(got)
    assert np.array_equal(got.cpu().numpy(), want), f"nms n={n}: CUDA != CPU"
for n, m in ((0, 5), (5, 0), (1, 1), (3, 7), (33, 65), (257, 130), (1000, 777)):
    a, _ = clustered_boxes(n, seed=1)
    b, _ = clustered_boxes(m, seed=2)
    want = np.asarray(ops.box_iou(a, b))
    got = ops.box_iou(torch.from_numpy(a).to(dev), torch.from_numpy(b).to(dev))
    torch.cuda.synchronize()
    assert got.shape == (n, m), got.shape
    np.testing.assert_allclose(got.cpu().numpy(), want, rtol=1e-6, atol=1e-6, err_msg=f"box_iou {n}x{m}")
# non-contiguous and float64 inputs
a, b = clustered_box_pair(300, seed=3, dtype=np.float64)
ta = torch.from_numpy(a).to(dev)[::2]
tb = torch.from_numpy(b).to(dev).t().contiguous().t()
got = ops.box_iou(ta, tb)
np.testing.assert_allclose(got.cpu().numpy(), np.asarray(ops.box_iou(a[::2], b)), rtol=1e-12, atol=1e-12)
print("sanitizer workload OK")
EOF
    # No caching allocator: every tensor is its own allocation, so memcheck sees
    # out-of-bounds accesses that a pooled block would hide.
    export PYTORCH_NO_CUDA_MEMORY_CACHING=1
    if command -v compute-sanitizer >/dev/null; then
        for tool in memcheck racecheck synccheck; do
            step "sanitizer-$tool" "$SAN_LOG" timeout "${SANITIZER_TIMEOUT:-300}" compute-sanitizer --tool "$tool" --error-exitcode 86 \
                --target-processes all "$PY" "$SAN_PY"
        done
        # Every op's CUDA tests (ids/names containing "cuda") under memcheck, so new kernels are
        # covered without editing this script.
        step "sanitizer-memcheck-tests" "$SAN_LOG" timeout "${SANITIZER_TESTS_TIMEOUT:-420}" \
            compute-sanitizer --tool memcheck --error-exitcode 86 --target-processes all \
            "$PY" -m pytest tests -q -x -p no:cacheprovider -k cuda
        # initcheck is informational: frameworks legitimately read padding.
        echo "=== [sanitizer-initcheck] (informational)" | tee -a "$SAN_LOG"
        compute-sanitizer --tool initcheck --target-processes all "$PY" "$SAN_PY" 2>&1 | tail -n 60 | tee -a "$SAN_LOG"
    else
        echo "compute-sanitizer not found" | tee -a "$SAN_LOG"
        FAILED+=("sanitizer(missing)")
    fi
    unset PYTORCH_NO_CUDA_MEMORY_CACHING
    rm -f "$SAN_PY"
fi


echo
if [ ${#FAILED[@]} -eq 0 ]; then
    echo "gpu.sh: all steps passed; output in $DEST"
    exit 0
fi
echo "gpu.sh: FAILED steps: ${FAILED[*]}; output in $DEST"
exit 1
