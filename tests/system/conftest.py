"""Fixtures for the system tests: a real redis-server and the real proxy binary on free loopback
ports. Each test starts its own pair, so tests are independent and can stop or kill either."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import redis

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROXY_BIN = os.environ.get("RCP_BIN", os.path.join(ROOT, "build", "redis-cache-proxy"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on port {port}")


class RedisServer:
    def __init__(self, port=None, extra=()):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="rcp-redis-")
        self.extra = list(extra)
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir, "--enable-debug-command", "local", *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, proc=self.proc)

    def client(self, **kw):
        return redis.Redis(host="127.0.0.1", port=self.port, **kw)

    def get_calls(self):
        """How many GETs this Redis has executed (INFO commandstats)."""
        stats = self.client().info("commandstats")
        return stats.get("cmdstat_get", {}).get("calls", 0)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class Proxy:
    def __init__(self, redis_port, args=(), env=None):
        self.port = free_port()
        self.args = [PROXY_BIN, "--redis", f"127.0.0.1:{redis_port}", "--port", str(self.port), *args]
        self.log = tempfile.NamedTemporaryFile(prefix="rcp-proxy-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})})
        wait_port(self.port, proc=self.proc)
        self._wait_coherent(redis_port)

    def _wait_coherent(self, redis_port):
        """With tracking on (the default), the proxy stores nothing until Redis has accepted CLIENT
        TRACKING; tests start once it has (or has refused it), so what they count is deterministic.
        Skipped when Redis is not there or the proxy wants a password."""
        if "--tracking" in self.args and self.args[self.args.index("--tracking") + 1] == "off":
            return
        try:
            socket.create_connection(("127.0.0.1", redis_port), timeout=0.5).close()
        except OSError:
            return
        deadline = time.time() + 3
        while time.time() < deadline:
            try:
                if self.info("proxy_stats").get("tracking_state") != "connecting":
                    return
            except redis.RedisError:
                return
            time.sleep(0.01)

    def client(self, **kw):
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=10, **kw)

    def backend_requests_settled(self):
        """Backend requests sent so far, once the proxy has learned Redis's commands and version and
        turned tracking on (requests of its own at connect time), for tests that count the requests
        a scenario sends."""
        assert wait_until(lambda: self.info("proxy_stats")["backend_commands_learned"] > 0 and
                          self.info("backend")["backend_redis_version"] != "unknown" and
                          self.info("proxy_stats")["tracking_state"] != "connecting")
        return self.info("backend")["backend_requests"]

    def info(self, section=None):
        """INFO over a connection of its own, closed afterwards (it counts in connected_clients)."""
        c = self.client()
        try:
            return c.info(section) if section else c.info()
        finally:
            c.close()

    def output(self):
        with open(self.log.name, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not os.environ.get("RCP_KEEP_LOGS"): os.unlink(self.log.name)


@pytest.fixture
def redis_server():
    servers = []

    def make(**kw):
        s = RedisServer(**kw)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def proxy():
    proxies = []

    def make(redis_port, *args, env=None):
        p = Proxy(redis_port, args, env)
        proxies.append(p)
        return p
    yield make
    for p in proxies:
        crashed = p.proc.poll() not in (None, 0)
        out = p.output()
        p.stop()
        assert not crashed, f"proxy exited with {p.proc.returncode}:\n{out}"
        assert p.proc.returncode == 0, f"proxy did not stop cleanly ({p.proc.returncode}):\n{out}"


@pytest.fixture
def pair(redis_server, proxy):
    """A Redis and a proxy in front of it with default settings."""
    r = redis_server()
    return r, proxy(r.port)


def wait_until(pred, timeout=10.0):
    """Polls pred until it is true (returns True) or the timeout passes (returns False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def rss_kb(pid):
    """Resident memory of a process, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid):
    """User + system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def recv_until_closed(sock, timeout=10):
    """Everything the peer sends until it closes the connection (or resets it)."""
    sock.settimeout(timeout)
    out = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            out += chunk
    except ConnectionResetError:
        pass
    return out
