#!/usr/bin/python3
"""A throwaway Redis Sentinel set on loopback: a primary, its replicas and three Sentinels
(`redis-server sentinel.conf --sentinel`, each with its own copy of the file: a Sentinel rewrites
it), on free ports. Used by the system tests, `make bench` (scripts/failover_bench.py) and by hand;
it stops only what it started.

    scripts/redis_sentinel.py start [--replicas 1] [--sentinels 3] [--dir DIR]   # prints the flags
    scripts/redis_sentinel.py stop --dir DIR
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procutil import free_port, wait_port  # noqa: E402

MASTER = "mymaster"


class SentinelSet:
    def __init__(self, replicas=1, sentinels=3, base_dir=None, down_after_ms=500, failover_timeout_ms=3000,
                 tls=None, quorum=2):
        # tls: (cert, key, ca) files: data nodes and Sentinels listen with TLS only (replication too)
        self.tls = tls
        self.cli_tls = ["--tls", "--cacert", tls[2]] if tls else []
        self.dir = base_dir or tempfile.mkdtemp(prefix="rcp-sentinel-")
        self.n_replicas = replicas
        self.n_sentinels = sentinels
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.quorum = quorum
        self.data_ports = []
        self.sentinel_ports = []
        self.procs = {}

    def _tls_args(self):
        if not self.tls:
            return []
        cert, key, ca = self.tls
        return ["--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", ca, "--tls-auth-clients", "no",
                "--tls-replication", "yes"]

    def _listen(self, port):
        return ["--port", "0", "--tls-port", str(port)] if self.tls else ["--port", str(port)]

    # --- life
    def start(self):
        self.data_ports = [free_port() for _ in range(1 + self.n_replicas)]
        self.start_data(self.data_ports[0])
        for p in self.data_ports[1:]:
            self.start_data(p, replicaof=self.data_ports[0])
        self.sentinel_ports = [free_port() for _ in range(self.n_sentinels)]
        for p in self.sentinel_ports:
            self.start_sentinel(p)
        self.wait_settled()
        return self

    def start_data(self, port, replicaof=None):
        d = os.path.join(self.dir, str(port))
        os.makedirs(d, exist_ok=True)
        args = ["redis-server", *self._listen(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", d, "--enable-debug-command", "local", "--repl-diskless-sync-delay", "0", *self._tls_args()]
        if replicaof:
            args += ["--replicaof", "127.0.0.1", str(replicaof)]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs[port] = proc
        wait_port(port, proc=proc)

    def start_sentinel(self, port, primary=None):
        d = os.path.join(self.dir, f"sentinel-{port}")
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "sentinel.conf")
        if not os.path.exists(conf):  # a restarted Sentinel keeps what it rewrote
            lines = [f"port {0 if self.tls else port}", "bind 127.0.0.1", f"dir {d}",
                     f"sentinel monitor {MASTER} 127.0.0.1 {primary or self.data_ports[0]} {self.quorum}",
                     f"sentinel down-after-milliseconds {MASTER} {self.down_after_ms}",
                     f"sentinel failover-timeout {MASTER} {self.failover_timeout_ms}",
                     f"sentinel parallel-syncs {MASTER} 1"]
            if self.tls:
                cert, key, ca = self.tls
                lines += [f"tls-port {port}", f"tls-cert-file {cert}", f"tls-key-file {key}",
                          f"tls-ca-cert-file {ca}", "tls-auth-clients no", "tls-replication yes"]
            with open(conf, "w") as f:
                f.write("\n".join(lines) + "\n")
        proc = subprocess.Popen(["redis-server", conf, "--sentinel"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        self.procs[port] = proc
        wait_port(port, proc=proc)

    def cli(self, port, *args, timeout=10):
        out = subprocess.run(["redis-cli", *self.cli_tls, "-p", str(port), *args], capture_output=True, text=True,
                             timeout=timeout)
        return out.stdout.strip()

    def wait_settled(self, timeout=30):
        """Every live Sentinel names the same primary, knows the other Sentinels and the replicas
        (a failover needs them: hello messages take a couple of seconds)."""
        deadline = time.monotonic() + timeout
        live_s = [p for p in self.sentinel_ports if self.alive(p)]
        while time.monotonic() < deadline:
            try:
                names = {self.sentinel_says(p) for p in live_s}
                ok = len(names) == 1 and None not in names
                for p in live_s:
                    if not ok:
                        break
                    info = self.cli(p, "sentinel", "master", MASTER).split("\n")
                    fields = dict(zip(info[0::2], info[1::2]))
                    ok = (self.replicas_synced() and
                          int(fields.get("num-other-sentinels", 0)) >= len(live_s) - 1 and
                          int(fields.get("num-slaves", 0)) >= self.live_replicas() and
                          "s_down" not in fields.get("flags", "") and "failover" not in fields.get("flags", ""))
                if ok:
                    return
            except (subprocess.TimeoutExpired, ValueError):
                pass
            time.sleep(0.1)
        raise TimeoutError("the Sentinels did not settle")

    def replicas_synced(self):
        primary = self.primary()
        return all("master_link_status:up" in self.cli(p, "info", "replication")
                   for p in self.data_ports if p != primary and self.alive(p))

    def live_replicas(self):
        primary = self.primary()
        return sum(1 for p in self.data_ports if p != primary and self.alive(p))

    def alive(self, port):
        proc = self.procs.get(port)
        return proc is not None and proc.poll() is None

    def kill(self, port, sig=signal.SIGKILL):
        proc = self.procs.get(port)
        if proc and proc.poll() is None:
            proc.send_signal(sig)
            proc.wait()

    def stop(self):
        for port in list(self.procs):
            self.kill(port)
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- what the tests ask
    def sentinel_addrs(self):
        scheme = "rediss://" if self.tls else ""
        return ",".join(f"{scheme}127.0.0.1:{p}" for p in self.sentinel_ports)

    def sentinel_says(self, port):
        out = self.cli(port, "sentinel", "get-master-addr-by-name", MASTER).split()
        return int(out[1]) if len(out) == 2 else None

    def primary(self):
        """The primary as the first live Sentinel names it."""
        for p in self.sentinel_ports:
            if self.alive(p):
                return self.sentinel_says(p)
        return None

    def role(self, port):
        return self.cli(port, "role").split("\n")[0]

    def failover(self, timeout=20):
        """SENTINEL FAILOVER on the first live Sentinel; returns the new primary's port once every
        live Sentinel names it and it says it is the master."""
        before = self.primary()
        s = next(p for p in self.sentinel_ports if self.alive(p))
        out = self.cli(s, "sentinel", "failover", MASTER)
        if out != "OK":
            raise RuntimeError("SENTINEL FAILOVER: " + out)
        return self.wait_new_primary(before, timeout)

    def wait_new_primary(self, before, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            names = {self.sentinel_says(p) for p in self.sentinel_ports if self.alive(p)}
            if len(names) == 1:
                (new,) = names
                if new not in (None, before) and self.role(new) == "master":
                    return new
            time.sleep(0.05)
        raise TimeoutError("no new primary")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", choices=["start", "stop"])
    ap.add_argument("--replicas", type=int, default=1)
    ap.add_argument("--sentinels", type=int, default=3)
    ap.add_argument("--dir")
    a = ap.parse_args()
    if a.cmd == "start":
        d = a.dir or tempfile.mkdtemp(prefix="rcp-sentinel-")
        s = SentinelSet(a.replicas, a.sentinels, base_dir=d).start()
        with open(os.path.join(d, "pids"), "w") as f:
            f.write("\n".join(str(p.pid) for p in s.procs.values()))
        print(f"--sentinel {s.sentinel_addrs()} --sentinel-master {MASTER}")
        return 0
    with open(os.path.join(a.dir, "pids")) as f:
        for pid in f.read().split():
            try:
                os.kill(int(pid), signal.SIGTERM)
            except ProcessLookupError:
                pass
    shutil.rmtree(a.dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
