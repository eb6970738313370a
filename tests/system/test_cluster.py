"""A Redis Cluster behind the proxy: a real local cluster (scripts/redis_cluster.py) of three
primaries, the proxy given one seed, clients that see one plain Redis."""
import contextlib
import os
import socket
import sys
import threading
import time

import pytest
import redis

from conftest import PROXY_BIN, Proxy, wait_until
import resp3

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
from failover_load import FailoverLoad  # noqa: E402
from redis_cluster import LocalCluster  # noqa: E402


def slot_of(r, key):
    return r.execute_command("CLUSTER", "KEYSLOT", key)


@pytest.fixture(scope="module")
def cluster():
    c = LocalCluster(primaries=3).start()
    yield c
    c.stop()


@pytest.fixture
def cproxy(cluster):
    p = Proxy(cluster.ports[0], ["--cluster-refresh", "1s"])
    assert wait_until(lambda: p.info("backend")["backend_cluster_enabled"] == 1)
    assert wait_until(lambda: p.info("proxy_stats")["tracking_state"] == "on")
    c = p.client()
    c.flushall()
    yield p
    p.stop()


def node(cluster, port):
    return redis.Redis(host="127.0.0.1", port=port)


def owner(cluster, key):
    return cluster.owner_of(slot_of(node(cluster, cluster.ports[0]), key))


def gets_on_nodes(cluster):
    total = 0
    for p in cluster.primary_ports():
        total += node(cluster, p).info("commandstats").get("cmdstat_get", {}).get("calls", 0)
    return total


def test_keys_spread_over_every_node_read_through_the_cache(cluster, cproxy):
    c = cproxy.client()
    keys = [f"user:{i}" for i in range(300)]
    for k in keys:
        assert c.set(k, k.upper())
    # every primary holds some of them
    counts = [node(cluster, p).dbsize() for p in cluster.primary_ports()]
    assert len(counts) == 3 and all(n > 50 for n in counts), counts
    for k in keys:
        assert c.get(k) == k.upper().encode()
    before = gets_on_nodes(cluster)
    for k in keys:  # hits: no GET reaches any node
        assert c.get(k) == k.upper().encode()
    assert gets_on_nodes(cluster) == before
    # HTTP reads the same keys
    import http.client
    h = http.client.HTTPConnection("127.0.0.1", cproxy.port, timeout=5)
    for k in keys[:50]:
        h.request("GET", "/" + k)
        resp = h.getresponse()
        assert resp.status == 200 and resp.read() == k.upper().encode()
    h.request("GET", "/no-such-key")
    resp = h.getresponse()
    assert resp.status == 404
    resp.read()


def test_multi_key_commands_split_by_node(cluster, cproxy):
    c = cproxy.client()
    keys = [f"k{i}" for i in range(20)]
    assert len({owner(cluster, k) for k in keys}) == 3
    assert c.mset({k: f"v{i}" for i, k in enumerate(keys)})
    c.get("k3")  # a cached one among misses
    assert c.mget(keys + ["missing"]) == [f"v{i}".encode() for i in range(20)] + [None]
    assert c.exists(*keys, "missing", "k0") == 21
    assert c.touch(*keys[:10]) == 10
    assert c.delete(*keys[:5], "missing") == 5
    assert c.unlink(*keys[5:10]) == 5
    assert c.mget(keys[:10]) == [None] * 10
    assert c.mget(keys[10:]) == [f"v{i}".encode() for i in range(10, 20)]
    # a raw MGET larger than what the cache path takes is split too
    assert c.execute_command("MGET", *keys[10:], "nope") == [f"v{i}".encode() for i in range(10, 20)] + [None]


