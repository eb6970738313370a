"""Faults: the backend killed, frozen or slow; clients that vanish, half-close, never read or go
idle; signals; running out of file descriptors. The proxy must not crash, hang or serve a wrong
value, and must recover by itself."""
import os
import resource
import signal
import socket
import subprocess
import threading
import time

import pytest
import redis

import rawhttp
from conftest import PROXY_BIN, cpu_seconds, free_port, recv_until_closed, rss_kb, wait_port, wait_until


def get_cmd(key):
    k = key.encode()
    return b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(k), k)


def test_backend_killed_under_load(redis_server, proxy):
    r = redis_server()
    # errors must come from the lost link, not a timeout; TTL-only, so cached keys are served meanwhile
    p = proxy(r.port, "--backend-timeout", "30s", "--tracking", "off")
    for i in range(100):
        r.client().set(f"k{i}", f"v{i}")
    c = p.client()
    for i in range(50):
        assert c.get(f"k{i}") == f"v{i}".encode()  # k0..k49 cached; k50..k99 are misses
    stop = threading.Event()
    wrong, errors, ok = [], [0], [0]
    restarting = threading.Event()  # Redis restarts empty: a key may be missing until it is set again

    def load(n):
        cl = p.client()
        j = n
        while not stop.is_set():
            i = j % 100
            j += 7
            try:
                v = cl.get(f"k{i}")
                if v != f"v{i}".encode() and not (v is None and restarting.is_set()):
                    wrong.append((i, v))
                ok[0] += 1
            except redis.ResponseError as e:
                assert "backend" in str(e)
                errors[0] += 1
            try:  # a key Redis does not have: never cached, so every read goes to the backend
                v = cl.get(f"absent:{j}")
                if v is not None:
                    wrong.append((j, v))
            except redis.ResponseError as e:
                assert "backend" in str(e)
                errors[0] += 1
    threads = [threading.Thread(target=load, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        r.kill()
        time.sleep(1.0)
        # while Redis is gone: cached keys are served, misses fail at once
        assert c.get("k1") == b"v1"
        with pytest.raises(redis.ResponseError, match="backend unavailable"):
            c.get("never-read")
        restarting.set()
        r.start()
        for i in range(100):
            r.client().set(f"k{i}", f"v{i}")
        r.client().set("never-read", "now")
        time.sleep(0.1)  # replies for reads issued before the keys were set have arrived
        restarting.clear()
        assert wait_until(lambda: p.info("backend")["backend_link_status"] == "up")
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
            assert not t.is_alive(), "a client hung"
    assert wrong == []
    assert errors[0] > 0 and ok[0] > 0
    assert c.get("never-read") == b"now"


def test_backend_frozen_requests_time_out_and_the_link_recovers(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--backend-timeout", "500ms", "--tracking", "off")  # TTL-only: hits served while frozen
    r.client().set("cached", "c")
    r.client().set("other", "o")
    c = p.client()
    assert c.get("cached") == b"c"
    os.kill(r.proc.pid, signal.SIGSTOP)
    try:
        with pytest.raises(redis.ResponseError, match="backend (timeout|unavailable)"):
            c.get("other")
        resp = rawhttp.get(p.port, "/other")
        assert resp.status in (503, 504)
        assert c.get("cached") == b"c"
        assert wait_until(lambda: p.info("backend")["backend_timeouts"] >= 1)
    finally:
        os.kill(r.proc.pid, signal.SIGCONT)
    assert wait_until(lambda: p.info("backend")["backend_link_status"] == "up")
    assert wait_until(lambda: _get_or_none(c, "other") == b"o")
    assert p.info("backend")["backend_disconnects"] >= 1


def _get_or_none(c, key):
    try:
        return c.get(key)
    except redis.ResponseError:
        return None


def test_half_closed_client_gets_all_its_replies(pair):
    r, p = pair
    r.client().set("a", "1")
    s = socket.create_connection(("127.0.0.1", p.port))
    s.sendall(get_cmd("a") * 3 + b"PING\r\n")
    s.shutdown(socket.SHUT_WR)
    assert recv_until_closed(s) == b"$1\r\n1\r\n" * 3 + b"+PONG\r\n"
    h = socket.create_connection(("127.0.0.1", p.port))
    h.sendall(b"GET /a HTTP/1.1\r\nHost: localhost\r\n\r\n")
    h.shutdown(socket.SHUT_WR)
    out = recv_until_closed(h)
    assert out.startswith(b"HTTP/1.1 200 OK") and out.endswith(b"\r\n\r\n1")


def test_clients_vanishing_mid_request_leave_nothing_behind(pair):
    r, p = pair
    r.client().set("k", "v" * 1000)
    c = p.client()
    assert c.get("k") == b"v" * 1000
    base = rss_kb(p.proc.pid)
    for i in range(300):
        s = socket.create_connection(("127.0.0.1", p.port))
        if i % 3 == 0:
            s.sendall(b"*2\r\n$3\r\nGET\r\n$1")                    # truncated RESP frame
        elif i % 3 == 1:
            s.sendall(b"GET /k HTTP/1.1\r\nHost: localhost\r\nX-Long: ")  # truncated HTTP headers
        else:
            s.sendall(get_cmd("k") * 200)                          # replies it will never read
        if i % 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
        s.close()
    assert c.get("k") == b"v" * 1000
    assert wait_until(lambda: p.info("proxy")["proxy_connected_clients"] == 2)  # c and INFO's own
    assert rss_kb(p.proc.pid) - base < 20 * 1024


def test_client_leaving_while_its_miss_is_in_flight(pair):
    from test_concurrency import stall_redis
    r, p = pair
    r.client().set("slow", "value")
    sleeper = stall_redis(r, 0.5)
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", p.port))
        s.sendall(get_cmd("slow"))
        s.close()
    sleeper.join(10)
    assert p.client().get("slow") == b"value"
    assert wait_until(lambda: p.info("proxy_stats")["inflight_misses"] == 0)


def test_a_client_that_never_reads_hits_the_output_limit_and_is_closed(redis_server, proxy):
    # Every GET is a miss (--ttl 0), so each reply is a value of its own that the proxy must hold
    # until the client reads it: past --max-output-bytes the client is dropped.
    r = redis_server()
    p = proxy(r.port, "--max-output-bytes", "1m", "--ttl", "0")
    r.client().set("big", b"x" * 100_000)
    base = rss_kb(p.proc.pid)
    s = socket.create_connection(("127.0.0.1", p.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(get_cmd("big") * 1000)   # 100 MB of replies asked for; none read
    assert wait_until(lambda: p.info("proxy_stats")["output_limit_closes"] == 1)
    assert rss_kb(p.proc.pid) - base < 30 * 1024
    assert wait_until(lambda: p.info("proxy")["proxy_connected_clients"] == 1)  # only INFO's own
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()  # (reading what the kernel still holds through a 4 KiB window would take minutes)
    assert p.client().get("big") == b"x" * 100_000


def test_a_client_that_never_reads_cached_replies_is_paused_then_idled_out(redis_server, proxy):
    # Cached replies share the cached value, and reading pauses once the socket stops taking
    # them: the proxy holds little for such a client, and --idle-timeout closes it.
    r = redis_server()
    p = proxy(r.port, "--idle-timeout", "1s")
    r.client().set("big", b"x" * 100_000)
    assert len(p.client().get("big")) == 100_000
    base = rss_kb(p.proc.pid)
    s = socket.create_connection(("127.0.0.1", p.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(get_cmd("big") * 1000)
    assert wait_until(lambda: p.info("proxy_stats")["idle_closes"] == 1)
    assert rss_kb(p.proc.pid) - base < 10 * 1024
    assert p.info("proxy_stats")["output_limit_closes"] == 0


def test_a_slow_reader_is_paused_not_dropped(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--max-output-bytes", "8m")
    r.client().set("v", b"y" * 10_000)
    s = socket.create_connection(("127.0.0.1", p.port))
    n = 3000  # 30 MB of replies in all, read slowly: reading pauses, nothing is dropped
    sender = threading.Thread(target=lambda: s.sendall(get_cmd("v") * n))
    sender.start()
    reply = b"$10000\r\n" + b"y" * 10_000 + b"\r\n"
    got = 0
    buf = b""
    s.settimeout(10)
    while got < n * len(reply):
        chunk = s.recv(65536)
        assert chunk
        got += len(chunk)
        buf = (buf + chunk)[-len(reply):]
        if got % 5 == 0:
            time.sleep(0.0005)
    sender.join()
    assert buf == reply
    assert p.info("proxy_stats")["output_limit_closes"] == 0


def test_idle_clients_are_closed(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--idle-timeout", "300ms")
    s = socket.create_connection(("127.0.0.1", p.port))
    s.sendall(b"PING\r\n")
    assert s.recv(100) == b"+PONG\r\n"
    assert recv_until_closed(s, timeout=5) == b""
    assert p.info("proxy_stats")["idle_closes"] >= 1


def test_sigterm_finishes_in_flight_requests_then_exits_0(pair):
    from test_concurrency import stall_redis
    r, p = pair
    r.client().set("slow", "finished")
    sleeper = stall_redis(r, 0.8)
    s = socket.create_connection(("127.0.0.1", p.port))
    s.sendall(get_cmd("slow"))
    time.sleep(0.1)
    p.proc.send_signal(signal.SIGTERM)
    assert recv_until_closed(s) == b"$8\r\nfinished\r\n"
    assert p.proc.wait(timeout=10) == 0
    sleeper.join(10)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", p.port), timeout=1)


def test_sigterm_deadline_closes_what_is_still_waiting(redis_server, proxy):
    from test_concurrency import stall_redis
    r = redis_server()
    p = proxy(r.port, "--shutdown-timeout", "200ms", "--backend-timeout", "10s")
    r.client().set("slow", "late")
    sleeper = stall_redis(r, 1.5)
    s = socket.create_connection(("127.0.0.1", p.port))
    s.sendall(get_cmd("slow"))
    time.sleep(0.1)
    p.proc.send_signal(signal.SIGINT)
    assert recv_until_closed(s) == b""  # closed at the deadline, before Redis answered
    assert p.proc.wait(timeout=5) == 0
    sleeper.join(10)


def test_sigpipe_does_not_kill_the_proxy(pair):
    r, p = pair
    r.client().set("big", b"z" * 1_000_000)
    p.client().get("big")
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", p.port))
        s.sendall(get_cmd("big") * 20)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    assert p.client().get("big") == b"z" * 1_000_000


def test_running_out_of_file_descriptors_neither_spins_nor_crashes(redis_server):
    r = redis_server()
    r.client().set("k", "v")
    port = free_port()

    def low_fd_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (32, 32))
    proc = subprocess.Popen([PROXY_BIN, "--redis", f"127.0.0.1:{r.port}", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=low_fd_limit)
    try:
        wait_port(port, proc=proc)
        # Running out while serving: the links to Redis are up and tracking settled first. (Under
        # ASan/UBSan this matters too: the sanitizers test memory through a pipe, and with no
        # descriptor left a check they make for the first time reports memory it cannot read.)
        assert wait_until(lambda: _try_get(port) == b"v")
        assert wait_until(lambda: redis.Redis(host="127.0.0.1", port=port).info("proxy_stats")["tracking_state"] == "on")
        socks = []
        for _ in range(60):
            try:
                socks.append(socket.create_connection(("127.0.0.1", port), timeout=2))
            except OSError:
                pass
        time.sleep(0.3)
        before = cpu_seconds(proc.pid)
        time.sleep(1.0)
        assert cpu_seconds(proc.pid) - before < 0.5, "the loop spins while out of descriptors"
        assert proc.poll() is None
        for s in socks:
            s.close()
        # descriptors are back: a new client is served
        assert wait_until(lambda: _try_get(port) == b"v")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def _try_get(port):
    try:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2).get("k")
    except (redis.ConnectionError, redis.TimeoutError):
        return None


def test_a_client_reading_a_large_reply_steadily_is_not_idle(redis_server, proxy):
    # One 8 MiB reply read at about 2 MB/s takes 4 s, four times --idle-timeout: the bytes leaving
    # are activity, however long the one write takes.
    r = redis_server()
    p = proxy(r.port, "--idle-timeout", "1s")
    value = bytes(range(256)) * (8 * 4096)
    r.client().set("big", value)
    s = socket.create_connection(("127.0.0.1", p.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(get_cmd("big"))
    expected = b"$%d\r\n" % len(value) + value + b"\r\n"
    got = bytearray()
    s.settimeout(5)
    while len(got) < len(expected):
        chunk = s.recv(65536)
        assert chunk, f"closed after {len(got)} of {len(expected)} bytes"
        got += chunk
        time.sleep(0.03)
    assert bytes(got) == expected
    assert p.info("proxy_stats")["idle_closes"] == 0


def test_a_request_trickling_in_is_cut_by_the_request_timeout(redis_server, proxy):
    # Slowloris: every byte resets an idle timer, so only a deadline for the whole request binds.
    r = redis_server()
    r.client().set("k", "v")
    p = proxy(r.port, "--request-timeout", "1s", "--max-clients", "3")
    h = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    h.sendall(b"GET /k HTTP/1.1\r\nHost: localhost\r\n")
    s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    started = time.monotonic()
    out = b""
    h.settimeout(0.3)
    while time.monotonic() - started < 5:
        if not out:                  # until answered: bytes sent after the close would be reset
            for sock, byte in ((h, b"X"), (s, b"*")):
                try:
                    sock.sendall(byte)   # one byte every 0.3 s: never idle, never whole
                except OSError:
                    pass
        try:
            chunk = h.recv(4096)
            if not chunk:
                break
            out += chunk
        except socket.timeout:
            pass
        except ConnectionResetError:
            break
    assert out.startswith(b"HTTP/1.1 408 "), out[:60]
    assert time.monotonic() - started < 3
    # the RESP client trickling '*' got the error too
    s.settimeout(3)
    got = recv_until_closed(s, timeout=3)
    assert b"-ERR request timeout" in got
    assert p.info("proxy_stats")["request_timeouts"] == 2
    assert p.client().get("k") == b"v"  # the slots are free again


def test_a_long_pipeline_streamed_in_pieces_is_not_cut(redis_server, proxy):
    r = redis_server()
    r.client().set("k", "v")
    p = proxy(r.port, "--request-timeout", "500ms")
    s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    req = get_cmd("k")
    stream = req * 200
    piece = len(req) * 3 // 2      # every write ends in the middle of a request
    got = b""
    for off in range(0, len(stream), piece):
        s.sendall(stream[off:off + piece])
        time.sleep(0.01)             # 1.3 s in all, longer than the timeout
    expected = b"$1\r\nv\r\n" * 200
    while len(got) < len(expected):
        chunk = s.recv(65536)
        assert chunk
        got += chunk
    assert got == expected
    assert p.info("proxy_stats")["request_timeouts"] == 0
