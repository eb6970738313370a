"""HTTP that caches like the web: ETag and 304 answered from the cache, Cache-Control max-age from
the entry's remaining life (capped by --http-max-age; no-cache by default), Age on what the cache
serves; --stale-if-error over both protocols. Real redis-server, Python's http.client and curl."""
import http.client
import re
import subprocess
import time

import pytest
import redis

from conftest import wait_until


def get(port, key, headers=None, method="GET"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request(method, "/" + key, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def test_etag_is_stable_for_the_same_bytes_across_requests_heads_and_restarts(redis_server, proxy):
    r = redis_server()
    r.client().set("k", "hello")
    p = proxy(r.port)
    status, h1, body = get(p.port, "k")
    assert status == 200 and body == b"hello"
    assert re.fullmatch(r'"[0-9a-f]{16}"', h1["etag"])
    _, h2, _ = get(p.port, "k")           # a hit
    _, h3, body3 = get(p.port, "k", method="HEAD")
    assert h2["etag"] == h1["etag"] == h3["etag"] and body3 == b""
    r.client().set("other", "hello")      # the same bytes under another key: the same tag
    assert get(p.port, "other")[1]["etag"] == h1["etag"]
    p2 = proxy(r.port)                    # another proxy (a restart): the same tag
    assert get(p2.port, "k")[1]["etag"] == h1["etag"]


def test_if_none_match_answers_304_from_the_cache_with_no_backend_get(redis_server, proxy):
    r = redis_server()
    r.client().set("k", "v" * 1000)
    p = proxy(r.port)
    _, h, _ = get(p.port, "k")
    tag = h["etag"]
    before = r.get_calls()
    for inm in (tag, f'"nope", {tag}', f"W/{tag}", "*", f' "a" , W/{tag} '):
        status, h304, body = get(p.port, "k", {"If-None-Match": inm})
        assert status == 304, inm
        assert body == b"" and h304["etag"] == tag and "content-length" not in h304
    assert r.get_calls() == before                        # all from memory
    status, _, body = get(p.port, "k", {"If-None-Match": '"0000000000000000"'})
    assert status == 200 and body == b"v" * 1000
    assert get(p.port, "k", {"If-None-Match": tag}, method="HEAD")[0] == 304
    # curl, too
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"If-None-Match: {tag}",
                          f"http://127.0.0.1:{p.port}/k"], capture_output=True, text=True, timeout=10)
    assert out.stdout == "304"
    assert p.info("proxy_stats")["http_not_modified"] == 7
    # a key not cached yet: fetched once, then compared
    r.client().set("cold", "v" * 1000)
    status, _, _ = get(p.port, "cold", {"If-None-Match": tag})
    assert status == 304
    # no such key: 404 whatever the tag
    assert get(p.port, "missing", {"If-None-Match": "*"})[0] == 404


def test_a_changed_value_gets_a_new_tag_and_a_200(redis_server, proxy):
    r = redis_server()
    r.client().set("k", "one")
    p = proxy(r.port)
    _, h, _ = get(p.port, "k")
    old = h["etag"]
    r.client().set("k", "two")  # directly: Redis's invalidation drops the entry
    assert wait_until(lambda: get(p.port, "k")[2] == b"two", timeout=3)
    status, h2, body = get(p.port, "k", {"If-None-Match": old})
    assert status == 200 and body == b"two" and h2["etag"] != old
    p.client().set("k", "three")  # through the proxy
    status, h3, body = get(p.port, "k", {"If-None-Match": h2["etag"]})
    assert status == 200 and body == b"three" and h3["etag"] not in (old, h2["etag"])


