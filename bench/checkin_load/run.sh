#!/usr/bin/env bash
# Check-in throughput of `ringfence server` with DEVICES known devices vs nginx serving a static
# JSON file of the same size as a check-in response; same load tool (wrk), same machine, same run.
# Also: server RSS per device, p99 latency. See docs/benchmarks.md, "Agent check-ins".
#
# TLS=1: both over HTTPS (TLS 1.3, the same ECDSA P-256 certificate made here with openssl; wrk
# keeps its connections, so this measures record encryption, not handshakes).
#
#   bash bench/checkin_load/run.sh [BUILD_DIR]      (env: DEVICES=1000000 DURATION=15 CONNS=64
#                                                         THREADS=2 WRK_THREADS=2 ROUNDS=2 TLS=0)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
rf=$build/apps/ringfence
DEVICES=${DEVICES:-1000000}
DURATION=${DURATION:-15}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
WRK_THREADS=${WRK_THREADS:-2}
ROUNDS=${ROUNDS:-2}
TLS=${TLS:-0}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 2; }
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "nginx is not installed (apt-get install nginx-light)"; exit 2; }
[ -x "$rf" ] || { echo "no $rf: build first (cmake --preset release && cmake --build build)"; exit 2; }
enroller=$build/bench/rf_enroll_devices
[ -x "$enroller" ] || { echo "no $enroller: build first (cmake --build build --target rf_enroll_devices)"; exit 2; }

work=$(mktemp -d /tmp/rf-checkin-bench.XXXXXX)
server_pid=""; nginx_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  [ -n "$nginx_pid" ] && kill -TERM "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# Total RSS of nginx: master + workers.
nginx_rss_kb() { local t=0; for p in $nginx_pid $(pgrep -P "$nginx_pid"); do t=$((t + $(rss_kb "$p"))); done; echo $t; }

# --- TLS: a CA and a server certificate for 127.0.0.1, shared by the server and nginx
scheme=http; tls_args=(); curl_tls=()
if [ "$TLS" = 1 ]; then
  command -v openssl >/dev/null || { echo "openssl is not installed"; exit 2; }
  (cd "$work" &&
   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt \
     -days 2 -subj "/CN=bench CA" 2>/dev/null &&
   openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
     -subj /CN=127.0.0.1 2>/dev/null &&
   printf 'subjectAltName=IP:127.0.0.1\n' >server.ext &&
   openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt \
     -days 2 -extfile server.ext 2>/dev/null)
  chmod 644 "$work/server.key"   # nginx reads it as root before dropping privileges anyway
  scheme=https; tls_args=(--tls-cert "$work/server.crt" --tls-key "$work/server.key")
  curl_tls=(--cacert "$work/ca.crt")
fi

# --- server
# Enrollment is rate-limited per server (docs/protocol.md): the benchmark enrolls its whole fleet at
# once. Session tokens must outlive the run.
"$rf" server --data "$work/data" --listen 127.0.0.1:0 --threads "$THREADS" "${tls_args[@]}" \
  --enroll-rate 1000000 --enroll-burst 1000000000 --session-ttl 86400 \
  >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 50); do grep -q "listening on" "$work/server.out" 2>/dev/null && break; sleep 0.1; done
addr=$(sed -n 's/^listening on //p' "$work/server.out")
[ -n "$addr" ] || { cat "$work/server.err"; exit 1; }
export RF_TOKEN=$(cat "$work/data/agent.token") RF_DEVICES=$DEVICES RF_WRK_THREADS=$WRK_THREADS
rss0=$(rss_kb $server_pid)

echo "enrolling $DEVICES devices at $scheme://$addr ..."
t0=$(date +%s.%N)
# Each device signs its enrollment with its own key (wrk cannot): rf_enroll_devices does it over
# $CONNS/8 connections and writes each device's session token for checkin.lua.
[ "$scheme" = https ] && export RF_CA=$work/ca.crt
"$enroller" "$scheme://$addr" "$work/data/agent.token" "$DEVICES" "$work/sessions.txt" $(( CONNS / 8 > 0 ? CONNS / 8 : 1 ))
export RF_SESSIONS=$work/sessions.txt
t1=$(date +%s.%N)
sleep 3   # let the fleet flusher write the last segment
rss1=$(rss_kb $server_pid)

# --- nginx, a static file of the same size as a check-in response
resp=$(curl -s "${curl_tls[@]}" -H "Authorization: Bearer $(sed -n '1s/^[^ ]* //p' "$RF_SESSIONS")" -d "{\"device_id\":\"dev-0000000\",\"seq\":1}" "$scheme://$addr/v1/agent/checkin")
source "$here/lib.sh"   # rf_nginx_start, rf_wrk_parse
rf_nginx_start "$work" "$resp" "$THREADS" "$TLS"
nginx_pid=$RF_NGINX_PID; nport=$RF_NGINX_PORT

# --- load: alternate server and nginx, ROUNDS times each
for round in $(seq "$ROUNDS"); do
  wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$here/checkin.lua" "$scheme://$addr" >"$work/server.$round.txt"
  wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$scheme://127.0.0.1:$nport/checkin.json" >"$work/nginx.$round.txt"
  sleep 1
done
rss2=$(rss_kb $server_pid)

echo
echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s, keep-alive, $scheme; server --threads $THREADS; nginx worker_processes $THREADS"
echo "check-in response: ${#resp} bytes; enrollment of $DEVICES devices took $(echo "$t1 - $t0" | bc) s"
echo
printf "%-7s %-8s %14s %10s %8s %8s\n" round target "requests/s" "p99 ms" "non-2xx" "ratio"
best_s=0; best_n=0
for round in $(seq "$ROUNDS"); do
  read -r s_rps s_p99 s_err _ < <(rf_wrk_parse "$work/server.$round.txt")
  read -r n_rps n_p99 n_err _ < <(rf_wrk_parse "$work/nginx.$round.txt")
  # The paired ratio: server and nginx ran back to back in this round (least load-sensitive).
  printf "%-7s %-8s %14s %10s %8s %8s\n" "$round" server "$s_rps" "$s_p99" "$s_err" \
    "$(echo "scale=2; $s_rps / $n_rps" | bc)"
  printf "%-7s %-8s %14s %10s %8s\n" "$round" nginx "$n_rps" "$n_p99" "$n_err"
  best_s=$(echo "if ($s_rps > $best_s) $s_rps else $best_s" | bc)
  best_n=$(echo "if ($n_rps > $best_n) $n_rps else $best_n" | bc)
done
echo
echo "ratio server/nginx (best round each): $(echo "scale=3; $best_s / $best_n" | bc)   (target >= $( [ "$TLS" = 1 ] && echo 0.8 || echo 0.5 ))"
echo "server RSS: $((rss0/1024)) MiB empty, $((rss1/1024)) MiB with $DEVICES devices, $((rss2/1024)) MiB after the load"
echo "RSS per device: $(echo "scale=1; ($rss1 - $rss0) * 1024 / $DEVICES" | bc) B after enrollment, $(echo "scale=1; ($rss2 - $rss0) * 1024 / $DEVICES" | bc) B after the load   (target <= 256)"
echo "nginx RSS: $(( $(nginx_rss_kb) / 1024 )) MiB"
