#!/usr/bin/python3
"""Client-side caching served by the proxy, at scale (`make bench`; figures in docs/performance.md).

N RESP3 connections (default 10,000) turn CLIENT TRACKING on and read keys (--readers clients per
key). Then, one key at a time, a value is changed directly on Redis and the time until each of
its readers has its invalidation push is measured from the moment the SET was acknowledged
(end to end: Redis's report to the proxy, the proxy's fan-out, the client's socket). Last, every
connection reads one hot key and one SET invalidates all N at once.

Reported: the connections Redis holds (the proxy's links, not one per client), the proxy's own
delivery latency (rcp_client_tracking_delivery_seconds: from the change learned to the push handed
to each socket; target p99 <= 1 ms), the end-to-end latencies, the fan-out to all N, and the same
rounds run against Redis directly (N tracking connections to redis-server) as the yardstick.

    scripts/tracking_bench.py PROXY_BIN [--clients 10000] [--readers 10] [--rounds 300]
"""
import argparse
import os
import resource
import selectors
import socket
import subprocess
import sys
import tempfile
import time

import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procutil import free_port, wait_port  # noqa: E402

PUSH = b">2\r\n$10\r\ninvalidate\r\n"


def encode(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Fleet:
    """N non-blocking connections driven from one selector."""

    def __init__(self, port, n):
        self.sel = selectors.DefaultSelector()
        self.socks = []
        self.buf = {}
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", port))
            s.setblocking(False)
            self.socks.append(s)
            self.buf[s.fileno()] = b""
            self.sel.register(s, selectors.EVENT_READ, i)
            if i % 1000 == 999:
                time.sleep(0.01)

    def send(self, i, data):
        s = self.socks[i]
        s.setblocking(True)
        s.sendall(data)
        s.setblocking(False)

    def wait_for(self, want, timeout=30.0):
        """want: {conn index: bytes count expected}. Returns {index: arrival time} once each has
        received at least that many bytes more."""
        got, done = {}, {}
        deadline = time.monotonic() + timeout
        while len(done) < len(want):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(want) - len(done)} connections still waiting")
            for key, _ in self.sel.select(min(left, 0.5)):
                i = key.data
                try:
                    data = key.fileobj.recv(1 << 16)
                except BlockingIOError:
                    continue
                now = time.perf_counter()
                if i not in want:
                    continue
                got[i] = got.get(i, 0) + len(data)
                if i not in done and got[i] >= want[i]:
                    done[i] = now
        return done

    def close(self):
        for s in self.socks:
            s.close()
        self.sel.close()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))] if xs else float("nan")