def test_other_multi_slot_commands_get_crossslot_and_select_is_refused(cproxy):
    c = cproxy.client()
    with pytest.raises(redis.ResponseError, match="CROSSSLOT"):
        c.sunion("a", "b")
    with pytest.raises(redis.ResponseError, match="CROSSSLOT"):
        c.rename("a", "b")
    assert c.sadd("{t}a", 1) == 1 and c.sadd("{t}b", 2) == 1
    assert c.sunion("{t}a", "{t}b") == {b"1", b"2"}
    with pytest.raises(redis.ResponseError, match="SELECT is not allowed in cluster mode"):
        c.execute_command("SELECT", "1")
    assert c.execute_command("SELECT", "0")


def test_transactions_on_hash_tagged_keys_and_a_cross_slot_one_aborted(cluster, cproxy):
    c = cproxy.client()
    p = c.pipeline(transaction=True)
    p.set("{acct:1}.balance", 100).incrby("{acct:1}.balance", 5).get("{acct:1}.balance")
    assert p.execute() == [True, 105, b"105"]
    # WATCH on the key's node; a change made elsewhere aborts the EXEC
    w = cproxy.client()
    with c.pipeline(transaction=True) as p:
        p.watch("{acct:1}.balance")
        p.multi()
        p.set("{acct:1}.balance", 0)
        w.set("{acct:1}.balance", 7)
        with pytest.raises(redis.WatchError):
            p.execute()
    assert c.get("{acct:1}.balance") == b"7"
    # keys of two nodes in one transaction: the proxy refuses the second and EXEC aborts, as Redis
    a, b = "x1", next(k for k in (f"y{i}" for i in range(100)) if owner(cluster, k) != owner(cluster, "x1"))
    s = socket.create_connection(("127.0.0.1", cproxy.port))
    s.sendall(b"MULTI\r\nSET x1 1\r\nSET " + b.encode() + b" 2\r\nEXEC\r\n")
    data = b""
    while data.count(b"\r\n") < 4:
        data += s.recv(4096)
    s.close()
    assert data.startswith(b"+OK\r\n+QUEUED\r\n-CROSSSLOT")
    assert b"-EXECABORT" in data
    assert c.get(a) is None and c.get(b) is None


def test_keyless_commands_rules(cluster, cproxy):
    c = cproxy.client()
    for i in range(30):
        c.set(f"kl{i}", i)
    assert c.dbsize() == sum(node(cluster, p).dbsize() for p in cluster.primary_ports()) == 30
    assert sorted(c.keys("kl*")) == sorted(f"kl{i}".encode() for i in range(30))
    assert c.ping()
    sha = c.script_load("return redis.call('GET', KEYS[1])")
    for i in range(0, 30, 7):  # EVALSHA works on whichever node owns the key
        assert c.evalsha(sha, 1, f"kl{i}") == str(i).encode()
    # SCAN walks every node in turn: each key once, whatever COUNT
    assert sorted(c.scan_iter("kl*", count=7)) == sorted(f"kl{i}".encode() for i in range(30))
    assert len(list(c.scan_iter(count=1000))) == 30
    with pytest.raises(redis.ResponseError, match="invalid cursor"):
        c.scan(99 << 48)
    assert c.flushall()
    assert all(node(cluster, p).dbsize() == 0 for p in cluster.primary_ports())
    assert c.get("kl3") is None


def test_a_write_made_on_a_node_directly_invalidates_the_cache(cluster, cproxy):
    c = cproxy.client()
    for k in ("inv:a", "inv:b", "inv:c", "inv:d"):
        c.set(k, "old")
        assert c.get(k) == b"old"
        assert c.get(k) == b"old"  # cached
        direct = node(cluster, owner(cluster, k))
        direct.set(k, "new")
        assert wait_until(lambda: c.get(k) == b"new", timeout=2)


