#!/usr/bin/env bash
# `make run`: a throwaway redis-server on loopback and the proxy in the foreground on port 6380
# (RCP_PORT to change it), so a newcomer can curl and redis-cli it at once. Ctrl-C stops both.
set -euo pipefail
bin=${1:-build/redis-cache-proxy}
port=${RCP_PORT:-6380}
free_port() { /usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
redis_port=${REDIS_PORT:-$(free_port)}
dir=$(mktemp -d)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
  --logfile "$dir/redis.log" --daemonize no &
redis_pid=$!
trap 'kill $redis_pid 2>/dev/null; wait $redis_pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-cli -p "$redis_port" set hello world >/dev/null
cat <<MSG
redis-server (throwaway) on 127.0.0.1:$redis_port, holding the key 'hello'.
redis-cache-proxy on 127.0.0.1:$port. Try, from another terminal:
  curl -i localhost:$port/hello
  redis-cli -p $port get hello
  redis-cli -p $redis_port set hello again     # write to Redis directly; the proxy serves the
                                                # cached value until the TTL (60s) passes
  redis-cli -p $port info
Ctrl-C stops both.
MSG
"$bin" --redis "127.0.0.1:$redis_port" --port "$port" "${@:2}"
