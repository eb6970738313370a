"""CLIENT TRACKING served by the proxy (its tracking hub): the same scripts of commands against
redis-server directly and through the proxy give the same replies and the same invalidations (ids
mapped: each side numbers its own clients); many tracking clients over the proxy's one upstream
tracking; a redirect target that leaves; the upstream tracking lost; the table's limit; redis-py's
tracking with a REDIRECT to a subscribed connection, unmodified."""
import os
import re
import select
import time

import redis

from conftest import wait_until
from resp3 import Conn, Push, read_raw, value

# After each step, time for the invalidations to arrive (BCAST ones are sent once per event-loop
# cycle; a FLUSHALL is reported by each of the proxy's tracked links, and a sanitized build is slow).
SETTLE = 0.4 if os.environ.get("RCP_SANITIZED") else 0.1


class Side:
    """Named connections to one server (Redis or the proxy); a direct connection to Redis for the
    writes of "someone else"; every byte each named connection receives, in order, with the
    numeric client ids replaced by the names."""

    def __init__(self, port, redis_port):
        self.port = port
        self.direct = redis.Redis(host="127.0.0.1", port=redis_port)
        self.conns = {}
        self.ids = {}
        self.log = []

    def open(self, name, proto):
        c = Conn(self.port, hello=proto)
        self.conns[name] = c
        self.ids[name] = int(value(c.call("CLIENT", "ID")))

    def drain(self, name):
        """Every whole frame already received (the socket non-blocking while looking)."""
        c = self.conns[name]
        out = []
        c.sock.settimeout(0.0)
        try:
            while c.f.peek(1):
                c.sock.settimeout(10)
                out.append(read_raw(c.f))
                c.sock.settimeout(0.0)
        finally:
            c.sock.settimeout(10)
        return out

    def step(self, who, *template):
        args = [a.format(**{f"id_{n}": i for n, i in self.ids.items()}) for a in template]
        if who == "direct":
            self.direct.execute_command(*args)
            got = None
        else:
            got = self.conns[who].call(*args)
        time.sleep(SETTLE)
        pushes = {n: self.drain(n) for n in self.conns}
        record = [who, " ".join(template), self.named(got)]
        for n in sorted(pushes):
            record.append((n, [self.named(p) for p in pushes[n]]))
        self.log.append(record)

    def named(self, raw):
        if raw is None:
            return None
        names = {str(i).encode(): n.encode() for n, i in self.ids.items()}
        # an integer frame (at a line's start) that is one of the ids: the name instead
        return re.sub(rb"(^|\r\n):(\d+)\r\n",
                      lambda m: m.group(1) + b":<" + names.get(m.group(2), m.group(2)) + b">\r\n", raw)

    def close(self):
        for c in self.conns.values():
            c.close()
        self.direct.close()


def run_script(port, redis_port, opens, steps):
    redis.Redis(host="127.0.0.1", port=redis_port).flushall()
    time.sleep(SETTLE)
    s = Side(port, redis_port)
    for name, proto in opens:
        s.open(name, proto)
    for st in steps:
        s.step(*st)
    s.close()
    return s.log


def compare(pair, opens, steps):
    r, p = pair
    want = run_script(r.port, r.port, opens, steps)
    got = run_script(p.port, r.port, opens, steps)
    for w, g in zip(want, got):
        assert g == w, f"step {w[0]}: {w[1]}\n  Redis: {w[2:]}\n  proxy: {g[2:]}"


