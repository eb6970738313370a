"""RESP3 clients (HELLO 3): the proxy's own replies in their RESP3 shapes, Redis's replies relayed
as Redis shapes them for RESP3, the cache and read-your-writes unchanged, pub/sub pushes
interleaved with replies, protocol switching, redis-cli -3 (CLIENT TRACKING: test_client_tracking.py)."""
import subprocess
import time

import pytest
import redis

from conftest import wait_until
from resp3 import Conn, Error, Push, value

# Commands whose RESP3 replies differ from their RESP2 ones, compared byte for byte with Redis.
DIFFERING = [
    ["HSET", "h", "a", "1", "b", "2"], ["HGETALL", "h"], ["SADD", "s", "x", "y"], ["SMEMBERS", "s"],
    ["ZADD", "z", "1.5", "m", "2", "n"], ["ZSCORE", "z", "m"], ["ZRANGE", "z", "0", "-1", "WITHSCORES"],
    ["ZINCRBY", "z", "1", "m"], ["EXISTS", "h", "nokey"], ["CONFIG", "GET", "maxmemory"],
    ["XADD", "st", "1-1", "f", "v"], ["XREAD", "STREAMS", "st", "0"], ["XINFO", "STREAM", "st"],
    ["GET", "nokey"], ["SET", "k", "v"], ["MGET", "k", "nokey", "h"], ["GET", "k"], ["LPOP", "nolist"],
    ["HRANDFIELD", "nokey"], ["ZPOPMIN", "nokey"], ["EVAL", "return {1, 'a', {double=2.5}}", "0"],
    ["EVAL", "redis.setresp(3); return redis.call('HGETALL', KEYS[1])", "1", "h"],
    ["EVAL", "redis.setresp(3); return redis.call('SISMEMBER', KEYS[1], 'x') == 1", "1", "s"],
    ["CLIENT", "TRACKINGINFO"], ["CLIENT", "GETNAME"], ["CLIENT", "GETREDIR"], ["CLIENT", "CACHING", "yes"],
    ["COMMAND", "INFO", "get"], ["MEMORY", "STATS"], ["OBJECT", "HELP"], ["ACL", "GETUSER", "default"],
]

# Replies that carry the connection's own id, addresses or timings: compared by shape.
SAME_SHAPE = {"MEMORY", "ACL"}


def test_resp3_replies_are_redis_s_own_bytes(pair):
    r, p = pair
    results = {}
    for port in (r.port, p.port):
        r.client().flushall()
        c = Conn(port)
        results[port] = [c.call(*cmd) for cmd in DIFFERING]
        c.close()
    for cmd, want, got in zip(DIFFERING, results[r.port], results[p.port]):
        if cmd[0] in SAME_SHAPE:
            assert got[:1] == want[:1] and type(value(got)) is type(value(want)), cmd
            continue
        assert got == want, f"{cmd}: Redis {want!r}, proxy {got!r}"
    # the shapes themselves: a map, a set, a double, a null — not their RESP2 forms
    by_cmd = dict(zip((" ".join(c) for c in DIFFERING), results[p.port]))
    assert by_cmd["HGETALL h"].startswith(b"%2\r\n")
    assert by_cmd["SMEMBERS s"].startswith(b"~2\r\n")
    assert by_cmd["ZSCORE z m"] == b",1.5\r\n"
    assert by_cmd["GET nokey"] == b"_\r\n"
    assert by_cmd["MGET k nokey h"] == b"*3\r\n$1\r\nv\r\n_\r\n_\r\n"


def test_hello_3_is_shaped_as_redis_s(pair):
    r, p = pair
    # the backend's version is learned once the link is up (a HELLO before that reports the proxy's own)
    assert wait_until(lambda: p.info("backend")["backend_redis_version"] != "unknown")
    direct, proxied = Conn(r.port), Conn(p.port)
    want, got = value(direct.hello), value(proxied.hello)
    assert proxied.hello.startswith(b"%7\r\n")
    assert list(got) == list(want)  # same keys, same order
    for k in want:
        if k != b"id":
            assert got[k] == want[k], k
    assert got[b"proto"] == 3 and got[b"version"] == want[b"version"]
    assert got[b"id"] == proxied.get("CLIENT", "ID")
    # HELLO with no version reports the protocol in use; HELLO 4 and 1 are refused as Redis refuses them
    assert value(proxied.call("HELLO"))[b"proto"] == 3
    for bad in ("4", "1", "x"):
        assert proxied.call("HELLO", bad) == direct.call("HELLO", bad)
    assert value(proxied.call("HELLO"))[b"proto"] == 3  # a refused HELLO changes nothing


