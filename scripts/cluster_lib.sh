# shellcheck shell=bash disable=SC2034  # (sets RF_* variables for the caller)
# Sourced (not run) by scripts/cluster.sh and bench/cluster_load/run.sh: the one definition of how
# a throwaway ringfence cluster is started on loopback (docs/deploy.md "Several servers behind
# HAProxy"): a PostgreSQL in a temp dir, `ringfence server` replicas sharing secrets, HAProxy.
#
#   source scripts/cluster_lib.sh
#   rf_pg_start "$work"                  # sets RF_PG_BIN, RF_PG_SOCK, RF_PG_URI; as_pg runs as its user
#   rf_replica_start "$rf" DATA PORT LOG [EXTRA SERVER ARGS...]   # sets RF_REPLICA_PID
#   rf_share_secrets FROM_DATA TO_DATA   # before the second replica starts
#   rf_haproxy_start CFG FRONT LOG ADDR1 [ADDR2 [ADDR3]]         # sets RF_HAPROXY_PID
#   rf_pg_stop "$work"                   # in the caller's cleanup trap
#
# The caller owns the processes (it kills RF_REPLICA_PID / RF_HAPROXY_PID in its trap).

# PostgreSQL refuses to run as root: its commands run as an unprivileged user then ($RF_PG_USER,
# default nobody).
rf_pg_user=""
if [ "$(id -u)" -eq 0 ]; then rf_pg_user=${RF_PG_USER:-nobody}; fi
as_pg() {
  if [ -n "$rf_pg_user" ]; then
    setpriv --reuid="$rf_pg_user" --regid="$(id -g "$rf_pg_user")" --clear-groups -- "$@"
  else
    "$@"
  fi
}
rf_free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# rf_pg_start WORK [EXTRA POSTGRES -c SETTINGS...]: initdb in WORK/pg, started on a unix socket
# only (WORK/sock), fsync on, log in WORK/postgres.log; database and user `ringfence`.
rf_pg_start() {
  local work=$1; shift
  RF_PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  RF_PG_SOCK=$work/sock
  mkdir -p "$RF_PG_SOCK"
  if [ -n "$rf_pg_user" ]; then chown "$rf_pg_user" "$work" "$RF_PG_SOCK"; fi
  as_pg "$RF_PG_BIN/initdb" -D "$work/pg" -U ringfence --auth=trust -E UTF8 --locale=C >/dev/null
  local opts="-k $RF_PG_SOCK -c listen_addresses='' -c fsync=on"
  local o
  for o in "$@"; do opts+=" -c $o"; done
  as_pg "$RF_PG_BIN/pg_ctl" -D "$work/pg" -l "$work/postgres.log" -w -t 120 -o "$opts" start >/dev/null
  "$RF_PG_BIN/createdb" -h "$RF_PG_SOCK" -U ringfence ringfence
  RF_PG_URI="postgresql:///ringfence?host=$RF_PG_SOCK&user=ringfence"
}

# rf_pg_stop WORK: immediate stop of the PostgreSQL rf_pg_start made there (no-op if none).
rf_pg_stop() {
  if [ -f "$1/pg/PG_VERSION" ] && [ -n "${RF_PG_BIN:-}" ]; then
    as_pg "$RF_PG_BIN/pg_ctl" -D "$1/pg" -m immediate -w stop >/dev/null 2>&1 || true
  fi
}

# rf_replica_start RF DATA PORT LOG [ARGS...]: `RF server --data DATA --listen 127.0.0.1:PORT ARGS`,
# stdout in LOG.out and stderr in LOG; returns when it listens (60 s at most).
rf_replica_start() {
  local rf=$1 data=$2 port=$3 log=$4; shift 4
  "$rf" server --data "$data" --listen "127.0.0.1:$port" "$@" >"$log.out" 2>"$log" &
  RF_REPLICA_PID=$!
  local _
  for _ in $(seq 600); do
    grep -q "listening on" "$log.out" 2>/dev/null && return 0
    kill -0 "$RF_REPLICA_PID" 2>/dev/null || { cat "$log"; return 1; }
    sleep 0.1
  done
  echo "replica in $data did not start"; cat "$log"; return 1
}

# rf_share_secrets FROM TO: the secrets every replica must share (docs/deploy.md "Secrets"),
# copied from one replica's data directory into another's, before that one starts.
rf_share_secrets() {
  mkdir -m 700 -p "$2"
  local f
  for f in admin.token agent.token release.key session.secret; do
    install -m 600 "$1/$f" "$2/$f"
  done
}

# rf_haproxy_start CFG FRONT LOG ADDR...: HAProxy on CFG (deploy/haproxy.cfg or one derived from
# it) with RF_FRONT and RF_REPLICA1..N from the arguments; returns when FRONT/healthz answers.
rf_haproxy_start() {
  local cfg=$1 front=$2 log=$3; shift 3
  local i=1 a
  local -a env=(RF_FRONT="$front")
  for a in "$@"; do env+=("RF_REPLICA$i=$a"); i=$((i + 1)); done
  env "${env[@]}" haproxy -f "$cfg" -db >"$log" 2>&1 &
  RF_HAPROXY_PID=$!
  local _
  for _ in $(seq 300); do curl -fsS "http://$front/healthz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "HAProxy on $front does not answer"; cat "$log"; return 1
}
