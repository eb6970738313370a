#!/usr/bin/env bash
# Installs the Debian packages redis-cache-proxy needs to build and test (and, with --bench, to
# benchmark against its peers). Idempotent: installs only what is missing; apt-get update first.
# Usage: scripts/install-deps.sh [--bench]
set -euo pipefail

pkgs=(build-essential cmake pkg-config
      libuv1-dev libhiredis-dev node-llhttp libspdlog-dev libfmt-dev doctest-dev
      redis-server redis-tools python3 python3-pytest python3-redis curl procps)
if [[ "${1:-}" == "--bench" ]]; then
  pkgs+=(wrk nutcracker webdis nginx-light valgrind)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
# A package's own service (redis-server, nginx) must not be started by the install: the tests and
# `make run` start their own throwaway servers on ports they pick.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod +x "$policy"
  created_policy=1
fi
trap '[[ $created_policy == 1 ]] && "${sudo[@]}" rm -f "$policy"' EXIT
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
