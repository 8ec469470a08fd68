#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang-14 (ASan + UBSan) in build-fuzz/ and runs each
# for SECONDS (default 20) on a fresh copy of its seed corpus fuzz/corpus/<target>/.
#
#   scripts/fuzz.sh [SECONDS]
#
# Exit status: 0 if every target ran its time without a finding; 1 if any target crashed, leaked,
# timed out on one input, ran out of memory or printed a sanitizer report; 2 on a build failure.
# Findings are kept in build-fuzz/fuzz-artifacts/<target>/ (replay: build-fuzz/fuzz/<target> FILE),
# logs in build-fuzz/fuzz-logs/<target>.log.
#
# Environment: RF_FUZZ_JOBS (ninja parallelism, default 1), RF_FUZZ_TARGETS (space-separated
# subset of targets, default all), RF_FUZZ_TIMEOUT (seconds one input may take, default 10).
set -euo pipefail

seconds="${1:-20}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds < 1)); then
  echo "usage: $0 [SECONDS]  (SECONDS: a positive integer, default 20)" >&2
  exit 2
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-fuzz"
jobs="${RF_FUZZ_JOBS:-1}"
input_timeout="${RF_FUZZ_TIMEOUT:-10}"

for tool in clang-14 clang++-14 cmake ninja; do
  command -v "$tool" >/dev/null || { echo "fuzz.sh: $tool not found (scripts/install-deps.sh)" >&2; exit 2; }
done

targets=()
if [[ -n "${RF_FUZZ_TARGETS:-}" ]]; then
  read -r -a targets <<<"$RF_FUZZ_TARGETS"
else
  for src in "$root"/fuzz/*_fuzz.cc; do
    targets+=("$(basename "$src" .cc)")
  done
fi

echo "fuzz.sh: configuring $build (clang-14, RF_FUZZ=ON)"
mkdir -p "$build"
CC=clang-14 CXX=clang++-14 cmake -G Ninja -S "$root" -B "$build" \
  -DRF_FUZZ=ON -DRF_BENCH=OFF -DBUILD_TESTING=OFF >"$build/configure.log" 2>&1 || {
  cat "$build/configure.log" >&2
  echo "fuzz.sh: configure failed" >&2
  exit 2
}
if ! grep -q 'CMAKE_CXX_COMPILER:.*clang++-14' "$build/CMakeCache.txt"; then
  echo "fuzz.sh: $build was configured with another compiler; remove it and re-run" >&2
  exit 2
fi
echo "fuzz.sh: building ${targets[*]}"
ninja -C "$build" -j "$jobs" "${targets[@]}" || { echo "fuzz.sh: build failed" >&2; exit 2; }

# UBSan reports are recoverable by default; make each one a crash that libFuzzer records.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
export ASAN_OPTIONS="abort_on_error=0:detect_leaks=1:${ASAN_OPTIONS:-}"

logs="$build/fuzz-logs"
artifacts="$build/fuzz-artifacts"
work="$build/fuzz-corpus"
mkdir -p "$logs" "$artifacts" "$work"
failed=()
summary=()
for t in "${targets[@]}"; do
  seeds="$root/fuzz/corpus/$t"
  [[ -d "$seeds" ]] || { echo "fuzz.sh: no seed corpus $seeds" >&2; exit 2; }
  rm -rf "${work:?}/$t" "${artifacts:?}/$t"
  mkdir -p "$work/$t" "$artifacts/$t"
  cp "$seeds"/* "$work/$t/"
  dict=()
  [[ -f "$root/fuzz/$t.dict" ]] && dict=("-dict=$root/fuzz/$t.dict")
  log="$logs/$t.log"
  echo "fuzz.sh: running $t for ${seconds}s"
  status=0
  "$build/fuzz/$t" "$work/$t" "${dict[@]}" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout="$input_timeout" \
    -artifact_prefix="$artifacts/$t/" -print_final_stats=1 >"$log" 2>&1 || status=$?
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  corpus="$(ls "$work/$t" | wc -l)"
  # libFuzzer's exit status covers crashes, leaks, timeouts and OOMs; the grep catches any
  # sanitizer report that did not end the run.
  if ((status != 0)) || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$log"; then
    failed+=("$t")
    summary+=("$(printf '%-22s FAILED (exit %d) execs=%s; see %s' "$t" "$status" "${execs:-?}" "$log")")
    grep -E 'ERROR:|runtime error:|fuzz oracle failed|^artifact_prefix|Test unit written' "$log" | head -20 >&2 || true
  else
    summary+=("$(printf '%-22s ok  execs=%s corpus=%s' "$t" "${execs:-?}" "$corpus")")
  fi
done

echo
echo "fuzz.sh: ${seconds}s per target"
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzz.sh: FAILED: ${failed[*]} (inputs in $artifacts/)" >&2
  exit 1
fi
echo "fuzz.sh: no crashes"
