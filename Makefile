# redis-cache-proxy: the newcomer's entry points.
#   make         build (installs missing Debian packages first) -> build/redis-cache-proxy
#   make test    build, then unit tests (ctest) and system tests (pytest, real redis-server)
#   make run     a throwaway redis-server and the proxy on port 6380, in the foreground
#   make run-cluster   the same in front of a throwaway three-primary Redis Cluster
#   make run-sentinel  the same behind three throwaway Sentinels (a primary and its replica)
#   make bench   the proxy against redis-server, twemproxy, webdis and nginx, side by side; memory and
#                scale; hit latency p50/p99 against redis-server; instructions per request (callgrind);
#                staleness after a direct write, and the miss path with tracking on against off; in
#                front of a local Redis Cluster against redis-benchmark --cluster going to it directly;
#                a 304 against a 200 hit, and a hot key's p99 with and without --refresh-ahead; hits over
#                the proxy's Unix socket against Redis's own (TLS: ../shared/bench/tls.sh PROXY_BIN); a Sentinel
#                failover under load (scripts/failover_bench.py: time to follow, stale reads); 10,000
#                clients with CLIENT TRACKING through the proxy against as many on Redis itself
#                (scripts/tracking_bench.py: backend connections, invalidation latency, fan-out)
#   make test-sanitize   the same tests on an ASan+UBSan build (build-asan/)
#   make install [PREFIX=/usr/local]   binary, example config, systemd unit, --help text
MAKEFLAGS += --no-print-directory
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# System tests in parallel workers (each test starts its own servers on free ports).
TEST_WORKERS ?= 2
PYTHON ?= /usr/bin/python3
PREFIX ?= /usr/local

.PHONY: all build deps test-deps test unit system run run-cluster run-sentinel bench test-sanitize install clean

all: build

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

system: build test-deps
	RCP_BIN=$(abspath $(BUILD))/redis-cache-proxy $(PYTHON) -m pytest -q -n $(TEST_WORKERS) tests/system

test: unit system

test-sanitize: deps test-deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRCP_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS)
	RCP_SANITIZED=1 RCP_BIN=$(abspath build-asan)/redis-cache-proxy $(PYTHON) -m pytest -q tests/system

run: build
	@scripts/run.sh $(BUILD)/redis-cache-proxy

run-cluster: build
	@CLUSTER=1 scripts/run.sh $(BUILD)/redis-cache-proxy

run-sentinel: build
	@SENTINEL=1 scripts/run.sh $(BUILD)/redis-cache-proxy

bench: build
	@scripts/install-deps.sh --bench
	@scripts/bench.sh $(BUILD)/redis-cache-proxy
	@$(PYTHON) scripts/bench_scale.py $(BUILD)/redis-cache-proxy
	@ROUNDS=3 $(PYTHON) scripts/latency.py $(BUILD)/redis-cache-proxy
	@$(PYTHON) scripts/instructions.py $(BUILD)/redis-cache-proxy
	@$(PYTHON) scripts/staleness.py $(BUILD)/redis-cache-proxy
	@scripts/cluster_bench.sh $(BUILD)/redis-cache-proxy
	@scripts/unix_bench.sh $(BUILD)/redis-cache-proxy
	@$(PYTHON) scripts/failover_bench.py $(BUILD)/redis-cache-proxy
	@$(PYTHON) scripts/http_cache_bench.py $(BUILD)/redis-cache-proxy
	@$(PYTHON) scripts/tracking_bench.py $(BUILD)/redis-cache-proxy

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) build-asan
