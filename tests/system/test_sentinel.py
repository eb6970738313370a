"""Redis Sentinel in front of a primary and its replica, the proxy following it (--sentinel): the
primary found, a planned failover (SENTINEL FAILOVER) and a killed primary under load with every
read checked against the last acknowledged write, Sentinels down at start and mid-test, all of
them unreachable and back, and, with scripted Sentinels (tests/system/fake_sentinel.py), what a
real one cannot be made to do: name a replica, disagree, announce +switch-master on demand."""
import os
import socket
import sys
import time
import urllib.request

import pytest
import redis

from conftest import ROOT, RedisServer, free_port, wait_port, wait_until
from fake_sentinel import FakeSentinel

sys.path.insert(0, os.path.join(ROOT, "scripts"))
from failover_load import FailoverLoad  # noqa: E402
from redis_sentinel import MASTER, SentinelSet  # noqa: E402


@pytest.fixture
def sentinel_set():
    made = []

    def make(**kw):
        s = SentinelSet(**kw).start()
        made.append(s)
        return s
    yield make
    for s in made:
        s.stop()


@pytest.fixture
def fakes():
    made = []

    def make(n=1):
        for _ in range(n):
            made.append(FakeSentinel())
        return made[-n:]
    yield make
    for f in made:
        f.close()


def follow(proxy, s_addrs, *args, data_port=6379):
    """The proxy in front of the Sentinels at s_addrs (--redis only gives the data nodes' scheme)."""
    return proxy(data_port, "--sentinel", s_addrs, "--sentinel-master", MASTER, *args)


def sentinel_info(p):
    return p.info("proxy_sentinel")


