#!/usr/bin/env bash
# Cache hits over the proxy's Unix socket against Redis answering the same GETs on its own Unix
# socket, in one run, rounds alternating (redis-benchmark -s; 50 clients, 10,000 keys of 100 bytes,
# pipeline 1 and 16). Prints each round and the ratio proxy / Redis.
# Usage: scripts/unix_bench.sh PROXY_BIN      env: ROUNDS (default 3)
set -uo pipefail
BIN=${1:?usage: unix_bench.sh PROXY_BIN}
ROUNDS=${ROUNDS:-3}
W=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; sleep 0.2; rm -rf "$W"; }
trap cleanup EXIT
wait_sock() { for _ in $(seq 100); do [[ -S $1 ]] && return 0; sleep 0.05; done; return 1; }
rps() { redis-benchmark -s "$1" -t get -n 200000 -r 10000 -c 50 -P "$2" -q 2>/dev/null | tr '\r' '\n' |
          grep -o '[0-9.]* requests per second' | tail -1 | cut -d' ' -f1; }

redis-server --port 0 --unixsocket "$W/redis.sock" --save '' --appendonly no --logfile "$W/redis.log" & PIDS+=($!)
wait_sock "$W/redis.sock" || { echo "redis did not start"; exit 1; }
redis-benchmark -s "$W/redis.sock" -t set -n 40000 -r 10000 -d 100 -q >/dev/null
"$BIN" --redis "unix://$W/redis.sock" --port 0 --unixsocket "$W/proxy.sock" --cache-keys 20000 --ttl 3600s \
  >"$W/proxy.log" 2>&1 & PIDS+=($!)
wait_sock "$W/proxy.sock" || { echo "the proxy did not start"; cat "$W/proxy.log"; exit 1; }
redis-benchmark -s "$W/proxy.sock" -t get -n 40000 -r 10000 -c 50 -P 16 -q >/dev/null  # warm the cache
for P in 1 16; do
  for r in $(seq "$ROUNDS"); do
    a=$(rps "$W/redis.sock" "$P"); b=$(rps "$W/proxy.sock" "$P")
    awk -v p="$P" -v r="$r" -v a="${a:-0}" -v b="${b:-0}" \
      'BEGIN { printf "unix hit P%-2s round %s  redis %10.0f  proxy %10.0f  ratio %5.2f\n", p, r, a, b, (a > 0 ? b / a : 0) }'
  done
done
