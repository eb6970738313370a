"""The cache: hits served locally, global expiry, LRU eviction at a fixed key count, one cache for
both protocols, one backing Redis behind several proxies. Backend traffic is counted with Redis's
own INFO commandstats."""
import threading
import time

import rawhttp


def test_cached_get_is_served_without_asking_redis(pair):
    r, p = pair
    r.client().set("k", "v1")
    before = r.get_calls()
    c = p.client()
    assert c.get("k") == b"v1"
    for _ in range(20):
        assert c.get("k") == b"v1"
        assert rawhttp.get(p.port, "/k").body == b"v1"   # one cache for both protocols
    assert r.get_calls() - before == 1
    info = p.info("proxy_stats")
    assert info["proxy_keyspace_hits"] >= 40


def test_a_write_to_redis_is_seen_only_after_the_ttl(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--ttl", "400ms", "--tracking", "off")  # TTL-only: tracking would see the write
    r.client().set("k", "old")
    c = p.client()
    assert c.get("k") == b"old"
    r.client().set("k", "new")
    assert c.get("k") == b"old"          # still cached
    time.sleep(0.6)
    assert c.get("k") == b"new"          # expired: fetched again
    assert rawhttp.get(p.port, "/k").body == b"new"
    assert p.info("proxy_stats")["proxy_expired_keys"] >= 1


def test_ttl_zero_never_serves_from_cache(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--ttl", "0")
    r.client().set("k", "a")
    c = p.client()
    assert c.get("k") == b"a"
    r.client().set("k", "b")
    assert c.get("k") == b"b"
    assert p.info("cache")["cache_keys"] == 0


def test_nil_is_not_cached(pair):
    r, p = pair
    c = p.client()
    assert c.get("later") is None
    r.client().set("later", "now here")
    assert c.get("later") == b"now here"


def test_lru_eviction_with_fixed_key_count(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--cache-keys", "3")
    for k in ("k1", "k2", "k3", "k4"):
        r.client().set(k, k.upper())
    c = p.client()
    for k in ("k1", "k2", "k3"):
        assert c.get(k) == k.upper().encode()
    assert c.get("k1") == b"K1"            # hit: k1 becomes most recently used, k2 least
    calls = r.get_calls()
    assert c.get("k4") == b"K4"            # miss: evicts k2
    assert r.get_calls() == calls + 1
    assert p.info("cache")["cache_keys"] == 3
    assert p.info("proxy_stats")["proxy_evicted_keys"] == 1
    calls = r.get_calls()
    for k in ("k1", "k3", "k4"):           # still cached
        assert c.get(k) == k.upper().encode()
    assert r.get_calls() == calls
    assert c.get("k2") == b"K2"            # was evicted: fetched again
    assert r.get_calls() == calls + 1


def test_cache_keys_zero_disables_caching(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--cache-keys", "0")
    r.client().set("k", "v")
    c = p.client()
    before = r.get_calls()
    for _ in range(5):
        assert c.get("k") == b"v"
    assert r.get_calls() - before == 5


def test_two_proxies_share_one_backing_redis(redis_server, proxy):
    r = redis_server()
    p1 = proxy(r.port)
    p2 = proxy(r.port)
    r.client().set("shared", "one value")
    assert p1.client().get("shared") == b"one value"
    assert rawhttp.get(p2.port, "/shared").body == b"one value"
    assert p1.info("backend")["backend_addr"] == f"127.0.0.1:{r.port}"
    assert p2.info("backend")["backend_addr"] == f"127.0.0.1:{r.port}"


def test_an_entry_ages_from_when_its_get_was_sent_not_from_a_slow_reply(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--ttl", "1s", "--backend-timeout", "5s")
    r.client().set("k", "old")
    sleeper = threading.Thread(target=lambda: r.client().execute_command("DEBUG", "SLEEP", "0.7"))
    sleeper.start()
    time.sleep(0.05)                   # Redis is asleep: the GET below waits for it
    sent = time.monotonic()
    assert p.client().get("k") == b"old"
    assert time.monotonic() - sent >= 0.5
    sleeper.join()
    r.client().set("k", "new")
    time.sleep(max(0.0, sent + 1.15 - time.monotonic()))
    # 1.15 s after the GET was sent the value is past --ttl, however late its reply came
    assert p.client().get("k") == b"new"


def test_a_reply_slower_than_the_ttl_is_served_but_not_cached(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--ttl", "300ms", "--backend-timeout", "5s")
    r.client().set("k", "v")
    sleeper = threading.Thread(target=lambda: r.client().execute_command("DEBUG", "SLEEP", "0.5"))
    sleeper.start()
    time.sleep(0.05)
    assert p.client().get("k") == b"v"
    sleeper.join()
    calls = r.get_calls()
    assert p.client().get("k") == b"v"
    assert r.get_calls() == calls + 1  # fetched again: the slow value was never stored
