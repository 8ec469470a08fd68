#!/usr/bin/env bash
# Check-in throughput and cost of `ringfence server` on its stores and as a cluster, in one run
# (docs/benchmarks.md "Replicas: SQLite vs PostgreSQL vs two behind HAProxy"):
#   sqlite   one replica, SQLite store (its data directory)
#   pg1      one replica, PostgreSQL store
#   pg2      two replicas on that PostgreSQL behind HAProxy (a config derived from
#            deploy/haproxy.cfg whose agents backend hashes on the device's session token instead
#            of the source address: every wrk connection comes from 127.0.0.1)
#   nginx    a static file of the check-in response's size (the reference of bench/checkin_load)
#   pg1new, pg2new (RECONNECT=1): pg1 and pg2 with a new TCP connection per check-in
#            ("Connection: close"), as agents polling less often than the keep-alive idle time
# Enrollment: SAMPLE new devices through the API into each store (timed: the durable path, with
# the WAL and rows it took on PostgreSQL); devices SAMPLE .. DEVICES-1 seeded into the stopped
# stores in the servers' formats (rf_enroll_devices --write-credentials; keys from RF_KEY_SEED);
# the servers restarted (time to load every credential); all DEVICES enrolled again through the
# API (known keys: answered from memory; gives each device its session token and inventory
# record). Store sizes and RSS are reported. Then, ROUNDS times, wrk drives each target in turn for
# DURATION seconds with the agent's check-in body (checkin.lua, RF_AGENT_SHAPE=1), and for each
# window the script reads: check-ins/s, p99, non-2xx; CPU seconds (/proc/PID/stat utime+stime) of
# the server processes, of PostgreSQL (postmaster and its children, exited ones included) and of
# HAProxy; PostgreSQL rows written (pg_stat_database tup_inserted+tup_updated+tup_deleted) and WAL
# bytes (pg_current_wal_lsn difference). An IDLE-second window with no load first gives what the
# cluster writes by itself (leases, controller ticks). `uptime` load before and after each window.
#
#   bash bench/cluster_load/run.sh [BUILD_DIR]   (env: DEVICES=1000000 SAMPLE=20000 DURATION=15
#                                                      ROUNDS=2 IDLE=15 RECONNECT=0
#                                                      CONNS=64 THREADS=2 WRK_THREADS=2 KEEP=0
#                                                      LOCK=/tmp/rf-cpu.lock)
# LOCK: a flock(1) file taken for the measurement windows (not the enrollment), so that builds of
# other sessions sharing the machine wait; LOCK= (empty) takes none. Results: a table on stdout,
# the raw per-window lines in WORK/windows.txt (KEEP=1 keeps WORK).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
rf=$build/apps/ringfence
enroller=$build/bench/rf_enroll_devices
DEVICES=${DEVICES:-1000000}
DURATION=${DURATION:-15}
ROUNDS=${ROUNDS:-2}
IDLE=${IDLE:-15}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
WRK_THREADS=${WRK_THREADS:-2}
KEEP=${KEEP:-0}
SAMPLE=${SAMPLE:-20000}
RECONNECT=${RECONNECT:-0}
[ "$SAMPLE" -le "$DEVICES" ] || SAMPLE=$DEVICES
LOCK=${LOCK-/tmp/rf-cpu.lock}
for t in wrk haproxy curl python3 bc; do command -v $t >/dev/null || { echo "$t is not installed (scripts/install-deps.sh)"; exit 2; }; done
[ -x /usr/sbin/nginx ] || { echo "nginx is not installed (apt-get install nginx-light)"; exit 2; }
[ -x "$rf" ] && [ -x "$enroller" ] || { echo "build first: cmake --build $build --target ringfence rf_enroll_devices"; exit 2; }
source "$root/scripts/cluster_lib.sh"        # rf_pg_start, rf_replica_start, rf_haproxy_start, ...
source "$root/bench/checkin_load/lib.sh"     # rf_nginx_start, rf_wrk_parse

