"""Operating the proxy: the admin listener (/metrics, /healthz, /readyz), INFO through redis-py,
the configuration file and SIGHUP reload, the start-up log line and JSON logs."""
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

import pytest

import rawhttp
import redis
from conftest import PROXY_BIN, free_port, wait_port, wait_until


def scrape(port):
    resp = rawhttp.get(port, "/metrics")
    assert resp.status == 200
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for line in resp.body.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def delta(before, after, name):
    return after.get(name, 0) - before.get(name, 0)


@pytest.fixture
def admin_pair(redis_server, proxy):
    r = redis_server()
    admin = free_port()
    p = proxy(r.port, "--admin-port", str(admin))
    wait_port(admin)
    return r, p, admin


def test_metrics_count_known_traffic_exactly(admin_pair):
    r, p, admin = admin_pair
    r.client().set("a", "1")
    r.client().rpush("list", "x")
    c = p.client()
    c.ping()
    before = scrape(admin)
    assert c.get("a") == b"1"                          # RESP miss
    assert c.get("a") == b"1"                          # RESP hit
    assert c.get("a") == b"1"                          # RESP hit
    assert c.get("nothing") is None                    # RESP miss (nil)
    with pytest.raises(Exception):
        c.get("list")                                  # RESP error (WRONGTYPE)
    assert rawhttp.get(p.port, "/a").status == 200     # HTTP hit
    assert rawhttp.get(p.port, "/zzz").status == 404   # HTTP miss
    assert rawhttp.get(p.port, "/%zz").status == 400   # HTTP error
    c.ping()
    after = scrape(admin)
    want = {
        'rcp_requests_total{protocol="resp",outcome="hit"}': 2,
        'rcp_requests_total{protocol="resp",outcome="miss"}': 2,
        'rcp_requests_total{protocol="resp",outcome="error"}': 1,
        'rcp_requests_total{protocol="http",outcome="hit"}': 1,
        'rcp_requests_total{protocol="http",outcome="miss"}': 1,
        'rcp_requests_total{protocol="http",outcome="error"}': 1,
        "rcp_backend_requests_total": 4,                # a, nothing, list, zzz
        "rcp_backend_errors_total": 1,
        "rcp_commands_total": 1,                        # the second PING
        "rcp_client_connections_total": 3,              # three raw HTTP connections
        'rcp_backend_request_duration_seconds_bucket{le="+Inf"}': 4,
        "rcp_backend_request_duration_seconds_count": 4,
        "rcp_cache_entries": 1,                         # "a" (nil and errors are not cached)
        "rcp_coalesced_misses_total": 0,
    }
    got = {k: delta(before, after, k) for k in want}
    assert got == want
    assert after["rcp_backend_up"] == 1
    assert after["rcp_client_connections"] == 1         # redis-py's (scrapes use the admin port)
    assert after["rcp_received_bytes_total"] > before["rcp_received_bytes_total"]
    assert after['rcp_backend_request_duration_seconds_bucket{le="2.5"}'] <= after["rcp_backend_request_duration_seconds_count"]


def test_healthz_and_readyz_follow_the_backend(admin_pair):
    r, p, admin = admin_pair
    assert rawhttp.get(admin, "/healthz").status == 200
    assert wait_until(lambda: rawhttp.get(admin, "/readyz").status == 200)
    r.kill()
    assert wait_until(lambda: rawhttp.get(admin, "/readyz").status == 503)
    assert rawhttp.get(admin, "/healthz").status == 200
    assert scrape(admin)["rcp_backend_up"] == 0
    r.start()
    assert wait_until(lambda: rawhttp.get(admin, "/readyz").status == 200)
    m = scrape(admin)
    assert m["rcp_backend_reconnects_total"] == 1 and m["rcp_backend_disconnects_total"] == 1, p.output()
    assert rawhttp.get(admin, "/nope").status == 404
    assert rawhttp.get(admin, "/metrics", method="POST").status == 405


def test_admin_port_is_separate_from_keys(admin_pair):
    r, p, admin = admin_pair
    r.client().set("metrics", "a key named metrics")
    assert rawhttp.get(p.port, "/metrics").body == b"a key named metrics"