def test_pubsub_blocking_and_resp3_through_the_cluster(cproxy):
    c = cproxy.client()
    ps = cproxy.client().pubsub()
    ps.subscribe("news")
    assert ps.get_message(timeout=2)["type"] == "subscribe"
    assert c.publish("news", "hello") >= 1
    m = ps.get_message(timeout=2)
    assert m and m["data"] == b"hello"
    ps.close()
    # SSUBSCRIBE on the channel's slot owner; SPUBLISH reaches it
    s = socket.create_connection(("127.0.0.1", cproxy.port))
    s.sendall(b"SSUBSCRIBE orders\r\n")
    time.sleep(0.3)
    assert c.execute_command("SPUBLISH", "orders", "o1") == 1
    data = b""
    deadline = time.time() + 3
    while b"o1" not in data and time.time() < deadline:
        data += s.recv(4096)
    assert b"smessage" in data and b"o1" in data
    s.close()
    # a blocking pop waits on the key's node
    result = []
    t = threading.Thread(target=lambda: result.append(cproxy.client().blpop("queue:1", timeout=5)))
    t.start()
    time.sleep(0.3)
    c.rpush("queue:1", "job")
    t.join()
    assert result == [(b"queue:1", b"job")]
    # a RESP3 client (HELLO 3) reads and writes keys of every node
    r3 = resp3.Conn(cproxy.port)
    for i in range(20):
        assert r3.call("SET", f"r3:{i}", str(i)) == b"+OK\r\n"
    assert [r3.get("GET", f"r3:{i}") for i in range(20)] == [str(i).encode() for i in range(20)]
    assert r3.call("GET", "r3:none") == b"_\r\n"
    assert r3.get("DEL", *[f"r3:{i}" for i in range(20)]) == 20


@pytest.mark.parametrize("scenario", ["node-redis", "ioredis"])
def test_node_clients_through_the_cluster(cluster, cproxy, scenario):
    from test_node_clients import run_scenario
    run_scenario(scenario, cproxy.port, cluster.ports[0])
    assert cproxy.info("backend")["backend_cluster_enabled"] == 1


def test_client_tracking_through_the_cluster_hears_of_every_node(cluster, cproxy):
    # One tracking per node for the proxy, whatever the number of clients: keys on every primary
    # read by a tracking client, changed directly on the cluster, each invalidated.
    from redis.cluster import RedisCluster
    direct = RedisCluster(host="127.0.0.1", port=cluster.ports[0])
    keys = [f"trk:{i}" for i in range(12)]  # spread over the three primaries
    assert len({direct.keyslot(k) * 3 // 16384 for k in keys}) == 3
    for k in keys:
        direct.set(k, "v1")
    r3 = resp3.Conn(cproxy.port)
    assert r3.call("CLIENT", "TRACKING", "ON") == b"+OK\r\n"
    for k in keys:
        assert r3.get("GET", k) == b"v1"
    for k in keys:
        direct.set(k, "v2")
    seen = set()
    while len(seen) < len(keys):
        push = r3.next_push()
        assert push[0] == b"invalidate"
        seen.update(push[1])
    assert seen == {k.encode() for k in keys}
    assert [r3.get("GET", k) for k in keys] == [b"v2"] * len(keys)
    assert r3.get("PING") == b"PONG"
    r3.close()
    direct.close()


def test_a_redis_that_refuses_cluster_commands_is_served_as_a_single_redis(redis_server, proxy):
    r = redis_server()
    r.client().execute_command("ACL", "SETUSER", "app", "on", ">pw", "~*", "&*", "+@all", "-cluster")
    p = proxy(r.port, "--redis", f"redis://app:pw@127.0.0.1:{r.port}")  # the later --redis wins
    c = p.client()
    assert c.set("k", "v") and c.get("k") == b"v" and c.mget("k", "x", "y") == [b"v", None, None]
    assert c.execute_command("SELECT", "1") is True
    assert p.info("backend")["backend_cluster_enabled"] == 0
    assert p.output().count("served as a single Redis") == 1


def test_a_slot_migrated_while_clients_read_and_write(cluster, cproxy):
    c = cproxy.client()
    tag = "{mig}"
    slot = slot_of(node(cluster, cluster.ports[0]), tag)
    src_port = cluster.owner_of(slot)
    dst_port = next(p for p in cluster.primary_ports() if p != src_port)
    ids = {p: i for p, i, _r, _m, _s in cluster.nodes()}
    for i in range(200):
        c.set(f"{tag}:{i}", f"v0-{i}")
    errors, stop, rounds = [], threading.Event(), [0]

    def worker(first):
        wc = cproxy.client()
        n = 0
        while not stop.is_set():
            try:
                for i in range(first, 200, 10):  # each worker its own keys
                    k = f"{tag}:{i}"
                    wc.set(k, f"v{n}-{i}")
                    got = wc.get(k)
                    if got != f"v{n}-{i}".encode():
                        errors.append(f"{k}: {got!r} after writing v{n}-{i}")
                n += 1
                rounds[0] = n
            except redis.RedisError as e:
                errors.append(repr(e))
    threads = [threading.Thread(target=worker, args=(w * 5,)) for w in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    src, dst = node(cluster, src_port), node(cluster, dst_port)
    dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[src_port])
    src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[dst_port])
    while True:
        keys = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 20)
        if not keys:
            break
        src.execute_command("MIGRATE", "127.0.0.1", dst_port, "", 0, 5000, "KEYS", *keys)
        time.sleep(0.05)
    for p in cluster.primary_ports():
        node(cluster, p).execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[dst_port])
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert rounds[0] > 0
    assert cluster.owner_of(slot) == dst_port
    info = cproxy.info("backend")
    assert info["backend_cluster_moved"] + info["backend_cluster_ask"] > 0
    # the values through the proxy are the node's
    for i in range(200):
        assert c.get(f"{tag}:{i}") == dst.get(f"{tag}:{i}")


