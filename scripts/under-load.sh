#!/usr/bin/env bash
# Runs a command while a CPU hog keeps every core busy (stress-ng --cpu $(nproc)), then stops the hog
# and exits with the command's status. This is how the project proves that a busy machine is not a
# failure (issue 11): CI runs the test suite once this way, and so can you:
#   bash scripts/under-load.sh ctest --test-dir build --output-on-failure --timeout 900 -j2
#   bash scripts/under-load.sh bash scripts/run.sh
# RF_HOG_CPUS overrides the number of hog workers.
set -uo pipefail
if [ $# -eq 0 ]; then echo "usage: scripts/under-load.sh COMMAND [ARGS...]" >&2; exit 2; fi
command -v stress-ng >/dev/null || { echo "under-load: stress-ng is missing (bash scripts/install-deps.sh)" >&2; exit 2; }
cpus=${RF_HOG_CPUS:-$(nproc)}
stress-ng --cpu "$cpus" --timeout 4h --quiet &
hog=$!
stop_hog() { kill "$hog" 2>/dev/null; wait "$hog" 2>/dev/null; }
trap stop_hog EXIT
trap 'exit 130' INT TERM
echo "under-load: stress-ng --cpu $cpus (pid $hog) while: $*" >&2
"$@"
status=$?
echo "under-load: '$*' exited $status; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exit "$status"
