#!/usr/bin/env python3
"""Chaos for the routing (not part of `make test`): N clients open connections to the proxy in front
of a real redis-server and send random mixes of every state-changing command (MULTI, EXEC, WATCH,
SUBSCRIBE, UNSUBSCRIBE, blocking commands with short timeouts, SELECT, CLIENT REPLY, MONITOR, RESET,
QUIT, HELLO 3 and HELLO 2, CLIENT TRACKING on and off ...), sometimes cut short or followed by garbage, reading or not, half-closing or not. Afterwards
the proxy must still answer, hold no pinned connection, and exit 0 on SIGTERM (with an ASan build,
a sanitizer report or a leak makes that exit non-zero).

With KILL=1 in the environment, Redis is killed (kill -9) a third of the way in and started again at
two thirds, so transactions, subscriptions and blocked commands lose their pinned connections mid-way.

Usage: [KILL=1] scripts/chaos.py PROXY_BIN [SECONDS=45] [CLIENTS=12] [SEED=0]"""
import os
import random
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "system"))
import conftest  # noqa: E402
from conftest import Proxy, RedisServer  # noqa: E402

COMMANDS = [
    ["GET", "k{}"], ["SET", "k{}", "v"], ["MGET", "k1", "k2", "k{}"], ["MULTI"], ["EXEC"], ["DISCARD"],
    ["WATCH", "k{}"], ["UNWATCH"], ["SUBSCRIBE", "c{}"], ["PSUBSCRIBE", "p*"], ["UNSUBSCRIBE"], ["PUNSUBSCRIBE"],
    ["PING"], ["BLPOP", "q{}", "0.05"], ["SELECT", "{}"], ["SELECT", "0"], ["CLIENT", "REPLY", "OFF"],
    ["CLIENT", "REPLY", "ON"], ["CLIENT", "REPLY", "SKIP"], ["RESET"], ["PUBLISH", "c{}", "m"], ["INCR", "n"],
    ["DEL", "k{}"], ["EVAL", "return 1", "0"], ["INFO"], ["INFO", "proxy"], ["HELLO", "2"], ["CLIENT", "INFO"],
    ["MONITOR"], ["FLUSHDB"], ["XREAD", "BLOCK", "10", "STREAMS", "s", "$"], ["WAIT", "0", "10"], ["NOSUCH"],
    ["QUIT"], ["HELLO", "3"], ["HELLO", "3"], ["CLIENT", "TRACKING", "on"], ["CLIENT", "TRACKING", "off"],
    ["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "k"], ["CLIENT", "CACHING", "yes"], ["SSUBSCRIBE", "s{}"],
    ["SUNSUBSCRIBE"], ["HGETALL", "h"], ["HSET", "h", "f{}", "v"], ["CLIENT", "TRACKINGINFO"],
]


def encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def main():
    conftest.PROXY_BIN = os.path.abspath(sys.argv[1])
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 45
    clients = int(sys.argv[3]) if len(sys.argv) > 3 else 12
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    r = RedisServer()
    p = Proxy(r.port, ["--max-pinned", "8", "--backend-timeout", "500ms"])
    stop = time.time() + seconds
    counts = [0] * clients

    def worker(i):
        rnd = random.Random(seed * 1000 + i)
        while time.time() < stop:
            try:
                s = socket.create_connection(("127.0.0.1", p.port), timeout=2)
                s.settimeout(0.2)
                for _ in range(rnd.randint(1, 40)):
                    data = encode([a.format(rnd.randint(0, 3)) for a in rnd.choice(COMMANDS)])
                    if rnd.random() < 0.02:
                        data = data[:rnd.randint(0, len(data))] + rnd.randbytes(3)
                    s.sendall(data)
                    counts[i] += 1
                    if rnd.random() < 0.5:
                        try:
                            s.recv(65536)
                        except socket.timeout:
                            pass
                if rnd.random() < 0.5:
                    s.shutdown(socket.SHUT_WR)
                try:
                    s.recv(65536)
                except OSError:
                    pass
                s.close()
            except OSError:
                pass  # the proxy closed it (QUIT, a protocol error): expected

    def killer():
        time.sleep(seconds / 3)
        r.kill()
        time.sleep(seconds / 3)
        r.start()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    if os.environ.get("KILL") == "1":
        threads.append(threading.Thread(target=killer))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(1)
    conftest.wait_until(lambda: p.info("backend")["backend_link_status"] == "up")
    c = p.client()
    alive = c.ping() and c.set("final", "1") and c.get("final") == b"1"
    pinned = p.info("proxy_stats")["pinned_connections"]
    p.proc.send_signal(signal.SIGTERM)
    p.proc.wait(timeout=30)
    print(f"requests sent {sum(counts)}, proxy alive {alive}, pinned connections left {pinned}, "
          f"exit code {p.proc.returncode}")
    ok = alive and pinned == 0 and p.proc.returncode == 0
    if not ok:
        print(p.output()[-4000:])
    r.stop()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
