"""Hardening against a real Redis: the largest value Redis can hold is read, a reply over the limit
fails once and at once, credentials never leave through CONFIG GET, protected mode refuses clients
from other than loopback, lines as long as Redis writes them (MONITOR, a script's status reply) are
read without costing anyone their requests, and CLIENT TRACKING cannot churn backend connections."""
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest
import redis

import resp3
from conftest import PROXY_BIN, free_port, recv_until_closed, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))


def raw_get_length(port, key, timeout=120):
    """GET key over a raw socket: the length of the bulk reply (the value is read and dropped)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(resp3.encode(["GET", key]))
        f = s.makefile("rb")
        line = f.readline()
        if not line.startswith(b"$"):
            return line
        n = int(line[1:-2])
        left = n + 2
        while left > 0:
            chunk = f.read(min(left, 1 << 20))
            assert chunk, "connection closed mid-value"
            left -= len(chunk)
        return n
    finally:
        s.close()


def test_the_largest_value_redis_holds_is_read_through_the_proxy(redis_server, proxy):
    r = redis_server()
    # Redis itself may take seconds to start sending 512 MiB here (it copies the value into its
    # output buffer first): a deadline to match.
    p = proxy(r.port, "--backend-timeout", "30s")
    # Stored only once tracking covers the read: on a busy machine that can take longer than the
    # fixture's own wait.
    assert wait_until(lambda: p.info("proxy_stats")["tracking_state"] == "on")
    size = 512 << 20  # Redis's proto-max-bulk-len: the largest string it can hold
    assert r.client().setrange("big", size - 1, "x") == size
    assert raw_get_length(p.port, "big") == size
    assert r.get_calls() == 1
    # HTTP too, with the value now served from the cache (Redis is not asked again)
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=120)
    c.request("GET", "/big")
    resp = c.getresponse()
    assert resp.status == 200
    assert int(resp.getheader("Content-Length")) == size
    got = 0
    while True:
        chunk = resp.read(1 << 20)
        if not chunk:
            break
        got += len(chunk)
    assert got == size
    assert r.get_calls() == 1
    r.client().delete("big")


def test_a_reply_of_exactly_the_limit_is_read_and_one_over_fails_once_at_once(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--max-backend-reply-bytes", "1m")
    d = r.client()
    d.set("exact", b"e" * (1 << 20))
    d.set("over", b"o" * ((1 << 20) + 1))
    c = p.client()
    assert c.get("exact") == b"e" * (1 << 20)
    calls = r.get_calls()
    t0 = time.monotonic()
    with pytest.raises(redis.ResponseError) as e:
        c.get("over")
    assert time.monotonic() - t0 < 2
    assert "--max-backend-reply-bytes" in str(e.value) and "1048577 bytes" in str(e.value)
    assert r.get_calls() == calls + 1  # refused once, never asked again
    # over HTTP: a 502 naming the limit; forwarded commands too; and the link serves the rest
    import http.client
    h = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
    h.request("GET", "/over")
    resp = h.getresponse()
    body = resp.read()
    assert resp.status == 502 and b"--max-backend-reply-bytes" in body
    with pytest.raises(redis.ResponseError, match="max-backend-reply-bytes"):
        c.getrange("over", 0, -1)
    assert c.getrange("exact", 0, 3) == b"eeee"
    assert c.get("exact") == b"e" * (1 << 20)
    assert p.info("backend")["backend_disconnects"] == 0


def test_config_get_never_carries_credentials(redis_server, proxy):
    r = redis_server(extra=["--requirepass", "s3cret", "--masterauth", "mpass", "--masteruser", "muser"])
    p = proxy(r.port, "--redis", f"redis://default:s3cret@127.0.0.1:{r.port}")
    c = p.client()
    everything = c.config_get("*")
    assert "maxmemory" in everything and "port" in everything
    for name in ("requirepass", "masterauth", "masteruser"):
        assert name not in everything
    assert c.config_get("requirepass") == {}
    assert c.config_get("*pass*") == {k: v for k, v in c.config_get("*pass*").items()}
    assert "requirepass" not in c.config_get("*pass*")
    assert c.config_get("masterauth") == {}
    direct = redis.Redis(host="127.0.0.1", port=r.port, password="s3cret")
    assert c.config_get("maxmemory") == direct.config_get("maxmemory")
    # Everything else is Redis's own answer: the same as redis-server's, less the credential pairs.
    theirs = direct.config_get("*")
    assert theirs["requirepass"] == "s3cret"
    for name in ("requirepass", "masterauth", "masteruser", "tls-key-file-pass", "tls-client-key-file-pass"):
        theirs.pop(name)
    assert c.config_get("*") == theirs
    raw = c.execute_command("CONFIG", "GET", "*")
    assert b"s3cret" not in b"".join(x if isinstance(x, bytes) else str(x).encode() for x in raw)
    # in a transaction: the EXEC reply's CONFIG GET is redacted, the rest untouched
    pipe = c.pipeline(transaction=True)
    pipe.set("k", "v").config_get("requirepass").config_get("maxmemory").get("k")
    out = pipe.execute()
    assert out[1] == {} and out[3] == b"v" and "maxmemory" in out[2]
    # RESP3: a map, without the pairs
    conn = resp3.Conn(p.port)
    m = conn.get("CONFIG", "GET", "*pass*")
    assert isinstance(m, dict) and b"requirepass" not in m and b"masterauth" not in m
    conn.close()
    # the proxy's own password is not a way around it
    p2 = proxy(r.port, "--redis", f"redis://default:s3cret@127.0.0.1:{r.port}", "--requirepass", "front")
    c2 = p2.client(password="front")
    assert "requirepass" not in c2.config_get("*")


def _netns_available():
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip is missing"
    rc = subprocess.run(["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True)
    return None if rc.returncode == 0 else "cannot make a network namespace: " + rc.stderr.decode().strip()


PROTECTED_SCRIPT = r"""
import os, socket, subprocess, sys, time, http.client
sys.path.insert(0, os.environ["HERE"])
from conftest import wait_port
proxy_bin, rport, pport, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
# A second address on this namespace's loopback device: not a loopback address, reached locally.
subprocess.run(["ip", "addr", "add", "192.0.2.1/32", "dev", "lo"], check=True)
r = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
                      "--appendonly", "no"], stdout=subprocess.DEVNULL)
