"""HTTP service: GET/HEAD through the cache, status codes, keep-alive, pipelining, binary keys."""
import email.utils
import urllib.parse

import rawhttp


def test_get_returns_the_value_and_404_when_missing(pair):
    r, p = pair
    r.client().set("greeting", b"hello world")
    resp = rawhttp.get(p.port, "/greeting")
    assert resp.status == 200
    assert resp.body == b"hello world"
    assert resp.headers["content-length"] == "11"
    assert resp.headers["content-type"] == "application/octet-stream"
    assert email.utils.parsedate_to_datetime(resp.headers["date"]) is not None
    missing = rawhttp.get(p.port, "/no-such-key")
    assert missing.status == 404


def test_head_has_headers_but_no_body(pair):
    r, p = pair
    r.client().set("h", b"12345")
    c = rawhttp.Conn(p.port)
    c.send(b"HEAD /h HTTP/1.1\r\nHost: localhost\r\n\r\nGET /h HTTP/1.1\r\nHost: localhost\r\n\r\n")
    head = c.read_response(head=True)
    assert head.status == 200
    assert head.headers["content-length"] == "5"
    get = c.read_response()  # the next bytes are the GET's response, not a stray body
    assert get.status == 200 and get.body == b"12345"
    c.close()


def test_binary_and_utf8_keys_are_percent_decoded(pair):
    r, p = pair
    keys = [b"a/b", b"with space", b"nul\x00byte", "clé-€".encode(), b"q?mark", b"100%", b"plus+sign"]
    for i, k in enumerate(keys):
        r.client().set(k, b"v%d" % i)
    for i, k in enumerate(keys):
        resp = rawhttp.get(p.port, "/" + urllib.parse.quote(k, safe=""))
        assert resp.status == 200, k
        assert resp.body == b"v%d" % i
    # a path may keep '/' unencoded, and a query string is not part of the key
    assert rawhttp.get(p.port, "/a/b?ignored=1").body == b"v0"