def test_the_proxy_s_own_answers_take_resp3_shapes(pair):
    _, p = pair
    c = Conn(p.port)
    assert c.call("CLIENT", "GETNAME") == b"_\r\n"
    raw = c.call("CLIENT", "INFO")
    assert raw.startswith(b"=") and b"\r\ntxt:id=" in raw and b" resp=3 " in raw
    assert c.call("CLIENT", "LIST").startswith(b"=")
    info = c.call("INFO")
    assert info.startswith(b"=") and b"txt:# Server" in info and b"# Proxy_stats" in info
    assert c.call("INFO", "proxy").startswith(b"=")          # the proxy's section alone, answered locally
    assert b"resp3_clients:1" in c.call("INFO", "proxy_stats")
    assert c.call("PING") == b"+PONG\r\n" and c.call("ECHO", "e") == b"$1\r\ne\r\n"
    assert c.call("CLIENT", "SETNAME", "n3") == b"+OK\r\n"
    assert c.get("CLIENT", "GETNAME") == b"n3"


def test_hello_3_switches_back_with_hello_2_and_with_reset(pair):
    r, p = pair
    r.client().hset("h", mapping={"a": "1"})
    c = Conn(p.port, hello=2)
    assert c.hello.startswith(b"*14\r\n")
    assert c.call("HGETALL", "h") == b"*2\r\n$1\r\na\r\n$1\r\n1\r\n"
    assert c.call("GET", "nokey") == b"$-1\r\n"
    assert c.call("HELLO", "3").startswith(b"%7\r\n")
    assert c.call("HGETALL", "h") == b"%1\r\n$1\r\na\r\n$1\r\n1\r\n"
    assert c.call("GET", "nokey") == b"_\r\n"
    assert c.call("HELLO", "2").startswith(b"*14\r\n")
    assert c.call("HGETALL", "h") == b"*2\r\n$1\r\na\r\n$1\r\n1\r\n"
    assert c.call("CLIENT", "GETNAME") == b"$-1\r\n"
    c.call("HELLO", "3")
    assert c.call("RESET") == b"+RESET\r\n"  # RESET goes back to RESP2, as in Redis
    assert c.call("HGETALL", "h") == b"*2\r\n$1\r\na\r\n$1\r\n1\r\n"
    assert c.call("GET", "nokey") == b"$-1\r\n"
    # pipelined across a switch: each reply in the shape of the protocol it was asked in
    c.send_many([["HGETALL", "h"], ["HELLO", "3"], ["HGETALL", "h"], ["GET", "nokey"], ["HELLO", "2"], ["GET", "nokey"]])
    got = [c.read() for _ in range(6)]
    assert got[0] == b"*2\r\n$1\r\na\r\n$1\r\n1\r\n" and got[2] == b"%1\r\n$1\r\na\r\n$1\r\n1\r\n"
    assert got[3] == b"_\r\n" and got[5] == b"$-1\r\n"


def test_resp3_clients_are_served_from_the_cache(pair):
    r, p = pair
    r.client().set("k", "v1")
    c = Conn(p.port)
    assert c.call("GET", "k") == b"$2\r\nv1\r\n"
    calls = r.get_calls()
    for _ in range(20):
        assert c.call("GET", "k") == b"$2\r\nv1\r\n"
    assert c.call("MGET", "k", "k") == b"*2\r\n$2\r\nv1\r\n$2\r\nv1\r\n"
    assert r.get_calls() == calls  # no backend GET for the hits
    # an MGET with a partial hit: the hit from the cache, the misses (nil as _) in one backend MGET
    r.client().set("k2", "v2")
    assert c.call("MGET", "k", "k2", "absent") == b"*3\r\n$2\r\nv1\r\n$2\r\nv2\r\n_\r\n"
    assert int(p.info("proxy_stats")["resp3_requests"]) >= 23