@pytest.fixture
def fresh_cluster():
    c = LocalCluster(primaries=3, replicas=1).start()
    yield c
    c.stop()


def test_a_node_down_fails_its_slots_only_then_a_failover_is_followed(fresh_cluster):
    cl = fresh_cluster
    p = Proxy(cl.ports[0], ["--cluster-refresh", "500ms", "--backend-timeout", "6s"])
    try:
        assert wait_until(lambda: p.info("backend")["backend_cluster_enabled"] == 1)
        c = p.client()
        keys = [f"f{i}" for i in range(60)]
        for k in keys:
            c.set(k, k)
        primaries = cl.primary_ports()
        victim = primaries[0]
        on_victim = [k for k in keys if owner(cl, k) == victim]
        elsewhere = [k for k in keys if owner(cl, k) != victim]
        assert on_victim and elsewhere
        # a replica promoted by CLUSTER FAILOVER: followed, no request lost (the old primary holds
        # writes while the replica catches up, seconds here: --backend-timeout covers it)
        replica = next(port for port, _i, role, master, _s in cl.nodes()
                       if role == "replica" and master == dict((pp, i) for pp, i, *_ in cl.nodes())[victim])
        errors, stop = [], threading.Event()

        def reader():
            rc = p.client()
            while not stop.is_set():
                for k in on_victim:
                    try:
                        if rc.set(k, k) is not True or rc.get(k) != k.encode():
                            errors.append(k)
                    except redis.RedisError as e:
                        errors.append(repr(e))
        t = threading.Thread(target=reader)
        t.start()
        node(cl, replica).execute_command("CLUSTER", "FAILOVER")
        assert wait_until(lambda: cl.owner_of(slot_of(node(cl, replica), on_victim[0])) == replica, timeout=15)
        time.sleep(1.5)
        stop.set()
        t.join()
        assert errors == []
        assert wait_until(lambda: p.info("backend")["backend_cluster_refreshes"] > 1)
        # coherence follows the new primary: a direct write there invalidates
        k = on_victim[0]
        assert c.get(k) == k.encode()
        node(cl, replica).set(k, "changed")
        assert wait_until(lambda: c.get(k) == b"changed", timeout=2)
        # a primary killed with its replica: its slots fail with a clear error, the others serve
        new_primary = replica
        old = victim  # now the replica of new_primary
        cl.kill(old)
        cl.kill(new_primary)
        t0 = time.time()
        with pytest.raises(redis.ResponseError, match="backend unavailable"):
            c.get(on_victim[1]) if on_victim[1:] else c.get(on_victim[0])
        assert time.time() - t0 < 9
        for k in elsewhere:
            assert c.set(k, "still") and c.get(k) == b"still"
        import http.client
        h = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
        h.request("GET", "/" + on_victim[0])
        assert h.getresponse().status == 503
    finally:
        out = p.output()
        p.stop()
        assert p.proc.returncode == 0, out


