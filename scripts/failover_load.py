#!/usr/bin/python3
"""Load through the proxy while Redis fails over, and the check that no read was older than what
had been acknowledged: one writer INCRs a counter, readers GET it (served from the proxy's cache
when they can), every outcome recorded with the wall-clock times it was issued and answered.

A read is wrong when it returns less than the last INCR acknowledged before the read was issued,
unless Redis itself lost that write (asynchronous replication: a later INCR answered a value at or
below it, the new primary never had it). Used by the system tests (Sentinel and cluster failover)
and by scripts/failover_bench.py.
"""
import threading
import time

import redis


class FailoverLoad:
    def __init__(self, port, key="failover:counter", readers=3, host="127.0.0.1", pause_s=0.001):
        self.port, self.key, self.host, self.pause_s = port, key, host, pause_s
        self.acks = []      # (issued, answered, value) of every INCR that succeeded
        self.write_errors = []  # (issued, answered, error text)
        self.reads = []     # (issued, answered, value) of every GET that succeeded
        self.read_errors = []
        self.n_readers = readers
        self.stop_flag = threading.Event()
        self.threads = []
        self.lock = threading.Lock()

    def _client(self):
        return redis.Redis(host=self.host, port=self.port, socket_timeout=5, socket_connect_timeout=2)

    def _run(self, op, ok, failed):
        """Repeats op through a connection of its own; each outcome, with its times, goes to ok
        (the value) or failed (the error's text)."""
        c = self._client()
        while not self.stop_flag.is_set():
            t0 = time.time()
            try:
                v = op(c)
                with self.lock:
                    ok.append((t0, time.time(), v))
            except redis.RedisError as e:
                with self.lock:
                    failed.append((t0, time.time(), str(e)))
                time.sleep(0.01)
            time.sleep(self.pause_s)

    def _writer(self):
        self._run(lambda c: c.incr(self.key), self.acks, self.write_errors)

    def _reader(self):
        self._run(lambda c: int(c.get(self.key) or 0), self.reads, self.read_errors)

    def start(self):
        self.threads = [threading.Thread(target=self._writer, daemon=True)]
        self.threads += [threading.Thread(target=self._reader, daemon=True) for _ in range(self.n_readers)]
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=10)

    def lost_acks(self):
        """Indexes of acknowledged INCRs Redis lost: a later INCR answered a value at or below them."""
        lost, low = set(), None
        for i in range(len(self.acks) - 1, -1, -1):
            v = self.acks[i][2]
            if low is not None and low <= v:
                lost.add(i)
            low = v if low is None else min(low, v)
        return lost

    def stale_reads(self):
        """Reads older than the last acknowledged (and not lost) write before they were issued."""
        lost = self.lost_acks()
        kept = [a for i, a in enumerate(self.acks) if i not in lost]
        bad, j, floor = [], 0, 0
        for issued, answered, value in sorted(self.reads):
            while j < len(kept) and kept[j][1] < issued:
                floor = max(floor, kept[j][2])
                j += 1
            if value < floor:
                bad.append((issued, answered, value, floor))
        return bad

    def first_write_after(self, t):
        """Wall-clock time the first INCR issued at or after t was acknowledged (None: none was)."""
        for issued, answered, _v in self.acks:
            if issued >= t:
                return answered
        return None

    def first_ack_after(self, t):
        """The first acknowledgement that arrived at or after t (a write in flight across t counts)."""
        for _issued, answered, _v in self.acks:
            if answered >= t:
                return answered
        return None