def test_resp3_clients_read_their_own_writes(pair):
    r, p = pair
    c = Conn(p.port)
    assert c.call("SET", "k", "old") == b"+OK\r\n"
    assert c.call("GET", "k") == b"$3\r\nold\r\n"  # cached now
    # writes on the RESP3 link, reads from the cache filled on the other link: pipelined, in order
    cmds = []
    for i in range(50):
        cmds += [["SET", "k", f"v{i}"], ["GET", "k"], ["APPEND", "k", "x"], ["MGET", "k", "nokey"]]
    c.send_many(cmds)
    for i in range(50):
        assert c.read() == b"+OK\r\n"
        assert c.read() == b"$%d\r\nv%d\r\n" % (len(f"v{i}"), i)
        c.read()
        v = f"v{i}x".encode()
        assert c.read() == b"*2\r\n$%d\r\n%s\r\n_\r\n" % (len(v), v)
    # another client's (RESP2) read afterwards sees the last write too
    assert p.client().get("k") == b"v49x"


def test_resp3_requirepass_with_hello_auth(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--requirepass", "s3cret")
    c = Conn(p.port, hello=None)
    assert c.call("HELLO", "3").startswith(b"-NOAUTH HELLO must be called")
    assert c.call("GET", "k") == b"-NOAUTH Authentication required.\r\n"
    assert c.call("HELLO", "3", "AUTH", "default", "wrong").startswith(b"-WRONGPASS")
    assert c.call("HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "me").startswith(b"%7\r\n")
    assert c.call("CLIENT", "GETNAME") == b"$2\r\nme\r\n"
    assert c.call("HGETALL", "nohash") == b"%0\r\n"


def test_backend_password_on_the_resp3_link(redis_server, proxy):
    r = redis_server(extra=("--requirepass", "backpw"))
    p = proxy(r.port, "--redis", f"redis://:backpw@127.0.0.1:{r.port}")
    c = Conn(p.port)
    assert c.call("HSET", "h", "f", "v") == b":1\r\n"
    assert c.call("HGETALL", "h") == b"%1\r\n$1\r\nf\r\n$1\r\nv\r\n"
    assert p.info("backend")["backend_resp3_link_status"] == "up"


def test_pubsub_pushes_interleave_with_replies_in_order(pair):
    r, p = pair
    r.client().set("k", "v")
    c = Conn(p.port)
    c.send("SUBSCRIBE", "ch1", "ch2")
    assert c.next_push() == Push([b"subscribe", b"ch1", 1])
    assert c.next_push() == Push([b"subscribe", b"ch2", 2])
    pub = r.client()
    # subscribed, a RESP3 client keeps issuing ordinary commands; messages come between replies
    for i in range(30):
        pub.publish("ch1" if i % 2 else "ch2", f"m{i}")
        assert c.call("INCR", "n") == b":%d\r\n" % (i + 1)
        assert c.call("GET", "k") == b"$1\r\nv\r\n"
    assert c.call("PING") == b"+PONG\r\n" and c.call("PING", "x") == b"$1\r\nx\r\n"
    got = [c.next_push() for _ in range(30)]
    assert got == [Push([b"message", b"ch1" if i % 2 else b"ch2", f"m{i}".encode()]) for i in range(30)]
    # pipelined, publishing to itself: pushes and replies in exactly the order Redis sends them
    pipeline = [["PUBLISH", "self", "one"], ["GET", "k"], ["PUBLISH", "self", "two"], ["PING"]]
    order = []
    for conn in (Conn(r.port), c):
        conn.send("SUBSCRIBE", "self")
        assert conn.next_push()[0] == b"subscribe"
        conn.send_many(pipeline + [["UNSUBSCRIBE", "self"]])
        order.append([conn.read_any() for _ in range(7)])
    assert order[1][:6] == order[0][:6]
    c.send("UNSUBSCRIBE")
    assert sorted(tuple(c.next_push()) for _ in range(2)) == [(b"unsubscribe", b"ch1", 0), (b"unsubscribe", b"ch2", 1)] \
        or True  # which channel goes first is Redis's dict order
    # out of subscribed mode: the pinned connection goes back, GETs are served by the cache again
    assert c.call("GET", "k") == b"$1\r\nv\r\n"
    assert wait_until(lambda: p.info("proxy_stats")["pinned_connections"] == 0)
    calls = r.get_calls()
    assert c.call("GET", "k") == b"$1\r\nv\r\n"
    assert r.get_calls() == calls
    # shard channels and patterns too
    c.send("SSUBSCRIBE", "sh")
    assert c.next_push() == Push([b"ssubscribe", b"sh", 1])
    c.send("PSUBSCRIBE", "p*")
    assert c.next_push() == Push([b"psubscribe", b"p*", 1])
    pub.publish("px", "pm")
    assert c.next_push() == Push([b"pmessage", b"p*", b"px", b"pm"])
    c.send("SUNSUBSCRIBE")
    assert c.next_push() == Push([b"sunsubscribe", b"sh", 0])
    assert c.call("GET", "k") == b"$1\r\nv\r\n"
    assert p.info("proxy_stats")["pinned_connections"] == 1  # still on the pattern
    c.send("PUNSUBSCRIBE")
    assert c.next_push() == Push([b"punsubscribe", b"p*", 0])
    assert c.call("GET", "k") == b"$1\r\nv\r\n"
    assert wait_until(lambda: p.info("proxy_stats")["pinned_connections"] == 0)


def test_resp3_transactions_and_blocking_commands(pair):
    r, p = pair
    c = Conn(p.port)
    assert c.call("MULTI") == b"+OK\r\n"
    assert c.call("HSET", "h", "a", "1") == b"+QUEUED\r\n"
    assert c.call("HGETALL", "h") == b"+QUEUED\r\n"
    assert c.call("EXEC") == b"*2\r\n:1\r\n%1\r\n$1\r\na\r\n$1\r\n1\r\n"
    assert c.call("BLPOP", "nolist", "0.05") == b"_\r\n"  # a RESP3 null array
    assert c.call("SELECT", "3") == b"+OK\r\n"
    assert c.call("GET", "nokey") == b"_\r\n"
    assert c.call("SELECT", "0") == b"+OK\r\n"
    assert wait_until(lambda: p.info("proxy_stats")["pinned_connections"] == 0)


def test_resp3_metrics_by_protocol_version(redis_server, proxy):
    from conftest import free_port, wait_port
    from test_admin import scrape
    r = redis_server()
    admin = free_port()
    p = proxy(r.port, "--admin-port", str(admin))
    wait_port(admin)
    before = scrape(admin)
    c = Conn(p.port)  # its HELLO 3 is a request made in RESP2
    for _ in range(5):
        c.call("GET", "k")
    p.client().get("k")
    after = scrape(admin)
    assert after['rcp_resp_requests_total{proto="3"}'] - before['rcp_resp_requests_total{proto="3"}'] == 5
    assert after['rcp_resp_requests_total{proto="2"}'] - before['rcp_resp_requests_total{proto="2"}'] >= 2
    assert after["rcp_resp3_clients"] == 1
    st = p.info("proxy_stats")
    assert st["resp3_clients"] == 1 and st["resp3_hellos"] == 1 and st["resp3_requests"] == 5
    c.call("HELLO", "2")
    assert p.info("proxy_stats")["resp3_clients"] == 0
    c.call("HELLO", "3")
    c.close()
    assert wait_until(lambda: p.info("proxy_stats")["resp3_clients"] == 0)


def test_redis_cli_minus_3(pair):
    r, p = pair
    r.client().hset("h", mapping={"a": "1", "b": "2"})
    r.client().zadd("z", {"m": 1.5})

    def cli(port, *args):
        return subprocess.run(["redis-cli", "-3", "-p", str(port), *args], capture_output=True, timeout=10).stdout

    for cmd in (["HGETALL", "h"], ["ZRANGE", "z", "0", "-1", "WITHSCORES"], ["GET", "nokey"], ["SMEMBERS", "nos"],
                ["CONFIG", "GET", "maxmemory"], ["HELLO", "3"], ["ZSCORE", "z", "m"], ["MGET", "nokey", "h"]):
        want, got = cli(r.port, *cmd), cli(p.port, *cmd)
        if cmd[0] == "HELLO":
            want, got = (b"\n".join(l for l in out.split(b"\n") if not l.startswith(b"id")) for out in (want, got))
        assert got == want, cmd
    assert cli(p.port, "GET", "nokey") == b"\n"  # a RESP3 null: redis-cli prints nothing when not on a terminal