work=$(mktemp -d /tmp/rf-cluster-bench.XXXXXX)
pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rf_pg_stop "$work"
  if [ "$KEEP" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT INT TERM

hz=$(getconf CLK_TCK)
rss_mb() { awk '/^VmRSS:/ {printf "%d", $2 / 1024}' "/proc/$1/status"; }
# CPU ticks (utime+stime) of processes; the comm field may hold spaces, so cut after ") ".
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}'))); done; echo $t; }
# PostgreSQL: the postmaster's own and its reaped children's ticks, plus its live children's.
pg_ticks() {
  local pm t c
  pm=$(head -1 "$work/pg/postmaster.pid")
  t=$(sed 's/.*) //' "/proc/$pm/stat" | awk '{print $12 + $13 + $14 + $15}')
  for c in $(pgrep -P "$pm"); do t=$((t + $(ticks "$c" 2>/dev/null || echo 0))); done
  echo $t
}
# This shell's reaped children (wrk and the measuring commands): the load generator's CPU.
child_ticks() { sed 's/.*) //' /proc/$$/stat | awk '{print $14 + $15}'; }
psql_q() { psql -X -q -At -h "$RF_PG_SOCK" -U ringfence -d ringfence -c "$1"; }
# WAL position (bytes) and rows written in the ringfence database.
pg_counters() {
  psql_q "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint,
                 (SELECT tup_inserted + tup_updated + tup_deleted FROM pg_stat_database
                  WHERE datname = 'ringfence')" | tr '|' ' '
}
load() { cut -d' ' -f1 /proc/loadavg; }
now() { date +%s.%N; }

# --- PostgreSQL, the replicas
rf_pg_start "$work"
server_args=(--threads "$THREADS" --enroll-rate 1000000 --enroll-burst 1000000000 --session-ttl 86400)
declare -A port pid
start() {  # name [args]: (re)starts replica NAME in WORK/NAME; sets start_s[NAME] (seconds to listen)
  local name=$1 t0; shift
  [ -n "${port[$name]:-}" ] || port[$name]=$(rf_free_port)
  t0=$(now)
  rf_replica_start "$rf" "$work/$name" "${port[$name]}" "$work/$name.log" "${server_args[@]}" "$@"
  start_s[$name]=$(echo "$(now) - $t0" | bc)
  pid[$name]=$RF_REPLICA_PID; pids+=("$RF_REPLICA_PID")
}
stop() { kill -TERM "${pid[$1]}"; wait "${pid[$1]}" 2>/dev/null || true; }
declare -A start_s
start sqlite
start pg_r1 --store "$RF_PG_URI"
rss_empty_sqlite=$(rss_mb "${pid[sqlite]}"); rss_empty_pg=$(rss_mb "${pid[pg_r1]}")