def test_info_has_the_same_counters(admin_pair):
    r, p, admin = admin_pair
    r.client().set("k", "v")
    c = p.client()
    c.get("k")
    c.get("k")
    info = c.info()   # redis-py parses the whole text
    m = scrape(admin)
    assert info["resp_hits"] == m['rcp_requests_total{protocol="resp",outcome="hit"}'] == 1
    assert info["resp_misses"] == m['rcp_requests_total{protocol="resp",outcome="miss"}'] == 1
    # INFO itself goes to Redis (for Redis's sections), after the proxy's counters were read
    assert info["backend_requests"] + 1 == m["rcp_backend_requests_total"]
    assert info["cache_keys"] == m["rcp_cache_entries"]
    assert info["pinned_connections"] == m["rcp_pinned_connections"] == 0
    assert info["forwarded_commands"] + 1 == m["rcp_forwarded_commands_total"]
    for section in ("server", "clients", "stats", "proxy", "proxy_stats", "cache", "backend"):
        assert c.info(section)
    assert "redis_version" in c.info("server") and "proxy_version" not in c.info("server")
    assert "proxy_version" in c.info("proxy") and "redis_version" not in c.info("proxy")


def test_config_file_and_sighup_reload_change_the_ttl(redis_server, proxy):
    r = redis_server()
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write("# test configuration\nttl 60s\ncache-keys 100\n")
        path = f.name
    try:
        p = proxy(r.port, "--config", path, "--tracking", "off")  # writes behind its back: TTL-only
        c = p.client()
        assert c.info("cache")["cache_ttl_ms"] == 60000
        r.client().set("k", "old")
        assert c.get("k") == b"old"
        r.client().set("k", "new")
        time.sleep(0.3)
        assert c.get("k") == b"old"                  # cached for 60 s
        with open(path, "w") as f:
            f.write("ttl 200ms\ncache-keys 100\n")
        p.proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: c.info("cache")["cache_ttl_ms"] == 200)
        assert c.get("k") == b"new"                  # stored > 200 ms ago: expired under the new TTL
        assert "configuration reloaded" in p.output()
        # a broken file is refused and the running configuration kept
        with open(path, "w") as f:
            f.write("ttl forever\n")
        p.proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "not reloaded" in p.output())
        assert c.info("cache")["cache_ttl_ms"] == 200
    finally:
        os.unlink(path)


def test_flags_override_the_config_file(redis_server):
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write("ttl 5s\nbogus-setting 1\n")
        path = f.name
    try:
        out = subprocess.run([PROXY_BIN, "--config", path], capture_output=True, text=True, timeout=10)
        assert out.returncode == 2
        assert f"{path}:2" in out.stderr and "bogus-setting" in out.stderr
    finally:
        os.unlink(path)


def test_startup_line_has_the_effective_configuration_without_the_password(redis_server, proxy):
    r = redis_server(extra=("--requirepass", "hunter2"))
    p = proxy(r.port, "--redis", f"redis://app:hunter2@127.0.0.1:{r.port}", "--ttl", "7s")
    assert wait_until(lambda: "listening on" in p.output())  # logged just after the port opens
    line = next(l for l in p.output().splitlines() if "listening on" in l)
    assert "ttl 7000ms" in line and f"redis 127.0.0.1:{r.port}" in line and "app:****" in line
    assert "hunter2" not in p.output()


def test_json_logs_are_one_object_per_line(redis_server, proxy):
    r = redis_server()
    p = proxy(r.port, "--log-format", "json")
    assert wait_until(lambda: "connected" in p.output())
    r.kill()
    assert wait_until(lambda: "lost" in p.output())
    lines = [l for l in p.output().splitlines() if l.strip()]
    records = [json.loads(l) for l in lines]
    assert all({"time", "level", "msg"} <= rec.keys() for rec in records)
    assert any(rec["level"] == "warning" and "lost" in rec["msg"] for rec in records)
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", records[0]["time"])


def test_the_example_config_file_runs(redis_server, proxy):
    r = redis_server()
    example = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           "scripts", "redis-cache-proxy.conf")
    admin = free_port()
    # the file's ports are overridden by flags (flags win), its other settings apply
    p = proxy(r.port, "--config", example, "--admin-port", str(admin))
    wait_port(admin)
    assert p.client().info("cache")["cache_ttl_ms"] == 60000
    # the container's HEALTHCHECK command, run against it
    probe = (f"exec 3<>/dev/tcp/127.0.0.1/{admin} && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 "
             "&& grep -q ' 200 ' <&3")
    assert subprocess.run(["/bin/bash", "-c", probe], timeout=10).returncode == 0