def test_default_mode_replies_and_invalidations_are_redis_s(pair):
    compare(pair, [("a", 3), ("b", 3), ("w", 2)], [
        ("a", "CLIENT", "TRACKINGINFO"), ("a", "CLIENT", "GETREDIR"),
        ("a", "CLIENT", "TRACKING", "on"), ("a", "CLIENT", "TRACKINGINFO"), ("a", "CLIENT", "GETREDIR"),
        ("direct", "SET", "k1", "v1"), ("direct", "HSET", "h", "f", "1"),
        ("a", "GET", "k1"), ("a", "MGET", "k2", "k3"), ("a", "HGET", "h", "f"), ("a", "STRLEN", "k1"),
        ("direct", "SET", "k1", "x"),        # one invalidation, then forgotten
        ("direct", "SET", "k1", "y"),
        ("w", "SET", "k2", "z"),             # written through the proxy by another client
        ("direct", "HSET", "h", "f", "2"),  # a read the proxy forwarded
        ("direct", "SET", "k3", "q"),
        ("a", "GET", "k1"), ("a", "SET", "k1", "mine"),  # its own write: after the reply
        ("b", "CLIENT", "TRACKING", "on", "NOLOOP"), ("b", "GET", "k1"), ("b", "SET", "k1", "b's"),
        ("b", "GET", "k1"), ("direct", "SET", "k1", "other"),
        ("a", "GET", "k1"), ("b", "GET", "k1"), ("direct", "FLUSHALL"),
        ("a", "CLIENT", "TRACKING", "off"), ("direct", "SET", "k1", "after"), ("a", "CLIENT", "TRACKINGINFO"),
    ])


def test_optin_optout_and_caching_are_redis_s(pair):
    compare(pair, [("i", 3), ("o", 3)], [
        ("i", "CLIENT", "CACHING", "yes"),
        ("i", "CLIENT", "TRACKING", "on", "OPTIN"), ("o", "CLIENT", "TRACKING", "on", "OPTOUT"),
        ("i", "CLIENT", "CACHING", "no"), ("o", "CLIENT", "CACHING", "yes"), ("i", "CLIENT", "CACHING", "x"),
        ("i", "GET", "a"), ("i", "CLIENT", "CACHING", "yes"), ("i", "CLIENT", "TRACKINGINFO"), ("i", "GET", "b"),
        ("i", "GET", "c"), ("o", "GET", "a"), ("o", "CLIENT", "CACHING", "no"), ("o", "CLIENT", "TRACKINGINFO"),
        ("o", "GET", "b"), ("o", "GET", "c"),
        ("direct", "SET", "a", "1"), ("direct", "SET", "b", "1"), ("direct", "SET", "c", "1"),
        ("i", "CLIENT", "TRACKING", "on", "OPTOUT"),
        ("i", "CLIENT", "TRACKING", "off"), ("i", "CLIENT", "TRACKING", "on", "OPTOUT"), ("i", "CLIENT", "TRACKINGINFO"),
    ])


