#!/usr/bin/env bash
# Check-in latency while operators upload: p99 of agent check-ins (wrk, bench/checkin_load's
# check-in script) with no operator work, then while 1,000-item bundles are uploaded back to back
# to a server running layer 2 with two consumer builds (the example sensor, --consumer twice).
# Each server binary given is measured in turn, same machine, same run: e.g. the build of the
# commit before the operator executor and the current one (docs/benchmarks.md "Check-ins during
# an upload"). Acceptance (issue 9): p99 during uploads within 2x of p99 without them. wrk's
# percentiles count completed requests only: a check-in stalled behind an upload for longer than the
# measurement is missing from them, so the table also shows the slowest completed request, wrk's
# timeouts (60 s) and the request rate.
#
#   bash bench/operator_load/run.sh [BUILD_DIR] [OTHER_RINGFENCE_BINARY...]
#        (env: DEVICES=2000 ITEMS=1000 DURATION=20 CONNS=16 THREADS=2 WRK_THREADS=2 ROUNDS=1)
#
# BUILD_DIR provides ringfence (measured last), the sensor, rf_enroll_devices and
# rf_gen_ipc_bundle; every binary listed after it is measured first, with the same tools.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
shift || true
binaries=("$@" "$build/apps/ringfence")
DEVICES=${DEVICES:-2000}
ITEMS=${ITEMS:-1000}
DURATION=${DURATION:-20}
CONNS=${CONNS:-16}
THREADS=${THREADS:-2}
WRK_THREADS=${WRK_THREADS:-2}
ROUNDS=${ROUNDS:-1}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 2; }
sensor=$build/examples/sensor/ringfence-sensor
enroller=$build/bench/rf_enroll_devices
gen=$build/bench/rf_gen_ipc_bundle
for f in "${binaries[@]}" "$sensor" "$enroller" "$gen"; do
  [ -x "$f" ] || { echo "no $f: build first (cmake --build build)"; exit 2; }
done
type_yaml=$root/samples/content/ipc_rule.type.yaml

