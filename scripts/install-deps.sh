#!/usr/bin/env bash
# Installs ringfence's build and test dependencies from Debian 12 packages. Idempotent: packages that
# are already present are not fetched again, so this is cheap to run before every build.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-dev libboost-json1.81-dev
  libsodium-dev libyaml-dev libre2-dev libsqlite3-dev libssl-dev libcurl4-openssl-dev
  libcli11-dev libspdlog-dev libfmt-dev libyaml-cpp-dev libpcre2-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  openssl curl
  clang-14 libclang-rt-14-dev
  # The PostgreSQL store (--store postgresql://): libpq to build; the server for its tests.
  libpq-dev postgresql
  # CI runs the test suite once more with every core kept busy (scripts/under-load.sh).
  stress-ng
  # scripts/cluster.sh: replicas behind a real load balancer (deploy/haproxy.cfg).
  haproxy
  # The dashboard (docs/dashboard.md): node + npm bundle web/ at build time (npm ci, pinned in
  # web/package-lock.json); chromium runs the browser tests (tests/browser/, headless).
  nodejs npm chromium
)

# Packages that only provide a command: a machine that already has the command from elsewhere (e.g.
# a nodejs build that bundles npm and conflicts with Debian's npm package) is left as it is.
declare -A provides_command=([nodejs]=node [npm]=npm)

missing=()
for p in "${packages[@]}"; do
  if [ -n "${provides_command[$p]:-}" ] && command -v "${provides_command[$p]}" >/dev/null; then
    continue
  fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
