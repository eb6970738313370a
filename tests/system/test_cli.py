"""Command line and environment: --help, bad values exit 2 naming the flag, env variables, SIGTERM."""
import os
import signal
import subprocess

from conftest import PROXY_BIN, free_port, wait_port


def run(*args, env=None):
    return subprocess.run([PROXY_BIN, *args], capture_output=True, text=True, timeout=10,
                          env={**os.environ, **(env or {})})


def test_help_lists_every_flag_and_exits_0():
    out = run("--help")
    assert out.returncode == 0
    for flag, env in (("--redis", "RCP_REDIS"), ("--bind", "RCP_BIND"), ("--port", "RCP_PORT"),
                      ("--cache-keys", "RCP_CACHE_KEYS"), ("--ttl", "RCP_TTL"),
                      ("--max-clients", "RCP_MAX_CLIENTS"), ("--max-inflight", "RCP_MAX_INFLIGHT"),
                      ("--backend-timeout", "RCP_BACKEND_TIMEOUT"), ("--log-level", "RCP_LOG_LEVEL")):
        assert flag in out.stdout and env in out.stdout


def test_bad_values_exit_2_with_one_line_naming_the_flag():
    for args, name in ((["--port", "abc"], "--port"), (["--ttl", "soon"], "--ttl"),
                       (["--cache-keys", "-3"], "--cache-keys"), (["--redis", "nohost"], "--redis"),
                       (["--max-clients", "0"], "--max-clients"), (["--bogus"], "--bogus"),
                       (["--log-level", "chatty"], "--log-level"), (["--port"], "--port")):
        out = run(*args)
        assert out.returncode == 2, args
        assert name in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
    out = run(env={"RCP_TTL": "later"})
    assert out.returncode == 2 and "RCP_TTL" in out.stderr


def test_environment_configures_the_proxy(redis_server):
    r = redis_server()
    port = free_port()
    p = subprocess.Popen([PROXY_BIN], env={**os.environ, "RCP_PORT": str(port), "RCP_REDIS": f"127.0.0.1:{r.port}",
                                           "RCP_CACHE_KEYS": "7", "RCP_TTL": "9s"},
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc=p)
        import redis
        info = redis.Redis(host="127.0.0.1", port=port).info("cache")
        assert info["cache_capacity_keys"] == 7
        assert info["cache_ttl_ms"] == 9000
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=10) == 0


def test_port_in_use_is_a_clear_error(redis_server):
    r = redis_server()
    out = run("--port", str(r.port), "--redis", f"127.0.0.1:{r.port}")
    assert out.returncode == 1
    assert "cannot listen" in out.stderr