wait_port(rport)
args = [proxy_bin, "--redis", "127.0.0.1:%d" % rport, "--port", str(pport), "--bind", "0.0.0.0"]
if mode == "off":
    args += ["--protected-mode", "no"]
if mode == "pass":
    args += ["--requirepass", "pw"]
p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
wait_port(pport)
def resp(src, data):
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(5)
    s.connect(("192.0.2.1" if src != "127.0.0.1" else "127.0.0.1", pport))
    s.sendall(data)
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            out += b"<closed>"
            break
        out += chunk
        if out.endswith(b"\r\n") and mode != "on":
            break
    s.close()
    return out
print("REMOTE_RESP", resp("192.0.2.1", b"*1\r\n$4\r\nPING\r\n"))
print("REMOTE_HTTP", resp("192.0.2.1", b"GET /k HTTP/1.1\r\nHost: 192.0.2.1\r\n\r\n")[:40])
print("LOCAL_RESP", resp("127.0.0.1", b"*1\r\n$4\r\nPING\r\n"))
p.terminate(); p.wait(); r.terminate(); r.wait()
"""


@pytest.mark.parametrize("mode", ["on", "off", "pass"])
def test_protected_mode_refuses_clients_from_other_than_loopback(mode):
    why = _netns_available()
    if why:
        pytest.skip(why)
    rport, pport = free_port(), free_port()
    out = subprocess.run(["unshare", "-n", sys.executable, "-c", PROTECTED_SCRIPT, PROXY_BIN, str(rport), str(pport), mode],
                         capture_output=True, timeout=60, env={**os.environ, "HERE": HERE})
    text = out.stdout.decode()
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    lines = dict(l.split(" ", 1) for l in text.splitlines() if " " in l)
    if mode == "on":
        assert lines["REMOTE_RESP"].startswith("b'-DENIED redis-cache-proxy is running in protected mode")
        assert "--protected-mode no" in lines["REMOTE_RESP"] and "<closed>" in lines["REMOTE_RESP"]
        assert lines["REMOTE_HTTP"].startswith("b'HTTP/1.1 403 Forbidden")
    elif mode == "off":
        assert lines["REMOTE_RESP"] == "b'+PONG\\r\\n'"
    else:  # a password: every client may connect, and must AUTH
        assert lines["REMOTE_RESP"].startswith("b'-NOAUTH")
    assert lines["LOCAL_RESP"].startswith("b'+PONG\\r\\n") or lines["LOCAL_RESP"].startswith("b'-NOAUTH")


def test_monitor_relays_lines_longer_than_64k(pair):
    r, p = pair
    m = socket.create_connection(("127.0.0.1", p.port), timeout=10)
    m.sendall(resp3.encode(["MONITOR"]))
    f = m.makefile("rb")
    assert f.readline() == b"+OK\r\n"
    value = "v" * 70_000
    c = p.client()
    c.set("long", value)
    line = f.readline()
    while line and b'"SET"' not in line and b'"set"' not in line:
        line = f.readline()
    assert line.startswith(b"+") and len(line) > 70_000 and value.encode() in line
    c.set("after", "1")  # the MONITOR client is still there and still relayed
    line = f.readline()
    while line and b"after" not in line:
        line = f.readline()
    assert b"after" in line
    m.close()


def test_a_long_status_reply_costs_no_other_client_its_requests(pair):
    r, p = pair
    stop = threading.Event()
    errors, done = [], [0]

    def writer(i):
        c = p.client()
        n = 0
        while not stop.is_set():
            try:
                c.incr(f"n{i}")
                c.getrange("k", 0, 1)
                n += 1
            except redis.RedisError as e:
                errors.append(str(e))
        done[0] += n

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    c = p.client()
    script = "return redis.status_reply(string.rep('x', 70000))"
    for _ in range(20):
        assert c.eval(script, 0) in ("x" * 70000, b"x" * 70000)
    err = "return redis.error_reply('ERR ' .. string.rep('e', 70000))"
    with pytest.raises(redis.ResponseError) as e:
        c.eval(err, 0)
    assert str(e.value) == "e" * 70000
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert done[0] > 0
    assert p.info("backend")["backend_disconnects"] == 0


def test_tracking_toggles_open_no_backend_connections(redis_server, proxy):
    # CLIENT TRACKING is the proxy's own: a client toggling it (and its BCAST prefixes) as fast as
    # it can costs Redis no connection per toggle; the one BCAST link per node is all it opens.
    r = redis_server()
    p = proxy(r.port)
    conn = resp3.Conn(p.port)
    conn.call("PING")
    assert wait_until(lambda: p.info("proxy_stats")["tracking_state"] == "on")
    before = r.client().info("stats")["total_connections_received"]
    for i in range(300):
        assert conn.call("CLIENT", "TRACKING", "on") == b"+OK\r\n"
        assert conn.call("GET", f"t:{i}") == b"_\r\n"
        assert conn.call("CLIENT", "TRACKING", "off") == b"+OK\r\n"
        assert conn.call("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", f"p{i}:") == b"+OK\r\n"
        assert conn.call("CLIENT", "TRACKING", "off") == b"+OK\r\n"
    conn.close()
    opened = r.client().info("stats")["total_connections_received"] - before
    assert opened <= 3, opened  # the BCAST link, made again at most after a loss
    assert p.info("proxy_stats")["pinned_opened"] == 0
    assert p.info("proxy_client_tracking")["client_tracking_clients"] == 0
