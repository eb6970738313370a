// Flag and environment parsing (see config.h). One table drives parsing, --help and the env names.
#include "src/base/config.h"

#include <algorithm>
#include <cstdlib>
#include <cctype>
#include <charconv>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sys/stat.h>
#include <sstream>

namespace rcp {

namespace {

struct Option {
  const char* flag;
  const char* env;
  const char* arg;
  const char* help;
  std::function<void(Config&, const std::string&, const std::string&)> apply;
  bool bare = false;  // may be given alone on the command line, meaning "yes"
};

bool parseYesNo(const std::string& v, const std::string& w) {
  if (v == "yes") return true;
  if (v == "no") return false;
  throw ConfigError(w + ": must be yes or no");
}

// A file flag's value: a path (an empty one is refused).
std::string parsePath(const std::string& v, const std::string& w) {
  if (v.empty()) throw ConfigError(w + ": empty file name");
  return v;
}

// "a, B:80" -> {"a", "b:80"}: trimmed, lower case (host names compare case-insensitively).
std::vector<std::string> parseHostList(const std::string& v, const std::string& w) {
  std::vector<std::string> hosts;
  size_t start = 0;
  for (;;) {
    size_t comma = v.find(',', start);
    std::string item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    item = b == std::string::npos ? std::string() : item.substr(b, e - b + 1);
    if (item.empty()) throw ConfigError(w + ": an empty name in '" + v + "'");
    for (char& ch : item) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    hosts.push_back(item);
    if (comma == std::string::npos) return hosts;
    start = comma + 1;
  }
}

// Without --http-allowed-hosts, the names a browser on this machine uses for a loopback proxy.
std::vector<std::string> defaultAllowedHosts(const std::string& bind) {
  std::vector<std::string> hosts = {"localhost", "127.0.0.1", "[::1]"};
  std::string b = bind.find(':') != std::string::npos ? "[" + bind + "]" : bind;
  if (b != "0.0.0.0" && b != "[::]" && std::find(hosts.begin(), hosts.end(), b) == hosts.end()) hosts.push_back(b);
  return hosts;
}

const std::vector<Option>& options() {
  static const std::vector<Option> kOptions = {
      {"--redis", "RCP_REDIS", "ADDR",
       "backing Redis: host:port or redis://[user:password@]host[:port][/db] (default 127.0.0.1:6379); for a Redis "
       "Cluster, one or more seed nodes separated by commas (the cluster is detected by itself)",
       [](Config& c, const std::string& v, const std::string& w) {
         c.redis_seeds = parseRedisSeeds(v, w);
         c.redis = c.redis_seeds.front();
       }},
      {"--sentinel", "RCP_SENTINEL", "ADDRS",
       "Redis Sentinels, host:port separated by commas (each may be redis://[user:password@]host:port or rediss:// "
       "for TLS): the primary of --sentinel-master is asked of them and followed through failovers; --redis then "
       "gives only the data nodes' scheme, credentials and database (see docs/failover.md)",
       [](Config& c, const std::string& v, const std::string& w) {
         c.sentinels = parseRedisSeeds(v, w);
         for (const BackendAddress& a : c.sentinels)
           if (a.unix() || a.db != 0) throw ConfigError(w + ": a Sentinel is host:port (no Unix socket, no database)");
       }},
      {"--sentinel-master", "RCP_SENTINEL_MASTER", "NAME", "the master's name in the Sentinels (sentinel monitor NAME ...)",
       [](Config& c, const std::string& v, const std::string& w) {
         if (v.empty() || v.find_first_of(" \r\n") != std::string::npos) throw ConfigError(w + ": not a master name: '" + v + "'");
         c.sentinel_master = v;
       }},
      {"--sentinel-user", "RCP_SENTINEL_USER", "NAME", "ACL user for the Sentinels (with --sentinel-password)",
       [](Config& c, const std::string& v, const std::string&) { c.sentinel_user = v; }},
      {"--sentinel-password", "RCP_SENTINEL_PASSWORD", "PASSWORD",
       "password for the Sentinels (sentinel requirepass), for each address that carries none of its own",
       [](Config& c, const std::string& v, const std::string&) { c.sentinel_password = v; }},
      {"--sentinel-timeout", "RCP_SENTINEL_TIMEOUT", "DURATION",
       "how long one Sentinel's answer (or connection) is awaited before it counts as not answering (default 500ms)",
       [](Config& c, const std::string& v, const std::string& w) {
         c.sentinel_timeout_ms = parseDurationMs(v, w);
         if (c.sentinel_timeout_ms == 0) throw ConfigError(w + ": must be more than 0");
       }},
      {"--sentinel-poll", "RCP_SENTINEL_POLL", "DURATION",
       "the Sentinels are asked for the primary again this often, besides their +switch-master messages "
       "(default 1s)",
       [](Config& c, const std::string& v, const std::string& w) {
         c.sentinel_poll_ms = parseDurationMs(v, w);
         if (c.sentinel_poll_ms == 0) throw ConfigError(w + ": must be more than 0");
       }},
      {"--cluster-refresh", "RCP_CLUSTER_REFRESH", "DURATION",
       "a Redis Cluster's slot map is read again this often, picking up failovers and added nodes (a MOVED "
       "also triggers a refresh at once, debounced); 0 = only after a MOVED (default 10s)",
       [](Config& c, const std::string& v, const std::string& w) { c.cluster_refresh_ms = parseDurationMs(v, w); }},
      {"--bind", "RCP_BIND", "ADDR", "listen address, IPv4 or IPv6 (default 127.0.0.1)",
       [](Config& c, const std::string& v, const std::string& w) {
         if (v.empty()) throw ConfigError(w + ": empty address");
         c.bind = v;
       }},
      {"--port", "RCP_PORT", "N", "port serving both HTTP and RESP, sniffed per connection; 0 = no plaintext TCP listener (then --tls-port or --unixsocket) (default 6380)",
       [](Config& c, const std::string& v, const std::string& w) { c.port = static_cast<uint16_t>(parseCount(v, w, 0, 65535)); }},
      {"--tls-port", "RCP_TLS_PORT", "N", "a TLS listener: after the handshake the first bytes say RESP or HTTP, as on --port (HTTPS and RESP over TLS share it); needs --tls-cert-file and --tls-key-file; 0 = off (default 0)",
       [](Config& c, const std::string& v, const std::string& w) { c.tls_port = static_cast<uint16_t>(parseCount(v, w, 0, 65535)); }},
      {"--tls-cert-file", "RCP_TLS_CERT_FILE", "FILE", "the TLS listener's certificate, PEM (it may hold the chain); read again on SIGHUP",
       [](Config& c, const std::string& v, const std::string& w) { c.tls_cert_file = parsePath(v, w); }},
      {"--tls-key-file", "RCP_TLS_KEY_FILE", "FILE", "the TLS listener's private key, PEM; read again on SIGHUP",
       [](Config& c, const std::string& v, const std::string& w) { c.tls_key_file = parsePath(v, w); }},
      {"--tls-ca-cert-file", "RCP_TLS_CA_CERT_FILE", "FILE", "CAs that client certificates are verified against (with --tls-auth-clients); read again on SIGHUP",
       [](Config& c, const std::string& v, const std::string& w) { c.tls_ca_cert_file = parsePath(v, w); }},
      {"--tls-auth-clients", "RCP_TLS_AUTH_CLIENTS", "no|yes|optional", "client certificates: no = not asked for; yes = a client without a valid one fails the handshake; optional = verified when presented (default no)",
       [](Config& c, const std::string& v, const std::string& w) {
         if (v != "no" && v != "yes" && v != "optional") throw ConfigError(w + ": must be no, yes or optional");
         c.tls_auth_clients = v;
       }},
      {"--tls-protocols", "RCP_TLS_PROTOCOLS", "LIST", "TLS versions offered to clients and to Redis, space-separated: TLSv1.2, TLSv1.3 (default \"TLSv1.2 TLSv1.3\")",
       [](Config& c, const std::string& v, const std::string& w) {
         std::istringstream in(v);
         std::string p;
         bool any = false;
         while (in >> p) {
           if (p != "TLSv1.2" && p != "TLSv1.3") throw ConfigError(w + ": unknown protocol '" + p + "' (TLSv1.2, TLSv1.3)");
           any = true;
         }
         if (!any) throw ConfigError(w + ": no protocol given (TLSv1.2, TLSv1.3)");
         c.tls_protocols = v;
       }},
      {"--tls-ciphers", "RCP_TLS_CIPHERS", "LIST", "TLS 1.2 ciphers offered to clients, OpenSSL's cipher-list syntax (default: OpenSSL's)",
       [](Config& c, const std::string& v, const std::string&) { c.tls_ciphers = v; }},
      {"--tls-ciphersuites", "RCP_TLS_CIPHERSUITES", "LIST", "TLS 1.3 cipher suites offered to clients, colon-separated (default: OpenSSL's)",
       [](Config& c, const std::string& v, const std::string&) { c.tls_ciphersuites = v; }},
      {"--backend-tls-ca-cert-file", "RCP_BACKEND_TLS_CA_CERT_FILE", "FILE", "with rediss://: the CAs Redis's certificate is verified against (default: the system trust store); read again on SIGHUP",
       [](Config& c, const std::string& v, const std::string& w) { c.backend_tls_ca_cert_file = parsePath(v, w); }},
      {"--backend-tls-cert-file", "RCP_BACKEND_TLS_CERT_FILE", "FILE", "with rediss://: a client certificate, PEM, for a Redis with tls-auth-clients yes; read again on SIGHUP",
       [](Config& c, const std::string& v, const std::string& w) { c.backend_tls_cert_file = parsePath(v, w); }},
      {"--backend-tls-key-file", "RCP_BACKEND_TLS_KEY_FILE", "FILE", "with rediss://: the client certificate's private key, PEM",
       [](Config& c, const std::string& v, const std::string& w) { c.backend_tls_key_file = parsePath(v, w); }},
      {"--backend-tls-server-name", "RCP_BACKEND_TLS_SERVER_NAME", "NAME", "with rediss://: the name sent as SNI and that Redis's certificate must carry (default: the host of each address; an IP address is matched against the certificate's IP entries)",
       [](Config& c, const std::string& v, const std::string& w) {
         if (v.empty()) throw ConfigError(w + ": empty name");
         c.backend_tls_server_name = v;
       }},
      {"--backend-tls-insecure", "RCP_BACKEND_TLS_INSECURE", "[yes|no]", "with rediss://: no verification of Redis's certificate chain or name (a warning at start and in INFO); for tests only (default no)",
       [](Config& c, const std::string& v, const std::string& w) { c.backend_tls_insecure = parseYesNo(v, w); }, true},
      {"--unixsocket", "RCP_UNIXSOCKET", "PATH", "also listen on this Unix socket (RESP and HTTP sniffed as on TCP); a stale socket file is replaced (default: none)",
       [](Config& c, const std::string& v, const std::string& w) { c.unixsocket = parsePath(v, w); }},
      {"--unixsocketperm", "RCP_UNIXSOCKETPERM", "OCTAL", "the Unix socket's permissions, e.g. 700 or 770 (default: as the umask leaves them)",
       [](Config& c, const std::string& v, const std::string& w) {
         char* end = nullptr;
         errno = 0;
         unsigned long m = std::strtoul(v.c_str(), &end, 8);
         if (v.empty() || *end != '\0' || errno != 0 || m == 0 || m > 0777) throw ConfigError(w + ": '" + v + "' is not an octal mode from 1 to 777");
         c.unixsocketperm = static_cast<uint32_t>(m);
       }},
      {"--cache-keys", "RCP_CACHE_KEYS", "N", "cache capacity in keys, least recently used evicted first; 0 disables caching (default 10000)",
       [](Config& c, const std::string& v, const std::string& w) { c.cache_keys = parseCount(v, w, 0, 1ULL << 40); }},
      {"--ttl", "RCP_TTL", "DURATION", "lifetime of a cached value after it was stored: 250ms, 30s, 5m, 1h, bare number = seconds; 0 = never serve from cache (default 60s)",
       [](Config& c, const std::string& v, const std::string& w) { c.ttl_ms = parseDurationMs(v, w); }},
      {"--max-clients", "RCP_MAX_CLIENTS", "N", "most client connections at once; more are answered with an error and closed (default 10000)",
       [](Config& c, const std::string& v, const std::string& w) { c.max_clients = parseCount(v, w, 1, 1000000); }},
      {"--max-inflight", "RCP_MAX_INFLIGHT", "N", "most backend requests in flight at once; the rest wait their turn (default 16384)",
       [](Config& c, const std::string& v, const std::string& w) { c.max_inflight = parseCount(v, w, 1, 1000000); }},
      {"--backend-timeout", "RCP_BACKEND_TIMEOUT", "DURATION", "a backend request unanswered this long after it reached the head of its link fails, and the link is reconnected (a large reply also gets its size at --backend-min-rate) (default 2s)",
       [](Config& c, const std::string& v, const std::string& w) {
         c.backend_timeout_ms = parseDurationMs(v, w);
         if (c.backend_timeout_ms == 0) throw ConfigError(w + ": must be greater than 0");
       }},
      {"--log-level", "RCP_LOG_LEVEL", "LEVEL", "trace, debug, info, warn, error, critical or off (default info)",
       [](Config& c, const std::string& v, const std::string& w) {
         static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
         if (std::none_of(std::begin(kLevels), std::end(kLevels), [&](const char* l) { return v == l; }))
           throw ConfigError(w + ": unknown level '" + v + "' (trace, debug, info, warn, error, critical, off)");
         c.log_level = v;
       }},
      {"--max-backend-reply-bytes", "RCP_MAX_BACKEND_REPLY_BYTES", "SIZE", "most a reply from Redis may carry (its strings' bytes, framing not counted); a larger one is refused at once: its request gets an error naming this flag, and a single string's bytes are skipped as they arrive, never buffered (default 512m, Redis's own proto-max-bulk-len: every value Redis can hold is read)",
       [](Config& c, const std::string& v, const std::string& w) {
         c.max_backend_reply_bytes = parseSize(v, w);
         if (c.max_backend_reply_bytes < 1024) throw ConfigError(w + ": must be at least 1k");
       }},
      {"--backend-min-rate", "RCP_BACKEND_MIN_RATE", "SIZE", "slowest a reply from Redis may arrive, in bytes per second: the request at the head of a link may take --backend-timeout plus its reply's announced size at this rate; a reply trickling slower fails its request (a timeout) and the requests queued behind it go on a new link; 0 = --backend-timeout alone (default 1m)",
       [](Config& c, const std::string& v, const std::string& w) { c.backend_min_rate = parseSize(v, w); }},
      {"--protected-mode", "RCP_PROTECTED_MODE", "yes|no", "as Redis's protected-mode: with no --requirepass and a --bind other than loopback, clients connecting from other than loopback get -DENIED (RESP) or 403 (HTTP) saying how to fix it, and are closed (default yes)",
       [](Config& c, const std::string& v, const std::string& w) { c.protected_mode = parseYesNo(v, w); }},
      {"--tracking-table-max-keys", "RCP_TRACKING_TABLE_MAX_KEYS", "N", "keys the proxy remembers for its clients' CLIENT TRACKING (as Redis's tracking-table-max-keys): past it the oldest key is invalidated for the clients that read it and forgotten; 0 = no limit (default 1000000)",
       [](Config& c, const std::string& v, const std::string& w) { c.tracking_table_max_keys = parseCount(v, w, 0, 1ULL << 40); }},
      {"--tracking-max-prefixes", "RCP_TRACKING_MAX_PREFIXES", "N", "BCAST prefixes one client's CLIENT TRACKING may hold; past it CLIENT TRACKING on is refused with an error (default 128)",
       [](Config& c, const std::string& v, const std::string& w) { c.tracking_max_prefixes = parseCount(v, w, 1, 1000000); }},
      {"--max-input-bytes", "RCP_MAX_INPUT_BYTES", "SIZE", "input all clients together may hold unparsed (half-sent requests); past it the clients holding the most are closed with an error (default 1g: a request as large as Redis accepts, 512m, fits)",
       [](Config& c, const std::string& v, const std::string& w) {
         c.max_input_bytes = parseSize(v, w);
         if (c.max_input_bytes < 65536) throw ConfigError(w + ": must be at least 64k");
       }},
      {"--max-request-bytes", "RCP_MAX_REQUEST_BYTES", "SIZE", "largest RESP request accepted: 64k, 1m, bare number = bytes (default 512m, Redis's proto-max-bulk-len; memory is bounded by --max-input-bytes); HTTP caps the URL at 8k and headers at 16k",
       [](Config& c, const std::string& v, const std::string& w) {
         c.max_request_bytes = parseSize(v, w);
         if (c.max_request_bytes < 256) throw ConfigError(w + ": must be at least 256 bytes");
       }},
      {"--max-key-bytes", "RCP_MAX_KEY_BYTES", "SIZE", "longest key accepted, RESP or decoded HTTP path (default 8k)",
       [](Config& c, const std::string& v, const std::string& w) {
         c.max_key_bytes = parseSize(v, w);
         if (c.max_key_bytes == 0) throw ConfigError(w + ": must be greater than 0");
       }},
      {"--max-pending", "RCP_MAX_PENDING", "N", "requests queued on one connection before the proxy stops reading it (default 1024)",
       [](Config& c, const std::string& v, const std::string& w) { c.max_pending = parseCount(v, w, 1, 1000000); }},
      {"--max-output-bytes", "RCP_MAX_OUTPUT_BYTES", "SIZE", "reply bytes a client may leave unread; past this it is disconnected (a single larger reply is still sent) (default 64m)",
       [](Config& c, const std::string& v, const std::string& w) {
         c.max_output_bytes = parseSize(v, w);
         if (c.max_output_bytes < 1024) throw ConfigError(w + ": must be at least 1k");
       }},
      {"--idle-timeout", "RCP_IDLE_TIMEOUT", "DURATION", "close a client that sends and receives nothing for this long; 0 = never (default 0)",
       [](Config& c, const std::string& v, const std::string& w) { c.idle_timeout_ms = parseDurationMs(v, w); }},
      {"--request-timeout", "RCP_REQUEST_TIMEOUT", "DURATION", "a request (HTTP headers, a RESP command) must arrive whole this long after its first byte, or the client gets 408 / an error and is closed; 0 = no limit (default 10s)",
       [](Config& c, const std::string& v, const std::string& w) { c.request_timeout_ms = parseDurationMs(v, w); }},
      {"--admin-port", "RCP_ADMIN_PORT", "N", "port of the admin HTTP listener serving /metrics, /healthz and /readyz; 0 = off (default 0)",
       [](Config& c, const std::string& v, const std::string& w) { c.admin_port = static_cast<uint16_t>(parseCount(v, w, 0, 65535)); }},
      {"--admin-bind", "RCP_ADMIN_BIND", "ADDR", "address of the admin listener (default 127.0.0.1)",
       [](Config& c, const std::string& v, const std::string& w) {
         if (v.empty()) throw ConfigError(w + ": empty address");
         c.admin_bind = v;
       }},
      {"--log-format", "RCP_LOG_FORMAT", "FORMAT", "text, or json (one object per line) for log shippers (default text)",
       [](Config& c, const std::string& v, const std::string& w) {
         if (v != "text" && v != "json") throw ConfigError(w + ": '" + v + "' is not text or json");
         c.log_format = v;
       }},
      {"--config", "RCP_CONFIG", "FILE", "read settings from FILE first (\"name value\" lines, names as these flags without --); SIGHUP reloads it",
       [](Config& c, const std::string& v, const std::string& w) {
         if (v.empty()) throw ConfigError(w + ": empty file name");
         c.config_file = v;
       }},
      {"--http-allowed-hosts", "RCP_HTTP_ALLOWED_HOSTS", "LIST", "Host header values HTTP requests may carry, comma-separated, each with or without the port; * = any (default: localhost, 127.0.0.1, [::1] and the --bind address)",
       [](Config& c, const std::string& v, const std::string& w) { c.http_allowed_hosts = parseHostList(v, w); }},
      {"--max-pinned", "RCP_MAX_PINNED", "N", "most dedicated backend connections at once, for clients in MULTI, WATCH, a blocking command, pub/sub, MONITOR, CLIENT REPLY or SELECT of another database; past it such a command gets an error (default 1000)",
       [](Config& c, const std::string& v, const std::string& w) { c.max_pinned = parseCount(v, w, 0, 1000000); }},
      {"--requirepass", "RCP_REQUIREPASS", "PASSWORD", "clients must authenticate with AUTH (RESP) or Authorization: Bearer/Basic (HTTP); empty = no password (default empty)",
       [](Config& c, const std::string& v, const std::string&) { c.requirepass = v; }},
      {"--deny-commands", "RCP_DENY_COMMANDS", "LIST", "commands refused with an error, comma-separated (e.g. SHUTDOWN,DEBUG,CONFIG); default none: the backend's ACL decides",
       [](Config& c, const std::string& v, const std::string& w) { c.deny_commands = parseHostList(v, w); }},
      {"--tracking", "RCP_TRACKING", "MODE", "coherence with Redis: auto (CLIENT TRACKING when the backend accepts it, otherwise TTL-only with a warning), default, bcast (Redis's broadcast mode, with --tracking-prefixes), or off (TTL-only) (default auto)",
       [](Config& c, const std::string& v, const std::string& w) {
         if (v == "auto") c.tracking = Config::Tracking::kAuto;
         else if (v == "default") c.tracking = Config::Tracking::kDefault;
         else if (v == "bcast") c.tracking = Config::Tracking::kBcast;
         else if (v == "off") c.tracking = Config::Tracking::kOff;
         else throw ConfigError(w + ": '" + v + "' is not auto, default, bcast or off");
       }},
      {"--tracking-prefixes", "RCP_TRACKING_PREFIXES", "LIST", "with --tracking bcast: the key prefixes Redis broadcasts invalidations for, comma-separated; keys outside them are not cached (default: every key)",
       [](Config& c, const std::string& v, const std::string& w) {
         c.tracking_prefixes.clear();
         size_t start = 0;
         for (;;) {  // keys are case-sensitive: the prefixes are kept as written
           size_t comma = v.find(',', start);
           std::string item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
           if (item.empty()) throw ConfigError(w + ": an empty prefix in '" + v + "'");
           c.tracking_prefixes.push_back(item);
           if (comma == std::string::npos) break;
           start = comma + 1;
         }
       }},
      {"--http-max-age", "RCP_HTTP_MAX_AGE", "DURATION",
       "HTTP: Cache-Control max-age is the entry's remaining life (its local TTL, or its key's TTL in Redis "
       "if shorter) capped by this; 0 sends \"no-cache\": downstream caches revalidate each time with the ETag, "
       "since the proxy cannot push invalidations to them (default 0)",
       [](Config& c, const std::string& v, const std::string& w) { c.http_max_age_ms = parseDurationMs(v, w); }},
      {"--stale-if-error", "RCP_STALE_IF_ERROR", "DURATION",
       "when Redis is unreachable or times out, serve a value that went past its life (its TTL, or a lost "
       "link that made every entry stale) no more than this long ago instead of the error; never one an "
       "invalidation dropped; 0 = off (default 0)",
       [](Config& c, const std::string& v, const std::string& w) { c.stale_if_error_ms = parseDurationMs(v, w); }},
      {"--refresh-ahead", "RCP_REFRESH_AHEAD", "FRACTION",
       "a hit on an entry past this fraction of its life (e.g. 0.8) starts one background refresh from Redis, "
       "joined by any miss of the key, so hot keys do not all miss when they expire; the hit is served at once; "
       "0 = off (default 0)",
       [](Config& c, const std::string& v, const std::string& w) { c.refresh_ahead = parseFraction(v, w); }},
      {"--negative-ttl", "RCP_NEGATIVE_TTL", "DURATION", "cache \"no such key\" for this long, only while CLIENT TRACKING is on (Redis tracks a key read while missing, so creating it invalidates); 0 = off (default 0)",
       [](Config& c, const std::string& v, const std::string& w) { c.negative_ttl_ms = parseDurationMs(v, w); }},
      {"--shutdown-timeout", "RCP_SHUTDOWN_TIMEOUT", "DURATION", "on SIGTERM or SIGINT, how long in-flight requests may finish before the proxy closes everything (default 5s)",
       [](Config& c, const std::string& v, const std::string& w) { c.shutdown_timeout_ms = parseDurationMs(v, w); }},
  };
  return kOptions;
}

// Each name also as "name:port" for this proxy's port, so a request's Host compares as it is.
// Each name also with ":port" for every listening port (plaintext and TLS).
std::vector<std::string> withPort(const std::vector<std::string>& names, std::initializer_list<uint16_t> ports) {
  std::vector<std::string> all;
  for (const std::string& n : names) {
    all.push_back(n);
    bool has_port = n.front() == '[' ? n.back() != ']' : n.find(':') != std::string::npos;  // "[v6]:p", "name:p"
    for (uint16_t port : ports)
      if (n != "*" && !has_port && port != 0) all.push_back(n + ":" + std::to_string(port));
  }
  return all;
}

bool allDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

}  // namespace

double parseFraction(const std::string& s, const std::string& what) {
  // Digits with at most one dot: no sign, exponent, "inf" or "nan" (what strtod would also take).
  bool dot = false, digit = false;
  for (char ch : s) {
    if (ch == '.' && !dot) dot = true;
    else if (ch >= '0' && ch <= '9') digit = true;
    else throw ConfigError(what + ": expected a fraction such as 0.8 (got '" + s + "')");
  }
  if (!digit) throw ConfigError(what + ": expected a fraction such as 0.8 (got '" + s + "')");
  double v = std::strtod(s.c_str(), nullptr);
  if (v >= 1.0) throw ConfigError(what + ": must be below 1 (a fraction of an entry's life; 0 = off)");
  return v;
}

uint64_t parseCount(const std::string& s, const std::string& what, uint64_t min, uint64_t max) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (!allDigits(s) || ec != std::errc() || p != s.data() + s.size())
    throw ConfigError(what + ": '" + s + "' is not a whole number");
  if (v < min || v > max)
    throw ConfigError(what + ": " + s + " is out of range (" + std::to_string(min) + " to " + std::to_string(max) + ")");
  return v;
}

