#!/usr/bin/env bash
# ctest entry of the browser tests (docs/dashboard.md "Tests"): needs node, the npm packages of
# web/ (npm ci; the build installs them) and chromium. Missing locally: skipped (exit 77, ctest
# SKIP_RETURN_CODE) with the reason; missing in CI (CI=true): a failure.
# Usage: run.sh SOURCE_DIR BINARY_DIR
set -uo pipefail
src=$1 bin=$2
chromium=${RF_CHROMIUM:-/usr/bin/chromium}
missing=()
command -v node >/dev/null || missing+=("node")
[ -x "$chromium" ] || missing+=("chromium ($chromium)")
[ -d "$src/web/node_modules/playwright-core" ] || missing+=("web/node_modules/playwright-core (npm ci in web/)")
if ((${#missing[@]})); then
  msg="browser tests: missing ${missing[*]}; scripts/install-deps.sh installs them"
  if [ "${CI:-}" = "true" ]; then
    echo "FAIL: $msg (CI=true: the browser tests must run in CI)" >&2
    exit 1
  fi
  echo "SKIPPED: $msg" >&2
  exit 77
fi
export RF_SOURCE_DIR=$src RF_BINARY_DIR=$bin RF_CHROMIUM=$chromium
for t in "$src"/tests/browser/*.e2e.mjs; do
  echo "== $t"
  node "$t" || exit 1
done
