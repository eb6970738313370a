#!/usr/bin/env python3
"""Tail latency of cache hits through the proxy against redis-server answering the same GETs, in
one run: redis-benchmark's latency summary (50 clients, pipeline 1 and 16), the two measured in
alternation so drift on a noisy machine hits both alike. Several proxy binaries can be compared in
the same run (before/after a change). Prints p50 and p99 per round and their medians.

Usage: scripts/latency.py PROXY_BIN [PROXY_BIN...]   env: ROUNDS (default 5), REQUESTS (default 200000)"""
import csv
import io
import os
import statistics
import subprocess
import sys

from procutil import free_port, wait_port

KEYS = 10000


def bench(port, pipeline, n):
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-t", "get", "-n", str(n), "-r", str(KEYS), "-c", "50",
                          "-P", str(pipeline), "--csv"], check=True, capture_output=True, text=True).stdout
    row = next(csv.DictReader(io.StringIO(out)))
    return float(row["p50_latency_ms"]), float(row["p99_latency_ms"])


def main():
    bins = [os.path.abspath(b) for b in sys.argv[1:]]
    rounds = int(os.environ.get("ROUNDS", "5"))
    n = int(os.environ.get("REQUESTS", "200000"))
    rp = free_port()
    procs = [subprocess.Popen(["redis-server", "--port", str(rp), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                               "no"], stdout=subprocess.DEVNULL)]
    try:
        wait_port(rp)
        subprocess.run(["redis-benchmark", "-p", str(rp), "-t", "set", "-n", str(KEYS * 4), "-r", str(KEYS), "-d", "100",
                        "-q"], check=True, stdout=subprocess.DEVNULL)
        targets = [("redis-server", rp)]
        for i, b in enumerate(bins):
            port = free_port()
            procs.append(subprocess.Popen([b, "--redis", f"127.0.0.1:{rp}", "--port", str(port)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_port(port)
            bench(port, 16, KEYS * 4)  # every key cached
            targets.append((f"proxy{i + 1}" if len(bins) > 1 else "proxy", port))
        for pipeline in (1, 16):
            seen = {name: [] for name, _ in targets}
            for r in range(rounds):
                for name, port in targets if r % 2 == 0 else list(reversed(targets)):
                    seen[name].append(bench(port, pipeline, n))
            for name, vals in seen.items():
                p50 = statistics.median(v[0] for v in vals)
                p99 = statistics.median(v[1] for v in vals)
                rounds_text = " ".join(f"{a:.3f}/{b:.3f}" for a, b in vals)
                print(f"P{pipeline:<2} {name:12s} median p50 {p50:.3f} ms  p99 {p99:.3f} ms   rounds p50/p99: {rounds_text}",
                      flush=True)
        if bins:
            print("binaries: " + ", ".join(f"proxy{i + 1}={b}" for i, b in enumerate(bins)))
    finally:
        for p in procs:
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