# --- enrollment (not under LOCK: it is long; its times depend on the machine's load)
# Device keys derive from RF_KEY_SEED (rf_enroll_devices), so enrolling a device again is answered
# from the server's memory and the seeded credentials below match the keys the devices sign with.
export RF_KEY_SEED=cluster-bench
enroll() {  # name n -> seconds; WORK/sessions.NAME.txt
  local t0 t1
  t0=$(now)
  "$enroller" "http://127.0.0.1:${port[$1]}" "$work/$1/agent.token" "$2" "$work/sessions.$1.txt" \
    $(( CONNS / 8 > 0 ? CONNS / 8 : 1 )) 2>"$work/enroll.$1.err" || { cat "$work/enroll.$1.err" >&2; return 1; }
  t1=$(now)
  echo "$t1 - $t0" | bc
}
# 1. The durable path, measured: SAMPLE new devices through the API on each store.
echo "enrolling $SAMPLE new devices into the SQLite replica (load $(load)) ..."
enroll_sqlite_s=$(enroll sqlite "$SAMPLE")
echo "  $enroll_sqlite_s s (load $(load))"
read -r wal0 rows0 < <(pg_counters)
echo "enrolling $SAMPLE new devices into PostgreSQL through replica 1 (load $(load)) ..."
enroll_pg_s=$(enroll pg_r1 "$SAMPLE")
sleep 2
read -r wal1 rows1 < <(pg_counters)
echo "  $enroll_pg_s s (load $(load)); WAL $(( (wal1 - wal0) / 1024 )) KiB, $((rows1 - rows0)) rows"
# 2. The rest of the fleet (devices SAMPLE .. DEVICES-1) seeded into both stores while their
#    servers are stopped: credentials.log lines (SQLite) and device_credentials rows with their
#    history (PostgreSQL), in the formats the servers write (rf_enroll_devices --write-credentials).
stop sqlite; stop pg_r1
if [ "$DEVICES" -gt "$SAMPLE" ]; then
  echo "seeding devices $SAMPLE .. $((DEVICES - 1)) into both stores (load $(load)) ..."
  t0=$(now)
  "$enroller" --write-credentials journal "$SAMPLE" "$DEVICES" "$work/seed.journal" &
  j=$!
  "$enroller" --write-credentials pg "$SAMPLE" "$DEVICES" "$work/seed.pg"
  wait $j
  tail -n +2 "$work/seed.journal" >>"$work/sqlite/credentials.log"
  chmod 644 "$work/seed.pg"
  psql -X -q -v ON_ERROR_STOP=1 -h "$RF_PG_SOCK" -U ringfence -d ringfence <<SQL
BEGIN;
CREATE TEMP TABLE seed (LIKE device_credentials);
\copy seed FROM '$work/seed.pg'
INSERT INTO device_credential_changes(seq, device_id, public_key, epoch, state, changed_by, changed_s)
  SELECT seq + (SELECT seq FROM credential_seq), device_id, public_key, epoch, state, changed_by, changed_s FROM seed;
INSERT INTO device_credentials(device_id, public_key, epoch, state, seq, changed_by, changed_s)
  SELECT device_id, public_key, epoch, state, seq + (SELECT seq FROM credential_seq), changed_by, changed_s FROM seed;
UPDATE credential_seq SET seq = seq + (SELECT count(*) FROM seed);
COMMIT;
VACUUM ANALYZE;
SQL
  rm -f "$work/seed.journal" "$work/seed.pg"
  seed_s=$(echo "$(now) - $t0" | bc)
  echo "  $seed_s s"
fi
# 3. Restart with the whole fleet (the start-up loads every credential), and every device enrolls
#    (all keys known now: answered from memory, no store write) to get its session token and the
#    server's inventory record; both stores at once.
start sqlite
start pg_r1 --store "$RF_PG_URI"
echo "restarted with $DEVICES credentials: SQLite replica ${start_s[sqlite]} s, PostgreSQL replica ${start_s[pg_r1]} s to listen"
read -r wal2 rows2 < <(pg_counters)
echo "enrolling all $DEVICES devices again (known keys) into both, at once (load $(load)) ..."
enroll sqlite "$DEVICES" >"$work/reenroll.sqlite.s" &
j=$!
reenroll_pg_s=$(enroll pg_r1 "$DEVICES")
wait $j
reenroll_sqlite_s=$(cat "$work/reenroll.sqlite.s")
sleep 3   # the fleet flushers write their segments
read -r wal3 rows3 < <(pg_counters)
echo "  SQLite $reenroll_sqlite_s s, PostgreSQL $reenroll_pg_s s (load $(load)); PostgreSQL meanwhile: WAL $(( (wal3 - wal2) / 1024 )) KiB, $((rows3 - rows2)) rows"
rss_enrolled_sqlite=$(rss_mb "${pid[sqlite]}"); rss_enrolled_pg=$(rss_mb "${pid[pg_r1]}")
pg_db_bytes=$(psql_q "SELECT pg_database_size('ringfence')")
pg_creds_bytes=$(psql_q "SELECT pg_total_relation_size('device_credentials')")
pg_changes_bytes=$(psql_q "SELECT pg_total_relation_size('device_credential_changes')")
sqlite_dir_bytes=$(du -sb "$work/sqlite" | cut -f1)
sqlite_creds_bytes=$(stat -c %s "$work/sqlite/credentials.log")
pg_r1_dir_bytes=$(du -sb "$work/pg_r1" | cut -f1)

