#!/usr/bin/env bash
# Installs the Debian packages redis-cache-proxy needs to build and test (and, with --bench, to
# benchmark against its peers; with --test, also node and npm, and the npm packages of the node
# client tests, exactly as tests/system/node/package-lock.json pins them). Idempotent: installs
# only what is missing; apt-get update first.
# Usage: scripts/install-deps.sh [--bench | --test]
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}

pkgs=(build-essential cmake pkg-config
      libuv1-dev libhiredis-dev node-llhttp libspdlog-dev libfmt-dev doctest-dev libssl-dev openssl
      redis-server redis-tools python3 python3-pytest python3-redis curl procps)
if [[ $mode == --bench ]]; then
  pkgs+=(wrk nutcracker webdis nginx-light valgrind)
fi
if [[ $mode == --test ]]; then
  # A bare Debian has no node: Debian's own nodejs and npm (a node installed otherwise, with its
  # own npm, is kept as it is).
  command -v node >/dev/null || pkgs+=(nodejs)
  command -v npm >/dev/null || pkgs+=(npm)
  # ip: protected mode's test puts a non-loopback address in a network namespace of its own.
  # pytest-xdist: the system tests run in two workers (each test starts its own servers on free ports).
  pkgs+=(iproute2 python3-pytest-xdist)
fi

apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]} > 0)) || return 0
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  # A package's own service (redis-server, nginx) must not be started by the install: the tests and
  # `make run` start their own throwaway servers on ports they pick.
  local policy=/usr/sbin/policy-rc.d created=0 rc=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod +x "$policy"
    created=1
  fi
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
  [[ $created == 0 ]] || "${sudo[@]}" rm -f "$policy"
  return $rc
}

# The npm packages of the node client tests, installed again only when the lock file changed. When
# npm cannot get them (no route to the registry, a TLS interception the system does not trust), the
# reason is written where the node tests read it: they are then reported as skipped with it, and
# every other test runs.
node_packages() {
  local dir=tests/system/node log
  if cmp -s "$dir/package-lock.json" "$dir/node_modules/.rcp-installed-lock" 2>/dev/null; then
    return 0
  fi
  echo "install-deps: npm ci in $dir"
  rm -f "$dir/.install-failed"
  log=$(mktemp)
  if (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
    cp "$dir/package-lock.json" "$dir/node_modules/.rcp-installed-lock"
  else
    { echo "npm ci failed in $dir:"; grep -m3 -E 'ERR!' "$log" || tail -3 "$log"; } | tee "$dir/.install-failed" >&2
    echo "install-deps: WARNING: the node client tests will be skipped" >&2
  fi
  rm -f "$log"
}

apt_install "${pkgs[@]}"
if [[ $mode == --test ]]; then
  node_packages
fi
