"""Node's Redis clients from npm (pinned in tests/system/node/package.json, installed by the test
set-up): node-redis with its default settings (it opens with HELLO 3 and does not fall back),
node-redis with its client-side cache (CLIENT TRACKING through the proxy: a value changed directly
in Redis is invalidated in the client's own cache), and ioredis. The scenarios and their checks
are in tests/system/node/clients.mjs."""
import json
import os
import shutil
import subprocess

import pytest

NODE_DIR = os.path.join(os.path.dirname(__file__), "node")


def run_scenario(name, proxy_port, redis_port):
    failed = os.path.join(NODE_DIR, ".install-failed")
    if os.path.exists(failed) and not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "redis")):
        with open(failed) as f:
            pytest.skip("node's Redis clients could not be installed: " + " ".join(f.read().split()))
    node = shutil.which("node") or shutil.which("nodejs")
    assert node, "node is missing: `scripts/install-deps.sh --test` installs it"
    assert os.path.isdir(os.path.join(NODE_DIR, "node_modules", "redis")), \
        "node's redis packages are missing: `scripts/install-deps.sh --test` installs them"
    done = subprocess.run([node, "clients.mjs", name, str(proxy_port), str(redis_port)], cwd=NODE_DIR,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{name} failed through the proxy:\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_node_redis_with_default_settings(pair):
    r, p = pair
    out = run_scenario("node-redis", p.port, r.port)
    assert out["proto"] == 3
    st = p.info("proxy_stats")
    assert st["resp3_hellos"] >= 3          # every connection it opened spoke RESP3
    assert st["pinned_connections"] == 0    # its blocking and subscribed connections gave theirs back
    assert p.info("backend")["backend_disconnects"] == 0


def test_node_redis_client_side_cache_is_invalidated_through_the_proxy(pair):
    r, p = pair
    out = run_scenario("node-redis-csc", p.port, r.port)
    assert out["hits"] >= 2
    assert p.info("proxy_client_tracking")["client_tracking_enabled"] >= 1  # served by the proxy's hub
    assert p.info("proxy_stats")["pinned_opened"] == 0  # no connection of its own to Redis
    print(f"node-redis client-side cache: invalidation {out['invalidation_us']} us after the write")


def test_ioredis(pair):
    r, p = pair
    run_scenario("ioredis", p.port, r.port)
    assert p.info("backend")["backend_disconnects"] == 0
