"""A drop-in for Redis clients: every command family through redis-py, redis-cli and raw sockets;
transactions, WATCH, blocking commands, pub/sub, MONITOR, CLIENT REPLY and SELECT on pinned
connections; MGET through the cache; reads of one's own writes; --requirepass, --deny-commands,
--max-pinned; redis-benchmark's default tests through the proxy."""
import os
import socket
import subprocess
import threading
import time

import pytest
import redis

import rawhttp
from conftest import recv_until_closed, rss_kb, wait_until


def calls(r, cmd):
    """How many times this Redis has executed cmd (INFO commandstats)."""
    return r.client().info("commandstats").get(f"cmdstat_{cmd}", {}).get("calls", 0)


def assert_same_errors(proxied, direct, commands):
    """Each command fails through the proxy with exactly Redis's own error."""
    for args in commands:
        with pytest.raises(redis.ResponseError) as mine:
            proxied.execute_command(*args)
        with pytest.raises(redis.ResponseError) as theirs:
            direct.execute_command(*args)
        assert str(mine.value) == str(theirs.value)


def raw(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s


def read_exactly(s, n_lines_or_pred, timeout=5):
    s.settimeout(timeout)
    got = b""
    while not n_lines_or_pred(got):
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


# ---- command families ----

def test_strings_and_keys(pair):
    r, p = pair
    c = p.client()
    assert c.set("s", "v") is True
    assert c.append("s", "w") == 2 and c.get("s") == b"vw"
    assert c.getrange("s", 0, 0) == b"v" and c.strlen("s") == 2
    assert c.incr("n") == 1 and c.incrby("n", 5) == 6 and c.decr("n") == 5 and c.incrbyfloat("f", 1.5) == 1.5
    assert c.setnx("s", "x") is False and c.getset("s", "g") == b"vw" and c.get("s") == b"g"
    assert c.mset({"a": "1", "b": "2"}) and c.mget("a", "b", "zz") == [b"1", b"2", None]
    assert c.setex("e", 100, "v") and 0 < c.ttl("e") <= 100 and 0 < c.pttl("e") <= 100000
    assert c.expire("s", 50) and c.persist("s") and c.ttl("s") == -1
    assert c.exists("a", "b", "zz") == 2 and c.type("a") == b"string"
    assert c.rename("a", "a2") and c.get("a2") == b"1" and c.get("a") is None
    assert c.getdel("a2") == b"1" and c.get("a2") is None
    assert c.delete("b", "zz") == 1 and c.unlink("n") == 1
    assert sorted(c.keys("*")) == sorted(r.client().keys("*"))
    assert c.dbsize() == r.client().dbsize()
    seen, cursor = set(), 0
    for i in range(50):
        c.set(f"scan:{i}", i)
    while True:
        cursor, keys = c.scan(cursor, match="scan:*", count=7)
        seen.update(keys)
        if cursor == 0:
            break
    assert len(seen) == 50
    assert c.object("encoding", "s") is not None and c.echo("x") == b"x"


def test_hashes_lists_sets_zsets_streams(pair):
    _, p = pair
    c = p.client()
    assert c.hset("h", mapping={"f1": "1", "f2": "2"}) == 2
    assert c.hgetall("h") == {b"f1": b"1", b"f2": b"2"} and c.hincrby("h", "f1", 2) == 3 and c.hlen("h") == 2
    assert c.hmget("h", "f1", "nope") == [b"3", None] and c.hdel("h", "f2") == 1 and c.hkeys("h") == [b"f1"]
    assert c.rpush("l", "a", "b", "c") == 3 and c.lrange("l", 0, -1) == [b"a", b"b", b"c"]
    assert c.lpop("l") == b"a" and c.rpop("l") == b"c" and c.llen("l") == 1 and c.lindex("l", 0) == b"b"
    assert c.lmove("l", "l2", "LEFT", "RIGHT") == b"b" and c.lrange("l2", 0, -1) == [b"b"]
    assert c.sadd("st", "a", "b") == 2 and c.smembers("st") == {b"a", b"b"} and c.sismember("st", "a")
    assert c.sinter("st", "st") == {b"a", b"b"} and c.srem("st", "a") == 1 and c.scard("st") == 1
    assert c.zadd("z", {"m1": 1, "m2": 2}) == 2 and c.zscore("z", "m2") == 2.0
    assert c.zrange("z", 0, -1, withscores=True) == [(b"m1", 1.0), (b"m2", 2.0)]
    assert c.zincrby("z", 5, "m1") == 6.0 and c.zrank("z", "m1") == 1 and c.zpopmin("z") == [(b"m2", 2.0)]
    sid = c.xadd("s", {"f": "v"})
    assert c.xlen("s") == 1 and c.xrange("s")[0][0] == sid
    assert c.xread({"s": "0"})[0][1][0][1] == {b"f": b"v"}
    c.xgroup_create("s", "g", id="0")
    assert c.xreadgroup("g", "c1", {"s": ">"})[0][1][0][0] == sid
    assert c.xack("s", "g", sid) == 1
    assert c.pfadd("hll", "a", "b") == 1 and c.pfcount("hll") == 2
    assert c.setbit("bits", 3, 1) == 0 and c.bitcount("bits") == 1
    assert c.geoadd("geo", (13.36, 38.11, "palermo")) == 1 and c.geopos("geo", "palermo")[0] is not None


def test_scripts_and_functions(pair):
    _, p = pair
    c = p.client()
    assert c.eval("return redis.call('SET', KEYS[1], ARGV[1])", 1, "ek", "ev") == b"OK"
    assert c.get("ek") == b"ev"
    sha = c.script_load("return redis.call('GET', KEYS[1])")
    assert c.evalsha(sha, 1, "ek") == b"ev" and c.script_exists(sha) == [True]
    assert c.eval("return ARGV[1]", 0, "x") == b"x"


def test_unknown_and_wrong_commands_get_redis_s_own_errors(pair):
    r, p = pair
    c = p.client()
    assert_same_errors(c, r.client(), (("NOSUCH", "a"), ("SET", "k"), ("GET", "a", "b"), ("LPUSH",)))
    c.set("str", "v")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        c.lpush("str", "x")
    assert c.ping()


def test_redis_cli_and_inline_commands(pair):
    r, p = pair
    run = lambda *a: subprocess.run(["redis-cli", "-p", str(p.port), *a], capture_output=True, text=True,
                                    timeout=10).stdout.strip()
    assert run("set", "cli", "v1") == "OK"
    assert run("get", "cli") == "v1"
    assert run("incr", "cnt") == "1"
    assert run("lpush", "cl", "x") == "1"
    assert run("config", "get", "appendonly").splitlines() == ["appendonly", "no"]
    s = raw(p.port)
    s.sendall(b"SET inl \"a b\"\r\nGET inl\r\n")
    assert read_exactly(s, lambda g: g.count(b"\r\n") >= 3) == b"+OK\r\n$3\r\na b\r\n"
    assert r.client().get("inl") == b"a b"


# ---- MGET through the cache ----

def test_mget_mixes_hits_misses_absent_and_non_string_keys(pair):
    r, p = pair
    rc = r.client()
    rc.set("m1", "one")
    rc.set("m2", "two")
    rc.lpush("mlist", "x")
    c = p.client()
    assert c.get("m1") == b"one"  # cached now
    gets, mgets = calls(r, "get"), calls(r, "mget")
    assert c.mget("m1", "m2", "absent", "mlist", "m2") == [b"one", b"two", None, None, b"two"]
    assert calls(r, "get") + calls(r, "mget") - gets - mgets == 1   # the misses in one backend request
    before = calls(r, "get") + calls(r, "mget")
    assert c.mget("m1", "m2") == [b"one", b"two"]
    assert calls(r, "get") + calls(r, "mget") == before             # all cached: no backend call
    # the same answer as Redis, through redis-cli too
    out = subprocess.run(["redis-cli", "-p", str(p.port), "mget", "m1", "absent", "m2"], capture_output=True,
                         text=True, timeout=10).stdout.splitlines()
    assert out == ["one", "", "two"]


def test_mget_while_redis_is_down_is_one_error(redis_server, proxy):
    r = redis_server()
  # TTL-only: with tracking (the default) the cache is dropped when Redis is lost (test_coherence.py)
    p = proxy(r.port, "--tracking", "off")
    c = p.client()
    r.client().set("k1", "v")
    assert c.get("k1") == b"v"
    r.kill()
    assert wait_until(lambda: p.info("backend")["backend_link_status"] != "up")
    assert c.get("k1") == b"v"  # hits keep being served
    with pytest.raises(redis.ResponseError, match="backend unavailable"):
        c.mget("k1", "k2")
    with pytest.raises(redis.ResponseError, match="backend unavailable"):
        c.set("other", "x")
    with pytest.raises(redis.ResponseError, match="backend unavailable"):
        c.execute_command("MULTI")  # a pinned connection that cannot be opened: a clear error
    assert c.get("k1") == b"v"


# ---- read your writes ----

@pytest.mark.parametrize("write,expect", [
    (lambda c: c.set("k", "v2"), b"v2"),
    (lambda c: c.incr("k"), b"2"),
    (lambda c: c.append("k", "x"), b"1x"),
    (lambda c: c.delete("k"), None),
    (lambda c: c.unlink("k"), None),
    (lambda c: c.pexpire("k", 1) and time.sleep(0.05), None),
    (lambda c: c.rename("other", "k"), b"other"),
    (lambda c: c.rename("k", "moved"), None),
    (lambda c: c.eval("return redis.call('SET', KEYS[1], 'lua')", 1, "k"), b"lua"),
    (lambda c: c.pipeline().set("k", "tx").execute(), b"tx"),
    (lambda c: c.flushall(), None),
    (lambda c: c.flushdb(), None),
    (lambda c: c.swapdb(0, 1), None),
    (lambda c: c.mset({"k": "ms"}), b"ms"),
    (lambda c: c.copy("other", "k", replace=True), b"other"),
    (lambda c: c.getex("k", px=1) and time.sleep(0.05), None),
    (lambda c: c.sort("srt", alpha=True, store="k"), "WRONGTYPE"),   # k is a list now
])
def test_a_client_reads_its_own_writes(pair, write, expect):
    r, p = pair
    r.client().set("k", "1")
    r.client().set("other", "other")
    r.client().rpush("srt", "b", "a")
    c = p.client()
    assert c.get("k") == b"1"   # cached
    write(c)
    if expect == "WRONGTYPE":
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            c.get("k")
    else:
        assert c.get("k") == expect


def test_a_pipelined_write_then_read_sees_the_write(pair):
    r, p = pair
    r.client().set("k", "old")
    c = p.client()
    assert c.get("k") == b"old"
    s = raw(p.port)
    s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nnew\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
    assert read_exactly(s, lambda g: g.endswith(b"new\r\n")) == b"+OK\r\n$3\r\nnew\r\n"
    # and another client of the proxy sees it too
    assert p.client().get("k") == b"new"
    assert p.info("proxy_stats")["write_invalidations"] >= 1


def test_flushall_drops_the_whole_cache_and_is_counted(pair):
    r, p = pair
    r.client().set("a", "1")
    c = p.client()
    assert c.get("a") == b"1"
    c.flushall()
    assert p.info("cache")["cache_keys"] == 0
    assert p.info("proxy_stats")["cache_drops_flush"] == 1
    assert c.get("a") is None
    r.client().set("a", "2")
    assert c.get("a") == b"2"
    c.swapdb(0, 1)  # Redis sends no invalidation for it: the proxy's own drop, counted apart
    assert p.info("cache")["cache_keys"] == 0
    assert p.info("proxy_stats")["cache_drops_swapdb"] == 1


# ---- transactions and WATCH ----

def test_transactions_and_plain_pipelines(pair):
    r, p = pair
    c = p.client()
    pipe = c.pipeline()   # MULTI ... EXEC
    assert pipe.set("t", 1).incr("t").get("t").execute() == [True, 2, b"2"]
    pipe = c.pipeline(transaction=False)
    assert pipe.set("u", 1).incr("u").get("u").mget("t", "u").execute() == [True, 2, b"2", [b"2", b"2"]]
    assert p.info("proxy_stats")["pinned_connections"] == 0   # the transaction's connection was released
    with pytest.raises(redis.ResponseError, match="EXEC without MULTI"):
        c.execute_command("EXEC")
    with pytest.raises(redis.ResponseError, match="DISCARD without MULTI"):
        c.execute_command("DISCARD")


def test_discard_and_queued_errors(pair):
    r, p = pair
    s = raw(p.port)
    s.sendall(b"MULTI\r\nSET d 1\r\nDISCARD\r\nGET d\r\n")
    assert read_exactly(s, lambda g: g.count(b"\r\n") >= 4) == b"+OK\r\n+QUEUED\r\n+OK\r\n$-1\r\n"
    s.sendall(b"MULTI\r\nSET d\r\nEXEC\r\n")
    got = read_exactly(s, lambda g: g.count(b"\r\n") >= 3)
    assert got.startswith(b"+OK\r\n-ERR wrong number of arguments") and b"-EXECABORT" in got


def test_watch_conflict_aborts_the_transaction(pair):
    r, p = pair
    c = p.client()
    with c.pipeline() as pipe:
        pipe.watch("w")
        assert pipe.get("w") is None   # read on the watching connection
        p.client().set("w", "other")   # another client changes it
        pipe.multi()
        pipe.set("w", "mine")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert c.get("w") == b"other"
    with c.pipeline() as pipe:         # unwatched: it goes through
        pipe.watch("w")
        pipe.multi()
        pipe.set("w", "mine")
        assert pipe.execute() == [True]
    assert c.get("w") == b"mine"
    assert c.execute_command("UNWATCH") in (True, b"OK")


def test_two_clients_transactions_do_not_mix(pair):
    r, p = pair
    errors = []

    def worker(i):
        try:
            c = p.client()
            for j in range(30):
                pipe = c.pipeline()
                pipe.set(f"tx{i}", j).incr(f"tx{i}").get(f"tx{i}")
                assert pipe.execute() == [True, j + 1, str(j + 1).encode()]
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors


# ---- blocking commands ----

def test_blpop_blocks_one_client_while_others_are_served(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--backend-timeout", "200ms")   # a blocked command has no backend deadline
    r.client().set("k", "v")
    result = {}

    def blocked():
        result["v"] = p.client().blpop("q", 3)
    t = threading.Thread(target=blocked)
    t.start()
    assert wait_until(lambda: r.client().info("clients")["blocked_clients"] == 1)
    assert p.client().get("k") == b"v"               # others are served meanwhile
    assert p.client().set("k2", "v") is True
    time.sleep(0.4)                                  # past --backend-timeout: still blocked, not failed
    assert t.is_alive()
    p.client().rpush("q", "item")
    t.join(5)
    assert result["v"] == (b"q", b"item")
    assert p.client().blpop("q", 0.2) is None        # Redis's own timeout rules
    c = p.client()
    assert c.execute_command("BRPOP", "nothing", "0.1") is None
    c.rpush("z1", "x")
    assert c.brpoplpush("z1", "z2", 1) == b"x"
    c.zadd("bz", {"m": 1})
    assert c.bzpopmin("bz", 1) == (b"bz", b"m", 1.0)
    sid = c.xadd("bs", {"f": "v"})
    assert c.xread({"bs": "0"}, block=100)[0][1][0][0] == sid
    assert c.xread({"bs": "$"}, block=100) == []
    assert c.execute_command("WAIT", "0", "100") == 0


def test_a_client_gone_while_blocked_leaves_nothing_popped(pair):
    r, p = pair
    s = raw(p.port)
    s.sendall(b"BLPOP gone 0\r\n")
    assert wait_until(lambda: r.client().info("clients")["blocked_clients"] == 1)
    s.close()
    assert wait_until(lambda: r.client().info("clients")["blocked_clients"] == 0)
    r.client().rpush("gone", "item")
    time.sleep(0.2)
    assert r.client().lrange("gone", 0, -1) == [b"item"]   # no BLPOP of a vanished client took it


def test_requests_behind_a_blocked_command_wait_for_it(pair):
    r, p = pair
    s = raw(p.port)
    s.sendall(b"BLPOP bq 2\r\nSET after 1\r\nGET after\r\n")
    assert wait_until(lambda: r.client().info("clients")["blocked_clients"] == 1)
    assert r.client().get("after") is None        # the SET waits behind the BLPOP, as with Redis
    r.client().rpush("bq", "x")
    got = read_exactly(s, lambda g: g.endswith(b"$1\r\n1\r\n"))
    assert got == b"*2\r\n$2\r\nbq\r\n$1\r\nx\r\n+OK\r\n$1\r\n1\r\n"


# ---- pub/sub, MONITOR, CLIENT REPLY ----

def test_pubsub_through_the_proxy_and_directly(pair):
    r, p = pair
    ps = p.client().pubsub()
    ps.subscribe("news")
    ps.psubscribe("n*")
    assert ps.get_message(timeout=2)["type"] == "subscribe"
    assert ps.get_message(timeout=2)["type"] == "psubscribe"
    assert p.client().publish("news", "via proxy") == 2   # channel + pattern
    r.client().publish("news", "direct")
    msgs = [ps.get_message(timeout=2) for _ in range(4)]
    assert [(m["type"], m["data"]) for m in msgs] == [
        ("message", b"via proxy"), ("pmessage", b"via proxy"), ("message", b"direct"), ("pmessage", b"direct")]
    ps.ping()
    assert ps.get_message(timeout=2)["data"] in (b"", b"PONG")
    ps.unsubscribe()
    ps.punsubscribe()
    assert ps.get_message(timeout=2)["type"] == "unsubscribe"
    assert ps.get_message(timeout=2)["type"] == "punsubscribe"
    ps.close()
    assert wait_until(lambda: p.info("proxy_stats")["pinned_connections"] == 0)


def test_subscribed_mode_allows_only_what_redis_allows_then_ends(pair):
    r, p = pair
    r.client().set("k", "v")
    s = raw(p.port)
    s.sendall(b"SUBSCRIBE c1\r\nGET k\r\n")
    got = read_exactly(s, lambda g: b"-ERR" in g and g.endswith(b"\r\n"))
    assert got.startswith(b"*3\r\n$9\r\nsubscribe\r\n$2\r\nc1\r\n:1\r\n")
    assert b"-ERR Can't execute 'get'" in got
    # Unsubscribed, the same connection is an ordinary one again (pipelined right behind it)
    s.sendall(b"UNSUBSCRIBE\r\nGET k\r\nPING\r\n")
    got = read_exactly(s, lambda g: g.endswith(b"+PONG\r\n"))
    assert got == b"*3\r\n$11\r\nunsubscribe\r\n$2\r\nc1\r\n:0\r\n$1\r\nv\r\n+PONG\r\n"
    # UNSUBSCRIBE when not subscribed: Redis's answer
    s.sendall(b"UNSUBSCRIBE a b\r\nPING\r\n")
    got = read_exactly(s, lambda g: g.endswith(b"+PONG\r\n"))
    assert got == (b"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:0\r\n"
                   b"+PONG\r\n")


def test_monitor_streams_and_client_reply_off(pair):
    r, p = pair
    m = raw(p.port)
    m.sendall(b"MONITOR\r\n")
    assert read_exactly(m, lambda g: g.endswith(b"\r\n")) == b"+OK\r\n"
    p.client().set("mon", "x")
    assert b'"set" "mon" "x"' in read_exactly(m, lambda g: b'"mon"' in g).lower()
    s = raw(p.port)
    s.sendall(b"CLIENT REPLY OFF\r\nSET quiet 1\r\nCLIENT REPLY ON\r\nGET quiet\r\n")
    assert read_exactly(s, lambda g: g.count(b"\r\n") >= 3) == b"+OK\r\n$1\r\n1\r\n"
    # A transaction runs on the client's pinned connection: MONITOR names the client, not the proxy.
    t = raw(p.port)
    t.sendall(b"MULTI\r\nSET monitored 1\r\nEXEC\r\n")
    read_exactly(t, lambda g: g.endswith(b"*1\r\n+OK\r\n"))
    line = read_exactly(m, lambda g: b'"monitored"' in g).split(b"\r\n")
    line = [x for x in line if b'"monitored"' in x][0].decode()
    assert f" {t.getsockname()[0]}:{t.getsockname()[1]}] " in line, line


def test_reset_ends_every_state(pair):
    r, p = pair
    s = raw(p.port)
    s.sendall(b"MULTI\r\nSET rs 1\r\nRESET\r\nGET rs\r\n")
    assert read_exactly(s, lambda g: g.count(b"\r\n") >= 4) == b"+OK\r\n+QUEUED\r\n+RESET\r\n$-1\r\n"
    s.sendall(b"SUBSCRIBE x\r\nRESET\r\nPING\r\n")
    assert read_exactly(s, lambda g: g.endswith(b"+PONG\r\n")).endswith(b"+RESET\r\n+PONG\r\n")
    assert wait_until(lambda: p.info("proxy_stats")["pinned_connections"] == 0)


def test_losing_a_pinned_connection_closes_the_client(pair):
    r, p = pair
    s = raw(p.port)
    s.sendall(b"SUBSCRIBE lost\r\n")
    read_exactly(s, lambda g: g.endswith(b":1\r\n"))
    # the subscriber's pinned connection, and the proxy's invalidation link (its own pub/sub client)
    assert r.client().client_kill_filter(_type="pubsub") >= 1
    assert recv_until_closed(s) == b""
    assert p.client().ping()


# ---- SELECT ----

def test_select_another_database_is_kept_apart_from_the_cache(pair):
    r, p = pair
    r.client().set("same", "db0")
    r.client(db=1).set("same", "db1")
    c0, c1 = p.client(), p.client(db=1)   # redis-py sends SELECT 1 on connect
    assert c0.get("same") == b"db0"
    assert c1.get("same") == b"db1"
    assert c1.mget("same") == [b"db1"]
    assert c0.get("same") == b"db0"
    c1.set("same", "db1-new")
    assert c0.get("same") == b"db0"       # a write in db 1 leaves db 0's cached value alone
    assert c1.get("same") == b"db1-new"
    assert r.client(db=1).get("same") == b"db1-new"
    # Only db 0's key is cached. Redis's tracking ignores databases: the SET in db 1 also sends an
    # invalidation of "same", which may land after the read above; read it again once it has.
    assert wait_until(lambda: c0.get("same") == b"db0" and p.info("cache")["cache_keys"] == 1)
    c1.flushdb()
    assert c0.get("same") == b"db0"
    assert c1.execute_command("SELECT", "0") in (True, b"OK")
    assert c1.get("same") == b"db0"


# ---- access control and limits ----

def test_requirepass_resp_and_http(redis_server, proxy):
    r = redis_server()
    r.client().set("k", "v")
    p = proxy(r.port, "--requirepass", "s3cret")
    c = p.client()
    with pytest.raises(redis.AuthenticationError):
        c.get("k")
    with pytest.raises((redis.AuthenticationError, redis.ResponseError), match="invalid username-password"):
        p.client(password="wrong").get("k")
    assert p.client(password="s3cret").get("k") == b"v"
    assert p.client(username="default", password="s3cret").get("k") == b"v"
    s = raw(p.port)
    s.sendall(b"HELLO 2 AUTH default s3cret\r\nGET k\r\n")
    got = read_exactly(s, lambda g: g.endswith(b"$1\r\nv\r\n"))
    assert got.startswith(b"*14\r\n")
    s.sendall(b"AUTH default nope\r\n")
    assert read_exactly(s, lambda g: g.endswith(b"\r\n")).startswith(b"-WRONGPASS")
    assert rawhttp.get(p.port, "/k").status == 401
    assert rawhttp.get(p.port, "/k", headers={"Authorization": "Bearer s3cret"}).body == b"v"
    assert rawhttp.get(p.port, "/k", headers={"Authorization": "Bearer bad"}).status == 401
    import base64
    basic = base64.b64encode(b"anyone:s3cret").decode()
    assert rawhttp.get(p.port, "/k", headers={"Authorization": f"Basic {basic}"}).body == b"v"
    assert "s3cret" not in p.output()


def test_auth_without_requirepass_answers_as_redis_does(pair):
    r, p = pair
    c = p.client()
    assert_same_errors(c, r.client(), (("AUTH", "pw"), ("AUTH", "someone", "pw")))
    assert c.execute_command("AUTH", "default", "anything") in (True, b"OK")


def test_deny_commands(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--deny-commands", "flushall,CONFIG,debug")
    c = p.client()
    for args in (("FLUSHALL",), ("config", "set", "maxmemory", "1"), ("DEBUG", "SLEEP", "0")):
        with pytest.raises(redis.ResponseError, match="disabled on this proxy"):
            c.execute_command(*args)
    assert c.set("x", "1") and c.get("x") == b"1"
    assert p.info("proxy_stats")["denied_commands"] == 3


def test_max_pinned_refuses_with_a_clear_error_and_the_client_keeps_its_connection(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--max-pinned", "1")
    a, b = raw(p.port), p.client()
    a.sendall(b"MULTI\r\n")
    assert read_exactly(a, lambda g: g.endswith(b"\r\n")) == b"+OK\r\n"
    with pytest.raises(redis.ResponseError, match="max-pinned"):
        b.execute_command("MULTI")
    assert b.set("free", "1")           # the refused client keeps working
    a.sendall(b"EXEC\r\n")
    assert read_exactly(a, lambda g: g.endswith(b"\r\n")) == b"*0\r\n"
    assert wait_until(lambda: p.info("proxy_stats")["pinned_connections"] == 0)
    assert b.pipeline().set("free", "2").execute() == [True]


def test_client_commands_about_the_own_connection(pair):
    _, p = pair
    c = p.client()
    c.client_setname("me")
    info = c.client_info()
    assert info["name"] == "me" and info["id"] == c.client_id() and "addr" in info
    assert [x["name"] for x in c.client_list() if int(x["id"]) == c.client_id()] == ["me"]
    # RESP2 tracking with no REDIRECT: accepted, and nothing can be said to it (as Redis)
    assert c.execute_command("CLIENT", "TRACKING", "on") in (True, b"OK")
    assert c.execute_command("CLIENT", "TRACKING", "off") in (True, b"OK")
    assert c.execute_command("CLIENT", "KILL", "ID", "999999") == 0  # the proxy's clients: none has it
    assert c.execute_command("CLIENT", "NO-EVICT", "on") in (True, b"OK")


def test_a_large_value_is_forwarded_and_read_back(pair):
    r, p = pair
    c = p.client()
    big = b"x" * (20 << 20)
    assert c.set("big", big)
    assert c.get("big") == big
    assert r.client().strlen("big") == len(big)


def test_redis_benchmark_default_tests_run_without_errors(pair):
    _, p = pair
    out = subprocess.run(["redis-benchmark", "-p", str(p.port), "-n", "2000", "-c", "10", "-q"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    assert "rror" not in text, text
    for test in ("PING_INLINE", "SET", "GET", "INCR", "LPUSH", "RPUSH", "LPOP", "RPOP", "SADD", "HSET", "SPOP",
                 "ZADD", "ZPOPMIN", "LRANGE_100", "MSET"):
        assert test in text, text



# ---- limits and fallbacks ----

def test_an_mget_over_the_cached_limit_is_forwarded_whole(pair):
    r, p = pair
    keys = [f"big:{i}" for i in range(4100)]      # over the 4,096 keys the cache serves in one MGET
    r.client().mset({k: k for k in keys[::2]})
    mgets = calls(r, "mget")
    got = p.client().mget(keys)
    assert got == [k.encode() if i % 2 == 0 else None for i, k in enumerate(keys)]
    assert calls(r, "mget") == mgets + 1              # one MGET, the client's own
    assert p.info("cache")["cache_keys"] == 0         # and nothing stored from it
    small = p.client().mget(keys[:4096])              # at the limit: through the cache
    assert small[0] == b"big:0" and p.info("cache")["cache_keys"] == 2048


def test_a_backend_that_refuses_command_leaves_the_built_in_table(redis_server, proxy):
    r = redis_server()
    r.client().execute_command("ACL", "SETUSER", "proxy", "on", ">pw", "~*", "&*", "+@all", "-command")
    p = proxy(r.port, "--redis", f"redis://proxy:pw@127.0.0.1:{r.port}")
    assert wait_until(lambda: p.info("backend")["backend_redis_version"] != "unknown")
    assert wait_until(lambda: "backend refused COMMAND" in p.output())
    assert p.info("proxy_stats")["backend_commands_learned"] == 0
    r.client().set("a", "1")
    r.client().set("b", "1")
    c = p.client()
    assert c.mget("a", "b") == [b"1", b"1"]
    c.set("a", "2")                                   # the built-in table knows SET: one key dropped
    assert p.info("cache")["cache_keys"] == 1 and c.get("a") == b"2"
    with pytest.raises(redis.ResponseError, match="unknown command"):
        c.execute_command("NOSUCH.WRITE", "b")        # unknown to a table that is not Redis's: it may write
    assert p.info("proxy_stats")["cache_drops_unknown_keys"] == 1
    assert p.info("cache")["cache_keys"] == 0


def test_info_answers_the_proxy_s_sections_while_redis_is_down(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port)
    c = p.client()
    assert "redis_version" in c.info()
    r.kill()
    assert wait_until(lambda: p.info("backend")["backend_link_status"] != "up")
    info = c.info()
    assert "redis_version" not in info and info["backend_link_status"] != "up" and "proxy_version" in info


def test_hello_auth_and_client_unblock_refusals(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--requirepass", "pw")
    s = raw(p.port)
    s.sendall(b"HELLO 2 AUTH default wrong\r\nGET k\r\n")
    got = read_exactly(s, lambda g: g.count(b"\r\n") >= 2)
    assert got.startswith(b"-WRONGPASS") and b"-NOAUTH Authentication required." in got
    c = p.client(password="pw")
    assert c.execute_command("CLIENT", "UNBLOCK", "1") == 0  # a client that is not blocked


def test_a_subscriber_that_does_not_read_is_held_back_not_buffered(redis_server, proxy):
    r = redis_server(extra=["--client-output-buffer-limit", "pubsub", "0", "0", "0"])
    p = proxy(r.port)
    s = raw(p.port)
    s.sendall(b"SUBSCRIBE flood\r\n")
    read_exactly(s, lambda g: g.endswith(b":1\r\n"))
    base = rss_kb(p.proc.pid)
    payload = "x" * 10000
    pub = r.client()
    for _ in range(4000):                            # 40 MB the subscriber does not read yet
        pub.publish("flood", payload)
    time.sleep(0.5)
    if not os.environ.get("RCP_SANITIZED"):
        assert rss_kb(p.proc.pid) - base < 8 * 1024   # the proxy stopped reading Redis: Redis holds them
    s.settimeout(10)
    frame = b"*3\r\n$7\r\nmessage\r\n$5\r\nflood\r\n$10000\r\n" + payload.encode() + b"\r\n"
    got = bytearray()
    while len(got) < 4000 * len(frame):
        chunk = s.recv(1 << 20)
        assert chunk
        got += chunk
    assert got == frame * 4000                      # every message, in order, once the client reads
