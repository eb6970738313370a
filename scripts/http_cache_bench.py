#!/usr/bin/python3
"""`make bench` (HTTP caching part):
1. a 304 for a cached key (If-None-Match naming its ETag) against a 200 hit of the same key, wrk with
   1 thread and 50 connections, alternating, median of the rounds;
2. a hot key read by 50 clients (redis-benchmark GET) across 20 lives of its entry (--ttl 100ms),
   with and without --refresh-ahead 0.5: the p99 latency, and how many requests waited on a backend
   fetch (the proxy's resp_misses), side by side.

Usage: scripts/http_cache_bench.py PROXY_BIN      env: ROUNDS (3)"""
import os
import re
import statistics
import subprocess
import sys
import tempfile

import redis

from procutil import free_port, wait_port


def start_proxy(binary, redis_port, *args):
    port = free_port()
    proc = subprocess.Popen([binary, "--redis", f"127.0.0.1:{redis_port}", "--port", str(port), "--log-level",
                             "warn", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, port


def wrk(port, headers=()):
    cmd = ["wrk", "-t1", "-c50", "-d4s"]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run(cmd + [f"http://127.0.0.1:{port}/hot"], capture_output=True, text=True, check=True).stdout
    return float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))


def hot_key(port, proxy_client, requests):
    misses0 = proxy_client.info("proxy_stats")["resp_misses"]
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-c", "50", "-n", str(requests), "-t", "get",
                          "--precision", "3"], capture_output=True, text=True, check=True).stdout
    out = out.replace("\r", "\n")
    m = re.search(r"latency summary \(msec\):\s*\n\s*avg\s+min\s+p50\s+p95\s+p99\s+max\s*\n\s*([0-9. ]+)", out)
    fields = m.group(1).split()
    p99, worst = float(fields[4]), float(fields[5])
    rps = float(re.search(r"throughput summary:\s+([0-9.]+) requests per second", out).group(1))
    return p99, worst, proxy_client.info("proxy_stats")["resp_misses"] - misses0, rps


def main():
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/redis-cache-proxy")
    rounds = int(os.environ.get("ROUNDS", "3"))
    work = tempfile.mkdtemp(prefix="rcp-httpbench-")
    redis_port = free_port()
    rs = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                           "--appendonly", "no", "--dir", work], stdout=subprocess.DEVNULL)
    procs = []
    try:
        wait_port(redis_port)
        r = redis.Redis(host="127.0.0.1", port=redis_port)
        r.set("hot", "v" * 100)
        r.set("key:__rand_int__", "v" * 100)  # redis-benchmark's GET key without -r
        # 1. 304 against 200
        proc, port = start_proxy(binary, redis_port, "--ttl", "10m")
        procs.append(proc)
        etag = subprocess.run(["curl", "-sI", f"http://127.0.0.1:{port}/hot"], capture_output=True, text=True,
                              check=True).stdout
        tag = re.search(r"(?im)^etag:\s*(\S+)", etag).group(1)
        ok, nm = [], []
        for _ in range(rounds):
            ok.append(wrk(port))
            nm.append(wrk(port, [f"If-None-Match: {tag}"]))
        print(f"HTTP hit 200        {statistics.median(ok):12.0f} req/s")
        print(f"HTTP 304            {statistics.median(nm):12.0f} req/s   ratio 304/200 {statistics.median(nm) / statistics.median(ok):.2f}"
              f"   (per round: {', '.join(f'{b / a:.2f}' for a, b in zip(ok, nm))})")
        # 2. a hot key over 20 lives, with and without refresh-ahead
        rows = []
        for ahead in ("0", "0.5"):
            proc, port = start_proxy(binary, redis_port, "--ttl", "100ms", "--refresh-ahead", ahead)
            procs.append(proc)
            client = redis.Redis(host="127.0.0.1", port=port)
            # sized for about 20 lives of the entry at this machine's rate
            _, _, _, rps = hot_key(port, client, 20000)
            rows.append((ahead, *hot_key(port, client, max(20000, int(rps * 2.0)))))
            client.close()
        print("hot key, 50 clients, 20 lives of 100 ms:")
        for ahead, p99, worst, waited, rps in rows:
            label = "refresh-ahead 0.5" if ahead != "0" else "no refresh-ahead "
            print(f"  {label}   p99 {p99:7.3f} ms   max {worst:7.3f} ms   requests that waited on Redis {waited:6d}"
                  f"   ({rps:.0f} req/s)")
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        rs.terminate()
        rs.wait()


if __name__ == "__main__":
    main()
