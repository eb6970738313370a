"""Limits a client or an operator sets, each shown to bind: --max-inflight (backend requests in
flight), --max-pending (requests queued per connection), --max-request-bytes (RESP request size)."""
import os
import socket
import threading
import time

from conftest import recv_until_closed, rss_kb, wait_until
from test_concurrency import stall_redis


def get_cmd(key):
    k = key.encode()
    return b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(k), k)


def test_max_inflight_holds_backend_requests_back_in_order(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--max-inflight", "1", "--backend-timeout", "10s")
    for i in range(3):
        r.client().set(f"k{i}", f"v{i}")
    base = p.backend_requests_settled()
    sleeper = stall_redis(r, 0.8)
    results = {}

    def read(i):
        results[i] = p.client().get(f"k{i}")
    threads = [threading.Thread(target=read, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    assert wait_until(lambda: p.info("backend")["backend_pending"] == 3)
    assert p.info("backend")["backend_requests"] == base + 1   # one sent, two waiting their turn
    for t in threads:
        t.join(10)
    sleeper.join(10)
    assert results == {0: b"v0", 1: b"v1", 2: b"v2"}
    assert p.info("backend")["backend_requests"] == base + 3


def test_max_pending_stops_reading_a_pipelining_client(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--max-pending", "4", "--backend-timeout", "10s")
    for i in range(100):
        r.client().set(f"p{i}", f"value{i}")
    base = p.backend_requests_settled()
    sleeper = stall_redis(r, 0.8)
    s = socket.create_connection(("127.0.0.1", p.port), timeout=10)
    s.sendall(b"".join(get_cmd(f"p{i}") for i in range(100)))
    assert wait_until(lambda: p.info("proxy_stats")["inflight_misses"] == 4)
    assert p.info("backend")["backend_requests"] == base + 4     # the other 96 are not even parsed yet
    expected = b"".join(b"$%d\r\nvalue%d\r\n" % (len(f"value{i}"), i) for i in range(100))
    got = b""
    while len(got) < len(expected):
        chunk = s.recv(65536)
        assert chunk
        got += chunk
    sleeper.join(10)
    assert got == expected


def test_max_request_bytes(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--max-request-bytes", "1k")
    s = socket.create_connection(("127.0.0.1", p.port))
    s.sendall(get_cmd("k" * 2000))
    out = recv_until_closed(s)
    assert out.startswith(b"-ERR Protocol error:") and out.count(b"\r\n") == 1
    assert p.client().get("k" * 900) is None   # under the limit: an ordinary miss


def test_max_input_bytes_bounds_what_half_sent_requests_hold(redis_server, proxy):
    # Many clients each holding a partial request just under --max-request-bytes: past the total,
    # the ones holding the most are closed, and memory stays bounded.
    r = redis_server()
    r.client().set("k", "v")
    p = proxy(r.port, "--max-input-bytes", "4m")
    base = rss_kb(p.proc.pid)
    partial = b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$1000000\r\n" + b"y" * 900_000
    holders = []
    for _ in range(12):
        s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
        s.sendall(partial)
        holders.append(s)
        time.sleep(0.05)
    assert wait_until(lambda: p.info("proxy_stats")["input_limit_closes"] >= 8)
    assert p.info("proxy_stats")["client_input_bytes"] <= 4 << 20
    if not os.environ.get("RCP_SANITIZED"):  # ASan keeps freed memory in quarantine: RSS says nothing there
        assert rss_kb(p.proc.pid) - base < 16 * 1024
    closed = 0
    for s in holders:
        s.settimeout(2)
        try:
            data = s.recv(200)
            if data.startswith(b"-ERR the proxy holds too much unparsed input") or data == b"":
                closed += 1
        except socket.timeout:
            pass
        s.close()
    assert closed >= 8
    assert p.client().get("k") == b"v"  # others are served
