#!/usr/bin/env bash
# `make run`: a throwaway redis-server on loopback and the proxy in the foreground on port 6380
# (RCP_PORT to change it), so a newcomer can curl and redis-cli it at once. Ctrl-C stops both.
# `make run-cluster` (CLUSTER=1): a throwaway three-primary Redis Cluster instead, the proxy given
# its first node as the seed. `make run-sentinel` (SENTINEL=1): a primary, a replica and three
# Sentinels, the proxy following them (--sentinel).
set -euo pipefail
bin=${1:-build/redis-cache-proxy}
port=${RCP_PORT:-6380}
here=$(cd "$(dirname "$0")" && pwd)
free_port() { /usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
if [ "${CLUSTER:-0}" = 1 ]; then
  dir=$(mktemp -d)
  trap '/usr/bin/python3 "$here/redis_cluster.py" stop --dir "$dir/cluster"; rm -rf "$dir"' EXIT
  seeds=$(/usr/bin/python3 "$here/redis_cluster.py" start --dir "$dir/cluster")
  seed=${seeds%%,*}
  redis-cli -c -p "${seed##*:}" set hello world >/dev/null
  cat <<MSG
Redis Cluster (throwaway, three primaries) on $seeds, holding the key 'hello'.
redis-cache-proxy on 127.0.0.1:$port, in front of the whole cluster. Try, from another terminal:
  curl -i localhost:$port/hello
  redis-cli -p $port mset a 1 b 2 c 3          # keys of every node, one plain Redis to the client
  redis-cli -p $port mget a b c hello
  redis-cli -p $port dbsize
  redis-cli -c -p ${seed##*:} set hello again    # write on the cluster directly: the proxy's cache
  redis-cli -p $port get hello                 # is invalidated at once (CLIENT TRACKING per node)
  redis-cli -p $port info backend              # backend_cluster_* lines
Ctrl-C stops both.
MSG
  "$bin" --redis "$seed" --port "$port" "${@:2}"
  exit $?
fi
if [ "${SENTINEL:-0}" = 1 ]; then
  dir=$(mktemp -d)
  trap '/usr/bin/python3 "$here/redis_sentinel.py" stop --dir "$dir/sentinel"; rm -rf "$dir"' EXIT
  flags=$(/usr/bin/python3 "$here/redis_sentinel.py" start --dir "$dir/sentinel")
  first=$(echo "$flags" | sed 's/--sentinel \([^,]*\),.*/\1/')
  cat <<MSG
A primary, its replica and three Sentinels (throwaway) on loopback; Sentinels: ${flags#--sentinel }
redis-cache-proxy on 127.0.0.1:$port, following them. Try, from another terminal:
  redis-cli -p $port set hello world
  redis-cli -p $port get hello
  redis-cli -p ${first##*:} sentinel failover mymaster   # a planned failover
  redis-cli -p $port info proxy_sentinel                # the new primary, sentinel_switches:1
  redis-cli -p $port get hello                          # read from the new primary
Ctrl-C stops everything.
MSG
  # shellcheck disable=SC2086
  "$bin" $flags --redis redis://mymaster --port "$port" "${@:2}"
  exit $?
fi
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
  redis-cli -p $redis_port set hello again     # write to Redis directly: the proxy's cached
                                                # value is invalidated at once (CLIENT TRACKING)
  redis-cli -p $port info
Ctrl-C stops both.
MSG
"$bin" --redis "127.0.0.1:$redis_port" --port "$port" "${@:2}"
