#!/usr/bin/env python3
"""Instructions per request in the proxy (user space, callgrind), for the request paths that matter:
a RESP hit at pipeline 1 and 16, a RESP miss (--ttl 0) at pipeline 1 and 16, an HTTP hit, a
forwarded SET and a 10-key MGET of cached keys at pipeline 1 and 16, and the hit and the SET from
RESP3 clients (redis-benchmark -3). Counts are
repeatable for one binary whatever else the machine does, so before/after comparisons need no
repetition. The counters are zeroed after a warm-up and dumped after the measured requests.

Usage: scripts/instructions.py PROXY_BIN [REQUESTS=20000]       needs valgrind, redis-benchmark, wrk"""
import glob
import os
import re
import subprocess
import sys
import tempfile
import time

from procutil import free_port, wait_port


def redis_benchmark(pipeline, command=None):
    """redis-benchmark's GET test, or a command of its own (with __rand_int__ placeholders)."""
    def load(port, count):
        what = ["-t", "get"] if command is None else command
        subprocess.run(["redis-benchmark", "-p", str(port), "-n", str(count), "-r", "1000", "-c", "50",
                        "-P", str(pipeline), "-q", *what], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        return count
    return load


MGET10 = ["mget"] + ["key:__rand_int__"] * 10
SET = ["set", "key:__rand_int__", "x" * 100]


def wrk(port, _count):
    # wrk runs for a time, not a count: the count comes from its report.
    r = subprocess.run(["wrk", "-t1", "-c4", "-d1s", f"http://127.0.0.1:{port}/bench:k"], check=True,
                       capture_output=True, text=True)
    return int(re.search(r"(\d+) requests in", r.stdout).group(1))


def control(args):
    subprocess.run(["callgrind_control", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(proxy_bin, redis_port, args, load, n):
    """Instructions per request of load(port, n), after a warm-up, in a proxy under callgrind."""
    port = free_port()
    out = tempfile.mkdtemp(prefix="rcp-cg-")
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/cg.%p",
                             proxy_bin, "--redis", f"127.0.0.1:{redis_port}", "--port", str(port), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, timeout=60)
        load(port, 2000)  # pools, buffers and the cache reach their steady state
        time.sleep(0.5)
        control(["-z", str(proc.pid)])
        done = load(port, n)
        control(["-d", "measured", str(proc.pid)])
        time.sleep(0.5)
        for f in glob.glob(os.path.join(out, "cg.*")):
            with open(f) as fh:
                text = fh.read()
            if "measured" in text[:4096]:
                return int(re.search(r"^(?:summary|totals): (\d+)", text, re.M).group(1)) / done
        raise RuntimeError("no callgrind dump")
    finally:
        proc.terminate()
        proc.wait()


def main():
    proxy_bin = os.path.abspath(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    redis_port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        wait_port(redis_port)
        subprocess.run(["redis-benchmark", "-p", str(redis_port), "-t", "set", "-n", "40000", "-r", "1000", "-d", "100",
                        "-q"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["redis-cli", "-p", str(redis_port), "set", "bench:k", "x" * 100], check=True,
                       stdout=subprocess.DEVNULL)
        rows = [("RESP hit, pipeline 1", [], redis_benchmark(1)), ("RESP hit, pipeline 16", [], redis_benchmark(16)),
                ("RESP miss, pipeline 1", ["--ttl", "0"], redis_benchmark(1)),
                ("RESP miss, pipeline 16", ["--ttl", "0"], redis_benchmark(16)), ("HTTP hit", [], wrk),
                ("SET, pipeline 1", [], redis_benchmark(1, SET)), ("SET, pipeline 16", [], redis_benchmark(16, SET)),
                ("MGET10 hit, pipeline 1", [], redis_benchmark(1, MGET10)),
                ("MGET10 hit, pipeline 16", [], redis_benchmark(16, MGET10)),
                ("RESP3 hit, pipeline 1", [], redis_benchmark(1, ["-3", "get", "key:__rand_int__"])),
                ("RESP3 hit, pipeline 16", [], redis_benchmark(16, ["-3", "get", "key:__rand_int__"])),
                ("RESP3 SET, pipeline 1", [], redis_benchmark(1, ["-3"] + SET)),
                ("RESP3 SET, pipeline 16", [], redis_benchmark(16, ["-3"] + SET))]
        for name, args, load in rows:
            print(f"{name:24s} {measure(proxy_bin, redis_port, args, load, n):7.0f} instructions per request", flush=True)
    finally:
        redis.terminate()
        redis.wait()


if __name__ == "__main__":
    main()
