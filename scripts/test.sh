#!/usr/bin/env bash
# The README's test command: installs missing dependencies, builds (warnings are errors) and runs
# every test with ctest. `scripts/test.sh asan` does the same in an ASan+UBSan build.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
bash scripts/install-deps.sh
cmake --preset "$preset" >/dev/null
build_dir=$(case "$preset" in release) echo build;; *) echo "build-$preset";; esac)
cmake --build "$build_dir"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build_dir" --output-on-failure --timeout 900 -j2