def http(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def error_of(fn):
    try:
        fn()
    except redis.ResponseError as e:
        return str(e)
    return None


def test_the_primary_is_found_confirmed_and_reported(sentinel_set, proxy):
    s = sentinel_set()
    admin = free_port()
    p = follow(proxy, s.sentinel_addrs(), "--admin-port", str(admin), data_port=s.primary())
    wait_port(admin)
    c = p.client()
    assert c.set("a", "1")
    assert [c.get("a"), c.get("a")] == [b"1", b"1"]
    assert p.info("proxy_stats")["resp_hits"] >= 1
    primary = f"127.0.0.1:{s.primary()}"
    assert wait_until(lambda: all(v["subscribed"] == 1 for k, v in sentinel_info(p).items()
                                  if k.startswith("sentinel") and isinstance(v, dict)))
    info = sentinel_info(p)
    assert info["sentinel_master_name"] == MASTER
    assert info["sentinel_primary"] == primary and info["sentinel_primary_confirmed"] == 1
    assert info["sentinel_sentinels"] == 3 and info["sentinel_answering"] == 3
    assert info["sentinel_switches"] == 0 and info["sentinel_last_switch_ms"] == 0
    assert {info[f"sentinel{i}"]["said"] for i in range(3)} == {primary}
    assert p.info("backend")["backend_addr"] == primary
    # Every connection to the primary checked its ROLE.
    assert s.cli(s.primary(), "info", "commandstats").count("cmdstat_role") == 1
    assert http(admin, "/readyz")[0] == 200
    metrics = http(admin, "/metrics")[1]
    assert "rcp_sentinel_primary_known 1" in metrics
    assert f'rcp_sentinel_primary_info{{address="{primary}",confirmed="1"}} 1' in metrics
    for port in s.sentinel_ports:
        assert f'rcp_sentinel_answering{{sentinel="127.0.0.1:{port}"}} 1' in metrics
    assert "rcp_sentinel_switches_total 0" in metrics


def test_a_planned_failover_under_load_drops_the_cache_and_closes_pinned_clients(sentinel_set, proxy):
    s = sentinel_set()
    old = s.primary()
    (replica,) = [q for q in s.data_ports if q != old]
    admin = free_port()
    p = follow(proxy, s.sentinel_addrs(), "--admin-port", str(admin), data_port=old)
    c = p.client()
    c.set("k", "from-the-old-primary")
    assert [c.get("k"), c.get("k")] == [b"from-the-old-primary"] * 2  # cached
    # The replica gets a value the old primary never had (writable for the test): after the switch
    # the proxy must serve the new primary's value, not the one it cached from the old primary.
    s.cli(replica, "config", "set", "replica-read-only", "no")
    assert s.cli(replica, "set", "k", "only-on-the-new-primary") == "OK"
    assert c.get("k") == b"from-the-old-primary"
    ps = p.client().pubsub()
    ps.subscribe("news")
    assert wait_until(lambda: ps.get_message(timeout=0.1) is not None)
    load = FailoverLoad(p.port).start()
    time.sleep(0.5)
    new = s.failover()
    assert new == replica
    assert wait_until(lambda: sentinel_info(p)["sentinel_switches"] == 1)
    switched_at = sentinel_info(p)["sentinel_last_switch_ms"] / 1000
    time.sleep(0.5)
    load.stop()
    assert load.stale_reads() == []
    # Fenced from +selected-slave to the switch, the old primary acknowledged nothing the new one
    # lacks: no write lost, none refused (they waited).
    assert load.lost_acks() == set()
    assert load.write_errors == [] and load.read_errors == []
    assert sentinel_info(p)["sentinel_promotions"] >= 1
    assert load.first_write_after(switched_at) is not None, load.write_errors[-3:]
    assert len(load.reads) > 100 and len(load.acks) > 20
    assert c.get("k") == b"only-on-the-new-primary"
    info = sentinel_info(p)
    assert info["sentinel_primary"] == f"127.0.0.1:{new}" and info["sentinel_messages"] >= 1
    assert info["sentinel_cache_drops"] == 1
    # The subscriber's connection to the old primary is gone, and so is the client's.
    with pytest.raises(redis.ConnectionError):
        for _ in range(50):
            ps.get_message(timeout=0.1)
    assert p.info("proxy_stats")["pinned_lost"] >= 1
    # Tracking runs on the new primary: a write made there directly is seen at once.
    assert c.get("k") == b"only-on-the-new-primary"
    s.cli(new, "set", "k", "written-directly")
    assert wait_until(lambda: c.get("k") == b"written-directly", timeout=2)
    assert "rcp_sentinel_switches_total 1" in http(admin, "/metrics")[1]


def test_a_killed_primary_is_followed_under_load_and_no_read_is_older_than_an_ack(sentinel_set, proxy):
    s = sentinel_set()
    old = s.primary()
    p = follow(proxy, s.sentinel_addrs(), data_port=old)
    load = FailoverLoad(p.port).start()
    time.sleep(0.5)
    s.kill(old)
    new = s.wait_new_primary(old, timeout=30)
    assert wait_until(lambda: sentinel_info(p)["sentinel_primary"] == f"127.0.0.1:{new}", timeout=10)
    switched_at = sentinel_info(p)["sentinel_last_switch_ms"] / 1000
    time.sleep(0.5)
    load.stop()
    assert load.stale_reads() == []
    assert load.first_write_after(switched_at) is not None
    errors = {e for _t0, _t1, e in load.read_errors + load.write_errors}
    assert all("Connection" in e or "backend" in e or "READONLY" in e or "Timeout" in e for e in errors), errors
    c = p.client()
    assert c.set("after", "1") and c.get("after") == b"1"


def test_sentinels_down_at_start_and_mid_test_the_rest_still_serve(sentinel_set, proxy):
    s = sentinel_set()
    s.kill(s.sentinel_ports[0])
    p = follow(proxy, s.sentinel_addrs(), "--sentinel-poll", "100ms", data_port=s.primary())
    c = p.client()
    assert c.set("a", "1") and c.get("a") == b"1"
    assert wait_until(lambda: sentinel_info(p)["sentinel_answering"] == 2)
    down = [v for k, v in sentinel_info(p).items() if isinstance(v, dict) and v["answered"] == 0]
    assert len(down) == 1 and "connect" in down[0]["said"]
    s.kill(s.sentinel_ports[1])
    assert wait_until(lambda: sentinel_info(p)["sentinel_answering"] == 1)
    # One of three answering is a majority of those that answer: the primary stays confirmed.
    assert sentinel_info(p)["sentinel_primary_confirmed"] == 1
    assert c.set("b", "2") and c.get("b") == b"2" and c.get("a") == b"1"


def test_all_sentinels_unreachable_misses_fail_clearly_and_the_proxy_recovers(proxy):
    ports = [free_port() for _ in range(3)]
    admin = free_port()
    s = SentinelSet()
    try:
        p = follow(proxy, ",".join(f"127.0.0.1:{q}" for q in ports), "--admin-port", str(admin),
                   "--sentinel-poll", "200ms")
        wait_port(admin)
        c = p.client()
        assert wait_until(lambda: "no Sentinel answered" in (error_of(lambda: c.get("x")) or ""))
        err = error_of(lambda: c.get("x"))
        assert err.startswith("backend unavailable") and "master 'mymaster'" in err and "connect" in err, err
        status, body = http(admin, "/readyz")
        assert status == 503 and "no-primary" in body
        # The Sentinels come up on the addresses given: the proxy finds the primary by itself.
        s.data_ports = [free_port(), free_port()]
        s.start_data(s.data_ports[0])
        s.start_data(s.data_ports[1], replicaof=s.data_ports[0])
        s.sentinel_ports = ports
        for q in ports:
            s.start_sentinel(q)
        assert wait_until(lambda: error_of(lambda: c.set("x", "1")) is None, timeout=10)
        assert c.get("x") == b"1"
        assert wait_until(lambda: http(admin, "/readyz")[0] == 200)
        # Every Sentinel gone while the primary is up: it is still the primary, and serves; what is
        # cached stays served (tracking on the primary vouches for it).
        assert c.set("y", "2") and c.get("y") == b"2"
        for q in ports:
            s.kill(q)
        assert wait_until(lambda: sentinel_info(p)["sentinel_answering"] == 0)
        hits = p.info("proxy_stats")["resp_hits"]
        assert c.get("y") == b"2" and p.info("proxy_stats")["resp_hits"] == hits + 1
        assert c.set("y2", "3") and c.get("y2") == b"3"
        # Its link lost: a reconnect needs a Sentinel's word (Redis's rule), and none answers.
        redis.Redis(host="127.0.0.1", port=s.data_ports[0]).client_kill_filter(_type="normal")
        assert wait_until(lambda: "no Sentinel answered" in (error_of(lambda: c.get("z")) or ""), timeout=5)
        for q in ports:
            s.start_sentinel(q)
        assert wait_until(lambda: error_of(lambda: c.get("z")) is None, timeout=10)
        assert c.get("y") == b"2"
    finally:
        s.stop()


def test_a_sentinel_naming_a_replica_is_refused_then_the_primary_is_taken(redis_server, proxy, fakes):
    primary = redis_server()
    replica = redis_server(extra=["--replicaof", "127.0.0.1", str(primary.port)])
    (f,) = fakes(1)
    f.answer = ("127.0.0.1", replica.port)
    p = follow(proxy, f"127.0.0.1:{f.port}", "--sentinel-poll", "100ms")
    c = p.client()
    assert wait_until(lambda: "not the primary (ROLE: slave)" in (error_of(lambda: c.get("k")) or ""))
    assert "not the primary" in error_of(lambda: c.set("k", "v"))
    assert primary.client().get("k") is None
    f.answer = ("127.0.0.1", primary.port)
    assert wait_until(lambda: error_of(lambda: c.set("k", "v")) is None, timeout=5)
    assert primary.client().get("k") == b"v" and c.get("k") == b"v"


def test_disagreeing_sentinels_a_majority_decides_and_a_tie_moves_nothing(redis_server, proxy, fakes):
    a, b = redis_server(), redis_server()
    a.client().set("who", "a")
    b.client().set("who", "b")
    f = fakes(3)
    f[0].answer = ("127.0.0.1", a.port)
    f[1].answer = f[2].answer = ("127.0.0.1", b.port)
    p = follow(proxy, ",".join(f"127.0.0.1:{x.port}" for x in f), "--sentinel-poll", "100ms")
    c = p.client()
    assert wait_until(lambda: error_of(lambda: c.get("who")) is None)
    assert c.get("who") == b"b"  # two of three name b: the stale one is outvoted
    f[1].answer = ("127.0.0.1", a.port)
    assert wait_until(lambda: c.get("who") == b"a", timeout=5)
    assert sentinel_info(p)["sentinel_switches"] == 1
    # One Sentinel gone, the other two disagree: no majority of those that answer, nothing moves.
    f[0].close()
    f[2].answer = ("127.0.0.1", b.port)
    assert wait_until(lambda: sentinel_info(p)["sentinel_no_majority"] >= 2, timeout=5)
    info = sentinel_info(p)
    assert info["sentinel_primary"] == f"127.0.0.1:{a.port}" and info["sentinel_switches"] == 1
    assert c.get("who") == b"a"


def test_switch_master_is_acted_on_at_once_and_sentinel_credentials_are_used(redis_server, proxy, fakes):
    a, b = redis_server(), redis_server()
    b.client().set("who", "b")
    f = fakes(3)
    for x in f:
        x.password = "s3cret"
        x.answer = ("127.0.0.1", a.port)
    addrs = ",".join(f"127.0.0.1:{x.port}" for x in f)
    p = follow(proxy, addrs, "--sentinel-password", "s3cret", "--sentinel-poll", "1h")
    c = p.client()
    assert wait_until(lambda: error_of(lambda: c.set("who", "a")) is None)
    assert wait_until(lambda: sum(len(x.subscribers) for x in f) == 3)
    rounds = sentinel_info(p)["sentinel_rounds"]
    for x in f:
        x.answer = ("127.0.0.1", b.port)
    assert f[0].switch_master(("127.0.0.1", a.port), ("127.0.0.1", b.port)) == 1
    assert wait_until(lambda: c.get("who") == b"b", timeout=2)  # no poll within the hour: the message did it
    info = sentinel_info(p)
    assert info["sentinel_messages"] == 1 and info["sentinel_rounds"] == rounds + 1
    # A wrong Sentinel password: refused, said so.
    q = follow(proxy, addrs, "--sentinel-password", "wrong", "--sentinel-poll", "100ms")
    seen = []

    def refused():
        seen.append(error_of(lambda: q.client().get("who")) or "")
        return "WRONGPASS" in seen[-1]
    assert wait_until(refused)
    assert "no Sentinel answered" in seen[-1], seen[-1]
