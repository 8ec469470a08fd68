#!/usr/bin/env bash
# Three `ringfence server` replicas on one PostgreSQL behind HAProxy, on loopback (docs/deploy.md
# "Several servers behind HAProxy"). Starts a throwaway PostgreSQL (initdb in a temp dir; as the
# unprivileged user $RF_PG_USER, default nobody, when run as root), the replicas (the first creates
# the secrets, the others get copies: they must share them) and HAProxy (deploy/haproxy.cfg), then
# through HAProxy: principals, the content type, a bundle, a release approved and started; a halt
# through the balancer reaching every replica; kill -9 of the elected controller and the time until
# another replica takes over. Everything it started is stopped on exit (trap), the temp dir removed
# unless --keep.
#
#   bash scripts/cluster.sh            # build, run, report
#   bash scripts/cluster.sh --keep     # keep the temp dir (logs of postgres, replicas, haproxy)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
keep=0
[ "${1:-}" = "--keep" ] && keep=1

bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build build --target ringfence >/dev/null
rf=$root/build/apps/ringfence
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

work=$(mktemp -d /tmp/rf-cluster.XXXXXX)
pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  if [ -f "$work/pg/PG_VERSION" ]; then as_pg "$pgbin/pg_ctl" -D "$work/pg" -m immediate -w stop >/dev/null 2>&1; fi
  if [ "$keep" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT INT TERM

# PostgreSQL refuses to run as root: its commands run as an unprivileged user then.
pg_user=""
if [ "$(id -u)" -eq 0 ]; then
  pg_user=${RF_PG_USER:-nobody}
  chown "$pg_user" "$work"
fi
as_pg() {
  if [ -n "$pg_user" ]; then
    setpriv --reuid="$pg_user" --regid="$(id -g "$pg_user")" --clear-groups -- "$@"
  else
    "$@"
  fi
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }

echo "== PostgreSQL in $work/pg (unix socket only, fsync on)"
mkdir -p "$work/sock"
[ -n "$pg_user" ] && chown "$pg_user" "$work/sock"
as_pg "$pgbin/initdb" -D "$work/pg" -U ringfence --auth=trust -E UTF8 --locale=C >/dev/null
as_pg "$pgbin/pg_ctl" -D "$work/pg" -l "$work/postgres.log" -w -t 120 \
  -o "-k $work/sock -c listen_addresses='' -c fsync=on" start >/dev/null
"$pgbin/createdb" -h "$work/sock" -U ringfence ringfence
uri="postgresql:///ringfence?host=$work/sock&user=ringfence"

declare -a port data log
start_replica() {  # i
  local i=$1
  "$rf" server --data "${data[$i]}" --listen "127.0.0.1:${port[$i]}" --store "$uri" \
      --poll-after 2 --tick-ms 250 >"${log[$i]}.out" 2>"${log[$i]}" &
  pids[$i]=$!
  for _ in $(seq 600); do
    grep -q "listening on" "${log[$i]}.out" 2>/dev/null && return 0
    kill -0 "${pids[$i]}" 2>/dev/null || { cat "${log[$i]}"; return 1; }
    sleep 0.1
  done
  echo "replica $i did not start"; cat "${log[$i]}"; return 1
}
for i in 1 2 3; do
  port[$i]=$(free_port)
  data[$i]=$work/r$i
  log[$i]=$work/r$i.log
done
echo "== replicas on 127.0.0.1:${port[1]}, :${port[2]}, :${port[3]} (one database)"
start_replica 1
# The replicas share the secrets (docs/deploy.md "Secrets"): copies of the first one's.
for i in 2 3; do
  mkdir -m 700 -p "${data[$i]}"
  for f in admin.token agent.token release.key session.secret; do
    install -m 600 "${data[1]}/$f" "${data[$i]}/$f"
  done
  start_replica "$i"
done

front=127.0.0.1:$(free_port)
echo "== HAProxy on $front (deploy/haproxy.cfg: round robin, /healthz checks)"
RF_FRONT=$front RF_REPLICA1=127.0.0.1:${port[1]} RF_REPLICA2=127.0.0.1:${port[2]} \
  RF_REPLICA3=127.0.0.1:${port[3]} haproxy -f deploy/haproxy.cfg -db >"$work/haproxy.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do curl -fsS "http://$front/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://$front/healthz" >/dev/null

leader() {  # the replica whose log says it was elected last (and is alive)
  local best="" best_line=0
  for i in 1 2 3; do
    kill -0 "${pids[$i]}" 2>/dev/null || continue
    local last
    last=$(grep -n "controller: " "${log[$i]}" | tail -1 || true)
    case "$last" in *elected*) echo "$i"; return;; esac
  done
  echo ""
}
for _ in $(seq 100); do [ -n "$(leader)" ] && break; sleep 0.1; done
echo "elected controller: replica $(leader)"

