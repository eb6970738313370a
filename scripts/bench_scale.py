#!/usr/bin/python3
"""Scale measurements for `make bench` (after the side-by-side table):
  1. memory: 1,000,000 keys of 16 bytes with 100-byte values, cached by the proxy, against
     redis-server holding the same keys (RSS of each);
  2. cost per hit does not grow with the cache: GET throughput over 1,000 cached keys and over
     1,000,000 cached keys, at pipeline 1 and 16 (redis-benchmark, 50 clients), three alternating
     pairs each because single runs on a shared machine move by 10-15%;
  3. idle connections: RSS of the proxy before and after 10,000 clients connect and say PING.
Usage: scripts/bench_scale.py [PROXY_BIN]"""
import resource
import signal
import socket
import subprocess
import sys
import tempfile

from procutil import free_port, rss_kb, wait_port

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/redis-cache-proxy"
KEYS = 1_000_000


def bench(port, keyspace, pipeline, n):
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-t", "get", "-n", str(n), "-r", str(keyspace),
                          "-c", "50", "-P", str(pipeline), "-q"], capture_output=True, text=True).stdout
    last = out.replace("\r", "\n").strip().splitlines()[-1]
    return float(last.split()[1])


def warm_cache(port, batch=10_000):
    """GETs every key once through the proxy, pipelined, so all of them are cached."""
    reply = b"$100\r\n" + b"x" * 100 + b"\r\n"
    with socket.create_connection(("127.0.0.1", port)) as s:
        for start in range(0, KEYS, batch):
            n = min(batch, KEYS - start)
            s.sendall(b"".join(b"*2\r\n$3\r\nGET\r\n$16\r\nkey:%012d\r\n" % i for i in range(start, start + n)))
            want, got = n * len(reply), 0
            while got < want:
                chunk = s.recv(1 << 20)
                if not chunk:
                    raise RuntimeError("proxy closed the connection while warming the cache")
                got += len(chunk)


def main():
    work = tempfile.mkdtemp(prefix="rcp-scale-")
    rport, pport = free_port(), free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", work], stdout=subprocess.DEVNULL)
    wait_port(rport)
    proxy = subprocess.Popen([BIN, "--redis", f"127.0.0.1:{rport}", "--port", str(pport), "--cache-keys",
                              str(2 * KEYS), "--ttl", "1h", "--max-clients", "11000", "--log-level", "warn"])
    wait_port(pport)
    try:
        # redis-benchmark's keys are "key:" + 12 digits = 16 bytes, and -r KEYS draws them from
        # 0..KEYS-1. Every one of them is stored and cached, so no measured GET goes to the backend
        # (a key missing from Redis would be a miss on every read, stalling its client's pipeline).
        value = b"x" * 100
        sets = b"".join(b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$100\r\n%s\r\n" % (i, value) for i in range(KEYS))
        subprocess.run(["redis-cli", "-p", str(rport), "--pipe"], input=sets, capture_output=True, check=True)
        del sets
        base = rss_kb(proxy.pid)
        warm_cache(pport)
        info = subprocess.run(["redis-cli", "-p", str(pport), "info", "cache"], capture_output=True, text=True).stdout
        cached = int(info.split("cache_keys:")[1].split()[0])
        dbsize = int(subprocess.run(["redis-cli", "-p", str(rport), "dbsize"], capture_output=True, text=True).stdout)
        prss, rrss = rss_kb(proxy.pid), rss_kb(redis.pid)
        print(f"== memory: {cached} keys cached (16-byte keys, 100-byte values)")
        print(f"proxy RSS {prss / 1024:.1f} MiB ({(prss - base) * 1024 / cached:.0f} bytes per entry over the "
              f"empty proxy's {base / 1024:.1f} MiB)")
        print(f"redis-server RSS {rrss / 1024:.1f} MiB for {dbsize} keys ({rrss * 1024 / dbsize:.0f} bytes per key)")
        print(f"ratio proxy/redis per key: {(prss / cached) / (rrss / dbsize):.2f}")

        print("== hit throughput, 1,000 vs 1,000,000 cached keys (req/s; 3 alternating pairs, the median ratio)")
        for pipeline, n in ((1, 300_000), (16, 3_000_000)):
            ratios = []
            for _ in range(3):
                small = bench(pport, 1000, pipeline, n)
                large = bench(pport, KEYS, pipeline, n)
                ratios.append(large / small)
                print(f"P{pipeline:<3} 1k keys {small:>12.0f}   1M keys {large:>12.0f}   ratio {large / small:.2f}")
            print(f"P{pipeline:<3} median ratio {sorted(ratios)[1]:.2f}")

        print("== 10,000 idle connections")
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 20000), hard))
        before = rss_kb(proxy.pid)
        conns = []
        for i in range(10_000):
            s = socket.create_connection(("127.0.0.1", pport))
            s.sendall(b"PING\r\n" if i % 2 == 0 else b"GET /key:000000000001 HTTP/1.1\r\n\r\n")
            conns.append(s)
        for s in conns:
            s.recv(4096)
        after = rss_kb(proxy.pid)
        print(f"RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB: {(after - before) * 1024 / len(conns):.0f} bytes per "
              f"connection (half RESP, half HTTP, each after one request)")
        for s in conns:
            s.close()
    finally:
        proxy.send_signal(signal.SIGTERM)
        proxy.wait(30)
        redis.kill()


if __name__ == "__main__":
    main()
