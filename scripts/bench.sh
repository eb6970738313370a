#!/usr/bin/env bash
# `make bench`: throughput of redis-cache-proxy beside its peers, all measured in one run on this
# machine so the ratios mean something even when absolute numbers drift between runs.
#   peers: redis-server direct (the RESP ceiling), twemproxy/nutcracker (a RESP proxy without a
#   cache), webdis (HTTP in front of Redis), nginx returning a constant 100-byte body (the HTTP
#   ceiling for one event loop).
#   load: redis-benchmark GET, a forwarded SET and a 10-key MGET (50 clients, pipeline 1 and 16),
#   the GET hit and the SET again in RESP3 (redis-benchmark -3, beside redis-server in RESP3), and
#   wrk (1 thread, 50 connections).
# Usage: scripts/bench.sh [PROXY_BIN]     env: DUR (wrk seconds, 8), KEYS (10000), N (300000)
set -uo pipefail
bin=${1:-build/redis-cache-proxy}
DUR=${DUR:-8}
KEYS=${KEYS:-10000}
N=${N:-300000}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
free_port() { /usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "nothing on port $1" >&2; exit 1; }

redis_port=$(free_port); tw_port=$(free_port); webdis_port=$(free_port); nginx_port=$(free_port)
hit_port=$(free_port); miss_port=$(free_port)
value=$(head -c 100 /dev/zero | tr '\0' v)

redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" --logfile "$work/redis.log" &
pids+=($!); wait_port "$redis_port"
redis-benchmark -p "$redis_port" -t set -n $((KEYS * 4)) -r "$KEYS" -d 100 -q >/dev/null 2>&1
redis-cli -p "$redis_port" set bench:k "$value" >/dev/null

printf 'pool:\n  listen: 127.0.0.1:%s\n  redis: true\n  servers:\n   - 127.0.0.1:%s:1\n' "$tw_port" "$redis_port" >"$work/nutcracker.yml"
nutcracker -c "$work/nutcracker.yml" -o "$work/nutcracker.log" & pids+=($!)
printf '{"redis_host":"127.0.0.1","redis_port":%s,"http_host":"127.0.0.1","http_port":%s,"threads":2,"pool_size":20,"daemonize":false,"verbosity":0,"logfile":"%s/webdis.log"}\n' \
  "$redis_port" "$webdis_port" "$work" >"$work/webdis.json"
webdis "$work/webdis.json" & pids+=($!)
cat >"$work/nginx.conf" <<NGINX
worker_processes 1; daemon off; error_log $work/nginx.err; pid $work/nginx.pid;
events { worker_connections 4096; }
http { access_log off; server { listen 127.0.0.1:$nginx_port; location / { return 200 "$value"; } } }
NGINX
nginx -c "$work/nginx.conf" & pids+=($!)
"$bin" --redis "127.0.0.1:$redis_port" --port "$hit_port" --cache-keys $((KEYS * 2)) --ttl 1h --log-level warn & pids+=($!)
"$bin" --redis "127.0.0.1:$redis_port" --port "$miss_port" --ttl 0 --log-level warn & pids+=($!)
for p in "$tw_port" "$webdis_port" "$nginx_port" "$hit_port" "$miss_port"; do wait_port "$p"; done
redis-benchmark -p "$hit_port" -t get -n $((KEYS * 4)) -r "$KEYS" -c 50 -P 16 -q >/dev/null 2>&1  # warm the cache

declare -A rate
resp() {  # name port pipeline
  rate[$1]=$(redis-benchmark -p "$2" -t get -n "$N" -r "$KEYS" -c 50 -P "$3" -q 2>/dev/null |
             grep -o '[0-9.]* requests per second' | cut -d' ' -f1)
  printf '%-22s %12s req/s\n' "$1" "${rate[$1]:-FAIL}"
}
cmd() {  # name port pipeline command... (redis-benchmark's own form; __rand_int__ allowed)
  local n=$1 p=$2 pl=$3
  shift 3
  rate[$n]=$(redis-benchmark -p "$p" -n "$N" -r "$KEYS" -c 50 -P "$pl" -q "$@" 2>/dev/null | tr '\r' '\n' |
             grep -o '[0-9.]* requests per second' | tail -1 | cut -d' ' -f1)
  printf '%-22s %12s req/s\n' "$n" "${rate[$n]:-FAIL}"
}
http() {  # name url
  rate[$1]=$(wrk -t1 -c50 -d"${DUR}s" "$2" 2>/dev/null | awk '/Requests\/sec/{print $2}')
  printf '%-22s %12s req/s\n' "$1" "${rate[$1]:-FAIL}"
}
ratio() { awk -v a="${rate[$2]:-0}" -v b="${rate[$3]:-0}" -v n="$1" 'BEGIN{printf "%-34s %6s\n", n, (b>0 ? sprintf("%.2f", a/b) : "n/a")}'; }