# --- the second PostgreSQL replica (the first one's secrets), HAProxy in front of both
rf_share_secrets "$work/pg_r1" "$work/pg_r2"
start pg_r2 --store "$RF_PG_URI"
# deploy/haproxy.cfg with the agents backend hashing the Authorization header (the device's
# session token: one key per device, as the source address is per device in production) and two
# servers. Checked: the file must still have what is replaced.
grep -q '^    balance source$' "$root/deploy/haproxy.cfg" || { echo "deploy/haproxy.cfg changed: update run.sh"; exit 1; }
sed -e 's/^    balance source$/    balance hdr(Authorization)/' -e '/^    server r3 /d' \
  "$root/deploy/haproxy.cfg" >"$work/haproxy.cfg"
front=127.0.0.1:$(rf_free_port)
rf_haproxy_start "$work/haproxy.cfg" "$front" "$work/haproxy.log" \
  "127.0.0.1:${port[pg_r1]}" "127.0.0.1:${port[pg_r2]}"
pids+=("$RF_HAPROXY_PID")
haproxy_pid=$RF_HAPROXY_PID

# --- nginx: the server's check-in answer as a static file
tok=$(sed -n '1s/^[^ ]* //p' "$work/sessions.sqlite.txt")
resp=$(curl -s -H "Authorization: Bearer $tok" -d '{"device_id":"dev-0000000","seq":1}' \
  "http://127.0.0.1:${port[sqlite]}/v1/agent/checkin")
rf_nginx_start "$work" "$resp" "$THREADS" 0
pids+=("$RF_NGINX_PID")

