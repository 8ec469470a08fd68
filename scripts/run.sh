#!/usr/bin/env bash
# The README's main job: installs missing dependencies, builds, and runs `ringfence demo`: a real
# `ringfence server` and hundreds of real `ringfence-agent` processes on this machine (SQLite,
# loopback), Channel File 291 released with all five layers, with each layer alone, and with none,
# and a table of devices exposed, harmed, recovered and the time to halt (docs/demo.md).
# Extra arguments go to `ringfence demo` (e.g. --agents 300, --layers 4, --format json).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build build --target ringfence ringfence-agent ringfence-sensor >/dev/null
rf=build/apps/ringfence

echo "== Layer 1 on its own, no server: Channel File 291 against the fleet as it really was"
set +e
"$rf" check samples/content/cf291.bundle.yaml --type samples/content/ipc_rule.type.yaml \
    --fleet samples/content/fleet.json
echo "(exit status $?: 1 = rejected)"
set -e
echo
echo "== ringfence demo: real server + real agents, layer by layer (about 2 minutes)"
exec "$rf" demo \
    --agent-bin "$PWD/build/apps/ringfence-agent/ringfence-agent" \
    --sensor-bin "$PWD/build/examples/sensor/ringfence-sensor" \
    --samples "$PWD/samples/content" "$@"
