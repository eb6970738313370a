"""Helpers shared by the scripts that start redis-server and the proxy on loopback
(bench_scale.py, soak.py, redis_sentinel.py, failover_bench.py): a free port, waiting for a
listener, a process's resident memory."""
import socket
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10, proc=None):
    """Waits for a listener on port; proc (a Popen): fails at once if it has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"process for port {port} exited")
            time.sleep(0.02)
    raise TimeoutError(port)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
