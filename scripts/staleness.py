#!/usr/bin/env python3
"""Staleness after a direct write (coherence, `make bench`): a key is cached through the proxy, then
written directly in Redis; the time from Redis acknowledging the write to the proxy serving the new
value is measured, over WRITES writes (the proxy is polled as fast as one client can: the figure
includes one proxy round trip). Then the miss path with tracking on against --tracking off, same
run, alternating: redis-benchmark GETs over 10,000 keys with a 1,000-key cache (most GETs miss and
are stored).

Usage: scripts/staleness.py PROXY_BIN [WRITES=2000] [ROUNDS=3]"""
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "system"))
import conftest  # noqa: E402
from conftest import Proxy, RedisServer  # noqa: E402


def staleness(r, p, writes):
    d, c = r.client(), p.client()
    lags, polls = [], 0
    for i in range(writes):
        want = f"v{i}".encode()
        d.set("stale:k", want)
        t_ack = time.perf_counter()
        while c.get("stale:k") != want:
            polls += 1
        lags.append((time.perf_counter() - t_ack) * 1e6)
        c.get("stale:k")  # cached again for the next write
    lags.sort()
    return lags, polls


def miss_rate(port):
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-t", "get", "-n", "200000", "-r", "10000", "-c", "50",
                          "-q"], capture_output=True, text=True).stdout
    return float(out.replace("\r", "\n").split("requests per second")[0].split()[-1])


def main():
    conftest.PROXY_BIN = os.path.abspath(sys.argv[1])
    writes = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    r = RedisServer()
    subprocess.run(["redis-benchmark", "-p", str(r.port), "-t", "set", "-n", "40000", "-r", "10000", "-d", "100", "-q"],
                   capture_output=True)
    on = Proxy(r.port, ["--cache-keys", "1000", "--log-level", "warn"])
    off = Proxy(r.port, ["--cache-keys", "1000", "--tracking", "off", "--log-level", "warn"])
    try:
        lags, polls = staleness(r, on, writes)
        q = lambda f: lags[min(len(lags) - 1, int(f * len(lags)))]  # noqa: E731
        print(f"staleness after a direct write, {writes} writes: p50 {q(0.5):.0f} us, p99 {q(0.99):.0f} us, "
              f"max {lags[-1]:.0f} us; reads that still saw the old value: {polls}")
        ratios = []
        for i in range(rounds):
            a, b = miss_rate(on.port), miss_rate(off.port)
            ratios.append(a / b)
            print(f"round {i + 1}: miss path tracking on {a:.0f} req/s, off {b:.0f} req/s, ratio {a / b:.2f}")
        print(f"miss path, tracking on / off: median {statistics.median(ratios):.2f} "
              f"({min(ratios):.2f} to {max(ratios):.2f})")
    finally:
        on.stop()
        off.stop()
        r.stop()


if __name__ == "__main__":
    main()