uint64_t parseDurationMs(const std::string& s, const std::string& what) {
  size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  std::string num = s.substr(0, i), unit = s.substr(i);
  if (num.empty()) throw ConfigError(what + ": '" + s + "' is not a duration (e.g. 250ms, 30s, 5m, 1h)");
  uint64_t mult;
  if (unit.empty() || unit == "s") mult = 1000;
  else if (unit == "ms") mult = 1;
  else if (unit == "m") mult = 60000;
  else if (unit == "h") mult = 3600000;
  else throw ConfigError(what + ": unknown unit '" + unit + "' in '" + s + "' (ms, s, m, h)");
  constexpr uint64_t kMaxMs = 365ULL * 24 * 3600 * 1000;  // a year
  uint64_t v = parseCount(num, what, 0, kMaxMs);
  if (v > kMaxMs / mult) throw ConfigError(what + ": '" + s + "' is longer than a year");
  return v * mult;
}

uint64_t parseSize(const std::string& s, const std::string& what) {
  size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  std::string num = s.substr(0, i), unit = s.substr(i);
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  uint64_t mult;
  if (unit.empty() || unit == "b") mult = 1;
  else if (unit == "k" || unit == "kb") mult = 1ULL << 10;
  else if (unit == "m" || unit == "mb") mult = 1ULL << 20;
  else if (unit == "g" || unit == "gb") mult = 1ULL << 30;
  else throw ConfigError(what + ": unknown unit '" + unit + "' in '" + s + "' (k, m, g)");
  if (num.empty()) throw ConfigError(what + ": '" + s + "' is not a size (e.g. 64k, 1m)");
  uint64_t v = parseCount(num, what, 0, 1ULL << 40);
  if (v > (1ULL << 40) / mult) throw ConfigError(what + ": '" + s + "' is too large");
  return v * mult;
}

