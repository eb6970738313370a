"""Coherence with Redis (CLIENT TRACKING, on by default): a value changed in Redis by anyone — a
direct write, DEL, an expiry, FLUSHALL, a restart — is not served once Redis has said so; when the
proxy cannot know (its links to Redis lost), it drops the cache and stores nothing until tracking is
back. --tracking off keeps TTL-only behaviour; bcast uses Redis's broadcast mode."""
import subprocess
import threading
import time

import pytest
import redis

import rawhttp
from conftest import wait_until


def served(p, key):
    return p.client().get(key)


def test_direct_writes_are_seen_on_the_next_read(pair):
    r, p = pair
    d, c = r.client(), p.client()
    assert p.info("proxy_stats")["tracking_state"] == "on"
    d.set("k", "v1")
    assert c.get("k") == b"v1"
    assert c.get("k") == b"v1"  # cached
    calls = r.get_calls()
    assert c.get("k") == b"v1" and r.get_calls() == calls
    d.set("k", "v2")
    assert wait_until(lambda: c.get("k") == b"v2", timeout=1)
    assert rawhttp.get(p.port, "/k").body == b"v2"
    d.append("k", "x")
    assert wait_until(lambda: c.get("k") == b"v2x", timeout=1)
    d.delete("k")
    assert wait_until(lambda: c.get("k") is None, timeout=1)
    assert rawhttp.get(p.port, "/k").status == 404
    # a key created after a nil read
    d.set("k", "back")
    assert wait_until(lambda: c.get("k") == b"back", timeout=1)
    # FLUSHALL: Redis's null invalidation drops everything
    d.set("a", "1")
    assert c.get("a") == b"1"
    d.flushall()
    assert wait_until(lambda: c.get("a") is None and c.get("k") is None, timeout=1)
    st = p.info("proxy_stats")
    assert st["invalidation_messages"] >= 4 and st["cache_drops_null_message"] >= 1


def test_the_next_read_after_a_direct_write_is_fresh_within_a_millisecond(pair):
    r, p = pair
    d, c = r.client(), p.client()
    late = 0  # writes whose first read still saw the old value
    for i in range(200):
        d.set("hot", f"v{i}")
        t0 = time.monotonic()
        first = True
        while c.get("hot") != f"v{i}".encode():
            late += first
            first = False
            assert time.monotonic() - t0 < 0.5, f"v{i} not served after 500 ms"
    # the invalidation travels on another connection than the write's acknowledgement: a read that
    # races it may still see the old value, for about the time of one loopback message
    assert late < 200


def test_a_key_s_own_ttl_in_redis_is_never_passed(pair):
    r, p = pair
    d, c = r.client(), p.client()
    d.set("e", "v", px=300)
    d.set("h", "v", px=300)
    assert c.get("e") == b"v" and rawhttp.get(p.port, "/h").body == b"v"
    assert c.get("e") == b"v"  # cached, for the key's remaining life (PTTL read with the value)
    time.sleep(0.32)
    # at once, with no invalidation needed: the entry died with the key
    assert c.get("e") is None
    assert rawhttp.get(p.port, "/h").status == 404
    assert p.info("proxy_stats")["key_ttl_capped"] >= 2
    d.set("m1", "a", px=300)
    d.set("m2", "b")
    assert c.mget("m1", "m2") == [b"a", b"b"]
    time.sleep(0.32)
    assert c.mget("m1", "m2") == [None, b"b"]