def _replica_of(cl, primary):
    ids = {port: nid for port, nid, *_ in cl.nodes()}
    return next(port for port, _i, role, master, _s in cl.nodes() if role == "replica" and master == ids[primary])


def _key_on(cl, port, prefix):
    n = node(cl, cl.ports[0])
    return next(f"{prefix}{i}" for i in range(10000) if cl.owner_of(slot_of(n, f"{prefix}{i}")) == port)


@contextlib.contextmanager
def _cluster_proxy(cl, backend_timeout):
    """The proxy in front of cl once it has read the map; stopped cleanly afterwards."""
    p = Proxy(cl.ports[0], ["--cluster-refresh", "500ms", "--backend-timeout", backend_timeout])
    try:
        assert wait_until(lambda: p.info("backend")["backend_cluster_enabled"] == 1)
        yield p
    finally:
        out = p.output()
        p.stop()
        assert p.proc.returncode == 0, out


def test_a_planned_cluster_failover_under_load_from_several_clients_shows_no_error(fresh_cluster):
    cl = fresh_cluster
    with _cluster_proxy(cl, "6s") as p:
        victim = cl.primary_ports()[0]
        replica = _replica_of(cl, victim)
        loads = [FailoverLoad(p.port, key=_key_on(cl, victim, f"planned{j}:"), readers=2).start() for j in range(2)]
        time.sleep(0.5)
        node(cl, replica).execute_command("CLUSTER", "FAILOVER")
        assert wait_until(lambda: cl.owner_of(slot_of(node(cl, replica), loads[0].key)) == replica, timeout=15)
        assert wait_until(lambda: p.info("backend")["backend_cluster_owner_changes"] >= 1)
        time.sleep(1)
        for load in loads:
            load.stop()
        for load in loads:
            assert load.write_errors == [] and load.read_errors == []
            assert load.stale_reads() == []
            assert len(load.acks) > 20 and len(load.reads) > 50


def test_a_cluster_primary_killed_under_load_no_read_older_than_an_acknowledged_write(fresh_cluster):
    cl = fresh_cluster
    with _cluster_proxy(cl, "3s") as p:
        victim = cl.primary_ports()[0]
        replica = _replica_of(cl, victim)
        other = cl.primary_ports()[1]
        loads = [FailoverLoad(p.port, key=_key_on(cl, victim, f"killed{j}:"), readers=2).start() for j in range(2)]
        calm = FailoverLoad(p.port, key=_key_on(cl, other, "calm:"), readers=1).start()
        time.sleep(0.5)
        cl.kill(victim)
        assert wait_until(lambda: cl.owner_of(slot_of(node(cl, other), loads[0].key)) == replica, timeout=20)
        promoted_at = time.time()
        assert wait_until(lambda: loads[0].first_write_after(promoted_at) is not None, timeout=10)
        time.sleep(0.5)
        for load in loads + [calm]:
            load.stop()
        for load in loads + [calm]:
            assert load.stale_reads() == []
        assert calm.write_errors == [] and calm.read_errors == []  # the other slots never noticed
        assert all(load.first_write_after(promoted_at) is not None for load in loads)
        assert sum(len(load.reads) for load in loads) > 200
