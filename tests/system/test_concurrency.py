"""Concurrency: many clients at once, --max-clients, a slow miss never holds up a hit, concurrent
misses for one key cost one backend GET, and replies keep request order on a connection.
Redis is stalled with DEBUG SLEEP (the fixture starts it with --enable-debug-command local)."""
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import redis

import rawhttp
from conftest import wait_until


def stall_redis(r, seconds):
    """Blocks the backing Redis for `seconds` from a background thread; returns the thread once
    Redis is asleep (its PING no longer answers)."""
    t = threading.Thread(target=lambda: r.client().execute_command("DEBUG", "SLEEP", str(seconds)), daemon=True)
    t.start()
    probe = r.client(socket_timeout=0.05)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            probe.ping()
            time.sleep(0.01)
        except redis.TimeoutError:
            return t
    raise AssertionError("Redis did not stall")


def test_many_concurrent_clients_get_correct_values(pair):
    r, p = pair
    for i in range(200):
        r.client().set(f"key:{i}", f"value:{i}")

    def worker(n):
        c = p.client() if n % 2 == 0 else None
        for j in range(100):
            i = (n * 7 + j) % 200
            if c is not None:
                assert c.get(f"key:{i}") == f"value:{i}".encode()
            else:
                assert rawhttp.get(p.port, f"/key:{i}").body == f"value:{i}".encode()
        return n

    with ThreadPoolExecutor(max_workers=50) as ex:
        assert sorted(ex.map(worker, range(50))) == list(range(50))
    assert p.info("proxy")["proxy_connected_clients"] <= 1


def test_max_clients_rejects_with_protocol_appropriate_errors(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--max-clients", "2")
    r.client().set("k", "v")
    def admitted_client():
        # the start-up probe's connection may not have been reaped yet: retry until admitted
        deadline = time.monotonic() + 5
        while True:
            s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
            s.sendall(b"PING\r\n")
            if s.recv(100) == b"+PONG\r\n":
                return s
            s.close()
            assert time.monotonic() < deadline, "no client slot freed up"
            time.sleep(0.05)
    a = admitted_client()
    b = admitted_client()
    # a third RESP client gets the Redis error, then EOF
    c = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    c.sendall(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
    assert c.recv(100) == b"-ERR max number of clients reached\r\n"
    assert c.recv(100) == b""
    # a third HTTP client gets 503
    h = rawhttp.Conn(p.port)
    h.send(b"GET /k HTTP/1.1\r\nHost: localhost\r\n\r\n")
    resp = h.read_response()
    assert resp.status == 503 and b"max number of clients" in resp.body
    assert h.is_closed()
    # the slot frees when a client leaves
    a.close()
    deadline = time.monotonic() + 5
    while True:
        d = socket.create_connection(("127.0.0.1", p.port), timeout=5)
        d.sendall(b"GET k\r\n")
        got = d.recv(100)
        if got == b"$1\r\nv\r\n" or time.monotonic() > deadline:
            break
        d.close()
        time.sleep(0.05)
    assert got == b"$1\r\nv\r\n"
    b.sendall(b"INFO proxy_stats\r\n")
    time.sleep(0.1)
    info = b.recv(65536).decode()
    rejected = int(info.split("rejected_connections:")[1].split("\r\n")[0])
    assert rejected >= 2


def test_a_slow_miss_does_not_hold_up_a_hit(pair):
    r, p = pair
    r.client().set("hot", "cached")
    r.client().set("cold", "slow")
    c_hit = p.client()
    assert c_hit.get("hot") == b"cached"          # now cached
    sleeper = stall_redis(r, 1.5)
    miss_done = threading.Event()
    result = {}

    def miss():
        result["cold"] = p.client().get("cold")
        miss_done.set()
    t = threading.Thread(target=miss)
    t.start()
    time.sleep(0.1)                                # the miss is now waiting on the stalled Redis
    for _ in range(10):
        assert c_hit.get("hot") == b"cached"        # hits are answered meanwhile
        assert rawhttp.get(p.port, "/hot").body == b"cached"
    assert not miss_done.is_set(), "the miss should still be waiting on the stalled Redis"
    t.join(10)
    sleeper.join(10)
    assert result["cold"] == b"slow"


def test_concurrent_misses_for_one_key_cost_one_backend_get(pair):
    r, p = pair
    r.client().set("popular", "value")
    r.client().config_resetstat()
    sleeper = stall_redis(r, 0.8)
    clients = [p.client() for _ in range(20)]
    for c in clients:
        c.ping()  # connect before the burst
    with ThreadPoolExecutor(max_workers=20) as ex:
        futures = [ex.submit(c.get, "popular") for c in clients]
        futures.append(ex.submit(lambda: rawhttp.get(p.port, "/popular").body))
        assert [f.result(timeout=10) for f in futures] == [b"value"] * 21
    sleeper.join(10)
    assert r.get_calls() == 1
    stats = p.info("proxy_stats")
    # every request but the one that fetched joined the fetch (or, arriving after it, hit the cache)
    assert stats["coalesced_misses"] + stats["proxy_keyspace_hits"] == 20
    assert stats["coalesced_misses"] >= 1


def test_pipelined_hits_behind_a_miss_keep_request_order(pair):
    r, p = pair
    for k in ("h1", "h2", "h3", "m1", "m2"):
        r.client().set(k, k + "-value")
    c = p.client()
    for k in ("h1", "h2", "h3"):
        c.get(k)  # cache the hits
    sleeper = stall_redis(r, 0.5)
    s = socket.create_connection(("127.0.0.1", p.port), timeout=10)
    order = ["h1", "m1", "h2", "m2", "h3", "missing", "h1"]
    s.sendall(b"".join(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(k), k.encode()) for k in order))
    expected = b"".join(b"$-1\r\n" if k == "missing" else b"$%d\r\n%s-value\r\n" % (len(k) + 6, k.encode())
                        for k in order)
    got = b""
    while len(got) < len(expected):
        chunk = s.recv(65536)
        assert chunk, "connection closed early"
        got += chunk
    assert got == expected
    # the same over HTTP
    h = rawhttp.Conn(p.port)
    sleeper.join(10)
    r.client().set("m3", "m3-value")
    sleeper = stall_redis(r, 0.5)
    h.send(b"GET /h1 HTTP/1.1\r\nHost: localhost\r\n\r\nGET /m3 HTTP/1.1\r\nHost: localhost\r\n\r\n"
           b"GET /h2 HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert [h.read_response().body for _ in range(3)] == [b"h1-value", b"m3-value", b"h2-value"]
    sleeper.join(10)


def test_refusals_over_max_clients_are_logged_at_most_once_a_second(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--max-clients", "1")
    deadline = time.monotonic() + 5
    while True:  # the start-up probe's connection may hold the one slot for a moment
        held = socket.create_connection(("127.0.0.1", p.port), timeout=5)
        held.sendall(b"PING\r\n")
        if held.recv(100) == b"+PONG\r\n":
            break
        held.close()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.1)  # the refusals of that wait are logged and out of the window
    def refuse(n):
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
            s.sendall(b"PING\r\n")
            assert s.recv(100) == b"-ERR max number of clients reached\r\n"
            s.close()
    before = p.output().count("rejecting a connection")
    started = time.monotonic()
    refuse(200)
    elapsed = time.monotonic() - started
    lines = p.output().count("rejecting a connection") - before
    assert 1 <= lines <= int(elapsed) + 2  # not one per refusal
    time.sleep(1.1)
    refuse(1)
    assert wait_until(lambda: "more rejected since the last message" in p.output())
    held.close()