def test_killing_the_proxy_s_backend_connections_never_leaves_an_old_value(pair):
    r, p = pair
    d, c = r.client(), p.client()
    for i in range(10):
        assert wait_until(lambda: p.info("proxy_stats")["tracking_state"] == "on", timeout=5)
        d.set("k", f"before{i}")
        assert wait_until(lambda: c.get("k") == f"before{i}".encode(), timeout=2)
        killed = d.client_kill_filter(_type="pubsub") + d.client_kill_filter(_type="normal", skipme=True)
        assert killed >= 2
        d = r.client()  # a new connection of the test's own (the old one may have been killed)
        d.set("k", f"after{i}")
        assert wait_until(lambda: _get(p, "k") == f"after{i}".encode(), timeout=3)
        for _ in range(20):
            assert _get(p, "k") in (f"after{i}".encode(), None)  # None: an error while the links come back
    assert p.info("proxy_stats")["cache_drops_link_lost"] + p.info("proxy_stats")["cache_drops_reconnect"] >= 1
    assert wait_until(lambda: p.info("proxy_stats")["tracking_state"] == "on")


def _get(p, key):
    try:
        return p.client().get(key)
    except redis.RedisError:
        return None


def test_redis_restarted_with_other_data(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port)
    r.client().set("k", "old")
    assert p.client().get("k") == b"old"
    r.kill()
    r.start()
    r.client().set("k", "new")
    assert wait_until(lambda: _get(p, "k") == b"new", timeout=5)
    assert wait_until(lambda: p.info("proxy_stats")["tracking_state"] == "on", timeout=5)


def test_coherence_is_visible_in_metrics(redis_server, proxy):
    from conftest import free_port, wait_port
    from test_admin import scrape
    r = redis_server()
    admin = free_port()
    p = proxy(r.port, "--admin-port", str(admin))
    wait_port(admin)
    r.client().set("k", "v1")
    assert p.client().get("k") == b"v1"
    r.client().set("k", "v2")
    assert wait_until(lambda: scrape(admin).get("rcp_invalidated_keys_total", 0) >= 1)
    m = scrape(admin)
    assert m['rcp_tracking_info{mode="auto",state="on"}'] == 1
    assert m["rcp_tracking_on"] == 1 and m["rcp_cache_storing"] == 1
    assert m["rcp_invalidation_messages_total"] >= 1


