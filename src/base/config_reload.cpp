// What a reload (SIGHUP) may change and what needs a restart, and the one-line description of a
// configuration the proxy logs at start and on reload (passwords masked).
#include <string>
#include <vector>

#include "src/base/config.h"

namespace rcp {

void applyReloadable(Config& c, const Config& f) {
  c.cache_keys = f.cache_keys;
  c.ttl_ms = f.ttl_ms;
  c.max_clients = f.max_clients;
  c.max_inflight = f.max_inflight;
  c.backend_timeout_ms = f.backend_timeout_ms;
  c.log_level = f.log_level;
  c.max_key_bytes = f.max_key_bytes;
  c.max_pending = f.max_pending;
  c.max_output_bytes = f.max_output_bytes;
  c.idle_timeout_ms = f.idle_timeout_ms;
  c.request_timeout_ms = f.request_timeout_ms;
  c.max_input_bytes = f.max_input_bytes;
  c.shutdown_timeout_ms = f.shutdown_timeout_ms;
  c.http_allowed_hosts = f.http_allowed_hosts;
  c.max_pinned = f.max_pinned;
  c.requirepass = f.requirepass;
  c.deny_commands = f.deny_commands;
  c.negative_ttl_ms = f.negative_ttl_ms;
  c.cluster_refresh_ms = f.cluster_refresh_ms;
  c.sentinel_poll_ms = f.sentinel_poll_ms;
  c.http_max_age_ms = f.http_max_age_ms;
  c.stale_if_error_ms = f.stale_if_error_ms;
  c.refresh_ahead = f.refresh_ahead;
  c.protected_mode = f.protected_mode;
  c.tracking_table_max_keys = f.tracking_table_max_keys;
  c.tracking_max_prefixes = f.tracking_max_prefixes;
  // TLS: the files and rules are read again; the server rebuilds its contexts from them.
  c.tls_cert_file = f.tls_cert_file;
  c.tls_key_file = f.tls_key_file;
  c.tls_ca_cert_file = f.tls_ca_cert_file;
  c.tls_auth_clients = f.tls_auth_clients;
  c.tls_protocols = f.tls_protocols;
  c.tls_ciphers = f.tls_ciphers;
  c.tls_ciphersuites = f.tls_ciphersuites;
  c.backend_tls_ca_cert_file = f.backend_tls_ca_cert_file;
  c.backend_tls_cert_file = f.backend_tls_cert_file;
  c.backend_tls_key_file = f.backend_tls_key_file;
  c.backend_tls_server_name = f.backend_tls_server_name;
  c.backend_tls_insecure = f.backend_tls_insecure;
}

std::vector<std::string> restartOnlyChanges(const Config& a, const Config& b) {
  std::vector<std::string> changed;
  bool seeds_changed = a.redis_seeds.size() != b.redis_seeds.size();
  for (size_t i = 0; !seeds_changed && i < a.redis_seeds.size(); ++i)
    seeds_changed = a.redis_seeds[i].display() != b.redis_seeds[i].display();
  if (seeds_changed || a.redis.display() != b.redis.display() || a.redis.user != b.redis.user ||
      a.redis.password != b.redis.password)
    changed.push_back("--redis");
  bool sentinels_changed = a.sentinels.size() != b.sentinels.size() || a.sentinel_master != b.sentinel_master;
  for (size_t i = 0; !sentinels_changed && i < a.sentinels.size(); ++i)
    sentinels_changed = a.sentinels[i].display() != b.sentinels[i].display() ||
                        a.sentinels[i].user != b.sentinels[i].user || a.sentinels[i].password != b.sentinels[i].password;
  if (sentinels_changed) changed.push_back("--sentinel");
  if (a.sentinel_timeout_ms != b.sentinel_timeout_ms) changed.push_back("--sentinel-timeout");
  if (a.bind != b.bind) changed.push_back("--bind");
  if (a.tracking != b.tracking || a.tracking_prefixes != b.tracking_prefixes) changed.push_back("--tracking");
  if (a.port != b.port) changed.push_back("--port");
  if (a.tls_port != b.tls_port) changed.push_back("--tls-port");
  if (a.unixsocket != b.unixsocket) changed.push_back("--unixsocket");
  if (a.unixsocketperm != b.unixsocketperm) changed.push_back("--unixsocketperm");
  if (a.admin_port != b.admin_port) changed.push_back("--admin-port");
  if (a.admin_bind != b.admin_bind) changed.push_back("--admin-bind");
  if (a.log_format != b.log_format) changed.push_back("--log-format");
  if (a.max_request_bytes != b.max_request_bytes) changed.push_back("--max-request-bytes");
  if (a.max_backend_reply_bytes != b.max_backend_reply_bytes) changed.push_back("--max-backend-reply-bytes");
  if (a.backend_min_rate != b.backend_min_rate) changed.push_back("--backend-min-rate");
  return changed;
}

std::string describe(const Config& c) {
  std::string s;
  if (c.sentinel()) {
    s = "sentinel";
    for (size_t i = 0; i < c.sentinels.size(); ++i) s += (i == 0 ? " " : ",") + c.sentinels[i].display();
    s += " master " + c.sentinel_master + ", data nodes " + (c.redis.tls ? "rediss" : "redis") + " db " +
         std::to_string(c.redis.db);
  } else {
    s = "redis " + c.redis.display();
    for (size_t i = 1; i < c.redis_seeds.size(); ++i) s += "," + c.redis_seeds[i].display();
  }
  if (!c.redis.password.empty()) s += " (auth " + (c.redis.user.empty() ? std::string("default") : c.redis.user) + ":****)";
  s += ", listen " + (c.port == 0 ? std::string("off") : c.bind + ":" + std::to_string(c.port));
  if (c.tls_port != 0) s += ", tls " + c.bind + ":" + std::to_string(c.tls_port) + " (auth-clients " + c.tls_auth_clients + ")";
  if (!c.unixsocket.empty()) s += ", unixsocket " + c.unixsocket;
  if (c.backend_tls) s += c.backend_tls_insecure ? ", backend tls (INSECURE: not verified)" : ", backend tls";
  s += ", admin " + (c.admin_port == 0 ? std::string("off") : c.admin_bind + ":" + std::to_string(c.admin_port));
  s += ", cache-keys " + std::to_string(c.cache_keys) + ", ttl " + std::to_string(c.ttl_ms) + "ms";
  s += ", max-clients " + std::to_string(c.max_clients) + ", max-inflight " + std::to_string(c.max_inflight);
  s += ", backend-timeout " + std::to_string(c.backend_timeout_ms) + "ms";
  static constexpr const char* kTracking[] = {"auto", "default", "bcast", "off"};
  s += std::string(", tracking ") + kTracking[static_cast<int>(c.tracking)];
  for (size_t i = 0; i < c.tracking_prefixes.size(); ++i) s += (i == 0 ? " prefixes " : ",") + c.tracking_prefixes[i];
  if (c.negative_ttl_ms != 0) s += ", negative-ttl " + std::to_string(c.negative_ttl_ms) + "ms";
  if (c.http_max_age_ms != 0) s += ", http-max-age " + std::to_string(c.http_max_age_ms) + "ms";
  if (c.stale_if_error_ms != 0) s += ", stale-if-error " + std::to_string(c.stale_if_error_ms) + "ms";
  if (c.refresh_ahead != 0) s += ", refresh-ahead " + std::to_string(c.refresh_ahead);
  s += ", max-request-bytes " + std::to_string(c.max_request_bytes) + ", max-key-bytes " + std::to_string(c.max_key_bytes);
  s += ", max-pending " + std::to_string(c.max_pending) + ", max-output-bytes " + std::to_string(c.max_output_bytes);
  s += ", idle-timeout " + std::to_string(c.idle_timeout_ms) + "ms, request-timeout " +
       std::to_string(c.request_timeout_ms) + "ms, shutdown-timeout " + std::to_string(c.shutdown_timeout_ms) + "ms";
  s += ", max-pinned " + std::to_string(c.max_pinned) + ", requirepass " + (c.requirepass.empty() ? "off" : "****");
  if (!c.deny_commands.empty()) {
    s += ", deny-commands";
    for (const std::string& d : c.deny_commands) s += " " + d;
  }
  s += ", log " + c.log_level + "/" + c.log_format;
  if (!c.config_file.empty()) s += ", config " + c.config_file;
  return s;
}

}  // namespace rcp