def test_make_install_lays_out_binary_config_unit_and_help(tmp_path):
    build_dir = os.path.dirname(PROXY_BIN)
    if not os.path.exists(os.path.join(build_dir, "cmake_install.cmake")):
        pytest.skip("the binary under test is not in a CMake build directory")
    subprocess.run(["cmake", "--install", build_dir, "--prefix", str(tmp_path)], check=True, capture_output=True)
    assert os.access(tmp_path / "bin" / "redis-cache-proxy", os.X_OK)
    assert (tmp_path / "etc" / "redis-cache-proxy" / "redis-cache-proxy.conf").exists()
    doc = tmp_path / "share" / "doc" / "redis-cache-proxy"
    assert "ExecReload" in (doc / "redis-cache-proxy.service").read_text()
    assert "--admin-port" in (doc / "redis-cache-proxy.txt").read_text()


def test_a_config_path_that_is_a_directory_is_refused_at_start_and_on_reload(redis_server, proxy, tmp_path):
    out = subprocess.run([PROXY_BIN, "--config", str(tmp_path)], capture_output=True, text=True, timeout=10)
    assert out.returncode == 2
    assert f"{tmp_path}: is a directory" in out.stderr
    # Reload: the file is replaced by a directory; the running configuration stays.
    r = redis_server()
    conf = tmp_path / "proxy.conf"
    conf.write_text("max-clients 5\n")
    p = proxy(r.port, "--config", str(conf))
    c = p.client()
    assert c.info("proxy")["proxy_maxclients"] == 5
    conf.unlink()
    conf.mkdir()
    p.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: "is a directory" in p.output())
    assert "not reloaded" in p.output()
    assert c.info("proxy")["proxy_maxclients"] == 5


def test_raising_max_clients_by_sighup_raises_the_open_files_limit(redis_server, tmp_path):
    r = redis_server()
    conf = tmp_path / "proxy.conf"
    conf.write_text("max-clients 10\n")
    port = free_port()
    import resource

    def low_soft_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 4096))
    proc = subprocess.Popen([PROXY_BIN, "--redis", f"127.0.0.1:{r.port}", "--port", str(port), "--config", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=low_soft_limit)
    socks = []
    try:
        wait_port(port, proc=proc)
        conf.write_text("max-clients 600\n")
        proc.send_signal(signal.SIGHUP)
        def soft_limit():
            with open(f"/proc/{proc.pid}/limits") as f:
                for line in f:
                    if line.startswith("Max open files"):
                        return int(line.split()[3])
        assert wait_until(lambda: soft_limit() >= 632)
        for _ in range(300):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"PING\r\n")
            socks.append(s)
        assert all(s.recv(100) == b"+PONG\r\n" for s in socks)  # every one admitted and served
    finally:
        for s in socks:
            s.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_no_password_reaches_stderr_or_the_log(redis_server, proxy, tmp_path):
    for bad in ("rediss://u:hunter2@127.0.0.1:1:2", "ftp://u:hunter2@h:1", "redis://u:hunter2@[::1", "redis://u:hunter2@h:1:2",
                "redis://u:hunter2@:6379", "u:hunter2@127.0.0.1:6379"):
        out = subprocess.run([PROXY_BIN, "--redis", bad], capture_output=True, text=True, timeout=10)
        assert out.returncode == 2, bad
        assert "hunter2" not in out.stderr and "hunter2" not in out.stdout, bad
    # A reload that refuses a bad address logs it masked, and keeps the running configuration.
    r = redis_server(extra=("--requirepass", "hunter2"))
    r.client(password="hunter2").set("k", "v")
    conf = tmp_path / "proxy.conf"
    conf.write_text(f'redis "redis://default:hunter2@127.0.0.1:{r.port}"\n')
    port = free_port()
    log = tmp_path / "proxy.log"
    with open(log, "w") as logf:
        proc = subprocess.Popen([PROXY_BIN, "--port", str(port), "--config", str(conf)], stdout=logf, stderr=subprocess.STDOUT)
    try:
        wait_port(port, proc=proc)
        c = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
        assert wait_until(lambda: c.get("k") == b"v")
        conf.write_text('redis "rediss://default:hunter2@127.0.0.1:1:2"\n')
        proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "not reloaded" in log.read_text())
        assert "hunter2" not in log.read_text()
        assert c.get("k") == b"v"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_silent_connections_cannot_lock_out_the_health_checks(admin_pair):
    r, p, admin = admin_pair
    silent = [socket.create_connection(("127.0.0.1", admin), timeout=5) for _ in range(100)]
    try:
        # At the limit the oldest silent connection makes room; past 2 s they are closed anyway.
        started = time.monotonic()
        assert rawhttp.get(admin, "/healthz").status == 200
        assert rawhttp.get(admin, "/readyz").status == 200
        assert time.monotonic() - started < 2
        silent[-1].settimeout(4)
        assert silent[-1].recv(10) == b""  # the read deadline closed it, unanswered
    finally:
        for s in silent:
            s.close()
