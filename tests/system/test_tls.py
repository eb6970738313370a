"""TLS on both sides and Unix sockets, with real clients and a real TLS redis-server: a throwaway CA
made here with the openssl CLI; redis-cli --tls, redis-py ssl=True, curl https, node's clients;
a TLS-only Redis behind the proxy (rediss://), verification of chain and name, mutual TLS both
ways, plaintext and abandoned handshakes on the TLS port, a certificate reload under load."""
import contextlib
import json
import os
import shutil
import socket
import ssl
import sys
import subprocess
import tempfile
import threading
import time

import pytest
import redis

from conftest import PROXY_BIN, free_port, wait_port, wait_until, recv_until_closed

NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_cert(d, name, cn, san, ca="ca", days=30):
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN={cn}", cwd=d)
    ext = os.path.join(d, f"{name}.ext")
    with open(ext, "w") as f:
        f.write(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", str(days), "-extfile", ext, cwd=d)
    return os.path.join(d, f"{name}.pem"), os.path.join(d, f"{name}.key")


@pytest.fixture(scope="module")
def pki():
    d = tempfile.mkdtemp(prefix="rcp-tls-")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
            "-subj", "/CN=redis-cache-proxy test CA", cwd=d)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key", "-out", "other.pem", "-days",
            "30", "-subj", "/CN=another CA", cwd=d)
    p = {"dir": d, "ca": os.path.join(d, "ca.pem"), "other_ca": os.path.join(d, "other.pem")}
    p["server"] = make_cert(d, "server", "localhost", "DNS:localhost,IP:127.0.0.1")
    p["server2"] = make_cert(d, "server2", "localhost", "DNS:localhost,IP:127.0.0.1")
    p["internal"] = make_cert(d, "internal", "redis.internal", "DNS:redis.internal")
    p["client"] = make_cert(d, "client", "client", None)
    yield p
    shutil.rmtree(d, ignore_errors=True)


