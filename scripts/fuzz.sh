#!/usr/bin/env bash
# Runs the libFuzzer targets (RESP request parser, HTTP request parser, backend frame readers for
# RESP2 and RESP3, the
# routing of the whole proxy against a fake Redis) for a
# given time each, in parallel, starting from the committed seed corpus in tests/fuzz/corpus/.
# Builds them first in build-fuzz/ with clang + ASan + UBSan (installs clang if missing).
# Usage: scripts/fuzz.sh [SECONDS_EACH=60] [TARGET...]      findings: build-fuzz/artifacts/
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(resp_request http_request frame_reader resp3_reader routing)
if ! command -v clang++ >/dev/null || [[ ! -e /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a ]]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libclang-rt-14-dev >/dev/null
fi
scripts/install-deps.sh
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DRCP_FUZZ=ON -DRCP_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]/#/fuzz_}" >/dev/null
mkdir -p build-fuzz/artifacts
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus-$t"
  ( build-fuzz/fuzz_$t "build-fuzz/corpus-$t" "tests/fuzz/corpus/${t%%_*}" -max_total_time="$secs" \
      -artifact_prefix="build-fuzz/artifacts/$t-" -print_final_stats=1 >"build-fuzz/$t.log" 2>&1
    echo "exit $?" >>"build-fuzz/$t.log" ) &
done
wait
for t in "${targets[@]}"; do
  log="build-fuzz/$t.log"
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  crashes=$(ls build-fuzz/artifacts/ 2>/dev/null | grep -c "^$t-" || true)
  printf '%-14s %4ss  executions %-12s %-10s findings %s  (%s)\n' "$t" "$secs" "$runs" "$cov" "$crashes" "$(tail -1 "$log")"
done
