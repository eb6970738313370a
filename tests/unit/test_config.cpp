// Unit tests for configuration: defaults, flags, environment, precedence, bad values.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "src/base/config.h"

using rcp::BackendAddress;
using rcp::Config;
using rcp::ConfigAction;
using rcp::ConfigError;

namespace {
Config parse(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  Config c;
  rcp::parseConfig(args, [&](const char* n) -> const char* {
    auto it = env.find(n);
    return it == env.end() ? nullptr : it->second.c_str();
  }, c);
  return c;
}
std::string errorOf(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  try {
    parse(std::move(args), std::move(env));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("defaults") {
  Config c = parse({});
  CHECK(c.redis.host == "127.0.0.1");
  CHECK(c.redis.port == 6379);
  CHECK(c.bind == "127.0.0.1");
  CHECK(c.port == 6380);
  CHECK(c.cache_keys == 10000);
  CHECK(c.ttl_ms == 60000);
  CHECK(c.max_clients == 10000);
  CHECK(c.backend_timeout_ms == 2000);
  CHECK(c.log_level == "info");
}

TEST_CASE("flags, with a space or an equals sign") {
  Config c = parse({"--redis", "10.1.2.3:7000", "--port=7001", "--cache-keys", "0", "--ttl", "250ms",
                    "--max-clients", "5", "--max-inflight=9", "--backend-timeout", "3s", "--log-level", "debug",
                    "--bind", "::1", "--max-request-bytes", "64k", "--max-pending", "16", "--max-output-bytes", "2m"});
  CHECK(c.redis.host == "10.1.2.3");
  CHECK(c.redis.port == 7000);
  CHECK(c.port == 7001);
  CHECK(c.cache_keys == 0);
  CHECK(c.ttl_ms == 250);
  CHECK(c.max_clients == 5);
  CHECK(c.max_inflight == 9);
  CHECK(c.backend_timeout_ms == 3000);
  CHECK(c.log_level == "debug");
  CHECK(c.bind == "::1");
  CHECK(c.max_request_bytes == 65536);
  CHECK(c.max_pending == 16);
  CHECK(c.max_output_bytes == 2 * 1024 * 1024);
}

TEST_CASE("environment variables, and flags win over them") {
  Config c = parse({"--port", "7002"}, {{"RCP_PORT", "7003"}, {"RCP_TTL", "5m"}, {"RCP_CACHE_KEYS", "42"}});
  CHECK(c.port == 7002);
  CHECK(c.ttl_ms == 300000);
  CHECK(c.cache_keys == 42);
  CHECK(errorOf({}, {{"RCP_TTL", "soon"}}).find("RCP_TTL") != std::string::npos);
}

TEST_CASE("durations") {
  CHECK(rcp::parseDurationMs("0", "t") == 0);
  CHECK(rcp::parseDurationMs("30", "t") == 30000);
  CHECK(rcp::parseDurationMs("30s", "t") == 30000);
  CHECK(rcp::parseDurationMs("250ms", "t") == 250);
  CHECK(rcp::parseDurationMs("5m", "t") == 300000);
  CHECK(rcp::parseDurationMs("1h", "t") == 3600000);
  CHECK_THROWS_AS(rcp::parseDurationMs("", "t"), ConfigError);
  CHECK_THROWS_AS(rcp::parseDurationMs("-1s", "t"), ConfigError);
  CHECK_THROWS_AS(rcp::parseDurationMs("1.5s", "t"), ConfigError);
  CHECK_THROWS_AS(rcp::parseDurationMs("10d", "t"), ConfigError);
  CHECK_THROWS_AS(rcp::parseDurationMs("99999999999h", "t"), ConfigError);
}

TEST_CASE("redis addresses") {
  auto a = rcp::parseRedisAddress("localhost:6390", "r");
  CHECK(a.host == "localhost");
  CHECK(a.port == 6390);
  a = rcp::parseRedisAddress("redis://user:p%40ss@db.example:7000/3", "r");
  CHECK(a.host == "db.example");
  CHECK(a.port == 7000);
  CHECK(a.user == "user");
  CHECK(a.password == "p%40ss");
  CHECK(a.db == 3);
  CHECK(a.display() == "db.example:7000/3");  // never the password
  a = rcp::parseRedisAddress("redis://secret@h", "r");
  CHECK(a.password == "secret");
  CHECK(a.user.empty());
  CHECK(a.port == 6379);
  a = rcp::parseRedisAddress("[::1]:6000", "r");
  CHECK(a.host == "::1");
  CHECK(a.port == 6000);
  CHECK(a.display() == "[::1]:6000");
  CHECK_THROWS_AS(rcp::parseRedisAddress("localhost", "r"), ConfigError);
  CHECK_THROWS_AS(rcp::parseRedisAddress("h:0", "r"), ConfigError);
  CHECK_THROWS_AS(rcp::parseRedisAddress("h:70000", "r"), ConfigError);
  CHECK_THROWS_AS(rcp::parseRedisAddress("http://h:1", "r"), ConfigError);
  CHECK_THROWS_AS(rcp::parseRedisAddress(":6379", "r"), ConfigError);
  CHECK_THROWS_AS(rcp::parseRedisAddress("redis://h/x", "r"), ConfigError);
}

TEST_CASE("bad values and unknown flags name the flag") {
  CHECK(errorOf({"--port", "http"}).rfind("--port:", 0) == 0);
  CHECK(errorOf({"--port", "0"}).rfind("--port 0 needs --tls-port or --unixsocket", 0) == 0);
  CHECK(errorOf({"--port"}).rfind("--port: missing value", 0) == 0);
  CHECK(errorOf({"--cache-keys", "-1"}).rfind("--cache-keys:", 0) == 0);
  CHECK(errorOf({"--ttl", "forever"}).rfind("--ttl:", 0) == 0);
  CHECK(errorOf({"--max-clients", "0"}).rfind("--max-clients:", 0) == 0);
  CHECK(errorOf({"--backend-timeout", "0"}).rfind("--backend-timeout:", 0) == 0);
  CHECK(errorOf({"--log-level", "loud"}).rfind("--log-level:", 0) == 0);
  CHECK(errorOf({"--frobnicate"}).rfind("--frobnicate: unknown option", 0) == 0);
  CHECK(errorOf({"extra"}).rfind("extra: unknown option", 0) == 0);
}

TEST_CASE("help lists every flag with its environment variable") {
  Config c;
  CHECK(rcp::parseConfig({"--help"}, [](const char*) -> const char* { return nullptr; }, c) == ConfigAction::kHelp);
  std::string h = rcp::helpText();
  for (const char* s : {"--redis", "RCP_REDIS", "--bind", "RCP_BIND", "--port", "RCP_PORT", "--cache-keys",
                        "RCP_CACHE_KEYS", "--ttl", "RCP_TTL", "--max-clients", "RCP_MAX_CLIENTS", "--max-inflight",
                        "RCP_MAX_INFLIGHT", "--backend-timeout", "RCP_BACKEND_TIMEOUT", "--log-level", "RCP_LOG_LEVEL"}) {
    CAPTURE(s);
    CHECK(h.find(s) != std::string::npos);
  }
}

namespace {
Config parseWithFile(std::vector<std::string> args, std::map<std::string, std::string> env, std::string file_text) {
  Config c;
  rcp::parseConfig(args, [&](const char* n) -> const char* {
    auto it = env.find(n);
    return it == env.end() ? nullptr : it->second.c_str();
  }, c, [&](const std::string&) { return file_text; });
  return c;
}
}  // namespace

TEST_CASE("config file: names as flags, comments, quotes, file < environment < flags") {
  std::string text = "# comment\n\nttl 30s   # trailing comment\ncache-keys 5\nredis \"10.0.0.1:7000\"\nlog-format json\n";
  Config c = parseWithFile({"--config", "/etc/rcp.conf"}, {}, text);
  CHECK(c.ttl_ms == 30000);
  CHECK(c.cache_keys == 5);
  CHECK(c.redis.host == "10.0.0.1");
  CHECK(c.log_format == "json");
  CHECK(c.config_file == "/etc/rcp.conf");
  c = parseWithFile({"--config", "f", "--cache-keys", "7"}, {{"RCP_TTL", "2s"}}, text);
  CHECK(c.ttl_ms == 2000);
  CHECK(c.cache_keys == 7);
  c = parseWithFile({}, {{"RCP_CONFIG", "envfile"}}, "ttl 9s\n");
  CHECK(c.ttl_ms == 9000);
  CHECK(c.config_file == "envfile");
}

TEST_CASE("config file errors name the file and line") {
  auto err = [](const std::string& text) {
    try {
      parseWithFile({"--config", "x.conf"}, {}, text);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(err("ttl 1s\nfrobnicate 3\n").rfind("x.conf:2: unknown setting 'frobnicate'", 0) == 0);
  CHECK(err("ttl\n").rfind("x.conf:1: ttl: missing value", 0) == 0);
  CHECK(err("ttl soon\n").rfind("x.conf:1 ttl:", 0) == 0);
  CHECK(err("config other.conf\n").find("unknown setting 'config'") != std::string::npos);
  CHECK_THROWS_AS(rcp::readFileOrThrow("/nonexistent/rcp.conf"), ConfigError);
}

TEST_CASE("reload: settings that need a restart are named, the description hides the password") {
  Config a = parse({"--redis", "redis://u:secret@h:1/2", "--ttl", "5s"});
  Config b = a;
  b.ttl_ms = 1;
  b.cache_keys = 3;
  CHECK(rcp::restartOnlyChanges(a, b).empty());
  b.port = 1;
  b.log_format = "json";
  CHECK(rcp::restartOnlyChanges(a, b) == std::vector<std::string>{"--port", "--log-format"});
  std::string d = rcp::describe(a);
  CHECK(d.find("secret") == std::string::npos);
  CHECK(d.find("u:****") != std::string::npos);
  CHECK(d.find("ttl 5000ms") != std::string::npos);
}

TEST_CASE("--http-allowed-hosts: a trimmed lower-case list, each name also with the port, defaults") {
  using V = std::vector<std::string>;
  CHECK(parse({}).http_allowed_hosts ==
        V{"localhost", "localhost:6380", "127.0.0.1", "127.0.0.1:6380", "[::1]", "[::1]:6380"});
  CHECK(parse({"--bind", "192.0.2.7", "--port", "7000"}).http_allowed_hosts ==
        V{"localhost", "localhost:7000", "127.0.0.1", "127.0.0.1:7000", "[::1]", "[::1]:7000", "192.0.2.7",
          "192.0.2.7:7000"});
  CHECK(parse({"--bind", "::1"}).http_allowed_hosts.size() == 6);
  CHECK(parse({"--bind", "0.0.0.0"}).http_allowed_hosts.size() == 6);
  CHECK(parse({"--http-allowed-hosts", " Cache.Internal ,b:80,[fe80::1],[fe80::1]:9"}).http_allowed_hosts ==
        V{"cache.internal", "cache.internal:6380", "b:80", "[fe80::1]", "[fe80::1]:6380", "[fe80::1]:9"});
  CHECK(parse({}, {{"RCP_HTTP_ALLOWED_HOSTS", "*"}}).http_allowed_hosts == V{"*"});
  CHECK(errorOf({"--http-allowed-hosts", "a,,b"}).find("--http-allowed-hosts") != std::string::npos);
}

TEST_CASE("no message shows a password: malformed --redis values, and a '#' that cut a config-file value") {
  for (std::string bad : {"rediss://u:hunter2@h:1:2", "redis://u:hunter2@[::1", "redis://u:hunter2@h:1:2",
                          "redis://u:hunter2@:6379", "redis://hunter2@h:notaport", "u:hunter2@h:6379",
                          "REDIS://u:hunter2@h", "redis://u:hunter2@[::1]x"}) {
    CAPTURE(bad);
    std::string err = errorOf({"--redis", bad});
    CHECK_FALSE(err.empty());
    CHECK(err.find("hunter2") == std::string::npos);
    std::string env_err = errorOf({}, {{"RCP_REDIS", bad}});
    CHECK(env_err.find("hunter2") == std::string::npos);
  }
  CHECK(rcp::maskCredentials("redis://u:pw@h:1/2") == "redis://u:***@h:1/2");
  CHECK(rcp::maskCredentials("redis://pw@h") == "redis://***@h");
  CHECK(rcp::maskCredentials("h:6379") == "h:6379");
  // In a config file, '#' starts a comment: an unquoted password holding one is cut, and the error says so.
  rcp::Config c;
  try {
    rcp::applyConfigFile("redis redis://u:pa#ss@h:6379\n", "f.conf", c);
    FAIL("accepted a value cut by a comment");
  } catch (const ConfigError& e) {
    std::string m = e.what();
    CHECK(m.find("starts a comment") != std::string::npos);
    CHECK(m.find("pa") == std::string::npos);
  }
  rcp::applyConfigFile("redis \"redis://u:pa#ss@h:6379\"\n", "f.conf", c);
  CHECK(c.redis.password == "pa#ss");
}

TEST_CASE("reload: applyReloadable takes the run-time settings and leaves the restart-only ones") {
  Config running = parse({"--port", "7000", "--ttl", "5s", "--max-input-bytes", "1m"});
  Config fresh = parse({"--port", "7001", "--ttl", "9s", "--max-input-bytes", "2m", "--request-timeout", "3s"});
  rcp::applyReloadable(running, fresh);
  CHECK(running.ttl_ms == 9000);
  CHECK(running.max_input_bytes == size_t{2} << 20);
  CHECK(running.request_timeout_ms == 3000);
  CHECK(running.port == 7000);  // a restart-only setting stays
}

TEST_CASE("coherence: --tracking modes, prefixes kept as written, --negative-ttl") {
  CHECK(parse({}).tracking == Config::Tracking::kAuto);
  CHECK(parse({}).negative_ttl_ms == 0);
  CHECK(parse({"--tracking", "off"}).tracking == Config::Tracking::kOff);
  CHECK(parse({"--tracking=default"}).tracking == Config::Tracking::kDefault);
  CHECK(parse({}, {{"RCP_TRACKING", "bcast"}}).tracking == Config::Tracking::kBcast);
  CHECK(errorOf({"--tracking", "on"}) == "--tracking: 'on' is not auto, default, bcast or off");
  Config c = parse({"--tracking", "bcast", "--tracking-prefixes", "User:,item:"});
  CHECK(c.tracking_prefixes == std::vector<std::string>{"User:", "item:"});  // keys are case-sensitive
  CHECK(errorOf({"--tracking-prefixes", "a:,,b:"}).find("an empty prefix") != std::string::npos);
  CHECK(parse({"--negative-ttl", "250ms"}).negative_ttl_ms == 250);
  CHECK(rcp::restartOnlyChanges(parse({}), parse({"--tracking", "off"})) == std::vector<std::string>{"--tracking"});
  CHECK(rcp::restartOnlyChanges(parse({}), parse({"--negative-ttl", "1s"})).empty());  // reloadable
}

TEST_CASE("redis seed lists and the cluster refresh period") {
  Config c = parse({});
  REQUIRE(c.redis_seeds.size() == 1);
  CHECK(c.redis_seeds[0].display() == "127.0.0.1:6379");
  CHECK(c.cluster_refresh_ms == 10000);
  c = parse({"--redis", "10.0.0.1:7000, 10.0.0.2:7001,redis://u:pw@10.0.0.3:7002", "--cluster-refresh", "2s"});
  REQUIRE(c.redis_seeds.size() == 3);
  CHECK(c.redis.host == "10.0.0.1");
  CHECK(c.redis.port == 7000);
  CHECK(c.redis_seeds[1].display() == "10.0.0.2:7001");
  CHECK(c.redis_seeds[2].user == "u");
  CHECK(c.redis_seeds[2].password == "pw");
  CHECK(c.cluster_refresh_ms == 2000);
  c = parse({}, {{"RCP_REDIS", "a:1,b:2"}});
  CHECK(c.redis_seeds.size() == 2);
  CHECK(errorOf({"--redis", "a:1,,b:2"}).find("empty address") != std::string::npos);
  CHECK(errorOf({"--redis", "a:1,"}).find("empty address") != std::string::npos);
  CHECK(errorOf({"--redis", "a:1,b"}).find("--redis") != std::string::npos);
  // a password in a seed is masked in the error message too
  std::string e = errorOf({"--redis", "a:1,redis://u:secret@h:99999"});
  CHECK(e.find("secret") == std::string::npos);
  // a different seed list needs a restart
  Config a = parse({"--redis", "a:1,b:2"}), b = parse({"--redis", "a:1,c:3"});
  auto changed = rcp::restartOnlyChanges(a, b);
  CHECK(std::find(changed.begin(), changed.end(), "--redis") != changed.end());
  CHECK(rcp::describe(a).find("a:1,b:2") != std::string::npos);
}

TEST_CASE("--http-max-age: a duration, 0 by default, reloadable") {
  CHECK(parse({}).http_max_age_ms == 0);
  CHECK(parse({"--http-max-age", "90s"}).http_max_age_ms == 90000);
  CHECK(parse({}, {{"RCP_HTTP_MAX_AGE", "2m"}}).http_max_age_ms == 120000);
  CHECK(errorOf({"--http-max-age", "soon"}).find("--http-max-age") != std::string::npos);
  Config running = parse({}), fresh = parse({"--http-max-age", "5s"});
  CHECK(rcp::restartOnlyChanges(running, fresh).empty());
  rcp::applyReloadable(running, fresh);
  CHECK(running.http_max_age_ms == 5000);
}

TEST_CASE("--stale-if-error and --refresh-ahead: values, errors, reloadable") {
  Config c = parse({"--stale-if-error", "30s", "--refresh-ahead", "0.8"});
  CHECK(c.stale_if_error_ms == 30000);
  CHECK(c.refresh_ahead == doctest::Approx(0.8));
  CHECK(parse({}).refresh_ahead == 0);
  CHECK(parse({}, {{"RCP_REFRESH_AHEAD", ".5"}}).refresh_ahead == doctest::Approx(0.5));
  CHECK(parse({}, {{"RCP_STALE_IF_ERROR", "1m"}}).stale_if_error_ms == 60000);
  for (const char* bad : {"1", "1.5", "-0.5", "abc", "0.5.5", "", ".", "1e-1", "nan"}) {
    CAPTURE(bad);
    CHECK(errorOf({"--refresh-ahead", bad}).find("--refresh-ahead") != std::string::npos);
  }
  Config running = parse({}), fresh = parse({"--refresh-ahead", "0.9", "--stale-if-error", "5s"});
  CHECK(rcp::restartOnlyChanges(running, fresh).empty());
  rcp::applyReloadable(running, fresh);
  CHECK(running.refresh_ahead == doctest::Approx(0.9));
  CHECK(running.stale_if_error_ms == 5000);
}

TEST_CASE("--backend-min-rate, --protected-mode, --tracking-table-max-keys, --tracking-max-prefixes: values, errors, reload") {
  Config d = parse({});
  CHECK(d.backend_min_rate == 1u << 20);
  CHECK(d.protected_mode);
  CHECK(d.tracking_table_max_keys == 1000000);
  CHECK(d.tracking_max_prefixes == 128);
  CHECK(d.max_backend_reply_bytes == size_t{512} << 20);  // Redis's proto-max-bulk-len: its largest value fits
  Config c = parse({"--backend-min-rate", "64k", "--protected-mode", "no", "--tracking-table-max-keys", "0",
                    "--tracking-max-prefixes", "5"});
  CHECK(c.backend_min_rate == 65536);
  CHECK_FALSE(c.protected_mode);
  CHECK(c.tracking_table_max_keys == 0);
  CHECK(c.tracking_max_prefixes == 5);
  CHECK(parse({"--backend-min-rate", "0"}).backend_min_rate == 0);
  CHECK_FALSE(parse({}, {{"RCP_PROTECTED_MODE", "no"}}).protected_mode);
  CHECK(errorOf({"--protected-mode", "maybe"}).find("--protected-mode") != std::string::npos);
  CHECK(errorOf({"--tracking-max-prefixes", "0"}).find("--tracking-max-prefixes") != std::string::npos);
  CHECK(errorOf({"--tracking-table-max-keys", "x"}).find("--tracking-table-max-keys") != std::string::npos);
  CHECK(errorOf({"--backend-min-rate", "fast"}).find("--backend-min-rate") != std::string::npos);
  Config running = parse({}), fresh = parse({"--protected-mode", "no", "--tracking-table-max-keys", "7"});
  CHECK(rcp::restartOnlyChanges(running, fresh).empty());
  rcp::applyReloadable(running, fresh);
  CHECK_FALSE(running.protected_mode);
  CHECK(running.tracking_table_max_keys == 7);
  CHECK(rcp::restartOnlyChanges(running, parse({"--backend-min-rate", "2m"})) ==
        std::vector<std::string>{"--backend-min-rate"});
}

TEST_CASE("rediss:// means TLS to Redis, unix:// a Unix socket; seeds do not mix them") {
  BackendAddress a = rcp::parseRedisAddress("rediss://u:pw@cache.example:6380/2", "r");
  CHECK(a.tls);
  CHECK(a.host == "cache.example");
  CHECK(a.port == 6380);
  CHECK(a.db == 2);
  CHECK(a.display() == "rediss://cache.example:6380/2");
  BackendAddress u = rcp::parseRedisAddress("unix:///run/redis/redis.sock?db=3", "r");
  CHECK(u.unix());
  CHECK(u.host == "/run/redis/redis.sock");
  CHECK(u.db == 3);
  CHECK_FALSE(u.tls);
  CHECK(u.display() == "unix:///run/redis/redis.sock?db=3");
  CHECK(rcp::parseRedisAddress("unix://:secret@/tmp/r.sock", "r").password == "secret");
  CHECK_THROWS_AS(rcp::parseRedisAddress("unix://relative.sock", "r"), ConfigError);
  CHECK_THROWS_AS(rcp::parseRedisAddress("unix:///tmp/r.sock?timeout=1", "r"), ConfigError);
  Config c = parse({"--redis", "rediss://10.0.0.1:7000,rediss://10.0.0.2:7000"});
  CHECK(c.backend_tls);
  CHECK(errorOf({"--redis", "rediss://10.0.0.1:7000,redis://10.0.0.2:7000"}).find("mix of redis:// and rediss://") != std::string::npos);
  CHECK(errorOf({"--redis", "unix:///tmp/a.sock,10.0.0.2:7000"}).find("Unix socket") != std::string::npos);
}

TEST_CASE("TLS and Unix socket flags: what goes together is checked, a bare --backend-tls-insecure means yes") {
  CHECK(errorOf({"--tls-port", "6443"}) == "--tls-port needs --tls-cert-file and --tls-key-file");
  CHECK(errorOf({"--tls-port", "6380"}).find("the same port as --port") != std::string::npos);
  CHECK(errorOf({"--tls-auth-clients", "maybe"}).rfind("--tls-auth-clients:", 0) == 0);
  CHECK(errorOf({"--tls-auth-clients", "yes"}) == "--tls-auth-clients yes needs --tls-ca-cert-file");
  CHECK(errorOf({"--tls-protocols", "SSLv3"}).find("unknown protocol 'SSLv3'") != std::string::npos);
  CHECK(errorOf({"--backend-tls-cert-file", "c.pem"}).find("go together") != std::string::npos);
  CHECK(errorOf({"--unixsocketperm", "999"}).rfind("--unixsocketperm:", 0) == 0);
  Config c = parse({"--port", "0", "--tls-port", "6443", "--tls-cert-file", "c.pem", "--tls-key-file", "k.pem",
                    "--backend-tls-insecure", "--unixsocket", "/tmp/p.sock", "--unixsocketperm", "770"});
  CHECK(c.port == 0);
  CHECK(c.tls_port == 6443);
  CHECK(c.backend_tls_insecure);
  CHECK(c.unixsocketperm == 0770);
  CHECK(c.unixsocket == "/tmp/p.sock");
  // The Host check knows the TLS port too: https://localhost:6443/ is this proxy.
  CHECK(std::find(c.http_allowed_hosts.begin(), c.http_allowed_hosts.end(), "localhost:6443") != c.http_allowed_hosts.end());
  CHECK_FALSE(parse({}, {{"RCP_BACKEND_TLS_INSECURE", "no"}}).backend_tls_insecure);
  CHECK(parse({}, {{"RCP_BACKEND_TLS_INSECURE", "yes"}}).backend_tls_insecure);
}

TEST_CASE("--sentinel: addresses with their own credentials and TLS, the shared password, what goes together") {
  Config c = parse({"--sentinel", "10.0.0.1:26379, rediss://u:own@10.0.0.2:26380,[::1]:26381", "--sentinel-master",
                    "mymaster", "--sentinel-password", "shared", "--sentinel-user", "sen", "--redis",
                    "rediss://app:pw@mymaster/3"});
  REQUIRE(c.sentinel());
  REQUIRE(c.sentinels.size() == 3);
  CHECK(c.sentinels[0].host == "10.0.0.1");
  CHECK(c.sentinels[0].port == 26379);
  CHECK((c.sentinels[0].user == "sen" && c.sentinels[0].password == "shared"));
  CHECK((c.sentinels[1].user == "u" && c.sentinels[1].password == "own" && c.sentinels[1].tls));
  CHECK(c.sentinels[2].host == "::1");
  CHECK(c.sentinel_master == "mymaster");
  CHECK((c.redis.tls && c.backend_tls && c.redis.db == 3 && c.redis.user == "app" && c.redis.password == "pw"));
  CHECK(c.sentinel_timeout_ms == 500);
  CHECK(c.sentinel_poll_ms == 1000);
  Config e = parse({}, {{"RCP_SENTINEL", "127.0.0.1:5000"}, {"RCP_SENTINEL_MASTER", "m"},
                        {"RCP_SENTINEL_TIMEOUT", "250ms"}, {"RCP_SENTINEL_POLL", "5s"}});
  CHECK((e.sentinels.size() == 1 && e.sentinel_master == "m" && e.sentinel_timeout_ms == 250 && e.sentinel_poll_ms == 5000));
  CHECK(rcp::describe(c).find("shared") == std::string::npos);
  CHECK(rcp::describe(c).find("sentinel 10.0.0.1:26379,rediss://10.0.0.2:26380") == 0);

  CHECK(errorOf({"--sentinel", "127.0.0.1:5000"}) == "--sentinel needs --sentinel-master (the master's name)");
  CHECK(errorOf({"--sentinel-master", "m"}) == "--sentinel-master needs --sentinel (the Sentinels' addresses)");
  CHECK(errorOf({"--sentinel", "127.0.0.1:5000", "--sentinel-master", "m", "--redis", "a:1,b:2"}) ==
        "--sentinel: --redis names one set of data-node credentials, not a seed list");
  CHECK(errorOf({"--sentinel", "127.0.0.1:5000", "--sentinel-master", "m", "--redis", "unix:///tmp/r.sock"}) ==
        "--sentinel: --redis cannot be a Unix socket (the Sentinels name the primary)");
  CHECK(errorOf({"--sentinel", "unix:///tmp/s.sock", "--sentinel-master", "m"}).find("a Sentinel is host:port") !=
        std::string::npos);
  CHECK(errorOf({"--sentinel", "127.0.0.1", "--sentinel-master", "m"}).find("--sentinel") == 0);
  CHECK(errorOf({"--sentinel", "127.0.0.1:1,", "--sentinel-master", "m"}).find("empty address") != std::string::npos);
  CHECK(errorOf({"--sentinel", "127.0.0.1:1", "--sentinel-master", "two words"}).find("not a master name") !=
        std::string::npos);
  CHECK(errorOf({"--sentinel-timeout", "0"}) == "--sentinel-timeout: must be more than 0");
  CHECK(errorOf({"--sentinel-poll", "0"}) == "--sentinel-poll: must be more than 0");

  // Reload: the timings are reloadable, the Sentinels and the master need a restart.
  Config d = parse({"--sentinel", "127.0.0.1:5000", "--sentinel-master", "m", "--sentinel-poll", "3s"});
  Config f = parse({"--sentinel", "127.0.0.1:5001", "--sentinel-master", "m", "--sentinel-poll", "7s"});
  CHECK(rcp::restartOnlyChanges(d, f) == std::vector<std::string>{"--sentinel"});
  f.sentinel_timeout_ms = 900;
  CHECK(rcp::restartOnlyChanges(d, f) == std::vector<std::string>{"--sentinel", "--sentinel-timeout"});
  rcp::applyReloadable(d, f);
  CHECK((d.sentinel_poll_ms == 7000 && d.sentinels[0].port == 5000));
}
