// Start-up configuration: command-line flags, each with an environment variable (the flag wins),
// validated into one Config. A bad value or unknown flag raises ConfigError naming the flag.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace rcp {

struct BackendAddress {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  std::string user;      // ACL user for AUTH (empty: default user)
  std::string password;  // empty: no AUTH
  int db = 0;            // SELECTed on connect when not 0
  bool tls = false;      // rediss://
  // host:port[/db] (a Unix socket: its path), with rediss:// in front under TLS; never the password.
  std::string display() const;
  bool unix() const noexcept { return !host.empty() && host[0] == '/'; }  // unix:///path: host is the path
};

struct Config {
  BackendAddress redis;                // the first (or only) address of --redis: its credentials serve every node
  std::vector<BackendAddress> redis_seeds;  // every address of --redis, in order (a cluster's seed nodes)
  // Redis Sentinel (--sentinel): the Sentinels asked for the primary of sentinel_master; --redis
  // then gives the data nodes' scheme, credentials and database only (its host is not used).
  std::vector<BackendAddress> sentinels;  // each may carry its own credentials and rediss://
  std::string sentinel_master;         // the master's name in the Sentinels
  std::string sentinel_user, sentinel_password;  // for Sentinels whose address carries none
  uint64_t sentinel_timeout_ms = 500;  // one Sentinel's answer is awaited this long
  uint64_t sentinel_poll_ms = 1000;    // the Sentinels are asked again this often (a +switch-master may be missed)
  bool sentinel() const noexcept { return !sentinels.empty(); }
  uint64_t cluster_refresh_ms = 10000; // a Redis Cluster's slot map is read again this often (and soon after a MOVED)
  std::string bind = "127.0.0.1";
  uint16_t port = 6380;                // 0: no plaintext TCP listener (--tls-port or --unixsocket then)
  // TLS to clients (Redis's flag names). The files are read again on SIGHUP.
  uint16_t tls_port = 0;               // 0: no TLS listener
  std::string tls_cert_file, tls_key_file, tls_ca_cert_file;
  std::string tls_auth_clients = "no"; // no, yes, optional
  std::string tls_protocols = "TLSv1.2 TLSv1.3";
  std::string tls_ciphers, tls_ciphersuites;  // empty: OpenSSL's defaults
  // TLS to Redis: on when --redis says rediss://.
  bool backend_tls = false;
  std::string backend_tls_ca_cert_file;  // empty: the system trust store
  std::string backend_tls_cert_file, backend_tls_key_file;
  std::string backend_tls_server_name;   // SNI and the name verified; empty: each node's host
  bool backend_tls_insecure = false;     // no verification at all (a warning at start and in INFO)
  // A Unix socket listener (RESP and HTTP sniffed as on TCP); empty: none.
  std::string unixsocket;
  uint32_t unixsocketperm = 0;         // its mode (octal on the command line); 0: as the umask leaves it
  size_t cache_keys = 10000;           // capacity in keys; 0 disables caching
  uint64_t ttl_ms = 60000;             // lifetime of an entry after insertion; 0: never served from cache
  size_t max_clients = 10000;          // client connections at once
  size_t max_inflight = 16384;         // backend GETs in flight at once
  uint64_t backend_timeout_ms = 2000;  // a backend request unanswered this long fails
  std::string log_level = "info";
  size_t max_request_bytes = size_t{512} << 20;  // largest RESP request (Redis: proto-max-bulk-len); HTTP URL and headers have their own caps
  size_t max_backend_reply_bytes = size_t{512} << 20;  // a reply carrying more is refused (its request fails)
  uint64_t backend_min_rate = uint64_t{1} << 20;  // bytes/s a reply must arrive at: --backend-timeout plus its size at this rate
  size_t max_input_bytes = size_t{1} << 30;  // all clients' unparsed input together; past it the largest holders are closed
  size_t max_key_bytes = 8 << 10;      // longest key accepted (RESP and decoded HTTP path)
  size_t max_pending = 1024;           // requests queued per connection before its input pauses
  size_t max_output_bytes = 64 << 20;  // reply bytes a slow reader may leave unread before it is closed
  uint64_t idle_timeout_ms = 0;        // close clients silent this long; 0: never
  uint64_t request_timeout_ms = 10000; // a request must arrive whole this long after its first byte; 0: no limit
  uint64_t shutdown_timeout_ms = 5000; // on SIGTERM/SIGINT, time given to in-flight requests
  uint16_t admin_port = 0;             // admin HTTP listener (/metrics, /healthz, /readyz); 0: off
  std::string admin_bind = "127.0.0.1";
  std::string log_format = "text";     // text or json
  std::string config_file;             // --config: read at start-up and on SIGHUP
  size_t max_pinned = 1000;            // dedicated backend connections for clients in MULTI, WATCH, blocking, pub/sub...
  std::string requirepass;             // clients must AUTH with this (HTTP: Authorization); empty: no password
  // As Redis's protected-mode: no requirepass and a bind other than loopback serve loopback clients only.
  bool protected_mode = true;
  size_t tracking_table_max_keys = 1000000;  // keys the clients' tracking table holds (0: no limit)
  size_t tracking_max_prefixes = 128;        // BCAST prefixes per client
  std::vector<std::string> deny_commands;  // lower-case command names refused with an error
  // Coherence with Redis: CLIENT TRACKING on the links that fill the cache, invalidations on a link
  // of their own. auto: when the backend accepts it (else TTL-only, with a warning); off: TTL-only.
  enum class Tracking : uint8_t { kAuto, kDefault, kBcast, kOff };
  Tracking tracking = Tracking::kAuto;
  std::vector<std::string> tracking_prefixes;  // bcast: the prefixes Redis broadcasts for (none: every key)
  uint64_t negative_ttl_ms = 0;
  // HTTP: the most Cache-Control max-age may say (an entry's remaining life, capped by this);
  // 0 sends "no-cache", so downstream caches revalidate every time with the ETag.
  uint64_t http_max_age_ms = 0;
  // When Redis cannot be asked (unreachable, timeout), a value that went past its life no more
  // than this long ago is served instead of the error; 0 = off.
  uint64_t stale_if_error_ms = 0;
  // A hit on an entry past this fraction of its life starts one background refresh (0 = off).
  double refresh_ahead = 0;  // how long "no such key" is cached, only while tracking is on; 0 = off
  // Host values HTTP requests may carry: lower case, each name also with ":port"; "*" = any.
  // parseConfig fills in the defaults and the port variants.
  std::vector<std::string> http_allowed_hosts;
};

