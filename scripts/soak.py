#!/usr/bin/python3
"""Soak test for redis-cache-proxy (not part of `make test`): N clients for M minutes of mixed hits
and misses over RESP and HTTP, while the backing Redis is killed and restarted, frozen, and bad
clients come and go. Every value read is checked against what Redis held:
  * it is the value of the key that was asked for (never another key's), byte for byte;
  * it is not older than the TTL allows: the value that replaced it was not written more than
    TTL (+ a small slack) before the read started.
The proxy's RSS is sampled throughout and must stay flat after warm-up.
Usage: scripts/soak.py [--clients 20] [--minutes 5] [--bin build/redis-cache-proxy]
Exit code 0 only when there were no violations, the proxy never dropped a well-behaved client,
and RSS grew less than 10% from warm-up to the end."""
import argparse
import http.client
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import redis

from procutil import free_port, rss_kb, wait_port

KEYS = 1000
HOT = 100          # keys most reads go to (hits)
TTL_MS = 1000
SLACK_S = 0.25     # fetch latency and loop-clock granularity


def value_for(i, v):
    filler = chr(97 + (i + v) % 26) * ((i * 31 + v * 17) % 2000)
    return f"soak:{i}|{v}|{filler}".encode()


class Soak:
    def __init__(self, args):
        self.args = args
        self.stop = threading.Event()
        self.lock = threading.Lock()         # guards history and versions
        self.write_lock = threading.Lock()   # one SET at a time: versions reach Redis in order
        self.history = {i: {} for i in range(KEYS)}   # key -> {version: time the SET finished}
        self.next_version = {i: 0 for i in range(KEYS)}
        self.counts = {"reads": 0, "values": 0, "nil": 0, "backend_errors": 0, "writes": 0,
                       "bad_clients": 0, "redis_kills": 0, "redis_freezes": 0}
        self.violations = []
        self.rss = []
        self.dir = tempfile.mkdtemp(prefix="rcp-soak-")
        self.redis_port = free_port()
        self.proxy_port = free_port()
        self.redis_proc = None

    # --- processes
    def start_redis(self):
        self.redis_proc = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.redis_port)

    def start_proxy(self):
        self.proxy_log = open(os.path.join(self.dir, "proxy.log"), "wb")
        self.proxy = subprocess.Popen(
            [self.args.bin, "--redis", f"127.0.0.1:{self.redis_port}", "--port", str(self.proxy_port),
             "--ttl", f"{TTL_MS}ms", "--cache-keys", str(KEYS // 2), "--backend-timeout", "500ms",
             "--log-level", "warn"], stdout=self.proxy_log, stderr=subprocess.STDOUT)
        wait_port(self.proxy_port)

    # --- the writer: new versions straight into Redis
    def write(self, r, i):
        # Serialised, so a newer version can never be overtaken by an older one on its way to Redis
        # (two writers racing would make "the value that replaced it" ambiguous).
        with self.write_lock:
            with self.lock:
                v = self.next_version[i] = self.next_version[i] + 1
            try:
                r.set(f"soak:{i}", value_for(i, v))
                self.counts["writes"] += 1
            except redis.RedisError:
                pass  # it may or may not have been applied; the time below bounds it either way
            with self.lock:
                self.history[i][v] = time.monotonic()

    def writer(self):
        r = redis.Redis(host="127.0.0.1", port=self.redis_port, socket_timeout=2)
        while not self.stop.is_set():
            self.write(r, random.randrange(KEYS))
            time.sleep(0.002)

    def repopulate(self):
        r = redis.Redis(host="127.0.0.1", port=self.redis_port, socket_timeout=2)
        for i in range(KEYS):
            self.write(r, i)

    # --- readers
    def check(self, i, value, started):
        self.counts["reads"] += 1
        if value is None:
            self.counts["nil"] += 1
            return
        self.counts["values"] += 1
        try:
            head, ver, _ = value.split(b"|", 2)
            v = int(ver)
        except ValueError:
            self.violations.append(f"unparseable value for key {i}: {value[:60]!r}")
            return
        if head != f"soak:{i}".encode() or value != value_for(i, v):
            self.violations.append(f"key {i}: got a value of {head!r} version {v} (wrong key or corrupt)")
            return
        with self.lock:
            replaced_at = self.history[i].get(v + 1)
        if replaced_at is not None and replaced_at < started - TTL_MS / 1000 - SLACK_S:
            self.violations.append(f"key {i}: version {v} served {started - replaced_at:.3f}s after it was replaced")

    def resp_reader(self):
        c = redis.Redis(host="127.0.0.1", port=self.proxy_port, socket_timeout=10)
        while not self.stop.is_set():
            i = random.randrange(HOT) if random.random() < 0.8 else random.randrange(KEYS)
            started = time.monotonic()
            try:
                self.check(i, c.get(f"soak:{i}"), started)
            except redis.ResponseError as e:
                if "backend" not in str(e):
                    self.violations.append(f"unexpected error: {e}")
                self.counts["backend_errors"] += 1
            except redis.RedisError as e:
                self.violations.append(f"RESP client dropped: {e!r}")
                c = redis.Redis(host="127.0.0.1", port=self.proxy_port, socket_timeout=10)

    def http_reader(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy_port, timeout=10)
        while not self.stop.is_set():
            i = random.randrange(HOT) if random.random() < 0.8 else random.randrange(KEYS)
            started = time.monotonic()
            try:
                conn.request("GET", f"/soak:{i}")
                resp = conn.getresponse()
                body = resp.read()
                if resp.status == 200:
                    self.check(i, body, started)
                elif resp.status == 404:
                    self.check(i, None, started)
                elif resp.status in (503, 504):
                    self.counts["backend_errors"] += 1
                else:
                    self.violations.append(f"HTTP {resp.status}: {body[:80]!r}")
            except (OSError, http.client.HTTPException) as e:
                self.violations.append(f"HTTP client dropped: {e!r}")
                conn = http.client.HTTPConnection("127.0.0.1", self.proxy_port, timeout=10)

    # --- chaos
    def bad_clients(self):
        shapes = [b"*1\r\n:1\r\n", b"*99999999999\r\n", b"GET /%zz%zz HTTP/1.1\r\n\r\n", b"\x16\x03\x01\x02\x00",
                  b"*2\r\n$3\r\nGET\r\n$6\r\nsoak:1", b"GET /soak:1 HTTP/1.1\r\nX: " + b"y" * 30000,
                  b"*2\r\n$3\r\nGET\r\n$6\r\nsoak:1\r\n" * 500, os.urandom(4096)]
        while not self.stop.is_set():
            try:
                s = socket.create_connection(("127.0.0.1", self.proxy_port), timeout=2)
                s.sendall(random.choice(shapes))
                if random.random() < 0.5:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.close()
                self.counts["bad_clients"] += 1
            except OSError:
                pass
            time.sleep(0.02)

    def chaos(self):
        period = max(10.0, self.args.minutes * 60 / 6)
        n = 0
        while not self.stop.wait(period):
            n += 1
            if n % 2:  # kill -9 and restart (empty), then write every key again
                self.redis_proc.kill()
                self.redis_proc.wait()
                self.counts["redis_kills"] += 1
                time.sleep(random.uniform(0.5, 2.0))
                self.start_redis()
                self.repopulate()
            else:      # freeze past the backend timeout
                os.kill(self.redis_proc.pid, signal.SIGSTOP)
                self.counts["redis_freezes"] += 1
                time.sleep(1.5)
                os.kill(self.redis_proc.pid, signal.SIGCONT)

    def sampler(self):
        while not self.stop.wait(2.0):
            self.rss.append((time.monotonic(), rss_kb(self.proxy.pid)))

    def run(self):
        self.start_redis()
        self.start_proxy()
        self.repopulate()
        t0 = time.monotonic()
        threads = [threading.Thread(target=self.writer), threading.Thread(target=self.bad_clients),
                   threading.Thread(target=self.chaos), threading.Thread(target=self.sampler)]
        for n in range(self.args.clients):
            threads.append(threading.Thread(target=self.resp_reader if n % 2 == 0 else self.http_reader))
        for t in threads:
            t.daemon = True
            t.start()
        self.stop.wait(self.args.minutes * 60)
        self.stop.set()
        for t in threads:
            t.join(30)
        elapsed = time.monotonic() - t0
        info = redis.Redis(host="127.0.0.1", port=self.proxy_port).info()
        self.proxy.send_signal(signal.SIGTERM)
        exit_code = self.proxy.wait(timeout=30)
        self.redis_proc.kill()
        return self.report(elapsed, info, exit_code)

    def report(self, elapsed, info, exit_code):
        warm = [kb for t, kb in self.rss if t >= self.rss[0][0] + 0.25 * (self.rss[-1][0] - self.rss[0][0])]
        rss_start, rss_end, rss_max = warm[0], warm[-1], max(kb for _, kb in self.rss)
        growth = (rss_end - rss_start) / rss_start
        c = self.counts
        print(f"soak: {self.args.clients} clients, {elapsed / 60:.1f} min, TTL {TTL_MS} ms, {KEYS} keys, cache {KEYS // 2} keys")
        print(f"  reads {c['reads']} ({c['reads'] / elapsed:.0f}/s): values {c['values']}, nil {c['nil']}, "
              f"backend errors {c['backend_errors']}")
        print(f"  proxy: hits {info['keyspace_hits']}, misses {info['keyspace_misses']}, evictions {info['evicted_keys']}, "
              f"expirations {info['expired_keys']}, coalesced {info['coalesced_misses']}, "
              f"protocol errors {info['protocol_errors']}, backend reconnects {info['backend_connects'] - 1}, "
              f"backend timeouts {info['backend_timeouts']}")
        print(f"  chaos: writes {c['writes']}, redis kills {c['redis_kills']}, freezes {c['redis_freezes']}, "
              f"bad clients {c['bad_clients']}")
        print(f"  RSS after warm-up {rss_start} KiB, at the end {rss_end} KiB ({growth:+.1%}), max {rss_max} KiB")
        print(f"  violations {len(self.violations)}; proxy exit code {exit_code}")
        for v in self.violations[:20]:
            print("   ", v)
        ok = not self.violations and exit_code == 0 and growth < 0.10
        print("soak: PASS" if ok else "soak: FAIL")
        return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--minutes", type=float, default=5)
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build",
                                                   "redis-cache-proxy"))
    sys.exit(Soak(ap.parse_args()).run())


if __name__ == "__main__":
    main()