std::string readFileOrThrow(const std::string& path) {
  // An ifstream opens a directory and reads it as empty: the proxy would run on defaults.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) throw ConfigError("--config: " + path + ": is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("--config: cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void applyConfigFile(const std::string& text, const std::string& path, Config& c) {
  const auto& opts = options();
  std::istringstream in(text);
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    std::string where = path + ":" + std::to_string(lineno);
    auto trim = [](std::string& t) {
      size_t b = t.find_first_not_of(" \t\r"), e = t.find_last_not_of(" \t\r");
      t = b == std::string::npos ? std::string() : t.substr(b, e - b + 1);
    };
    bool cut = false;  // a '#' ended the line early: it may have been part of an unquoted value
    if (size_t hash = line.find('#'); hash != std::string::npos && line.find('"') == std::string::npos) {
      line.resize(hash);
      cut = true;
    }
    trim(line);
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.find_first_of(" \t");
    std::string name = line.substr(0, sp), value = sp == std::string::npos ? "" : line.substr(sp + 1);
    trim(value);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    std::string flag = "--" + name;
    auto it = std::find_if(opts.begin(), opts.end(), [&](const Option& o) { return flag == o.flag; });
    if (it == opts.end() || flag == "--config") throw ConfigError(where + ": unknown setting '" + name + "'");
    if (value.empty()) throw ConfigError(where + ": " + name + ": missing value (" + it->arg + ")");
    try {
      it->apply(c, value, where + " " + name);
    } catch (const ConfigError&) {
      if (!cut) throw;
      // The value was cut at a '#': what is left may be part of a password, so it is not repeated.
      throw ConfigError(where + ": " + name + ": not a valid value once cut at '#', which starts a comment; "
                        "write a value that contains '#' in double quotes: " + name + " \"...\"");
    }
  }
}