class Proc:
    """The proxy started with exactly the given arguments; waits for wait_on (a TCP port)."""

    def __init__(self, args, wait_on):
        self.log = tempfile.NamedTemporaryFile(prefix="rcp-proxy-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([PROXY_BIN, *args], stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(wait_on, proc=self.proc)

    def output(self):
        with open(self.log.name, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            rc = self.proc.wait(timeout=10)
            assert rc == 0, self.output()
        if os.path.exists(self.log.name):
            os.unlink(self.log.name)


@pytest.fixture
def procs():
    started = []
    yield lambda args, wait_on: started.append(Proc(args, wait_on)) or started[-1]
    for p in started:
        p.stop()


class TlsRedis:
    def __init__(self, pki, extra=(), cert="server"):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="rcp-redis-tls-")
        cert, key = pki[cert]
        self.proc = subprocess.Popen(
            ["redis-server", "--port", "0", "--tls-port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--dir", self.dir, "--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", pki["ca"],
             "--tls-auth-clients", "no", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, proc=self.proc)
        self.pki = pki
        self.mutual = "--tls-auth-clients" in extra and extra[list(extra).index("--tls-auth-clients") + 1] == "yes"

    def client(self, **kw):
        ckw = {}
        if self.mutual:
            ckw = {"ssl_certfile": self.pki["client"][0], "ssl_keyfile": self.pki["client"][1]}
        return redis.Redis(host="127.0.0.1", port=self.port, ssl=True, ssl_ca_certs=self.pki["ca"], **ckw, **kw)

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def tls_redis(pki):
    made = []
    yield lambda extra=(), cert="server": made.append(TlsRedis(pki, extra, cert)) or made[-1]
    for r in made:
        r.stop()


@contextlib.contextmanager
def fronting(*args):
    """The proxy with args and a plaintext --port of its own: yields it and a redis-py client of it."""
    port = free_port()
    p = Proc([*args, "--port", str(port)], port)
    p.port = port
    try:
        yield p, redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
    finally:
        p.stop()


def tls_proxy_args(pki, redis_port, tls_port, *extra, plain_port=0):
    cert, key = pki["server"]
    return ["--redis", f"127.0.0.1:{redis_port}", "--port", str(plain_port), "--tls-port", str(tls_port),
            "--tls-cert-file", cert, "--tls-key-file", key, *extra]


def resolve(port):
    """curl's name for localhost without /etc/hosts (a bare Debian root may have none)."""
    return ["--resolve", f"localhost:{port}:127.0.0.1"]


def tls_client(pki, port, **kw):
    # 127.0.0.1, matched against the certificate's IP entry: a bare Debian root may not resolve localhost
    return redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=pki["ca"], ssl_check_hostname=True,
                       socket_timeout=10, **kw)


def test_resp_and_https_share_the_tls_port_and_only_it_listens_with_port_0(pki, redis_server, procs):
    r = redis_server()
    r.client().set("k", "v1")
    tls_port = free_port()
    p = procs(tls_proxy_args(pki, r.port, tls_port), tls_port)
    # redis-cli over TLS, a miss then a hit
    for _ in range(2):
        out = subprocess.run(["redis-cli", "--tls", "--cacert", pki["ca"], "-p", str(tls_port), "get", "k"],
                             capture_output=True, text=True, timeout=10)
        assert out.stdout.strip() == "v1", out
    # redis-py: commands of every shape
    c = tls_client(pki, tls_port)
    assert c.set("a", "1") and c.incr("a") == 2
    assert c.mget("k", "a", "missing") == [b"v1", b"2", None]
    pipe = c.pipeline(transaction=True)
    pipe.set("t", "x").get("t")
    assert pipe.execute() == [True, b"x"]
    sub = tls_client(pki, tls_port).pubsub()
    sub.subscribe("ch")
    assert wait_until(lambda: c.publish("ch", "hello") == 1)
    msgs = [sub.get_message(timeout=2) for _ in range(2)]
    assert any(m and m["data"] == b"hello" for m in msgs)
    # curl over HTTPS: the same port, sniffed after the handshake; ETag and 304 as on plaintext
    out = subprocess.run(["curl", "-s", "-i", "--cacert", pki["ca"], *resolve(tls_port), f"https://localhost:{tls_port}/k"],
                         capture_output=True, text=True, timeout=10).stdout
    assert out.startswith("HTTP/1.1 200") and out.endswith("v1"), out
    etag = [line.split(":", 1)[1].strip() for line in out.splitlines() if line.lower().startswith("etag:")][0]
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", pki["ca"], "-H",
                          f"If-None-Match: {etag}", *resolve(tls_port), f"https://localhost:{tls_port}/k"], capture_output=True, text=True,
                         timeout=10).stdout
    assert out == "304"
    # pipelined: 500 GETs in one write, 500 replies in order
    raw = ssl.create_default_context(cafile=pki["ca"]).wrap_socket(socket.create_connection(("127.0.0.1", tls_port)),
                                                                   server_hostname="localhost")
    raw.sendall(b"".join(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n" for _ in range(500)))
    want = b"$2\r\nv1\r\n" * 500
    got = b""
    raw.settimeout(10)
    while len(got) < len(want):
        got += raw.recv(65536)
    assert got == want
    raw.close()
    info = c.info("proxy_tls")
    assert info["tls_handshakes"] >= 5 and "TLSv1.3" in str(info["tls_versions"])
    assert info["tls_cert_expiry"] > time.time()
    # --port 0: no plaintext listener at all
    assert "listening on 127.0.0.1:%d (TLS)" % tls_port in p.output()


def test_plaintext_garbage_and_abandoned_handshakes_are_closed_and_counted(pki, redis_server, procs):
    r = redis_server()
    tls_port, plain_port = free_port(), free_port()
    procs(tls_proxy_args(pki, r.port, tls_port, "--request-timeout", "1s", plain_port=plain_port), tls_port)
    # A plaintext RESP command and HTTP request on the TLS port: closed at once, nothing echoed back
    for junk in (b"*1\r\n$4\r\nPING\r\n", b"GET /k HTTP/1.1\r\nHost: localhost\r\n\r\n", os.urandom(512)):
        s = socket.create_connection(("127.0.0.1", tls_port))
        s.sendall(junk)
        data = recv_until_closed(s, timeout=5)
        assert b"PONG" not in data and b"HTTP/1.1" not in data
    # Hundreds of handshakes abandoned half-way: a ClientHello cut in half, then silence
    hello = bytearray()
    probe = ssl.create_default_context(cafile=pki["ca"]).wrap_bio(ssl.MemoryBIO(), out := ssl.MemoryBIO(),
                                                                    server_hostname="localhost")
    try:
        probe.do_handshake()
    except ssl.SSLWantReadError:
        hello = out.read()
    socks = []
    for _ in range(300):
        s = socket.create_connection(("127.0.0.1", tls_port))
        s.sendall(hello[: len(hello) // 2])
        socks.append(s)
    c = redis.Redis(host="127.0.0.1", port=plain_port, socket_timeout=10)
    assert c.ping()  # still serving meanwhile
    assert wait_until(lambda: c.info("proxy_tls")["tls_failed_timeout"] >= 300, timeout=15)
    for s in socks:
        assert recv_until_closed(s, timeout=5) == b""  # each one closed by the proxy
        s.close()
    info = c.info("proxy_tls")
    assert info["tls_failed_protocol"] >= 3
    assert c.info("proxy")["proxy_connected_clients"] == 1  # nothing left behind
    assert tls_client(pki, tls_port).ping()


def test_mutual_tls_with_clients(pki, redis_server, procs):
    r = redis_server()
    r.client().set("k", "v")
    for mode in ("yes", "optional"):
        tls_port = free_port()
        procs(tls_proxy_args(pki, r.port, tls_port, "--tls-auth-clients", mode, "--tls-ca-cert-file", pki["ca"]),
              tls_port)
        cert, key = pki["client"]
        assert tls_client(pki, tls_port, ssl_certfile=cert, ssl_keyfile=key).get("k") == b"v"
        bare = tls_client(pki, tls_port)
        if mode == "yes":
            with pytest.raises(redis.ConnectionError):
                bare.get("k")
            out = subprocess.run(["curl", "-s", "--cacert", pki["ca"], *resolve(tls_port), f"https://localhost:{tls_port}/k"],
                                 capture_output=True, text=True, timeout=10)
            assert out.returncode != 0
            assert wait_until(lambda: tls_client(pki, tls_port, ssl_certfile=cert, ssl_keyfile=key)
                              .info("proxy_tls")["tls_failed_verify"] >= 2)
        else:
            assert bare.get("k") == b"v"


def test_a_tls_only_redis_behind_the_proxy_every_link_over_tls(pki, tls_redis, proxy, redis_server):
    tr = tls_redis()
    direct = tr.client()
    direct.set("k", "v1")
    with fronting("--redis", f"rediss://127.0.0.1:{tr.port}", "--backend-tls-ca-cert-file", pki["ca"]) as (p, c):
        assert c.get("k") == b"v1"
        assert wait_until(lambda: c.info("proxy_stats")["tracking_state"] == "on")
        assert c.get("k") == b"v1"  # a hit
        direct.set("k", "v2")  # the invalidation comes over the TLS invalidation link
        assert wait_until(lambda: c.get("k") == b"v2")
        pipe = c.pipeline(transaction=True)  # a pinned connection, over TLS too
        pipe.incr("n").incr("n")
        assert pipe.execute() == [1, 2]
        assert c.blpop(["nothing"], timeout=1) is None
        info = c.info("proxy_tls")
        assert info["backend_tls"] == 1 and info["backend_tls_handshakes"] >= 3
        assert info["backend_tls_insecure"] == 0
        assert subprocess.run(["curl", "-s", f"http://127.0.0.1:{p.port}/k"], capture_output=True, text=True,
                              timeout=10).stdout == "v2"


def test_a_wrong_name_or_an_unknown_ca_is_refused_and_says_why(pki, tls_redis):
    tr = tls_redis()
    tr.client().set("k", "v")
    cases = [
        ([f"rediss://127.0.0.1:{tr.port}"], "certificate verify failed: self-signed certificate in certificate chain"),
        ([f"rediss://127.0.0.1:{tr.port}", "--backend-tls-ca-cert-file", pki["other_ca"]], "certificate verify failed"),
        ([f"rediss://127.0.0.1:{tr.port}", "--backend-tls-ca-cert-file", pki["ca"], "--backend-tls-server-name",
          "redis.example"], "certificate verify failed: hostname mismatch"),
    ]
    for args, why in cases:
        with fronting("--redis", *args) as (p, c):
            with pytest.raises(redis.ResponseError) as e:
                c.get("k")
            assert str(e.value).startswith("backend unavailable: TLS: " + why), e.value
            out = subprocess.run(["curl", "-s", "-w", " %{http_code}", f"http://127.0.0.1:{p.port}/k"],
                                 capture_output=True, text=True, timeout=10).stdout
            assert why in out and out.endswith(" 503")
            assert c.info("proxy_tls")["backend_tls_failed_verify"] >= 1
            assert why in p.output()  # logged


def test_the_name_verified_can_be_set_and_an_ip_is_checked_against_ip_entries(pki, tls_redis):
    # A Redis whose certificate names only redis.internal: an IP address in the URL does not match
    # it; --backend-tls-server-name names what to verify (and sends it as SNI).
    tr = tls_redis(cert="internal")
    for extra, ok in (([], False), (["--backend-tls-server-name", "redis.internal"], True),
                      (["--backend-tls-insecure"], True)):
        with fronting("--redis", f"rediss://127.0.0.1:{tr.port}", "--backend-tls-ca-cert-file", pki["ca"],
                      *extra) as (p, c):
            if ok:
                assert c.ping() and c.set("x", "1") and c.get("x") == b"1"
            else:
                with pytest.raises(redis.ResponseError, match="IP address mismatch"):
                    c.get("x")
            if "--backend-tls-insecure" in extra:
                assert c.info("proxy_tls")["backend_tls_insecure"] == 1
                assert "NOT verified" in p.output()


def test_mutual_tls_to_redis(pki, tls_redis):
    tr = tls_redis(extra=("--tls-auth-clients", "yes"))
    cert, key = pki["client"]
    for extra, ok in (([], False), (["--backend-tls-cert-file", cert, "--backend-tls-key-file", key], True)):
        with fronting("--redis", f"rediss://127.0.0.1:{tr.port}", "--backend-tls-ca-cert-file", pki["ca"],
                      *extra) as (p, c):
            if ok:
                assert c.set("m", "1") and c.get("m") == b"1"
            else:
                with pytest.raises(redis.ResponseError, match="backend unavailable"):
                    c.get("m")


def test_sighup_reloads_the_certificate_under_load_without_dropping_a_connection(pki, redis_server, tmp_path):
    r = redis_server()
    r.client().set("k", "v")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    shutil.copy(pki["server"][0], cert)
    shutil.copy(pki["server"][1], key)
    tls_port = free_port()
    p = Proc(["--redis", f"127.0.0.1:{r.port}", "--port", "0", "--tls-port", str(tls_port), "--tls-cert-file",
              str(cert), "--tls-key-file", str(key)], tls_port)

    def serial():
        ctx = ssl.create_default_context(cafile=pki["ca"])
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", tls_port)), server_hostname="localhost") as s:
            return s.getpeercert()["serialNumber"]

    try:
        before = serial()
        stop, errors, counts = threading.Event(), [], []

        def load():
            c = tls_client(pki, tls_port)  # one connection for the whole run
            n = 0
            while not stop.is_set():
                try:
                    assert c.get("k") == b"v"
                    n += 1
                except Exception as e:  # noqa: BLE001 - any failure is the finding
                    errors.append(e)
                    return
            counts.append(n)

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.3)
        shutil.copy(pki["server2"][0], cert)
        shutil.copy(pki["server2"][1], key)
        p.proc.send_signal(1)  # SIGHUP
        assert wait_until(lambda: serial() != before)
        # A file that does not load keeps the certificate in use, and says why.
        after = serial()
        cert.write_text("not a certificate\n")
        p.proc.send_signal(1)
        assert wait_until(lambda: "keeps its certificate" in p.output())
        assert serial() == after
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join()
        assert not errors and len(counts) == 4 and min(counts) > 0
        assert tls_client(pki, tls_port).info("proxy_tls")["tls_reload_failures"] == 1
    finally:
        p.stop()


def test_unix_sockets_on_both_sides(tmp_path, procs):
    rsock = str(tmp_path / "redis.sock")
    rproc = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", rsock, "--save", "", "--dir",
                              str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: os.path.exists(rsock))
        direct = redis.Redis(unix_socket_path=rsock)
        assert wait_until(lambda: direct.ping())
        direct.set("k", "v1")
        psock = str(tmp_path / "proxy.sock")
        port = free_port()
        p = procs(["--redis", f"unix://{rsock}", "--port", str(port), "--unixsocket", psock, "--unixsocketperm",
                   "700"], port)
        assert oct(os.stat(psock).st_mode & 0o777) == "0o700"
        c = redis.Redis(unix_socket_path=psock, socket_timeout=10)
        assert c.get("k") == b"v1"
        assert wait_until(lambda: c.info("proxy_stats")["tracking_state"] == "on")
        assert c.get("k") == b"v1"
        direct.set("k", "v2")
        assert wait_until(lambda: c.get("k") == b"v2")  # coherent over the Unix socket too
        out = subprocess.run(["redis-cli", "-s", psock, "get", "k"], capture_output=True, text=True, timeout=10)
        assert out.stdout.strip() == "v2"
        out = subprocess.run(["curl", "-s", "--unix-socket", psock, "http://localhost/k"], capture_output=True,
                             text=True, timeout=10)
        assert out.stdout == "v2"
        assert c.info("proxy_tls")["unixsocket"] == psock
        p.stop()
        assert not os.path.exists(psock)  # removed at shutdown
    finally:
        rproc.kill()
        rproc.wait()


@pytest.mark.skipif(not os.path.isdir(os.path.join(NODE_DIR, "node_modules")), reason="node clients not installed")
def test_node_clients_over_tls(pki, redis_server, procs):
    r = redis_server()
    r.client().set("k", "v")
    tls_port = free_port()
    procs(tls_proxy_args(pki, r.port, tls_port), tls_port)
    script = f"""
import {{ createClient }} from 'redis';
import Redis from 'ioredis';
import fs from 'fs';
const ca = fs.readFileSync({json.dumps(pki['ca'])});
const a = createClient({{ socket: {{ host: '127.0.0.1', port: {tls_port}, tls: true, ca }} }});
await a.connect();
const r1 = await a.get('k');
await a.set('n', '5');
const r2 = await a.incr('n');
await a.quit();
const b = new Redis({{ host: '127.0.0.1', port: {tls_port}, tls: {{ ca }} }});
const r3 = await b.mget('k', 'n');
const r4 = await b.pipeline().get('k').get('n').exec();
b.disconnect();
console.log(JSON.stringify([r1, r2, r3, r4.map(x => x[1])]));
"""
    path = os.path.join(NODE_DIR, "tls_check.mjs")
    with open(path, "w") as f:
        f.write(script)
    try:
        out = subprocess.run(["node", path], capture_output=True, text=True, timeout=30, cwd=NODE_DIR)
    finally:
        os.unlink(path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == ["v", 6, ["v", "6"], ["v", "6"]]


def test_a_redis_cluster_over_tls_every_node_reached_over_tls(pki):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
    from redis_cluster import LocalCluster
    cert, key = pki["server"]
    cluster = LocalCluster(primaries=3, tls=(cert, key, pki["ca"])).start()
    try:
        with fronting("--redis", f"rediss://127.0.0.1:{cluster.ports[0]}", "--backend-tls-ca-cert-file", pki["ca"],
                      "--cluster-refresh", "1s") as (p, c):
            assert wait_until(lambda: c.info("backend")["backend_cluster_enabled"] == 1)
            keys = [f"key:{i}" for i in range(60)]
            for k in keys:
                assert c.set(k, k.upper())
            assert c.mget(keys) == [k.upper().encode() for k in keys]  # split over the three nodes
            assert [c.get(k) for k in keys] == [k.upper().encode() for k in keys]
            info = c.info("proxy_tls")
            assert info["backend_tls_handshakes"] >= 3  # one per node at least
            assert c.info("backend")["backend_cluster_primaries"] == 3
    finally:
        cluster.stop()


def tls_run(pki, port, script, proto):
    """A command script over a TLS connection of its own; the raw reply bytes."""
    from resp3 import encode, read_raw
    ctx = ssl.create_default_context(cafile=pki["ca"])
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="localhost")
    f = s.makefile("rb")
    if proto == 3:
        s.sendall(encode(["HELLO", "3"]))
        read_raw(f)
    s.sendall(b"".join(encode(c) for c in script))  # pipelined
    replies = [read_raw(f) for _ in script]
    s.close()
    return replies


def test_over_tls_on_both_sides_the_replies_are_redis_s_own_bytes(pki, tls_redis):
    # The same scripts to a TLS Redis directly and through the proxy's TLS port in front of it.
    from test_dropin_replies import SCRIPTS
    tr = tls_redis()
    direct = tr.client()
    tls_port = free_port()
    cert, key = pki["server"]
    p = Proc(["--redis", f"rediss://127.0.0.1:{tr.port}", "--backend-tls-ca-cert-file", pki["ca"], "--port", "0",
              "--tls-port", str(tls_port), "--tls-cert-file", cert, "--tls-key-file", key], tls_port)
    try:
        for proto in (2, 3):
            for name in ("strings", "hashes", "lists", "zsets"):
                script = SCRIPTS[name]
                direct.flushall()
                want = tls_run(pki, tr.port, script, proto)
                direct.flushall()
                got = tls_run(pki, tls_port, script, proto)
                assert got == want, (proto, name)
    finally:
        p.stop()


def test_large_replies_and_a_reader_that_stops_over_tls(pki, redis_server, procs):
    # A reply many TLS chunks long arrives whole, pipelined ones in order; a client that stops
    # reading while its misses keep arriving is closed by --max-output-bytes, as on the plain port
    # (test_faults.py: cached replies pause it instead).
    r = redis_server()
    big = os.urandom(3 << 20)
    r.client().set("big", big)
    tls_port = free_port()
    procs(tls_proxy_args(pki, r.port, tls_port, "--max-output-bytes", "32m", "--ttl", "0"), tls_port)
    c = tls_client(pki, tls_port)
    assert c.get("big") == big  # a miss, then hits
    pipe = c.pipeline(transaction=False)
    for _ in range(5):
        pipe.get("big")
    assert pipe.execute() == [big] * 5
    ctx = ssl.create_default_context(cafile=pki["ca"])
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", tls_port)), server_hostname="localhost")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n" * 100)  # 300 MiB of replies, never read
    assert wait_until(lambda: c.info("proxy_stats")["output_limit_closes"] >= 1, timeout=20)
    s.close()
    assert c.get("big") == big  # everyone else still served


def test_tls_clients_count_against_max_clients(pki, redis_server, procs):
    r = redis_server()
    tls_port = free_port()
    procs(tls_proxy_args(pki, r.port, tls_port, "--max-clients", "1"), tls_port)
    first = tls_client(pki, tls_port)

    def ping():
        try:
            return first.ping()
        except redis.ConnectionError:  # the start-up probe's connection may not be closed yet
            return False
    assert wait_until(ping)
    with pytest.raises(redis.ConnectionError, match="max number of clients reached"):
        tls_client(pki, tls_port).ping()  # the handshake, then Redis's own refusal
    assert first.ping()


def test_a_stale_unix_socket_is_replaced_and_a_regular_file_is_not(tmp_path, redis_server, procs):
    r = redis_server()
    path = str(tmp_path / "proxy.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)  # a socket file nobody listens on: what a crashed process leaves
    stale.close()
    port = free_port()
    procs(["--redis", f"127.0.0.1:{r.port}", "--port", str(port), "--unixsocket", path], port)
    assert redis.Redis(unix_socket_path=path).ping()
    other = tmp_path / "data.txt"
    other.write_text("keep me")
    out = subprocess.run([PROXY_BIN, "--redis", f"127.0.0.1:{r.port}", "--port", str(free_port()), "--unixsocket",
                          str(other)], capture_output=True, text=True, timeout=10)
    assert out.returncode == 1 and "cannot listen on --unixsocket" in out.stdout + out.stderr
    assert other.read_text() == "keep me"


def test_sentinels_and_data_nodes_over_tls_a_failover_followed(pki):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
    from redis_sentinel import MASTER, SentinelSet
    cert, key = pki["server"]
    s = SentinelSet(tls=(cert, key, pki["ca"])).start()
    try:
        assert s.sentinel_addrs().startswith("rediss://")
        with fronting("--redis", f"rediss://{MASTER}", "--sentinel", s.sentinel_addrs(), "--sentinel-master", MASTER,
                      "--backend-tls-ca-cert-file", pki["ca"]) as (p, c):
            assert wait_until(lambda: c.info("proxy_sentinel")["sentinel_answering"] == 3)
            assert c.set("k", "v") and c.get("k") == b"v"
            old = s.primary()
            assert c.info("proxy_sentinel")["sentinel_primary"] == f"127.0.0.1:{old}"
            # Sentinels (a question link and a subscription each) and the primary, all over TLS.
            assert c.info("proxy_tls")["backend_tls_handshakes"] >= 7
            new = s.failover()
            assert wait_until(lambda: c.info("proxy_sentinel")["sentinel_primary"] == f"127.0.0.1:{new}")
            assert wait_until(lambda: _ok(lambda: c.set("k", "after")), timeout=5)
            assert c.get("k") == b"after"
    finally:
        s.stop()


def _ok(fn):
    try:
        fn()
        return True
    except redis.RedisError:
        return False
