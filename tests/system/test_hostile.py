"""Hostile input: every malformed or abusive stream gets a clear error, its connection is closed
when the stream cannot be trusted, other clients are unaffected, and no memory is left behind."""
import os
import socket
import threading

import pytest

import rawhttp
from conftest import recv_until_closed, rss_kb

# (input, what the reply starts with). Each is answered once and the connection closed.
RESP_CASES = [
    (b"*1\r\n$999999999999\r\n", b"-ERR Protocol error: invalid bulk length"),
    (b"*-5\r\n", b"-ERR Protocol error: Multi-bulk length out of range"),
    (b"*99999999999\r\n", b"-ERR Protocol error: Multi-bulk length out of range"),
    (b"*2000000\r\n", b"-ERR Protocol error: invalid multibulk length"),
    (b"*1\r\n*1\r\n*1\r\n$1\r\na\r\n", b"-ERR Protocol error: expected '$', got '*'"),
    (b"*2\r\n$3\r\nGET\r\n:12\r\n", b"-ERR Protocol error: expected '$'"),
    (b"*1\r\n$abc\r\n", b"-ERR Protocol error: Bad bulk string length"),
    (b"GET \"open quote\r\n", b"-ERR Protocol error: unbalanced quotes"),
    (b"x" * 70_000, b"-ERR Protocol error: too big inline request"),  # endless inline line
]


@pytest.mark.parametrize("data,reply", RESP_CASES, ids=[repr(c[0][:24]) for c in RESP_CASES])
def test_malformed_resp(pair, data, reply):
    r, p = pair
    r.client().set("k", "v")
    other = p.client()
    assert other.get("k") == b"v"
    s = socket.create_connection(("127.0.0.1", p.port))
    s.sendall(data)
    out = recv_until_closed(s)
    assert out.startswith(reply), out[:200]
    assert out.count(b"\r\n") == 1   # one error line, then the connection is closed
    assert other.get("k") == b"v"


def test_resp_nul_bytes_and_non_array_requests_are_answered(pair):
    r, p = pair
    r.client().set(b"a\x00b", b"nul key")
    s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    s.sendall(b"*2\r\n$3\r\nGET\r\n$3\r\na\x00b\r\n+PING\r\n:1\r\n$4\r\nPING\r\n")
    want = b"$7\r\nnul key\r\n" + b"-ERR unknown command '+PING'"
    got = b""
    while not got.count(b"\r\n") >= 5:
        got += s.recv(4096)
    assert got.startswith(want)
    assert b"-ERR unknown command ':1'" in got and b"-ERR unknown command '$4'" in got


def test_truncated_resp_frame_then_close(pair):
    _, p = pair
    s = socket.create_connection(("127.0.0.1", p.port))
    s.sendall(b"*3\r\n$3\r\nGET\r\n$2\r\nab")
    s.shutdown(socket.SHUT_WR)
    assert recv_until_closed(s) == b""


def test_100mb_of_garbage(pair):
    r, p = pair
    r.client().set("k", "v")
    other = p.client()
    base = rss_kb(p.proc.pid)
    for first in (b"*", b"G", b"\x00"):
        s = socket.create_connection(("127.0.0.1", p.port))
        chunk = first + os.urandom(1 << 20)
        sent = 0
        try:
            while sent < 100 << 20:
                s.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the proxy stopped listening to it: that is the point
        s.close()
        assert sent < 100 << 20 or True
    assert other.get("k") == b"v"
    assert rss_kb(p.proc.pid) - base < 20 * 1024