def test_cache_control_and_age(redis_server, proxy):
    r = redis_server()
    rc = r.client()
    rc.set("plain", "x")
    rc.set("short", "y", ex=10)
    # default: no-cache (downstream caches revalidate with the ETag); Age on what the cache serves
    p = proxy(r.port)
    _, miss, _ = get(p.port, "plain")
    assert miss["cache-control"] == "no-cache" and "age" not in miss
    time.sleep(1.1)
    _, hit, _ = get(p.port, "plain")
    assert hit["cache-control"] == "no-cache" and int(hit["age"]) >= 1
    # --http-max-age caps the entry's remaining life (--ttl 60s here)
    p30 = proxy(r.port, "--http-max-age", "30s")
    assert get(p30.port, "plain")[1]["cache-control"] == "max-age=30"
    p5m = proxy(r.port, "--http-max-age", "5m", "--ttl", "60s")
    _, h, _ = get(p5m.port, "plain")
    assert 58 <= int(h["cache-control"].split("=")[1]) <= 60
    # a key with its own TTL in Redis: its remaining life, not --ttl
    _, h, _ = get(p5m.port, "short")
    assert 8 <= int(h["cache-control"].split("=")[1]) <= 10
    time.sleep(1.1)
    _, h, _ = get(p5m.port, "short")
    age, max_age = int(h["age"]), int(h["cache-control"].split("=")[1])
    assert age >= 1 and max_age <= 9
    # nothing kept (the cache off): no life left to promise
    poff = proxy(r.port, "--http-max-age", "5m", "--cache-keys", "0")
    _, h, _ = get(poff.port, "plain")
    assert h["cache-control"] == "max-age=0" and "age" not in h


@pytest.mark.parametrize("tracking", ["auto", "off"])
def test_stale_if_error_serves_what_redis_held_while_it_is_unreachable(redis_server, proxy, tracking):
    """With tracking the lost link makes every entry stale at once; without, only its TTL does."""
    r = redis_server()
    r.client().set("k", "v1")
    p = proxy(r.port, "--stale-if-error", "30s", "--ttl", "1s", "--tracking", tracking)
    c = p.client()
    assert c.get("k") == b"v1" and get(p.port, "k")[2] == b"v1"   # cached
    r.kill()
    time.sleep(1.2)                                            # past its life as well
    assert c.get("k") == b"v1"                                 # RESP: simply the value
    status, h, body = get(p.port, "k")
    assert status == 200 and body == b"v1"
    assert "stale-if-error" in h["cache-status"] and int(h["age"]) >= 1
    assert h["cache-control"] == "no-cache"
    assert c.mget("k", "k") == [b"v1", b"v1"]
    with pytest.raises(redis.ResponseError, match="backend unavailable"):
        c.get("never-cached")
    assert get(p.port, "never-cached")[0] == 503
    assert p.info("proxy_stats")["stale_served"] >= 3
    # Redis back (empty: nothing was saved): the fresh answer, not the stale one
    r.start()
    r.client().set("k", "v2")
    assert wait_until(lambda: c.get("k") == b"v2", timeout=10)
    assert get(p.port, "k")[2] == b"v2"


def test_stale_if_error_never_serves_an_invalidated_value(redis_server, proxy):
    r = redis_server()
    r.client().set("k", "v1")
    p = proxy(r.port, "--stale-if-error", "30s")
    c = p.client()
    assert c.get("k") == b"v1"
    r.client().delete("k")  # Redis's invalidation drops it: it is wrong, not stale
    assert wait_until(lambda: p.info("proxy_stats")["invalidated_keys"] >= 1)
    r.kill()
    with pytest.raises(redis.ResponseError, match="backend unavailable"):
        c.get("k")
    assert get(p.port, "k")[0] == 503
    assert p.info("proxy_stats")["stale_served"] == 0


@pytest.mark.parametrize("ahead", ["0", "0.5"])
def test_refresh_ahead_keeps_a_hot_key_from_ever_missing(redis_server, proxy, ahead):
    r = redis_server()
    r.client().set("hot", "v")
    p = proxy(r.port, "--ttl", "200ms", "--refresh-ahead", ahead)
    c = p.client()
    misses0, gets0 = p.info("proxy_stats")["resp_misses"], r.get_calls()
    reads, end = 0, time.monotonic() + 2.0  # ten lives of the entry
    while time.monotonic() < end:
        assert c.get("hot") == b"v"
        reads += 1
    st = p.info("proxy_stats")
    misses, gets = st["resp_misses"] - misses0, r.get_calls() - gets0
    print(f"refresh-ahead {ahead}: {reads} reads, {misses} waited on Redis, {gets} backend GETs")
    if ahead == "0":
        assert misses >= 5                      # about one a life: every reader of it waits
    else:
        assert misses <= 1                      # the first read only
        assert gets >= 5 and st["refresh_ahead"] >= 5 and gets <= st["refresh_ahead"] + 1
    # over HTTP too
    status, h, body = get(p.port, "hot")
    assert status == 200 and body == b"v"