def test_tracking_off_is_ttl_only(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--tracking", "off", "--ttl", "400ms")
    assert p.info("proxy_stats")["tracking_state"] == "off"
    r.client().set("k", "v1")
    assert p.client().get("k") == b"v1"
    r.client().set("k", "v2")
    assert p.client().get("k") == b"v1"  # behind the proxy's back: served until the TTL
    assert wait_until(lambda: p.client().get("k") == b"v2", timeout=2)
    assert r.client().client_list(_type="pubsub") == []  # no invalidation link


def test_bcast_with_prefixes(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--tracking", "bcast", "--tracking-prefixes", "user:,item:")
    st = p.info("proxy_stats")
    assert st["tracking_mode"] == "bcast" and st["tracking_state"] == "on"
    d, c = r.client(), p.client()
    d.set("user:1", "a")
    d.set("other", "x")
    assert c.get("user:1") == b"a" and c.get("other") == b"x"
    assert p.info("cache")["cache_keys"] == 1  # keys outside the prefixes are not kept
    d.set("user:1", "b")
    assert wait_until(lambda: c.get("user:1") == b"b", timeout=1)
    d.set("other", "y")
    assert c.get("other") == b"y"  # never cached, so never stale
    info = d.client_tracking_info() if hasattr(d, "client_tracking_info") else None
    tracking = [cl for cl in d.client_list() if "t" in cl.get("flags", "")]
    assert tracking, "the proxy's filling link is tracking"


def test_a_backend_refusing_client_tracking_falls_back_to_ttl_only(redis_server, proxy):
    r = redis_server(extra=("--rename-command", "CLIENT", ""))
    p = proxy(r.port, "--ttl", "400ms")
    assert wait_until(lambda: p.info("proxy_stats")["tracking_state"] == "ttl-only")
    r.client().set("k", "v1")
    assert p.client().get("k") == b"v1"
    calls = r.get_calls()
    assert p.client().get("k") == b"v1" and r.get_calls() == calls  # cached, TTL-only
    assert "TTL-only" in p.output() and p.output().count("refused") == 1  # one warning


def test_explicit_mode_refused_caches_nothing(redis_server, proxy):
    r = redis_server(extra=("--rename-command", "CLIENT", ""))
    p = proxy(r.port, "--tracking", "default")
    r.client().set("k", "v")
    assert wait_until(lambda: "refused" in p.output())
    assert p.client().get("k") == b"v"
    assert p.client().get("k") == b"v"
    assert p.info("cache")["cache_keys"] == 0
    assert p.info("proxy_stats")["cache_storing"] == 0


def test_many_readers_and_a_direct_writer_never_read_an_old_value(pair):
    """No read returns a value older than one Redis acknowledged a few milliseconds before the read
    began: the invalidation reaches the proxy within that time."""
    r, p = pair
    grace = 0.005
    acked = []  # (monotonic time of the acknowledgement, value)
    stop = threading.Event()
    errors = []

    def writer():
        d = r.client()
        i = 0
        while not stop.is_set():
            i += 1
            d.set("counter", i)
            acked.append((time.monotonic(), i))
            time.sleep(0.001)

    def reader():
        c = p.client()
        while not stop.is_set():
            t0 = time.monotonic()
            v = c.get("counter")
            if v is None:
                continue
            floor = 0
            for t, val in reversed(acked):
                if t < t0 - grace:
                    floor = val
                    break
            if int(v) < floor:
                errors.append((int(v), floor))

    r.client().set("counter", 0)
    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) > 300
    assert not errors, f"{len(errors)} reads older than an acknowledged write, e.g. {errors[:3]}"
    assert p.info("proxy_stats")["invalidation_messages"] > 100


def test_negative_caching_while_tracking(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--negative-ttl", "5s")
    d, c = r.client(), p.client()
    assert c.get("absent") is None
    calls = r.get_calls()
    for _ in range(10):
        assert c.get("absent") is None                      # "no such key", from the cache
    assert rawhttp.get(p.port, "/absent").status == 404
    assert c.mget("absent", "absent") == [None, None]
    assert r.get_calls() == calls                           # not one more backend GET
    assert p.info("proxy_stats")["negative_stored"] == 1
    d.set("absent", "now here")                             # created behind the proxy's back
    assert wait_until(lambda: c.get("absent") == b"now here", timeout=1)
    c.delete("absent")                                      # and through the proxy
    assert c.get("absent") is None
    c.set("absent", "again")
    assert c.get("absent") == b"again"                      # read-your-writes drops the negative entry


def test_negative_caching_needs_tracking(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--negative-ttl", "5s", "--tracking", "off")
    c = p.client()
    assert c.get("absent") is None
    calls = r.get_calls()
    assert c.get("absent") is None and c.get("absent") is None
    assert r.get_calls() == calls + 2                       # TTL-only: a creation would go unseen


def test_no_tracking_is_asked_while_the_cache_is_off(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--ttl", "0")
    assert wait_until(lambda: p.info("proxy_stats")["tracking_state"] == "cache-off")
    assert p.client().get("k") is None
    # Redis keeps no tracking table for a proxy that stores nothing
    assert not [cl for cl in r.client().client_list() if "t" in cl.get("flags", "")]


def test_a_reload_that_turns_the_cache_on_turns_tracking_on(redis_server, proxy, tmp_path):
    import signal
    r = redis_server()
    conf = tmp_path / "rcp.conf"
    conf.write_text("ttl 0\n")
    p = proxy(r.port, "--config", str(conf))
    assert wait_until(lambda: p.info("proxy_stats")["tracking_state"] == "cache-off")
    conf.write_text("ttl 1h\n")
    p.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: p.info("proxy_stats")["tracking_state"] == "on")
    r.client().set("k", "v1")
    assert p.client().get("k") == b"v1"
    r.client().set("k", "v2")
    assert wait_until(lambda: p.client().get("k") == b"v2", timeout=1)
