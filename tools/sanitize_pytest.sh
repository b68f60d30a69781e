#!/usr/bin/env bash
# The Python test suite against a build of foveal's C++ core (CPU only) under AddressSanitizer and
# UndefinedBehaviorSanitizer: out-of-bounds reads and writes, use after free, signed overflow,
# misaligned or out-of-range conversions in the CPU kernels, reached by every test. About 7.5
# minutes on 2 cores (build and 3.5 minutes of tests); not in CI. On 2026-11-29: 7,609 passed,
# no report.
#
#   bash tools/sanitize_pytest.sh [pytest arguments]      # VENV=... to reuse a virtual environment
#
# Left out: tests/python/test_cuda_emulated.py (it builds its own sanitized emulators) and the two
# tests that ask for an impossible allocation on purpose (AddressSanitizer aborts on those where
# the allocator would fail and foveal raise FovealMemoryError). Fails if a sanitizer reported.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-/tmp/foveal-sanitize-venv}"
LOGS="$(mktemp -d /tmp/foveal_sanitize_XXXX)"
[ -x "$VENV/bin/python" ] || python3 -m venv --system-site-packages "$VENV"
FOVEAL_CUDA=OFF CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" \
  CMAKE_ARGS="-DFOVEAL_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
-DCMAKE_CXX_FLAGS='-fsanitize=address,undefined -fno-omit-frame-pointer' \
-DCMAKE_SHARED_LINKER_FLAGS='-fsanitize=address,undefined'" \
  "$VENV/bin/pip" install -q --no-build-isolation --no-deps --config-settings=build-dir="$VENV/build" "$ROOT"
CXX="${CXX:-g++}"
rc=0
cd "$ROOT"
LD_PRELOAD="$("$CXX" -print-file-name=libasan.so) $("$CXX" -print-file-name=libubsan.so)" \
  ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:log_path=$LOGS/asan" \
  UBSAN_OPTIONS="print_stacktrace=1:log_path=$LOGS/ubsan" \
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider \
  --deselect tests/python/test_cuda_emulated.py \
  --deselect tests/python/test_core_errors.py::test_box_iou_workspace_allocation_failure_is_memory_error \
  --deselect tests/python/test_cli.py::test_a_scene_past_the_memory_is_a_message_not_a_traceback \
  tests/python "$@" || rc=$?
if compgen -G "$LOGS/*" >/dev/null; then
  echo "sanitize_pytest: sanitizer reports:" >&2
  cat "$LOGS"/* >&2
  exit 1
fi
echo "sanitize_pytest: no sanitizer report (pytest exit status $rc)"
exit "$rc"