echo "== $(date -u +%Y-%m-%d) on $(nproc) cores; load generator on the same machine"
resp redis_p1 "$redis_port" 1
resp twemproxy_p1 "$tw_port" 1
resp proxy_hit_p1 "$hit_port" 1
resp proxy_miss_p1 "$miss_port" 1
resp redis_p16 "$redis_port" 16
resp twemproxy_p16 "$tw_port" 16
resp proxy_hit_p16 "$hit_port" 16
resp proxy_miss_p16 "$miss_port" 16
# a forwarded write (against twemproxy) and a 10-key MGET of cached keys (against redis-server)
value=$(printf 'x%.0s' $(seq 100))
mget=(mget); for _ in $(seq 10); do mget+=(key:__rand_int__); done
for pl in 1 16; do
  cmd twemproxy_set_p$pl "$tw_port" $pl set key:__rand_int__ "$value"
  cmd proxy_set_p$pl "$miss_port" $pl set key:__rand_int__ "$value"
  cmd redis_mget10_p$pl "$redis_port" $pl "${mget[@]}"
  cmd proxy_mget10_p$pl "$hit_port" $pl "${mget[@]}"
done
# RESP3 clients (HELLO 3): hits from the cache, SETs on the RESP3 link
for pl in 1 16; do
  cmd redis3_get_p$pl "$redis_port" $pl -3 get key:__rand_int__
  cmd proxy3_hit_p$pl "$hit_port" $pl -3 get key:__rand_int__
  cmd proxy2_hit_p$pl "$hit_port" $pl get key:__rand_int__
  cmd redis3_set_p$pl "$redis_port" $pl -3 set key:__rand_int__ "$value"
  cmd proxy3_set_p$pl "$miss_port" $pl -3 set key:__rand_int__ "$value"
done
http nginx_http "http://127.0.0.1:$nginx_port/bench:k"
http webdis_http "http://127.0.0.1:$webdis_port/GET/bench:k"
http proxy_hit_http "http://127.0.0.1:$hit_port/bench:k"
echo "== ratios (proxy / peer)"
ratio "hit RESP P1   / redis direct" proxy_hit_p1 redis_p1
ratio "hit RESP P16  / redis direct" proxy_hit_p16 redis_p16
ratio "miss RESP P1  / twemproxy" proxy_miss_p1 twemproxy_p1
ratio "miss RESP P16 / twemproxy" proxy_miss_p16 twemproxy_p16
ratio "hit HTTP      / nginx static" proxy_hit_http nginx_http
ratio "hit HTTP      / webdis" proxy_hit_http webdis_http
ratio "SET P1        / twemproxy" proxy_set_p1 twemproxy_set_p1
ratio "SET P16       / twemproxy" proxy_set_p16 twemproxy_set_p16
ratio "MGET10 P1     / redis direct" proxy_mget10_p1 redis_mget10_p1
ratio "MGET10 P16    / redis direct" proxy_mget10_p16 redis_mget10_p16
ratio "RESP3 hit P1  / redis RESP3" proxy3_hit_p1 redis3_get_p1
ratio "RESP3 hit P16 / redis RESP3" proxy3_hit_p16 redis3_get_p16
ratio "RESP3 hit P1  / RESP2 hit" proxy3_hit_p1 proxy2_hit_p1
ratio "RESP3 hit P16 / RESP2 hit" proxy3_hit_p16 proxy2_hit_p16
ratio "RESP3 SET P1  / redis RESP3" proxy3_set_p1 redis3_set_p1
ratio "RESP3 SET P16 / redis RESP3" proxy3_set_p16 redis3_set_p16
ratio "RESP3 SET P1  / RESP2 SET" proxy3_set_p1 proxy_set_p1
ratio "RESP3 SET P16 / RESP2 SET" proxy3_set_p16 proxy_set_p16