def test_keep_alive_and_pipelining_keep_request_order(pair):
    r, p = pair
    for i in range(20):
        r.client().set(f"k{i}", f"value-{i}")
    c = rawhttp.Conn(p.port)
    c.send(b"".join(b"GET /k%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % i for i in range(20)) +
           b"GET /missing HTTP/1.1\r\nHost: localhost\r\n\r\n")
    for i in range(20):
        resp = c.read_response()
        assert resp.status == 200
        assert resp.body == f"value-{i}".encode()
    assert c.read_response().status == 404
    # the connection is still usable afterwards
    c.send(b"GET /k3 HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert c.read_response().body == b"value-3"
    c.close()


def test_connection_close_and_http10_are_honoured(pair):
    r, p = pair
    r.client().set("k", "v")
    c = rawhttp.Conn(p.port)
    c.send(b"GET /k HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    resp = c.read_response()
    assert resp.status == 200 and resp.headers["connection"] == "close"
    assert c.is_closed()
    c = rawhttp.Conn(p.port)
    c.send(b"GET /k HTTP/1.0\r\n\r\n")
    resp = c.read_response()
    assert resp.status == 200 and resp.body == b"v"
    assert c.is_closed()
    c = rawhttp.Conn(p.port)
    c.send(b"GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    resp = c.read_response()
    assert resp.headers["connection"] == "keep-alive"
    c.send(b"GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert c.read_response().body == b"v"
    c.close()


def test_other_methods_get_405_with_allow(pair):
    _, p = pair
    for method in ("POST", "PUT", "DELETE", "OPTIONS"):
        c = rawhttp.Conn(p.port)
        c.send(f"{method} /k HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\nGET /x HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        resp = c.read_response()
        assert resp.status == 405
        assert resp.headers["allow"] == "GET, HEAD"
        assert c.read_response().status == 404  # the connection stays usable
        c.close()


def test_malformed_requests_get_400_and_close(pair):
    r, p = pair
    r.client().set("k", "v")
    for bad in (b"GET /k HTTP/1.1\r\nBad Header\r\n\r\n",
                b"GET /k HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                b"GET /k HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"GET /%zz HTTP/1.1\r\nHost: localhost\r\n\r\n",
                b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"):
        c = rawhttp.Conn(p.port)
        c.send(bad)
        resp = c.read_response()
        assert resp.status == 400, bad
        c.close()
    # a parse error closes that connection only
    c = rawhttp.Conn(p.port)
    c.send(b"GET /k HTTP/1.1\r\nBad Header\r\n\r\n")
    assert c.read_response().status == 400
    assert c.is_closed()
    assert rawhttp.get(p.port, "/k").body == b"v"


def test_overlong_url_and_headers_get_414_and_431(pair):
    _, p = pair
    c = rawhttp.Conn(p.port)
    c.send(b"GET /" + b"a" * 30000 + b" HTTP/1.1\r\n\r\n")
    assert c.read_response().status == 414
    assert c.is_closed()
    c = rawhttp.Conn(p.port)
    c.send(b"GET /k HTTP/1.1\r\n" + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(20)) + b"\r\n")
    assert c.read_response().status == 431
    assert c.is_closed()


def test_wrongtype_is_409(pair):
    r, p = pair
    r.client().rpush("alist", "x")
    resp = rawhttp.get(p.port, "/alist")
    assert resp.status == 409
    assert b"WRONGTYPE" in resp.body


def test_eight_megabyte_value(pair):
    r, p = pair
    big = bytes(range(256)) * (8 * 1024 * 1024 // 256)
    r.client().set("big", big)
    for _ in range(2):  # miss, then hit
        resp = rawhttp.get(p.port, "/big")
        assert resp.status == 200
        assert resp.body == big


def test_absolute_form_targets_are_parsed_as_rfc_3986_says(pair):
    r, p = pair
    r.client().set("a", "va")
    r.client().set("b", "vb")
    for target, status, body in ((b"HTTP://h/a", 200, b"va"), (b"hTTp://h:80/a?x", 200, b"va"),
                                 (b"http://h?/b", 400, None), (b"http://h", 400, None)):
        c = rawhttp.Conn(p.port)
        c.send(b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
        resp = c.read_response()
        assert resp.status == status, target
        if body is not None:
            assert resp.body == body
        else:
            assert b"missing key" in resp.body  # "/b" after '?' is the query, not the key


def _status(port, host_lines, version=b"HTTP/1.1"):
    c = rawhttp.Conn(port)
    c.send(b"GET /k " + version + b"\r\n" + b"".join(b"Host: " + h + b"\r\n" for h in host_lines) +
           b"Connection: close\r\n\r\n")
    return c.read_response().status


def test_host_must_name_this_proxy_by_default(pair):
    # A page the user visits can point a rebinding DNS name at 127.0.0.1: its requests carry that
    # name as Host. By default only loopback names (and the bind address) are answered.
    r, p = pair
    r.client().set("k", "v")
    port = str(p.port).encode()
    for host in (b"localhost", b"LOCALHOST:" + port, b"127.0.0.1", b"127.0.0.1:" + port, b"[::1]:" + port):
        assert _status(p.port, [host]) == 200, host
    for host in (b"evil.example", b"evil.example:" + port, b"localhost:1", b"localhost.evil.example", b""):
        assert _status(p.port, [host]) == 421, host
    assert _status(p.port, []) == 400                          # HTTP/1.1 needs a Host (RFC 9112 3.2)
    assert _status(p.port, [], version=b"HTTP/1.0") == 200     # HTTP/1.0 may omit it
    assert _status(p.port, [b"localhost", b"localhost"]) == 400  # never two
    # the refusal is per request: the connection goes on
    c = rawhttp.Conn(p.port)
    c.send(b"GET /k HTTP/1.1\r\nHost: evil.example\r\n\r\nGET /k HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert c.read_response().status == 421
    assert c.read_response().body == b"v"


def test_http_allowed_hosts_flag_and_environment(redis_server, proxy):
    r = redis_server()
    r.client().set("k", "v")
    p = proxy(r.port, "--http-allowed-hosts", "cache.internal, Other.Example")
    port = str(p.port).encode()
    assert _status(p.port, [b"cache.internal"]) == 200
    assert _status(p.port, [b"other.example:" + port]) == 200
    assert _status(p.port, [b"localhost"]) == 421            # the list replaces the defaults
    anyhost = proxy(r.port, env={"RCP_HTTP_ALLOWED_HOSTS": "*"})
    assert _status(anyhost.port, [b"whatever.example"]) == 200


def test_expect_100_continue_is_answered_at_once(pair):
    r, p = pair
    r.client().set("k", "v")
    c = rawhttp.Conn(p.port)
    # curl sends this before a body; a GET needs none, so the answer must not wait for one
    c.send(b"GET /k HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    resp = c.read_response()
    assert resp.status == 200 and resp.body == b"v"
    assert c.is_closed()