namespace {
// Settings that only make sense together, checked once every source has been applied.
void validateListeners(const Config& c) {
  if (c.port == 0 && c.tls_port == 0 && c.unixsocket.empty())
    throw ConfigError("--port 0 needs --tls-port or --unixsocket: nothing would listen");
  if (c.tls_port != 0 && c.tls_port == c.port) throw ConfigError("--tls-port: the same port as --port");
  if (c.tls_port != 0 && (c.tls_cert_file.empty() || c.tls_key_file.empty()))
    throw ConfigError("--tls-port needs --tls-cert-file and --tls-key-file");
  if (c.tls_auth_clients != "no" && c.tls_ca_cert_file.empty())
    throw ConfigError("--tls-auth-clients " + c.tls_auth_clients + " needs --tls-ca-cert-file");
  if (c.backend_tls_cert_file.empty() != c.backend_tls_key_file.empty())
    throw ConfigError("--backend-tls-cert-file and --backend-tls-key-file go together");
}

void validateSentinel(Config& c) {
  if (c.sentinel() != !c.sentinel_master.empty())
    throw ConfigError(c.sentinel() ? "--sentinel needs --sentinel-master (the master's name)"
                                   : "--sentinel-master needs --sentinel (the Sentinels' addresses)");
  if (!c.sentinel()) return;
  if (c.redis_seeds.size() > 1)
    throw ConfigError("--sentinel: --redis names one set of data-node credentials, not a seed list");
  if (c.redis.unix()) throw ConfigError("--sentinel: --redis cannot be a Unix socket (the Sentinels name the primary)");
  for (BackendAddress& a : c.sentinels) {
    if (a.password.empty()) {
      a.user = c.sentinel_user;
      a.password = c.sentinel_password;
    }
  }
}
}  // namespace