# --- measurement windows
if [ -n "$LOCK" ]; then exec 9>"$LOCK"; echo "waiting for $LOCK ..."; flock 9; fi
export RF_DEVICES=$DEVICES RF_WRK_THREADS=$WRK_THREADS RF_AGENT_SHAPE=1
# window LABEL URL SESSIONS SERVER_PIDS(space-separated) [LUA]: one wrk run; appends a line to
# WORK/windows.txt: label rps p99 non2xx requests seconds server_cpu_s pg_cpu_s haproxy_cpu_s
# wrk_cpu_s wal_bytes rows load_before load_after
window() {
  local label=$1 url=$2 sessions=$3 spids=$4 lua=${5:-} close=${6:-0}
  local l0 l1 t0 t1 s0 s1 p0 p1 h0 h1 c0 c1 w0 w1 r0 r1 out=$work/wrk.$label.$round.txt
  l0=$(load); read -r w0 r0 < <(pg_counters)
  s0=$(ticks $spids); p0=$(pg_ticks); h0=$(ticks "$haproxy_pid"); c0=$(child_ticks); t0=$(now)
  if [ -n "$lua" ]; then
    RF_SESSIONS=$sessions RF_CONNECTION_CLOSE=$close wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$lua" "$url" >"$out"
  else
    wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$url" >"$out"
  fi
  t1=$(now); s1=$(ticks $spids); p1=$(pg_ticks); h1=$(ticks "$haproxy_pid"); c1=$(child_ticks)
  sleep 1.5   # PostgreSQL's statistics reach pg_stat_database within a second
  read -r w1 r1 < <(pg_counters); l1=$(load)
  local rps p99 err n
  read -r rps p99 err n < <(rf_wrk_parse "$out")
  echo "$label $rps $p99 $err $n $(echo "$t1 - $t0" | bc) $(echo "scale=3; ($s1 - $s0) / $hz" | bc)" \
       "$(echo "scale=3; ($p1 - $p0) / $hz" | bc) $(echo "scale=3; ($h1 - $h0) / $hz" | bc)" \
       "$(echo "scale=3; ($c1 - $c0) / $hz" | bc) $((w1 - w0)) $((r1 - r0)) $l0 $l1" >>"$work/windows.txt"
  tail -1 "$work/windows.txt"
}
all_servers="${pid[sqlite]} ${pid[pg_r1]} ${pid[pg_r2]}"
: >"$work/windows.txt"
echo "idle window: $IDLE s, no load"
round=0
read -r iw0 ir0 < <(pg_counters); is0=$(ticks $all_servers); ip0=$(pg_ticks); il0=$(load); it0=$(now)
sleep "$IDLE"
it1=$(now); is1=$(ticks $all_servers); ip1=$(pg_ticks)
read -r iw1 ir1 < <(pg_counters); il1=$(load)
idle_s=$(echo "$it1 - $it0" | bc)
echo "idle $idle_s s: WAL $((iw1 - iw0)) B, rows $((ir1 - ir0)), servers $(echo "scale=3; ($is1 - $is0) / $hz" | bc) CPU s, PostgreSQL $(echo "scale=3; ($ip1 - $ip0) / $hz" | bc) CPU s, load $il0 -> $il1"
lua=$root/bench/checkin_load/checkin.lua
for round in $(seq "$ROUNDS"); do
  window sqlite "http://127.0.0.1:${port[sqlite]}" "$work/sessions.sqlite.txt" "${pid[sqlite]}" "$lua"
  window pg1 "http://127.0.0.1:${port[pg_r1]}" "$work/sessions.pg_r1.txt" "${pid[pg_r1]}" "$lua"
  window pg2 "http://$front" "$work/sessions.pg_r1.txt" "${pid[pg_r1]} ${pid[pg_r2]}" "$lua"
  window nginx "http://127.0.0.1:$RF_NGINX_PORT/checkin.json" "" "$RF_NGINX_PID $(pgrep -P "$RF_NGINX_PID" | tr '\n' ' ')"
  if [ "$RECONNECT" = 1 ]; then
    window pg1new "http://127.0.0.1:${port[pg_r1]}" "$work/sessions.pg_r1.txt" "${pid[pg_r1]}" "$lua" 1
    window pg2new "http://$front" "$work/sessions.pg_r1.txt" "${pid[pg_r1]} ${pid[pg_r2]}" "$lua" 1
  fi
