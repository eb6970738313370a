"""The proxy's clients as its own server sees them: CLIENT LIST / INFO over every client of the
proxy (RESP and HTTP) in Redis's format, and CLIENT KILL in both forms closing them, with Redis's
replies and errors (compared with redis-server given the same commands)."""
import socket
import threading
import time

import pytest
import redis

from conftest import wait_until


def fields(line):
    return [kv.split("=", 1)[0] for kv in line.strip().split(" ")]


def parse(line):
    return dict(kv.split("=", 1) for kv in line.strip().split(" "))


def listing(c, *args):
    raw = c.execute_command("CLIENT", "LIST", *args)
    text = raw.decode() if isinstance(raw, bytes) else raw
    return [parse(line) for line in text.splitlines() if line]


def raw_client(port):
    """A redis-py client that keeps its own connection (one socket), and that socket's address."""
    c = redis.Redis(host="127.0.0.1", port=port, single_connection_client=True, socket_timeout=5)
    c.ping()
    sock = c.connection._sock
    host, p = sock.getsockname()[:2]
    return c, f"{host}:{p}"


def test_client_list_shows_every_client_of_the_proxy_in_redis_s_format(pair):
    r, p = pair
    a, a_addr = raw_client(p.port)
    b, b_addr = raw_client(p.port)
    a.client_setname("alpha")
    b.execute_command("CLIENT", "SETINFO", "LIB-NAME", "mylib")
    b.set("k", "v")
    b.get("k")
    h = socket.create_connection(("127.0.0.1", p.port))
    h.sendall(b"GET /k HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert b"200 OK" in h.recv(4096)
    lines = listing(a)
    by_addr = {x["addr"]: x for x in lines}
    assert a_addr in by_addr and b_addr in by_addr
    assert by_addr[a_addr]["name"] == "alpha" and by_addr[a_addr]["cmd"] == "client|list"
    assert by_addr[b_addr]["cmd"] == "get" and by_addr[b_addr]["lib-name"] == "mylib"
    assert by_addr[a_addr]["laddr"] == f"127.0.0.1:{p.port}"
    http = [x for x in lines if x["cmd"] == "http"]
    assert len(http) == 1 and http[0]["addr"] == "%s:%d" % h.getsockname()[:2]
    ids = [int(x["id"]) for x in lines]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert int(by_addr[a_addr]["id"]) == a.client_id()
    # Redis's fields, in Redis's order (the proxy adds lib-name and lib-ver, as Redis 7.2 does).
    direct = r.client().execute_command("CLIENT", "LIST").decode().splitlines()[0]
    line = a.execute_command("CLIENT", "INFO").decode()
    assert fields(line)[:len(fields(direct))] == fields(direct)
    assert parse(line)["addr"] == a_addr and parse(line)["cmd"] == "client|info"
    # Filters: TYPE, ID (in the order given, unknown ids skipped).
    sub = p.client().pubsub()
    sub.subscribe("news")
    assert wait_until(lambda: sub.get_message(timeout=0.1) is not None)
    pubsub = listing(a, "TYPE", "pubsub")
    assert len(pubsub) == 1 and pubsub[0]["flags"] == "P"
    assert all(x["flags"] != "P" for x in listing(a, "TYPE", "normal"))
    assert listing(a, "TYPE", "master") == [] and listing(a, "TYPE", "replica") == []
    got = listing(a, "ID", by_addr[b_addr]["id"], "999999", by_addr[a_addr]["id"])
    assert [x["addr"] for x in got] == [b_addr, a_addr]
    h.close()


@pytest.mark.parametrize("command", [
    ["CLIENT", "LIST", "TYPE", "nosuch"],
    ["CLIENT", "LIST", "ID", "abc"],
    ["CLIENT", "LIST", "BOGUS"],
    ["CLIENT", "KILL", "ID", "0"],
    ["CLIENT", "KILL", "ID", "-3"],
    ["CLIENT", "KILL", "ID", "x"],
    ["CLIENT", "KILL", "TYPE", "nosuch"],
    ["CLIENT", "KILL", "SKIPME", "maybe"],
    ["CLIENT", "KILL", "USER", "nobody"],
    ["CLIENT", "KILL", "ADDR"],
    ["CLIENT", "KILL", "ADDR", "1.2.3.4:5", "LADDR"],
    ["CLIENT", "KILL", "BOGUS", "x"],
    ["CLIENT", "KILL", "MAXAGE", "soon"],
    ["CLIENT", "KILL", "1.2.3.4:5"],
    ["CLIENT", "UNBLOCK", "abc"],
    ["CLIENT", "UNBLOCK", "12345"],
    ["CLIENT", "UNBLOCK", "12345", "BOGUS"],
    ["CLIENT", "UNBLOCK", "12345", "error"],
])
def test_client_list_and_kill_errors_are_redis_s(pair, command):
    r, p = pair

    def reply(c):
        try:
            return ("ok", c.execute_command(*command))
        except redis.ResponseError as e:
            return ("error", str(e))
    assert reply(p.client()) == reply(r.client())


def test_client_kill_closes_the_clients_it_names_in_both_forms(pair):
    r, p = pair
    me, me_addr = raw_client(p.port)
    victims = [raw_client(p.port) for _ in range(4)]
    ids = [v.client_id() for v, _ in victims]

    def gone(c):
        try:
            c.ping()
            return False
        except redis.ConnectionError:
            return True
    # By id: one closed, the rest serve.
    assert me.execute_command("CLIENT", "KILL", "ID", str(ids[0])) == 1
    assert wait_until(lambda: gone(victims[0][0]))
    assert victims[1][0].ping()
    # The old form, by address: +OK; an address nobody has: Redis's error.
    assert me.execute_command("CLIENT", "KILL", victims[1][1]) == b"OK"
    assert wait_until(lambda: gone(victims[1][0]))
    # ADDR, and filters that match nobody kill nobody.
    assert me.execute_command("CLIENT", "KILL", "ADDR", victims[2][1], "TYPE", "pubsub") == 0
    assert me.execute_command("CLIENT", "KILL", "ADDR", victims[2][1], "MAXAGE", "1000") == 0
    assert me.execute_command("CLIENT", "KILL", "ADDR", victims[2][1], "USER", "default") == 1
    assert wait_until(lambda: gone(victims[2][0]))
    # A subscriber, by TYPE.
    sub = p.client().pubsub()
    sub.subscribe("news")
    assert wait_until(lambda: sub.get_message(timeout=0.1) is not None)
    assert me.execute_command("CLIENT", "KILL", "TYPE", "pubsub") == 1
    with pytest.raises(redis.ConnectionError):
        for _ in range(50):
            sub.get_message(timeout=0.1)
    # An HTTP client.
    h = socket.create_connection(("127.0.0.1", p.port))
    h.sendall(b"GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    h.recv(4096)
    http_addr = "%s:%d" % h.getsockname()[:2]
    assert me.execute_command("CLIENT", "KILL", "ADDR", http_addr) == 1
    h.settimeout(5)
    assert h.recv(4096) == b""
    # LADDR: every client on the proxy's port but the caller (SKIPME yes by default).
    left = len(listing(me)) - 1  # (a connection of the fixture's own may close meanwhile)
    assert 1 <= me.execute_command("CLIENT", "KILL", "LADDR", f"127.0.0.1:{p.port}") <= left
    assert wait_until(lambda: gone(victims[3][0]))
    assert me.ping()
    # SKIPME no on its own id: the caller gets its reply, then its connection closes.
    assert me.execute_command("CLIENT", "KILL", "ID", str(me.client_id()), "SKIPME", "no") == 1
    assert wait_until(lambda: gone(me))
    # Redis itself never saw these commands: the backend's clients are the proxy's links.
    assert "cmd=client|kill" not in r.client().execute_command("CLIENT", "LIST").decode()


def blocked_then_unblocked(target, port_client, mode):
    """target runs BLPOP 0 in a thread; port_client unblocks it by its id (as its server knows
    it); returns (the unblock's reply, what BLPOP returned or the error it raised)."""
    b = redis.Redis(host="127.0.0.1", port=target, single_connection_client=True, socket_timeout=10)
    bid = b.client_id()
    out = {}

    def block():
        try:
            out["got"] = b.blpop("nothing-here", 0)
        except redis.ResponseError as e:
            out["got"] = "error: " + str(e)
    t = threading.Thread(target=block)
    t.start()
    a = redis.Redis(host="127.0.0.1", port=port_client)
    replies = []

    def unblock():
        replies.append(a.execute_command("CLIENT", "UNBLOCK", bid, *mode))
        return replies[-1] == 1
    assert wait_until(unblock, timeout=5)
    t.join(5)
    return replies[-1], out.get("got")


@pytest.mark.parametrize("mode", [(), ("TIMEOUT",), ("ERROR",)])
def test_client_unblock_of_a_blocked_client_as_redis_does_it(pair, mode):
    r, p = pair
    direct = blocked_then_unblocked(r.port, r.port, mode)
    through = blocked_then_unblocked(p.port, p.port, mode)
    assert through == direct
    assert direct[0] == 1 and (direct[1] is None if mode != ("ERROR",) else direct[1].startswith("error: UNBLOCKED"))
    # The client unblocked serves on.
    assert p.client().lpush("q", "x") == 1


def test_killing_clients_in_the_middle_of_their_work_leaves_the_proxy_whole(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--ttl", "0")
    me = p.client()
    # One blocked in BLPOP (on a pinned connection), one with a pipeline of misses in flight while
    # Redis is held up, one in a transaction.
    blocked = redis.Redis(host="127.0.0.1", port=p.port, single_connection_client=True, socket_timeout=10)
    bid = blocked.client_id()
    t = threading.Thread(target=lambda: pytest.raises(redis.ConnectionError, blocked.blpop, "nothing", 0))
    t.start()
    assert wait_until(lambda: any(x["id"] == str(bid) and x["cmd"] == "blpop" for x in listing(me)))
    busy = socket.create_connection(("127.0.0.1", p.port))
    threading.Thread(target=lambda: r.client().execute_command("DEBUG", "SLEEP", "0.5"), daemon=True).start()
    time.sleep(0.05)
    busy.sendall(b"".join(b"GET k%d\r\n" % i for i in range(2000)))
    tx = redis.Redis(host="127.0.0.1", port=p.port, single_connection_client=True, socket_timeout=10)
    tx.execute_command("MULTI")
    tx.execute_command("SET", "a", "1")
    assert wait_until(lambda: p.info("proxy_stats")["pinned_connections"] >= 2)
    # The three, and any INFO connection of the test's own the proxy has not yet seen close.
    assert me.execute_command("CLIENT", "KILL", "LADDR", f"127.0.0.1:{p.port}") >= 3
    t.join(10)
    assert not t.is_alive()
    busy.settimeout(10)
    try:
        while busy.recv(65536):
            pass
    except ConnectionResetError:
        pass
    # Their pinned connections went back (or closed), the transaction never ran, the proxy serves.
    assert wait_until(lambda: p.info("proxy_stats")["pinned_connections"] == 0)
    assert r.client().get("a") is None
    assert me.set("k", "v") and me.get("k") == b"v"
    assert listing(me, "ID", str(bid)) == []
