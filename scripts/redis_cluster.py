#!/usr/bin/python3
"""A throwaway local Redis Cluster on loopback: N primaries (and R replicas each) started as
`redis-server --cluster-enabled yes` on free ports, joined with `redis-cli --cluster create`.
Used by the system tests, `make run-cluster` and `make bench`; it stops only what it started.

    scripts/redis_cluster.py start [--primaries 3] [--replicas 0] [--dir DIR]   # prints the seed list
    scripts/redis_cluster.py stop --dir DIR
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(port, *args, timeout=10, tls=()):
    out = subprocess.run(["redis-cli", *tls, "-p", str(port), *args], capture_output=True, text=True, timeout=timeout)
    return out.stdout.strip()


class LocalCluster:
    def __init__(self, primaries=3, replicas=0, base_dir=None, node_timeout_ms=1000, tls=None):
        # tls: (cert, key, ca) files: every node listens with TLS only (tls-cluster yes, the bus too)
        self.tls = tls
        self.cli_tls = ["--tls", "--cacert", tls[2]] if tls else []
        self.primaries = primaries
        self.replicas = replicas
        self.dir = base_dir or tempfile.mkdtemp(prefix="rcp-cluster-")
        self.node_timeout_ms = node_timeout_ms
        self.ports = []
        self.procs = {}

    # --- life
    def start(self):
        n = self.primaries * (1 + self.replicas)
        self.ports = [self._free_cluster_port() for _ in range(n)]
        for p in self.ports:
            self.start_node(p)
        out = subprocess.run(
            ["redis-cli", *self.cli_tls, "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError("redis-cli --cluster create failed:\n" + out.stdout + out.stderr)
        self.wait_ok()
        self.wait_replicas_synced()
        return self

    def _free_cluster_port(self):
        # The cluster bus listens on port + 10000: both must be free.
        while True:
            p = free_port()
            if p + 10000 > 65535:
                continue
            try:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p + 10000))
                return p
            except OSError:
                continue

    def start_node(self, port):
        d = os.path.join(self.dir, str(port))
        os.makedirs(d, exist_ok=True)
        listen = ["--port", str(port)]
        if self.tls:
            cert, key, ca = self.tls
            listen = ["--port", "0", "--tls-port", str(port), "--tls-cluster", "yes", "--tls-replication", "yes",
                      "--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", ca,
                      "--tls-auth-clients", "no"]
        proc = subprocess.Popen(
            ["redis-server", *listen, "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", str(self.node_timeout_ms),
             "--cluster-require-full-coverage", "no", "--save", "", "--appendonly", "no", "--dir", d,
             "--enable-debug-command", "local", "--repl-diskless-sync-delay", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs[port] = proc
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"redis-server on {port} exited")
                time.sleep(0.05)
        raise TimeoutError(port)

    def wait_ok(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = [p for p in self.ports if self.alive(p)]
            if all("cluster_state:ok" in _cli(p, "cluster", "info", tls=self.cli_tls) for p in live):
                slots = [_cli(p, "cluster", "info", tls=self.cli_tls) for p in live]
                if all("cluster_slots_assigned:16384" in s for s in slots):
                    return
            time.sleep(0.1)
        raise TimeoutError("the cluster did not reach cluster_state:ok")

    def wait_replicas_synced(self, timeout=30):
        """Every replica has finished its first sync: one that never has cannot be promoted."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            infos = [_cli(p, "info", "replication", tls=self.cli_tls) for p in self.ports if self.alive(p)]
            replicas = [i for i in infos if "role:slave" in i]
            if len(replicas) >= self.primaries * self.replicas and all("master_link_status:up" in i for i in replicas):
                return
            time.sleep(0.05)
        raise TimeoutError("the replicas did not sync")

    def alive(self, port):
        proc = self.procs.get(port)
        return proc is not None and proc.poll() is None

    def kill(self, port):
        proc = self.procs.get(port)
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()

    def stop(self):
        for port in list(self.procs):
            self.kill(port)
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- what the tests ask
    def seeds(self):
        return ",".join(f"127.0.0.1:{p}" for p in self.ports[:1])

    def nodes(self):
        """[(port, id, role, primary_id, slots)] from CLUSTER NODES of a live node."""
        port = next(p for p in self.ports if self.alive(p))
        out = []
        for line in _cli(port, "cluster", "nodes", tls=self.cli_tls).splitlines():
            f = line.split()
            addr = f[1].split("@")[0]
            role = "primary" if "master" in f[2] else "replica"
            out.append((int(addr.rsplit(":", 1)[1]), f[0], role, f[3], f[8:]))
        return out

    def primary_ports(self):
        return sorted(p for p, _id, role, _m, _s in self.nodes() if role == "primary" and self.alive(p))

    def owner_of(self, slot):
        port = next(p for p in self.ports if self.alive(p))
        import redis  # the tests' client; only the test helpers need it
        r = redis.Redis(host="127.0.0.1", port=port)
        try:
            for start, end, primary, *_ in r.execute_command("CLUSTER", "SLOTS"):
                if start <= slot <= end:
                    return int(primary[1])
        finally:
            r.close()
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["start", "stop"])
    ap.add_argument("--primaries", type=int, default=3)
    ap.add_argument("--replicas", type=int, default=0)
    ap.add_argument("--dir", help="where the nodes keep their files (stop: the one start used)")
    a = ap.parse_args()
    if a.action == "start":
        base = a.dir or tempfile.mkdtemp(prefix="rcp-cluster-")
        c = LocalCluster(a.primaries, a.replicas, base).start()
        with open(os.path.join(base, "pids"), "w") as f:
            for port, proc in c.procs.items():
                f.write(f"{port} {proc.pid}\n")
        print(",".join(f"127.0.0.1:{p}" for p in c.ports))
        return
    if not a.dir:
        sys.exit("stop needs --dir")
    try:
        with open(os.path.join(a.dir, "pids")) as f:
            for line in f:
                _port, pid = line.split()
                try:
                    os.kill(int(pid), signal.SIGTERM)
                except ProcessLookupError:
                    pass
    except FileNotFoundError:
        pass
    time.sleep(0.2)
    shutil.rmtree(a.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
