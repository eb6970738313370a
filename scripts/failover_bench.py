#!/usr/bin/python3
"""How quickly the proxy follows a Sentinel failover, and whether any read was older than an
acknowledged write (`make bench`; figures in docs/performance.md).

For each round: a fresh primary, replica and three Sentinels on loopback, the proxy in front of
them (--sentinel), one writer (INCR) and three readers (GET, from the cache when they can) through
the proxy, then SENTINEL FAILOVER (planned) or kill -9 of the primary. The announcement is timed by
a client of our own subscribed to +switch-master on a Sentinel. Reported per round: the proxy's
switch after the announcement, the first acknowledged write issued after the announcement
(target: within 1 s), the window during which writes failed, and the stale reads (target: 0).

    scripts/failover_bench.py PROXY_BIN [--rounds 3]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time

import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from failover_load import FailoverLoad  # noqa: E402
from procutil import free_port, wait_port  # noqa: E402
from redis_sentinel import MASTER, SentinelSet  # noqa: E402


def announcement_clock(sentinel_port):
    """A thread subscribed to +switch-master; returns (event, holder) where holder[0] is the time
    the first message arrived."""
    got, when = threading.Event(), [None]
    r = redis.Redis(host="127.0.0.1", port=sentinel_port)
    ps = r.pubsub()
    ps.subscribe("+switch-master")

    def run():
        while not got.is_set():
            m = ps.get_message(timeout=0.05)
            if m and m["type"] == "message":
                when[0] = time.time()
                got.set()
    threading.Thread(target=run, daemon=True).start()
    return got, when


def one_round(binary, kind):
    s = SentinelSet().start()
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="rcp-failover-", suffix=".log", delete=False)
    proxy = subprocess.Popen([binary, "--port", str(port), "--sentinel", s.sentinel_addrs(), "--sentinel-master",
                              MASTER, "--redis", f"redis://{MASTER}"], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(port, proc=proxy)
        c = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.time() + 10
        while c.info("proxy_sentinel")["sentinel_primary_confirmed"] != 1 and time.time() < deadline:
            time.sleep(0.02)
        got, when = announcement_clock(s.sentinel_ports[0])
        load = FailoverLoad(port, readers=3).start()
        time.sleep(1.0)
        old = s.primary()
        t_trigger = time.time()
        if kind == "planned":
            s.cli(s.sentinel_ports[0], "sentinel", "failover", MASTER)
        else:
            s.kill(old)
        if not got.wait(30):
            raise RuntimeError("no +switch-master within 30 s")
        t_announce = when[0]
        deadline = time.time() + 10
        while c.info("proxy_sentinel")["sentinel_switches"] < 1 and time.time() < deadline:
            time.sleep(0.005)
        switched = c.info("proxy_sentinel")["sentinel_last_switch_ms"] / 1000
        time.sleep(1.5)
        load.stop()
        first_write = load.first_write_after(t_announce)
        errs = [e for e in load.write_errors if e[0] >= t_trigger - 0.5]
        window = (max(e[1] for e in errs) - min(e[0] for e in errs)) if errs else 0.0
        return {
            "kind": kind,
            "announce_after_trigger_ms": (t_announce - t_trigger) * 1000,
            "proxy_switch_after_announce_ms": (switched - t_announce) * 1000,
            "write_ok_after_announce_ms": (first_write - t_announce) * 1000 if first_write else float("nan"),
            "write_error_window_ms": window * 1000,
            "write_errors": len(load.write_errors),
            "longest_write_ms": max((a[1] - a[0] for a in load.acks if a[1] >= t_trigger), default=0) * 1000,
            "reads": len(load.reads),
            "writes": len(load.acks),
            "stale_reads": len(load.stale_reads()),
            "lost_acked_writes": len(load.lost_acks()),
        }
    finally:
        proxy.terminate()
        proxy.wait()
        os.unlink(log.name)
        s.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    print("\n== Sentinel failover through the proxy (1 primary, 1 replica, 3 Sentinels on loopback)")
    print(f"{'kind':8} {'announce':>9} {'switch':>8} {'write ok':>9} {'longest':>8} {'err window':>11} {'errors':>7} "
          f"{'reads':>7} {'writes':>7} {'stale':>6} {'lost':>5}")
    print(f"{'':8} {'(ms)':>9} {'(ms)':>8} {'(ms)':>9} {'(ms)':>8} {'(ms)':>11}")
    worst = 0
    for kind in ["planned"] * a.rounds + ["kill-9"] * a.rounds:
        r = one_round(a.binary, kind)
        worst = max(worst, r["stale_reads"])
        print(f"{r['kind']:8} {r['announce_after_trigger_ms']:9.0f} {r['proxy_switch_after_announce_ms']:8.1f} "
              f"{r['write_ok_after_announce_ms']:9.1f} {r['longest_write_ms']:8.0f} {r['write_error_window_ms']:11.0f} {r['write_errors']:7d} "
              f"{r['reads']:7d} {r['writes']:7d} {r['stale_reads']:6d} {r['lost_acked_writes']:5d}")
    print("announce: SENTINEL FAILOVER / kill -9 to +switch-master; switch: +switch-master to the proxy's switch;")
    print("write ok: +switch-master to the first acknowledged write issued after it (target < 1000 ms); longest:")
    print("the longest a write waited (a planned failover fences the old primary from +selected-slave to the switch);")
    print("stale: reads older than the last acknowledged write not lost by Redis (target 0); lost: acknowledged")
    print("writes the new primary never had (asynchronous replication, not the proxy's doing)")
    return 1 if worst else 0


if __name__ == "__main__":
    sys.exit(main())
