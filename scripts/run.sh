#!/usr/bin/env bash
# The README's main job: installs missing dependencies, builds, and shows ringfence stopping
# CrowdStrike Channel File 291 on the shipped samples (embedded defaults, no server needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build build --target ringfence >/dev/null
rf=build/apps/ringfence
s=samples/content
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== Layer 1: Channel File 291 against the fleet as it really is (agents 7.11/7.15 supply 20 inputs)"
set +e
"$rf" check "$s/cf291.bundle.yaml" --type "$s/ipc_rule.type.yaml" --fleet "$s/fleet.json"
echo "(exit status $?: 1 = rejected)"
set -e
echo
echo "== The same bundle against a fleet whose consumers all supply 21 inputs"
sed 's/"inputs": 20/"inputs": 21/g' "$s/fleet.json" > "$tmp/fleet21.json"
"$rf" check "$s/cf291.bundle.yaml" --type "$s/ipc_rule.type.yaml" --fleet "$tmp/fleet21.json"
echo
echo "== Build, sign and verify the bundle (DSSE envelope, Ed25519)"
"$rf" key gen -o "$tmp/alice"
"$rf" bundle build "$s/cf291.bundle.yaml" --type "$s/ipc_rule.type.yaml" -o "$tmp/cf291.bundle" --key "$tmp/alice.key"
"$rf" bundle verify "$tmp/cf291.bundle" --pub "$tmp/alice.pub"
if [ -f samples/scenarios/cf291.yaml ] && "$rf" sim --help >/dev/null 2>&1; then
  echo
  echo "== Layer 4: the same incident replayed on a simulated 10,000,000-device fleet (layer 1 skipped)"
  "$rf" sim samples/scenarios/cf291.yaml --skip-layer1 --compare
fi