HTTP_CASES = [
    (b"GET /" + b"a" * 40_000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET /k HTTP/1.1\r\n" + b"X-Big: " + b"b" * 20_000 + b"\r\n\r\n", 431),
    (b"GET /k HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"GET /k HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
    (b"GET /k HTTP/1.1\r\nTransfer-Encoding: gzip, chunked, identity\r\n\r\n", 400),
    (b"GET /k HTTP/1.1\r\nHost : spaced\r\n\r\n", 400),
    (b"GET /k HTTP/1.1\r\n\x00: x\r\n\r\n", 400),
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    (b"GET /k HTTP/9.9\r\n\r\n", 505),
    (b"CONNECT example.com:443 HTTP/1.1\r\nHost: localhost\r\n\r\n", 405),
    (b"GET /k HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n", 400),
    (b"GET /k HTTP/1.1\r\n: v\r\n\r\n", 400),  # a header line with an empty name
]


@pytest.mark.parametrize("data,status", HTTP_CASES, ids=[repr(c[0][:24]) for c in HTTP_CASES])
def test_malformed_http(pair, data, status):
    r, p = pair
    r.client().set("k", "v")
    c = rawhttp.Conn(p.port)
    c.send(data)
    resp = c.read_response()
    assert resp.status == status
    assert c.is_closed()     # the stream cannot be trusted after this
    assert rawhttp.get(p.port, "/k").body == b"v"


def test_request_level_errors_keep_the_connection(pair):
    r, p = pair
    r.client().set("k", "v")
    c = rawhttp.Conn(p.port)
    c.send(b"GET /%zz HTTP/1.1\r\nHost: localhost\r\n\r\nGET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
           b"POST /k HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nhi"
           b"GET /k HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert [c.read_response().status for _ in range(4)] == [400, 400, 405, 200]


def test_endless_headers_get_431(pair):
    _, p = pair
    s = socket.create_connection(("127.0.0.1", p.port), timeout=10)
    s.sendall(b"GET /k HTTP/1.1\r\n")
    try:
        for i in range(10_000):
            s.sendall(b"X-Header-%d: %s\r\n" % (i, b"v" * 100))
    except (BrokenPipeError, ConnectionResetError):
        pass
    out = recv_until_closed(s)
    assert out.startswith(b"HTTP/1.1 431 ")


def test_body_on_get_is_skipped_and_smuggled_request_is_not_run(pair):
    r, p = pair
    r.client().set("k", "v")
    r.client().set("secret", "s")
    c = rawhttp.Conn(p.port)
    # the body looks like a request; it must be read as body, not as a second request
    c.send(b"GET /k HTTP/1.1\r\nHost: localhost\r\nContent-Length: 36\r\n\r\nGET /secret HTTP/1.1\r\nHost: evil\r\n\r\n"
           b"GET /k HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert c.read_response().body == b"v"
    assert c.read_response().body == b"v"


def test_upgrade_request_is_answered_then_closed(pair):
    r, p = pair
    r.client().set("k", "v")
    c = rawhttp.Conn(p.port)
    c.send(b"GET /k HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x85garbage")
    resp = c.read_response()
    assert resp.status == 200 and resp.body == b"v"
    assert c.is_closed()


def test_key_limit(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--max-key-bytes", "100")
    c = p.client()
    r.client().set("k" * 101, "long")
    # Over --max-key-bytes the key is not cached: RESP forwards the GET (Redis accepts any key), HTTP refuses it
    assert c.get("k" * 101) == b"long"
    assert c.get("k" * 101) == b"long"
    assert p.info("cache")["cache_keys"] == 0
    assert c.get("k" * 100) is None
    assert rawhttp.get(p.port, "/" + "k" * 101).status == 414


def test_many_bad_clients_at_once_leave_good_ones_alone(pair):
    r, p = pair
    r.client().set("k", "v")
    base = rss_kb(p.proc.pid)
    errors = []

    def bad(n):
        try:
            for j in range(20):
                s = socket.create_connection(("127.0.0.1", p.port), timeout=10)
                s.sendall([b"*1\r\n:1\r\n", b"GET /%% HTTP/1.1\r\n\r\n", b"*2\r\n$3\r\nGET\r\n$1", b"\x16\x03\x01"][(n + j) % 4])
                s.close()
        except OSError as e:
            errors.append(e)

    threads = [threading.Thread(target=bad, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    good = p.client()
    for _ in range(200):
        assert good.get("k") == b"v"
    for t in threads:
        t.join(30)
    assert errors == []
    assert rss_kb(p.proc.pid) - base < 20 * 1024
