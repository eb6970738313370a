"""RESP service: GET through the cache with redis-py, redis-cli and raw sockets; the commands the
proxy answers itself; inline commands; pipelining; errors."""
import socket
import subprocess

import pytest
import redis


def resp_exchange(port, data, expect_close=False, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    if expect_close:
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    else:
        out = s.recv(65536)
    s.close()
    return out


def test_get_with_redis_py(pair):
    r, p = pair
    r.client().set("user:1", b"\x00binary\r\nvalue")
    c = p.client()
    assert c.get("user:1") == b"\x00binary\r\nvalue"
    assert c.get("user:1") == b"\x00binary\r\nvalue"
    assert c.get("nope") is None


def test_get_with_redis_cli(pair):
    r, p = pair
    r.client().set("k", "from redis")
    out = subprocess.run(["redis-cli", "-p", str(p.port), "get", "k"], capture_output=True, text=True, timeout=10)
    assert out.stdout.strip() == "from redis"
    out = subprocess.run(["redis-cli", "-p", str(p.port), "ping"], capture_output=True, text=True, timeout=10)
    assert out.stdout.strip() == "PONG"
    # interactive mode (it asks COMMAND DOCS first) still works
    out = subprocess.run(["redis-cli", "-p", str(p.port)], input="get k\nping\n", capture_output=True, text=True,
                         timeout=10)
    assert "from redis" in out.stdout and "PONG" in out.stdout


def test_commands_answered_by_the_proxy(pair):
    r, p = pair
    c = p.client()
    assert c.ping() is True
    assert resp_exchange(p.port, b"*2\r\n$4\r\nPING\r\n$2\r\nhi\r\n") == b"$2\r\nhi\r\n"
    assert c.echo("echo me") == b"echo me"
    assert c.client_setname("worker-1") is True
    assert c.client_getname() == "worker-1" or c.client_getname() == b"worker-1"
    assert isinstance(c.client_id(), int)
    assert c.execute_command("CLIENT", "SETINFO", "lib-name", "x") in (True, b"OK")
    assert c.execute_command("SELECT", "0") in (True, b"OK")
    hello = c.execute_command("HELLO", "2")
    assert b"proto" in hello
    for bad in ("4", "1"):  # worded as Redis words it
        with pytest.raises(redis.ResponseError, match="^NOPROTO unsupported protocol version$"):
            c.execute_command("HELLO", bad)
    info = c.info()
    # Redis's own sections first (clients adapt to redis_version), then the proxy's, with no name in common
    assert info["redis_version"] == r.client().info("server")["redis_version"]
    assert "proxy_keyspace_hits" in info and "proxy_connected_clients" in info
    assert info["backend_link_status"] == "up"
    assert hello[hello.index(b"version") + 1].decode() == info["redis_version"]


def test_unknown_command_keeps_the_connection_usable(pair):
    r, p = pair
    r.client().set("k", "v")
    c = p.client()
    with pytest.raises(redis.ResponseError, match="unknown command 'NOSUCHCMD'"):
        c.execute_command("NOSUCHCMD", "k")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'get'"):
        c.execute_command("GET")
    assert c.get("k") == b"v"


def test_inline_commands_and_pipelining(pair):
    r, p = pair
    r.client().set("a", "1")
    r.client().set("b", "22")
    out = resp_exchange(p.port, b"PING\r\nget a\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\nGET missing\r\nQUIT\r\n",
                        expect_close=True)
    assert out == b"+PONG\r\n$1\r\n1\r\n$2\r\n22\r\n$-1\r\n+OK\r\n"


def test_protocol_error_replies_once_and_closes_only_that_connection(pair):
    r, p = pair
    r.client().set("k", "v")
    other = p.client()
    assert other.get("k") == b"v"
    out = resp_exchange(p.port, b"*1\r\n:5\r\n", expect_close=True)
    assert out.startswith(b"-ERR Protocol error")
    assert out.count(b"\r\n") == 1
    assert other.get("k") == b"v"


def test_eight_megabyte_value(pair):
    r, p = pair
    big = bytes(range(256)) * (8 * 1024 * 1024 // 256)
    r.client().set("big", big)
    c = p.client()
    assert c.get("big") == big   # miss
    assert c.get("big") == big   # hit


def test_wrongtype_error_passes_through(pair):
    r, p = pair
    r.client().rpush("alist", "x")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        p.client().get("alist")


@pytest.mark.parametrize("cache_keys", ["100000", "40"])
def test_long_pipelines_of_mixed_requests_answer_each_in_order(redis_server, proxy, cache_keys):
    # The proxy looks ahead at pipelined GETs to prefetch their cache lines; a long batch mixing
    # hits, misses, absent keys, other commands and GET in any case must still answer each request
    # exactly, also when a small cache evicts entries between the look-ahead and the lookup.
    r = redis_server()
    p = proxy(r.port, "--cache-keys", cache_keys)
    rc = r.client()
    for i in range(300):
        rc.set(f"key:{i:012d}", f"value-{i}-" + "v" * (i % 150))
    reqs, expected = [], []
    for round_ in range(2):
        for i in range(0, 330, 1 if round_ else 3):
            k = f"key:{i:012d}".encode()
            verb = (b"GET", b"get", b"gEt")[i % 3]
            reqs.append(b"*2\r\n$3\r\n%s\r\n$%d\r\n%s\r\n" % (verb, len(k), k))
            v = f"value-{i}-".encode() + b"v" * (i % 150) if i < 300 else None
            expected.append(b"$-1\r\n" if v is None else b"$%d\r\n%s\r\n" % (len(v), v))
            if i % 17 == 0:
                reqs.append(b"*2\r\n$4\r\nECHO\r\n$2\r\n%02d\r\n" % (i % 100))
                expected.append(b"$2\r\n%02d\r\n" % (i % 100))
            if i % 29 == 0:
                reqs.append(b"PING\r\n")
                expected.append(b"+PONG\r\n")
    s = socket.create_connection(("127.0.0.1", p.port), timeout=10)
    s.sendall(b"".join(reqs))
    want = b"".join(expected)
    got = b""
    while len(got) < len(want):
        chunk = s.recv(65536)
        assert chunk, "connection closed early"
        got += chunk
    s.close()
    assert got == want


def test_client_names_are_validated_alike_by_client_setname_and_hello(pair):
    r, p = pair
    c = p.client()
    for bad in ("a b", "a\r\nb", "tab\there"):
        with pytest.raises(redis.ResponseError, match="cannot contain spaces"):
            c.execute_command("CLIENT", "SETNAME", bad)
        with pytest.raises(redis.ResponseError, match="cannot contain spaces"):
            c.execute_command("HELLO", "2", "SETNAME", bad)
        # Redis refuses the same names, with the same words
        with pytest.raises(redis.ResponseError, match="cannot contain spaces"):
            r.client().execute_command("HELLO", "2", "SETNAME", bad)
    # A refused HELLO changes nothing: the earlier name stays
    assert c.execute_command("HELLO", "2", "SETNAME", "ok-name")
    with pytest.raises(redis.ResponseError):
        c.execute_command("HELLO", "2", "SETNAME", "x y")
    assert c.client_getname() in ("ok-name", b"ok-name")