// Settings that a reload (SIGHUP) cannot change without a restart, named as flags; empty if none.
std::vector<std::string> restartOnlyChanges(const Config& running, const Config& fresh);
// Copies the settings a reload changes at once from fresh into running (the rest stay).
void applyReloadable(Config& running, const Config& fresh);

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class ConfigAction { kRun, kHelp, kVersion };

using GetEnv = std::function<const char*(const char*)>;

// Reads a whole file; throws ConfigError when it cannot.
using ReadFile = std::function<std::string(const std::string& path)>;
std::string readFileOrThrow(const std::string& path);

// Parses args (without the program name). Settings come from, lowest precedence first: defaults,
// the --config file (or RCP_CONFIG), environment variables, flags. Throws ConfigError with a
// one-line message naming the flag, variable or file line.
ConfigAction parseConfig(const std::vector<std::string>& args, const GetEnv& getenv, Config& out,
                         const ReadFile& read_file = readFileOrThrow);

// A config file: one "name value" per line, names as the flags without "--" (e.g. "ttl 30s"),
// '#' starts a comment, a value may be double-quoted. Applied onto c.
void applyConfigFile(const std::string& text, const std::string& path, Config& c);

// The effective configuration on one line, for the start-up log (the password masked).
std::string describe(const Config& c);

std::string helpText();

// Value parsers, exposed for tests. All throw ConfigError(what) on bad input.
uint64_t parseDurationMs(const std::string& s, const std::string& what);
uint64_t parseCount(const std::string& s, const std::string& what, uint64_t min, uint64_t max);
BackendAddress parseRedisAddress(const std::string& s, const std::string& what);
// A comma-separated list of addresses (a Redis Cluster's seed nodes); at least one.
std::vector<BackendAddress> parseRedisSeeds(const std::string& s, const std::string& what);
// s with the password of a URL-like address masked ("redis://u:***@h"), for messages.
std::string maskCredentials(const std::string& s);
uint64_t parseSize(const std::string& s, const std::string& what);
// A fraction in [0, 1): "0.8", ".75", "0".
double parseFraction(const std::string& s, const std::string& what);

}  // namespace rcp