done
if [ -n "$LOCK" ]; then flock -u 9; fi
# How pg2's check-ins were spread: each replica's accepted check-ins (GET /metrics).
checkins_of() {
  curl -s -H "Authorization: Bearer $(cat "$work/$1/admin.token")" "http://127.0.0.1:${port[$1]}/metrics" |
    awk '/^ringfence_checkins_total/ {print $2}'
}
pg2_total=$(awk '$1 ~ /^pg2/ {t += $5} END {print t}' "$work/windows.txt")
r2=$(checkins_of pg_r2)
spread="replica 2 accepted $r2 of the $pg2_total check-ins sent through HAProxy ($(echo "scale=1; 100 * $r2 / $pg2_total" | bc)%), replica 1 the rest"
per_table=$(psql_q "SELECT relname || ' ins ' || n_tup_ins || ' upd ' || n_tup_upd || ' del ' || n_tup_del
                    FROM pg_stat_user_tables WHERE n_tup_ins + n_tup_upd + n_tup_del > 0 ORDER BY 1")
pg_db_bytes_end=$(psql_q "SELECT pg_database_size('ringfence')")

# --- report
echo
echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(free -g | awk '/^Mem:/ {print $2}') GB"
echo "wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s keep-alive http, agent-shaped check-ins of $DEVICES devices; each server --threads $THREADS"
echo "check-in response: ${#resp} bytes"
echo "enrollment of $SAMPLE new devices through the API: SQLite $enroll_sqlite_s s ($(echo "scale=0; $SAMPLE / $enroll_sqlite_s" | bc)/s)," \
     "PostgreSQL $enroll_pg_s s ($(echo "scale=0; $SAMPLE / $enroll_pg_s" | bc)/s; WAL $(( (wal1 - wal0) / SAMPLE )) B and" \
     "$(echo "scale=2; ($rows1 - $rows0) / $SAMPLE" | bc) rows per enrollment)"
echo "devices $SAMPLE .. $((DEVICES - 1)) seeded in ${seed_s:-0} s; restart with $DEVICES credentials: SQLite ${start_s[sqlite]} s," \
     "PostgreSQL ${start_s[pg_r1]} s (replica 2: ${start_s[pg_r2]} s); all $DEVICES enrolled again (known keys)," \
     "both at once: SQLite $reenroll_sqlite_s s, PostgreSQL $reenroll_pg_s s"
echo "PostgreSQL after enrollment: database $((pg_db_bytes / 1048576)) MiB" \
     "(device_credentials $((pg_creds_bytes / 1048576)) MiB = $((pg_creds_bytes / DEVICES)) B/device," \
     "device_credential_changes $((pg_changes_bytes / 1048576)) MiB = $((pg_changes_bytes / DEVICES)) B/device);" \
     "after the load $((pg_db_bytes_end / 1048576)) MiB"
echo "data directories after enrollment: SQLite replica $((sqlite_dir_bytes / 1048576)) MiB (credentials.log $((sqlite_creds_bytes / DEVICES)) B/device), PostgreSQL replica 1 $((pg_r1_dir_bytes / 1048576)) MiB"
echo "RSS MiB (empty / enrolled / end): sqlite $rss_empty_sqlite / $rss_enrolled_sqlite / $(rss_mb "${pid[sqlite]}")," \
     "pg_r1 $rss_empty_pg / $rss_enrolled_pg / $(rss_mb "${pid[pg_r1]}"), pg_r2 (started after enrollment) - / - / $(rss_mb "${pid[pg_r2]}")"
echo "idle ($idle_s s, all three servers up): PostgreSQL WAL $(echo "scale=0; ($iw1 - $iw0) / $idle_s" | bc) B/s," \
     "$(echo "scale=1; ($ir1 - $ir0) / $idle_s" | bc) rows/s"
echo "pg2 spread: $spread"
echo "PostgreSQL rows written per table over the whole run:"; echo "$per_table" | sed 's/^/  /'
echo
printf "%-6s %-5s %9s %8s %6s %10s %10s %9s %9s %9s %9s %9s %11s\n" target round "chk/s" "p99 ms" non2xx \
  "srv us/ci" "pg us/ci" "hap us/ci" "wrk us/ci" "WAL B/s" "rows/s" "WAL B/ci" "load"
declare -A nth
per() { echo "scale=1; $1 * 1000000 / $n" | bc; }
while read -r label rps p99 err n secs scpu pcpu hcpu wcpu wal rows l0 l1; do
  nth[$label]=$(( ${nth[$label]:-0} + 1 ))
  if [ "$label" = sqlite ] || [ "$label" = nginx ]; then pc="-"; hc="-"; else pc=$(per "$pcpu"); hc=$( case $label in pg2*) per "$hcpu";; *) echo -;; esac); fi
  printf "%-6s %-5s %9s %8s %6s %10s %10s %9s %9s %9s %9s %9s %11s\n" "$label" "${nth[$label]}" "$rps" "$p99" "$err" \
    "$(per "$scpu")" "$pc" "$hc" "$(per "$wcpu")" "$(echo "scale=0; $wal / $secs" | bc)" \
    "$(echo "scale=1; $rows / $secs" | bc)" "$(echo "scale=1; $wal / $n" | bc)" "$l0->$l1"
done <"$work/windows.txt"
echo
echo "us/ci: CPU microseconds per completed request (srv: the server processes of the target; pg: all"
echo "of PostgreSQL; hap: HAProxy; wrk: the load generator). WAL B/s, rows/s: PostgreSQL during the"
echo "window (all targets share the one PostgreSQL; only pg1/pg2 send it work). Raw: $work/windows.txt"