ConfigAction parseConfig(const std::vector<std::string>& args, const GetEnv& getenv, Config& out,
                         const ReadFile& read_file) {
  Config c;
  const auto& opts = options();
  // Split the flags first: --help and --version win, and --config must be known before the rest.
  std::vector<std::pair<const Option*, std::string>> flags;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") return ConfigAction::kHelp;
    if (a == "--version") return ConfigAction::kVersion;
    std::string name = a, value;
    bool has_value = false;
    if (size_t eq = a.find('='); eq != std::string::npos && a.rfind("--", 0) == 0) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      has_value = true;
    }
    auto it = std::find_if(opts.begin(), opts.end(), [&](const Option& o) { return name == o.flag; });
    if (it == opts.end()) throw ConfigError(name + ": unknown option (see --help)");
    if (!has_value && it->bare) {
      value = "yes";
    } else if (!has_value) {
      if (i + 1 >= args.size()) throw ConfigError(name + ": missing value (" + it->arg + ")");
      value = args[++i];
    }
    flags.emplace_back(&*it, value);
  }
  // The config file, named by the flag or else the environment.
  std::string file;
  for (auto& [o, v] : flags) if (std::string_view(o->flag) == "--config") file = v;
  if (file.empty()) {
    if (const char* v = getenv("RCP_CONFIG"); v != nullptr) file = v;
  }
  if (!file.empty()) {
    applyConfigFile(read_file(file), file, c);
    c.config_file = file;
  }
  for (const Option& o : opts) {
    if (const char* v = getenv(o.env); v != nullptr && *v != '\0') o.apply(c, v, std::string(o.env) + " (" + o.flag + ")");
  }
  for (auto& [o, v] : flags) o->apply(c, v, o->flag);
  if (c.redis_seeds.empty()) c.redis_seeds.push_back(c.redis);
  validateListeners(c);
  validateSentinel(c);
  c.backend_tls = c.redis.tls;
  for (const BackendAddress& a : c.redis_seeds) {
    if (a.tls != c.backend_tls)
      throw ConfigError("--redis: mix of redis:// and rediss:// seeds (a cluster's nodes are all TLS or none)");
    if (a.unix() && c.redis_seeds.size() > 1)
      throw ConfigError("--redis: a Unix socket is one Redis, not a cluster's seed list");
  }
  if (c.http_allowed_hosts.empty()) c.http_allowed_hosts = defaultAllowedHosts(c.bind);
  c.http_allowed_hosts = withPort(c.http_allowed_hosts, {c.port, c.tls_port});
  out = std::move(c);
  return ConfigAction::kRun;
}

std::string helpText() {
  std::string s =
      "redis-cache-proxy " RCP_VERSION " - a read-through cache in front of one Redis, serving\n"
      "HTTP/1.1 (GET /<percent-encoded key>) and RESP (redis-cli -p 6380 get k) on one port.\n\n"
      "Usage: redis-cache-proxy [options]\n\nOptions (each also read from the environment variable shown; a flag wins):\n";
  for (const Option& o : options()) {
    std::string left = std::string("  ") + o.flag + " " + o.arg;
    left.resize(std::max<size_t>(left.size() + 2, 32), ' ');
    s += left + "[" + o.env + "]\n      " + o.help + "\n";
  }
  s += "  -h, --help                    this text\n  --version                     print the version\n";
  return s;
}

}  // namespace rcp
