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
source scripts/cluster_lib.sh   # rf_pg_start, rf_replica_start, rf_share_secrets, rf_haproxy_start

work=$(mktemp -d /tmp/rf-cluster.XXXXXX)
pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  rf_pg_stop "$work"
  if [ "$keep" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT INT TERM
now_ms() { date +%s%3N; }

echo "== PostgreSQL in $work/pg (unix socket only, fsync on)"
rf_pg_start "$work"
uri=$RF_PG_URI

declare -a port data log
start_replica() {  # i
  rf_replica_start "$rf" "${data[$1]}" "${port[$1]}" "${log[$1]}" --store "$uri" \
      --poll-after 2 --tick-ms 250
  pids[$1]=$RF_REPLICA_PID
}
for i in 1 2 3; do
  port[$i]=$(rf_free_port)
  data[$i]=$work/r$i
  log[$i]=$work/r$i.log
done
echo "== replicas on 127.0.0.1:${port[1]}, :${port[2]}, :${port[3]} (one database)"
start_replica 1
# The replicas share the secrets (docs/deploy.md "Secrets"): copies of the first one's.
for i in 2 3; do
  rf_share_secrets "${data[1]}" "${data[$i]}"
  start_replica "$i"
done

front=127.0.0.1:$(rf_free_port)
echo "== HAProxy on $front (deploy/haproxy.cfg: operators round robin, agents by source, /healthz checks)"
rf_haproxy_start deploy/haproxy.cfg "$front" "$work/haproxy.log" \
  "127.0.0.1:${port[1]}" "127.0.0.1:${port[2]}" "127.0.0.1:${port[3]}"
pids+=("$RF_HAPROXY_PID")

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