def run_rounds(port, redis_port, n, readers, rounds, label, admin_port=None):
    direct = redis.Redis(host="127.0.0.1", port=redis_port)
    direct.flushall()
    keys = n // readers
    fleet = Fleet(port, n)
    hello = encode("HELLO", "3")
    hello_len = None
    for i in range(n):
        fleet.send(i, hello + encode("CLIENT", "TRACKING", "on") + encode("GET", f"bench:{i % keys}"))
    # HELLO 3's map, +OK, and a null: wait until each connection has at least the last two.
    fleet.wait_for({i: 5 + 3 for i in range(n)}, timeout=120)
    time.sleep(0.5)
    for key, _ in fleet.sel.select(0):  # what is left of the replies
        try:
            while key.fileobj.recv(1 << 16):
                pass
        except BlockingIOError:
            pass
    del hello_len
    backend = len(direct.client_list()) - 1  # not this client
    before = delivery_buckets(admin_port) if admin_port else None
    e2e = []
    for r in range(rounds):
        k = r % keys
        name = f"bench:{k}"
        want = {i: len(PUSH) + len(f"*1\r\n${len(name)}\r\n{name}\r\n") for i in range(k, n, keys)}
        t0 = time.perf_counter()
        direct.set(name, r)
        t1 = time.perf_counter()
        arrived = fleet.wait_for(want)
        e2e += [(t - t1) * 1e6 for t in arrived.values()]
        for i in want:  # read again: tracked again
            fleet.send(i, encode("GET", name))
        fleet.wait_for({i: 1 for i in want})
        del t0
    rounds_buckets = delivery_buckets(admin_port) if admin_port else None
    # Fan-out: everyone reads one key; one SET invalidates all N.
    for i in range(n):
        fleet.send(i, encode("GET", "bench:hot"))
    fleet.wait_for({i: 3 for i in range(n)}, timeout=120)
    time.sleep(0.2)
    for key, _ in fleet.sel.select(0):
        try:
            while key.fileobj.recv(1 << 16):
                pass
        except BlockingIOError:
            pass
    t0 = time.perf_counter()
    direct.set("bench:hot", "x")
    t1 = time.perf_counter()
    arrived = fleet.wait_for({i: len(PUSH) + len("*1\r\n$9\r\nbench:hot\r\n") for i in range(n)}, timeout=120)
    fan = [(t - t1) * 1e6 for t in arrived.values()]
    del t0
    time.sleep(0.2)
    fan_buckets = delivery_buckets(admin_port) if admin_port else None
    fleet.close()
    print(f"{label}: {n} tracking connections, {keys} keys x {readers} readers; Redis holds {backend} "
          f"connections for them")
    print(f"  one key changed, {rounds} rounds, {len(e2e)} invalidations, SET acknowledged -> push at the "
          f"client: p50 {pct(e2e, 50):.0f} us, p99 {pct(e2e, 99):.0f} us, max {max(e2e):.0f} us")
    print(f"  one key read by all {n}: last push {max(fan) / 1000:.1f} ms after the SET (p50 "
          f"{pct(fan, 50) / 1000:.1f} ms, p99 {pct(fan, 99) / 1000:.1f} ms)")
    if admin_port:
        bound, count = p99_bound(before, rounds_buckets)
        print(f"  the proxy's own delivery (change learned -> push handed to the socket), one-key rounds: "
              f"{count} pushes, p99 <= {bound}")
        bound, count = p99_bound(rounds_buckets, fan_buckets)
        print(f"  the proxy's own delivery, the {n}-way fan-out: {count} pushes, p99 <= {bound}")
    return backend


def delivery_buckets(admin_port):
    """rcp_client_tracking_delivery_seconds's cumulative buckets, {le: count}, from /metrics."""
    s = socket.create_connection(("127.0.0.1", admin_port))
    s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
    body = b""
    while True:
        d = s.recv(1 << 16)
        if not d:
            break
        body += d
    s.close()
    out = {}
    for line in body.decode().splitlines():
        if line.startswith("rcp_client_tracking_delivery_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            out[le] = int(line.rsplit(" ", 1)[1])
    return out


def p99_bound(before, after):
    """The bucket bound under which 99% of the observations between two scrapes fall."""
    total = after["+Inf"] - before.get("+Inf", 0)
    if total == 0:
        return "none", 0
    for le in after:
        if (after[le] - before.get(le, 0)) * 100 >= total * 99:
            return ("%.0f us" % (float(le) * 1e6)) if le != "+Inf" else "over 2.5 s", total
    return "?", total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("proxy_bin")
    ap.add_argument("--clients", type=int, default=10000)
    ap.add_argument("--readers", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=300)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = a.clients + 256
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, need * 2), hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < need:
        print(f"tracking bench: needs {need} open files, the hard limit is {hard}: skipped")
        return
    tmp = tempfile.mkdtemp(prefix="rcp-tracking-bench-")
    rport, pport, aport = free_port(), free_port(), free_port()
    procs = []
    try:
        procs.append(subprocess.Popen(
            ["redis-server", "--port", str(rport), "--save", "", "--appendonly", "no", "--dir", tmp,
             "--maxclients", str(a.clients + 1000)], stdout=subprocess.DEVNULL))
        wait_port(rport, proc=procs[-1])
        procs.append(subprocess.Popen(
            [a.proxy_bin, "--port", str(pport), "--redis", f"127.0.0.1:{rport}", "--max-clients",
             str(a.clients + 1000), "--admin-port", str(aport), "--log-level", "warn"], stdout=subprocess.DEVNULL))
        wait_port(pport, proc=procs[-1])
        time.sleep(0.5)
        run_rounds(pport, rport, a.clients, a.readers, a.rounds, "through the proxy", aport)
        run_rounds(rport, rport, a.clients, a.readers, a.rounds, "Redis directly")
    finally:
        for p in reversed(procs):  # the proxy first
            p.terminate()
            p.wait(timeout=10)


if __name__ == "__main__":
    main()