work=$(mktemp -d /tmp/rf-operator-bench.XXXXXX)
server_pid=""; uploader_pid=""
stop_server() {
  [ -n "$uploader_pid" ] && kill "$uploader_pid" 2>/dev/null && wait "$uploader_pid" 2>/dev/null || true
  uploader_pid=""
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
trap 'stop_server; rm -rf "$work"' EXIT

# --- bundles: one generated 1,000-item source, a distinct version per upload. Position 20 (the
# field the benchmark fleet's 20-input consumers do not supply) is a wildcard everywhere, so layer
# 1 accepts and every upload goes on to layer 2.
"$gen" "$ITEMS" 7 | sed 's/peer_pipe_regex: "[^"]*"}/peer_pipe_regex: "*"}/' >"$work/base.yaml"
uploads=40
for v in $(seq 3000 $((3000 + uploads - 1))); do
  sed "s/^version: 2000$/version: $v/" "$work/base.yaml" >"$work/b.yaml"
  "${binaries[-1]}" bundle build "$work/b.yaml" --type "$type_yaml" -o "$work/b$v.dsse" >/dev/null
done
echo "bundle: $ITEMS items, $(stat -c %s "$work/b3000.dsse") bytes per envelope"

p99_ms() {  # wrk --latency output -> p99 in ms
  awk '/^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' "$1"
}
max_ms() {  # wrk's slowest completed request, in ms
  awk '/^ +Latency/ {v=$4; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' "$1"
}
rps() { awk '/Requests\/sec/ {print $2}' "$1"; }
non2xx() { awk '/Non-2xx/ {print $5}' "$1" | grep . || echo 0; }
# Requests wrk gave up on (--timeout): a stalled check-in shows here, not in the percentiles.
timeouts() { awk '/Socket errors/ {for (i = 1; i < NF; i++) if ($i == "timeout") print $(i + 1)}' "$1" | grep . || echo 0; }

run_one() {  # $1 binary, $2 label
  local rf=$1 label=$2 data=$work/data-$label
  "$rf" server --data "$data" --listen 127.0.0.1:0 --threads "$THREADS" --poll-after 60 \
    --enroll-rate 1000000 --enroll-burst 1000000000 --session-ttl 86400 --log-level warn \
    --consumer "$sensor --integration correct" --consumer "$sensor --integration correct" \
    >"$work/server-$label.out" 2>"$work/server-$label.err" &
  server_pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$work/server-$label.out" 2>/dev/null && break; sleep 0.1; done
  local addr; addr=$(sed -n 's/^listening on //p' "$work/server-$label.out")
  [ -n "$addr" ] || { cat "$work/server-$label.err"; exit 1; }
  local url=http://$addr
  "$enroller" "$url" "$data/agent.token" "$DEVICES" "$work/sessions-$label.txt" 2 >/dev/null
  "$rf" --server "$url" --token "$data/admin.token" type add "$type_yaml" >/dev/null
  export RF_TOKEN=$(cat "$data/agent.token") RF_DEVICES=$DEVICES RF_WRK_THREADS=$WRK_THREADS
  export RF_SESSIONS=$work/sessions-$label.txt
  sleep 2
  for round in $(seq "$ROUNDS"); do
    # Without operator work.
    wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 60s --latency -s "$root/bench/checkin_load/checkin.lua" "$url" \
      >"$work/$label.idle.$round.txt"
    # While bundles are uploaded back to back (each waits for its answer).
    : >"$work/uploads-$label.$round.txt"
    rm -f "$work/stop"
    (
      for f in "$work"/b*.dsse; do
        [ -e "$work/stop" ] && break
        t0=$(date +%s%N)
        if "$rf" --server "$url" --token "$data/admin.token" bundle upload "$f" >/dev/null 2>"$work/upload.err"; then r=ok; else r="refused: $(head -c 200 "$work/upload.err")"; fi
        echo "$(( ($(date +%s%N) - t0) / 1000000 )) ms $r" >>"$work/uploads-$label.$round.txt"
      done
    ) &
    uploader_pid=$!
    sleep 1  # the first upload is under way
    wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 60s --latency -s "$root/bench/checkin_load/checkin.lua" "$url" \
      >"$work/$label.upload.$round.txt"
    # The upload in flight finishes (its time is reported); no new one starts.
    touch "$work/stop"
    wait "$uploader_pid" 2>/dev/null || true
    uploader_pid=""
    local idle up
    idle=$(p99_ms "$work/$label.idle.$round.txt"); up=$(p99_ms "$work/$label.upload.$round.txt")
    printf "%-10s %-5s %12s %12s %12s %12s %12s %8s %8s %8s   %s\n" "$label" "$round" "$idle" "$up" \
      "$(max_ms "$work/$label.upload.$round.txt")" \
      "$(rps "$work/$label.idle.$round.txt")" "$(rps "$work/$label.upload.$round.txt")" \
      "$(non2xx "$work/$label.upload.$round.txt")" "$(timeouts "$work/$label.upload.$round.txt")" \
      "$(echo "scale=2; $up / $idle" | bc)" \
      "uploads: $(grep -c ' ok' "$work/uploads-$label.$round.txt" || true) accepted, $(grep -vc ' ok' "$work/uploads-$label.$round.txt" || true) refused, ms each (the last one ended after the load): $(awk '{printf "%s ", $1}' "$work/uploads-$label.$round.txt")"
    { grep -v ' ok' "$work/uploads-$label.$round.txt" || true; } | head -2 | sed 's/^/    /'
  done
  stop_server
}

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) (before)"
echo "wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s per measurement, $DEVICES devices, server --threads $THREADS, layer 2: 2 consumers"
printf "%-10s %-5s %12s %12s %12s %12s %12s %8s %8s %8s\n" binary round "p99 idle ms" "p99 upl ms" "max upl ms" "rps idle" "rps upl" non2xx timeouts ratio
i=0
for rf in "${binaries[@]}"; do
  label=bin$i
  [ "$rf" = "$build/apps/ringfence" ] && label=current
  run_one "$rf" "$label"
  i=$((i + 1))
done
echo "machine: load average $(cut -d' ' -f1-3 /proc/loadavg) (after)"
