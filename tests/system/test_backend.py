"""The backend link: Redis down or unreachable, timeouts, reconnection, AUTH and SELECT from a
redis:// URL. Cached keys keep being served while Redis is away."""
import threading
import time

import pytest
import redis

import rawhttp
from conftest import free_port, wait_until


def test_backend_down_fails_misses_serves_hits_and_recovers(redis_server, proxy):
    r = redis_server()
  # TTL-only: with tracking (the default) the cache is dropped when Redis is lost (test_coherence.py)
    p = proxy(r.port, "--tracking", "off")
    r.client().set("cached", "still here")
    c = p.client()
    assert c.get("cached") == b"still here"
    r.kill()
    assert wait_until(lambda: p.info("backend")["backend_link_status"] != "up")
    assert c.get("cached") == b"still here"
    assert rawhttp.get(p.port, "/cached").body == b"still here"
    with pytest.raises(redis.ResponseError, match="backend unavailable"):
        c.get("uncached")
    resp = rawhttp.get(p.port, "/uncached")
    assert resp.status == 503 and b"backend unavailable" in resp.body
    # Redis comes back on the same port: the proxy reconnects by itself
    r.start()
    r.client().set("uncached", "fetched after restart")
    assert wait_until(lambda: p.info("backend")["backend_link_status"] == "up")
    assert c.get("uncached") == b"fetched after restart"
    assert p.info("backend")["backend_connects"] >= 2


def test_backend_unreachable_at_startup(redis_server, proxy):
    port = free_port()  # nothing listens there yet
    p = proxy(port)
    c = p.client()
    with pytest.raises(redis.ResponseError, match="backend unavailable"):
        c.get("k")
    assert rawhttp.get(p.port, "/k").status == 503
    r = redis_server(port=port)
    r.client().set("k", "arrived")
    assert wait_until(lambda: p.info("backend")["backend_link_status"] == "up")
    assert c.get("k") == b"arrived"


def test_backend_timeout_fails_the_request_and_reconnects(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--backend-timeout", "300ms")
    r.client().set("k", "v")
    c = p.client()
    sleeper = threading.Thread(target=lambda: r.client().execute_command("DEBUG", "SLEEP", "1.2"))
    sleeper.start()
    time.sleep(0.1)
    with pytest.raises(redis.ResponseError, match="backend timeout"):
        c.get("k")
    resp = rawhttp.get(p.port, "/k")
    assert resp.status in (503, 504)  # 504 once the stuck link timed out, 503 while reconnecting
    sleeper.join()
    assert wait_until(lambda: p.info("backend")["backend_link_status"] == "up")
    assert c.get("k") == b"v"
    assert p.info("backend")["backend_timeouts"] >= 1


def test_redis_url_with_password_and_database(redis_server, proxy):
    r = redis_server(extra=("--requirepass", "s3cret"))
    admin = r.client(password="s3cret", db=2)
    admin.set("in-db-2", "two")
    p = proxy(r.port, "--redis", f"redis://:s3cret@127.0.0.1:{r.port}/2")
    assert p.client().get("in-db-2") == b"two"
    assert rawhttp.get(p.port, "/in-db-2").body == b"two"
    assert "s3cret" not in p.output()


def test_wrong_password_is_reported_as_unavailable(redis_server, proxy):
    r = redis_server(extra=("--requirepass", "right"))
    p = proxy(r.port, "--redis", f"redis://:wrong@127.0.0.1:{r.port}")
    with pytest.raises(redis.ResponseError, match="backend unavailable|WRONGPASS|NOAUTH"):
        p.client().get("k")
    assert wait_until(lambda: "handshake refused" in p.output())


def test_redis_closing_the_link_is_not_an_outage(redis_server, proxy):
    # Redis closes connections for benign reasons (its timeout, CLIENT KILL, a failover): the proxy
    # reconnects at once and sends again the reads that were lost, so clients see no error.
    r = redis_server()
    for i in range(20):
        r.client().set(f"k{i}", f"v{i}")
    p = proxy(r.port, "--ttl", "0")  # every GET goes to Redis
    c = p.client()
    assert c.get("k0") == b"v0"
    errors, reads = [], [0]
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            pipe = c.pipeline(transaction=False)
            for i in range(20):
                pipe.get(f"k{i}")
            try:
                assert pipe.execute() == [f"v{i}".encode() for i in range(20)]
                reads[0] += 20
            except redis.RedisError as e:
                errors.append(str(e))
    t = threading.Thread(target=reader)
    t.start()
    killer = r.client()
    killed = 0
    for _ in range(15):
        time.sleep(0.1)
        killed += killer.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    stop.set()
    t.join()
    assert killed >= 10 and reads[0] > 0
    assert errors == []
    assert p.info("backend")["backend_disconnects"] >= 10