def test_bcast_prefixes_and_errors_are_redis_s(pair):
    compare(pair, [("c", 3), ("w", 3)], [
        ("c", "CLIENT", "TRACKING", "on", "PREFIX", "a"),
        ("c", "CLIENT", "TRACKING", "on", "BCAST", "OPTIN"),
        ("c", "CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"),
        ("c", "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "c", "PREFIX", "cd"),
        ("c", "CLIENT", "TRACKING", "on", "REDIRECT", "999999"),
        ("c", "CLIENT", "TRACKING", "on", "REDIRECT", "x"),
        ("c", "CLIENT", "TRACKING", "on", "REDIRECT", "{id_w}", "REDIRECT", "{id_w}"),
        ("c", "CLIENT", "TRACKING", "on", "BOGUS"), ("c", "CLIENT", "TRACKING", "maybe"),
        ("c", "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "user:", "PREFIX", "cart:"),
        ("c", "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "user:1"),
        ("c", "CLIENT", "TRACKING", "on"),
        ("c", "CLIENT", "TRACKINGINFO"),
        ("direct", "SET", "user:1", "a"), ("direct", "SET", "other", "b"), ("w", "SET", "cart:9", "c"),
        ("direct", "DEL", "user:1"), ("direct", "FLUSHALL"),
        ("c", "CLIENT", "TRACKING", "off"), ("c", "CLIENT", "TRACKINGINFO"),
        ("c", "CLIENT", "TRACKING", "on", "BCAST"), ("direct", "SET", "anything", "1"),
    ])


def test_redirect_to_a_subscriber_and_to_a_resp3_client_and_broken_is_redis_s(pair):
    compare(pair, [("sub", 2), ("t", 2), ("t3", 3), ("target3", 3)], [
        ("sub", "SUBSCRIBE", "__redis__:invalidate"),
        ("t", "CLIENT", "TRACKING", "on", "REDIRECT", "{id_sub}"), ("t", "CLIENT", "GETREDIR"),
        ("t", "GET", "k"), ("direct", "SET", "k", "1"), ("t", "GET", "k"), ("direct", "FLUSHALL"),
        ("t3", "CLIENT", "TRACKING", "on", "REDIRECT", "{id_target3}"), ("t3", "GET", "j"),
        ("direct", "SET", "j", "1"),
        ("t3", "GET", "j"), ("target3", "QUIT"),
        ("direct", "SET", "j", "2"), ("t3", "CLIENT", "TRACKINGINFO"),
    ])


def test_client_list_shows_tracking_flags_and_redirect(pair):
    r, p = pair
    target = Conn(p.port, hello=2)
    tid = int(value(target.call("CLIENT", "ID")))
    c = Conn(p.port)
    cid = int(value(c.call("CLIENT", "ID")))
    assert value(c.call("HELLO", "3"))[b"id"] == cid  # HELLO reports the proxy's id
    assert c.call("CLIENT", "TRACKING", "on", "REDIRECT", str(tid)) == b"+OK\r\n"
    b = Conn(p.port)
    assert b.call("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "x") == b"+OK\r\n"
    lines = {int(dict(kv.split("=", 1) for kv in l.split(" "))["id"]): dict(kv.split("=", 1) for kv in l.split(" "))
             for l in value(c.call("CLIENT", "LIST")).decode().splitlines()}
    assert lines[cid]["flags"] == "t" and lines[cid]["redir"] == str(tid)
    assert lines[tid]["flags"] == "N" and lines[tid]["redir"] == "-1"
    bid = max(lines)
    assert lines[bid]["flags"] == "tB" and lines[bid]["redir"] == "0"
    # The redirect target killed through the proxy (CLIENT KILL ID, as an admin would).
    assert value(b.call("CLIENT", "KILL", "ID", str(tid))) == 1
    c.call("GET", "k")
    r.client().set("k", "1")
    assert c.next_push() == Push([b"tracking-redir-broken", tid])
    info = dict(kv.split("=", 1) for kv in value(c.call("CLIENT", "INFO")).decode().strip().split(" "))
    assert info["flags"] == "tR"


def test_many_tracking_clients_over_one_upstream_tracking(pair):
    """400 RESP3 clients and 100 RESP2 clients redirecting to 100 subscribers, each reading its own
    keys and a shared one: each hears of exactly the keys it read, writes made directly on Redis
    and through the proxy; Redis sees the proxy's few connections, not one per client."""
    r, p = pair
    direct = r.client()
    assert wait_until(lambda: p.info("proxy_stats")["tracking_state"] == "on")
    resp3_clients = [Conn(p.port, timeout=30) for _ in range(400)]
    subs, resp2 = [], []
    for _ in range(100):
        s = Conn(p.port, hello=2, timeout=30)
        sid = int(value(s.call("CLIENT", "ID")))
        assert s.call("SUBSCRIBE", "__redis__:invalidate").startswith(b"*3\r\n")
        c = Conn(p.port, hello=2, timeout=30)
        assert c.call("CLIENT", "TRACKING", "on", "REDIRECT", str(sid)) == b"+OK\r\n"
        subs.append(s)
        resp2.append(c)
    for c in resp3_clients:
        assert c.call("CLIENT", "TRACKING", "on") == b"+OK\r\n"
    everyone = resp3_clients + resp2
    for i, c in enumerate(everyone):
        c.send_many([["GET", f"own:{i}"], ["GET", "shared"]])
    for c in everyone:
        c.read()
        c.read()
    # Redis sees the proxy's shared links and the subscribers' pinned connections (pub/sub runs on
    # one per subscriber, as for any client): nothing for tracking.
    backend_clients = len(direct.client_list())
    assert backend_clients <= 8 + len(subs), direct.client_list()
    assert p.info("proxy_client_tracking")["client_tracking_keys"] == len(everyone) + 1
    direct.set("shared", "1")                       # everyone read it
    p.client().set("own:7", "x")                    # through the proxy: only client 7 read it
    direct.set("own:450", "y")                      # a RESP2 client's (through its subscriber)

    def message_keys(raw):
        v = value(raw)
        return list(v[1]) if isinstance(v, Push) else list(v[2])

    got = {}
    for i, c in enumerate(resp3_clients):
        keys = []
        while len(keys) < (2 if i == 7 else 1):
            keys += message_keys(read_raw(c.f))
        got[i] = sorted(keys)
    for j, s in enumerate(subs):
        keys = []
        while len(keys) < (2 if 400 + j == 450 else 1):
            keys += message_keys(read_raw(s.f))
        got[400 + j] = sorted(keys)
    for i in range(len(everyone)):
        want = sorted([b"shared"] + ([f"own:{i}".encode()] if i in (7, 450) else []))
        assert got[i] == want, (i, got[i])
    time.sleep(0.1)
    for c in everyone + subs:  # and nothing more
        assert not select.select([c.sock], [], [], 0)[0]
    for c in everyone + subs:
        c.close()


def test_upstream_tracking_lost_sends_null_before_anything_read_after(pair):
    r, p = pair
    direct = r.client()
    assert wait_until(lambda: p.info("proxy_stats")["tracking_state"] == "on")
    c = Conn(p.port)
    assert c.call("CLIENT", "TRACKING", "on") == b"+OK\r\n"
    direct.set("k", "v1")
    assert c.call("GET", "k") == b"$2\r\nv1\r\n"
    # The proxy's invalidation link killed on Redis: it cannot know what changes until it is back.
    killed = direct.client_kill_filter(_type="pubsub")
    assert killed >= 1
    direct.set("k", "v2")  # a change nobody can report
    c.send("GET", "k")
    frames = [read_raw(c.f), read_raw(c.f)]
    assert frames[0] == b">2\r\n$10\r\ninvalidate\r\n_\r\n", frames  # null first
    assert frames[1] == b"$2\r\nv2\r\n"
    assert wait_until(lambda: p.info("proxy_stats")["tracking_state"] == "on")
    time.sleep(0.2)
    while select.select([c.sock], [], [], 0.05)[0]:
        c.read_any()  # the null of tracking coming back, if any
    assert c.call("GET", "k") == b"$2\r\nv2\r\n"
    direct.set("k", "v3")
    assert c.next_push() == Push([b"invalidate", [b"k"]])
    assert p.info("proxy_client_tracking")["client_tracking_null_invalidations"] >= 1


def test_tracking_table_limit_invalidates_the_oldest_keys(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--tracking-table-max-keys", "100")
    c = Conn(p.port)
    assert c.call("CLIENT", "TRACKING", "on") == b"+OK\r\n"
    c.send_many([["GET", f"k{i}"] for i in range(150)])
    replies = [c.read() for _ in range(150)]
    assert all(x == b"_\r\n" for x in replies)
    evicted = []
    while len(evicted) < 50:
        evicted += list(c.next_push()[1])
    assert evicted == [f"k{i}".encode() for i in range(50)]  # the oldest first
    t = p.info("proxy_client_tracking")
    assert t["client_tracking_keys"] == 100 and t["client_tracking_evicted_keys"] == 50
    r.client().set("k149", "1")
    assert c.next_push() == Push([b"invalidate", [b"k149"]])


def test_tracking_refused_when_the_proxy_does_not_track(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--tracking", "off")
    c = Conn(p.port)
    reply = c.call("CLIENT", "TRACKING", "on")
    assert reply.startswith(b"-ERR CLIENT TRACKING through the proxy needs the proxy's own tracking of Redis"), reply
    assert b"--tracking off" in reply
    assert value(c.call("CLIENT", "TRACKINGINFO"))[b"flags"] == {b"off"}


def test_redis_py_tracking_with_a_redirect_unmodified(pair):
    r, p = pair
    client = redis.Redis(host="127.0.0.1", port=p.port)
    pubsub = client.pubsub()
    pubsub.subscribe("__redis__:invalidate")
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"
    # The subscriber's id, as an application finds it: the one connection with flags=P.
    ids = [c["id"] for c in client.client_list() if "P" in c["flags"]]
    assert len(ids) == 1
    tracked = redis.Redis(host="127.0.0.1", port=p.port, single_connection_client=True)
    assert tracked.client_tracking_on(clientid=int(ids[0]))
    tracked.set("py:k", "1")
    assert tracked.get("py:k") == b"1"
    r.client().set("py:k", "2")
    msg = None
    for _ in range(50):
        msg = pubsub.get_message(timeout=0.1)
        if msg is not None:
            break
    assert msg is not None and msg["type"] == "message" and msg["data"] == [b"py:k"], msg
    assert tracked.get("py:k") == b"2"
    info = tracked.client_trackinginfo()
    assert info[info.index("redirect") + 1] == int(ids[0]), info
    assert tracked.client_tracking_off()


def test_reads_on_a_pinned_connection_are_tracked_as_redis_tracks_them(pair):
    # A transaction's reads and another database's (Redis's tracking names keys, whatever the
    # database) run on the client's pinned connection, which tracks too.
    compare(pair, [("a", 3), ("b", 2), ("sub", 2)], [
        ("a", "CLIENT", "TRACKING", "on"),
        ("a", "MULTI"), ("a", "GET", "m1"), ("a", "HGET", "h", "f"), ("a", "EXEC"),
        ("direct", "SET", "m1", "1"), ("direct", "HSET", "h", "f", "1"),
        ("a", "SELECT", "1"), ("a", "GET", "d1"), ("direct", "SET", "d1", "x"),
        ("a", "SELECT", "0"), ("a", "GET", "m1"), ("direct", "SET", "m1", "2"),
        ("sub", "SUBSCRIBE", "x"),
        ("b", "CLIENT", "TRACKING", "on", "REDIRECT", "{id_sub}"), ("b", "WATCH", "w"), ("b", "GET", "w"),
        ("b", "MULTI"), ("b", "GET", "w2"), ("b", "EXEC"), ("direct", "SET", "w", "1"), ("direct", "SET", "w2", "1"),
    ])


def test_bcast_link_lost_sends_null_and_coverage_comes_back(pair):
    r, p = pair
    direct = r.client()
    assert wait_until(lambda: p.info("proxy_stats")["tracking_state"] == "on")
    c = Conn(p.port)
    assert c.call("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "bc:") == b"+OK\r\n"

    def bcast_links():
        return [x for x in direct.client_list() if "B" in x["flags"]]
    assert wait_until(lambda: len(bcast_links()) == 1)
    direct.set("bc:1", "a")
    assert c.next_push() == Push([b"invalidate", [b"bc:1"]])  # never read: BCAST reports it anyway
    assert c.call("GET", "bc:1") == b"$1\r\na\r\n"
    direct.client_kill_filter(_id=bcast_links()[0]["id"])
    assert c.next_push() == Push([b"invalidate", None])  # the proxy cannot vouch for what it read
    assert wait_until(lambda: len(bcast_links()) == 1)
    assert c.call("GET", "bc:1") == b"$1\r\na\r\n"
    direct.set("bc:1", "b")
    pushes = []
    while [b"bc:1"] not in [x[1] for x in pushes]:
        pushes.append(c.next_push())
    assert all(x[0] == b"invalidate" for x in pushes)
    assert c.call("GET", "bc:1") == b"$1\r\nb\r\n"


def test_flushall_reported_through_the_resp3_link_keeps_the_invalidation_link(pair):
    # Redis spells the null of a RESP3 tracking client (the proxy's RESP3 link) as RESP3's `_`, even
    # on the RESP2 invalidation link it redirects to: read as a null, not as a stream out of step.
    r, p = pair
    assert wait_until(lambda: p.info("proxy_stats")["tracking_state"] == "on")
    c = Conn(p.port)
    assert c.call("CLIENT", "TRACKING", "on") == b"+OK\r\n"
    assert c.call("HSET", "h", "f", "1") == b":1\r\n"  # the RESP3 link opens, tracked
    assert c.call("HGET", "h", "f") == b"$1\r\n1\r\n"
    before = p.info("proxy_stats")
    r.client().flushall()
    assert c.next_push() == Push([b"invalidate", None])
    assert wait_until(lambda: p.info("proxy_stats")["cache_drops_null_message"] >= before["cache_drops_null_message"] + 2)
    time.sleep(0.2)
    after = p.info("proxy_stats")
    assert after["cache_drops_link_lost"] == before["cache_drops_link_lost"]
    assert "protocol error" not in p.output()
    assert c.call("PING") == b"+PONG\r\n" and not c.pushes  # one null, not one per report