cd "$work"
s=$root/samples/content
admin=(--server "http://$front" --token "${data[1]}/admin.token")
echo "== the release flow through HAProxy (each request may land on any replica)"
"$rf" key gen -o alice >/dev/null
"$rf" key gen -o bob >/dev/null
"$rf" "${admin[@]}" principal add alice --role author | tail -1 | awk '{print $NF}' >alice.token
"$rf" "${admin[@]}" principal add bob --role reviewer --reviewer-key bob.pub | tail -1 | awk '{print $NF}' >bob.token
"$rf" "${admin[@]}" principal add olivia --role operator | tail -1 | awk '{print $NF}' >olivia.token
"$rf" "${admin[@]}" type add "$s/ipc_rule.type.yaml"
"$rf" "${admin[@]}" policy set 291 --approvals 1 --role reviewer --publisher-key alice.pub --publisher-threshold 1
"$rf" bundle build "$s/cf291.bundle.yaml" --type "$s/ipc_rule.type.yaml" -o cf291.bundle --key alice.key >/dev/null
sha=$("$rf" --server "http://$front" --token alice.token bundle upload cf291.bundle --json |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["sha256"])')
echo "uploaded bundle $sha"
rel=$("$rf" --server "http://$front" --token alice.token release create --bundle "$sha" \
      --plan "$root/samples/plans/emergency.yaml" | grep -o 'r-[0-9]*' | head -1)
echo "created release $rel"
"$rf" --server "http://$front" --token bob.token release approve "$rel" --key bob.key
"$rf" --server "http://$front" --token olivia.token release start "$rel"

phase_on() {  # replica release -> phase, asked of that replica directly
  curl -fsS -H "Authorization: Bearer $(cat "${data[1]}/admin.token")" \
    "http://127.0.0.1:${port[$1]}/v1/releases/$2" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["phase"])'
}
echo "== halt through HAProxy; every replica must show it"
t0=$(now_ms)
"$rf" --server "http://$front" --token olivia.token release halt "$rel" --reason "cluster demo"
for i in 1 2 3; do
  until [ "$(phase_on "$i" "$rel")" = "Halted" ]; do sleep 0.02; done
  echo "replica $i: Halted ($(( $(now_ms) - t0 )) ms after the halt was sent)"
done

echo "== kill -9 of the elected controller"
old=$(leader)
kill -9 "${pids[$old]}"
t0=$(now_ms)
new=""
for _ in $(seq 3000); do
  for i in 1 2 3; do
    [ "$i" = "$old" ] && continue
    if grep -q "controller: elected" "${log[$i]}"; then new=$i; break; fi
  done
  [ -n "$new" ] && break
  sleep 0.01
done
[ -n "$new" ] || { echo "no replica took over"; exit 1; }
echo "replica $new took over $(( $(now_ms) - t0 )) ms after replica $old was killed (lease 6 s, renew 2 s)"
curl -fsS "http://$front/healthz" >/dev/null && echo "HAProxy still answers through the others"
"$rf" "${admin[@]}" audit verify
echo "== done"
