#!/usr/bin/env bash
# `make bench` (cluster part): the proxy in front of a local three-primary Redis Cluster against
# `redis-benchmark --cluster` going to the cluster directly, in the same run: GET hits (the proxy's
# cache warm), GET misses (a second proxy with --cache-keys 0: every GET goes to the key's node)
# and a forwarded SET, 50 clients, pipeline 1 and 16, 100-byte values, KEYS keys.
# Rounds alternate direct and proxied runs; the ratio of medians is printed (proxy / direct). For
# scale, the last column is one redis-server alone (same keys, same load): the proxy is one event
# loop, the cluster three.
# redis-benchmark --cluster ends a run on its 250 ms progress tick, so runs last seconds: N1 requests
# at pipeline 1, N16 at pipeline 16.
# Usage: scripts/cluster_bench.sh [PROXY_BIN]    env: N1 (600000), N16 (3000000), KEYS (10000), ROUNDS (3)
set -uo pipefail
bin=${1:-build/redis-cache-proxy}
N1=${N1:-600000}
N16=${N16:-3000000}
KEYS=${KEYS:-10000}
ROUNDS=${ROUNDS:-3}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  /usr/bin/python3 "$here/redis_cluster.py" stop --dir "$work/cluster"
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { /usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "nothing on port $1" >&2; exit 1; }

seeds=$(/usr/bin/python3 "$here/redis_cluster.py" start --dir "$work/cluster") || { echo "cluster did not start" >&2; exit 1; }
seed=${seeds%%,*}; seed_port=${seed##*:}
hit_port=$(free_port); miss_port=$(free_port); single_port=$(free_port)
redis-server --port "$single_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" --logfile "$work/single.log" &
pids+=($!)
"$bin" --redis "$seeds" --port "$hit_port" --cache-keys $((KEYS * 2)) --ttl 10m --log-level warn & pids+=($!)
"$bin" --redis "$seeds" --port "$miss_port" --cache-keys 0 --log-level warn & pids+=($!)
wait_port "$hit_port"; wait_port "$miss_port"; wait_port "$single_port"
redis-benchmark -p "$single_port" -t set -n $((KEYS * 4)) -r "$KEYS" -d 100 -q >/dev/null 2>&1
# redis-benchmark --cluster names its keys with a hash tag per node (key:{06S}:...); through the
# proxy it names them plainly (key:000000001234): both key sets are written first, so every GET finds
# its key.
redis-benchmark -p "$seed_port" --cluster -t set -n $((KEYS * 4)) -r "$KEYS" -d 100 -q >/dev/null 2>&1
redis-benchmark -p "$hit_port" -t set -n $((KEYS * 4)) -r "$KEYS" -d 100 -c 50 -P 16 -q >/dev/null 2>&1
redis-benchmark -p "$hit_port" -t get -n $((KEYS * 4)) -r "$KEYS" -c 50 -P 16 -q >/dev/null 2>&1  # warm the cache

rate() {  # port pipeline test [--cluster]
  local n=$N1
  [ "$2" = 1 ] || n=$N16
  redis-benchmark -p "$1" -n "$n" -r "$KEYS" -d 100 -c 50 -P "$2" -t "$3" -q ${4:-} 2>/dev/null | tr '\r' '\n' |
    awk '/requests per second/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+$/) { print $i; exit } }'
}
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

printf '%-22s %14s %14s %8s %16s\n' "3 primaries" "cluster rps" "proxy rps" "ratio" "1 redis-server"

for row in "GET hit:get:$hit_port" "GET miss:get:$miss_port" "SET:set:$hit_port"; do
  IFS=: read -r name test port <<<"$row"
  for p in 1 16; do
    d=(); x=(); one=()
    for _ in $(seq "$ROUNDS"); do
      d+=("$(rate "$seed_port" "$p" "$test" --cluster)")
      x+=("$(rate "$port" "$p" "$test")")
    done
    one+=("$(rate "$single_port" "$p" "$test")")
    dm=$(printf '%s\n' "${d[@]}" | median); xm=$(printf '%s\n' "${x[@]}" | median)
    printf '%-22s %14.0f %14.0f %8.2f %16.0f\n' "$name P$p" "$dm" "$xm" "$(awk -v a="$xm" -v b="$dm" 'BEGIN { print (b > 0) ? a / b : 0 }')" "${one[0]}"
  done
done
