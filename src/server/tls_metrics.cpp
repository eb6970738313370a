// TLS counters for /metrics and INFO (see tls_metrics.h).
#include "src/server/tls_metrics.h"

#include <fmt/format.h>

#include <iterator>

namespace rcp {

namespace {
struct Side {
  const char* name;  // the label value and the INFO prefix
  const net::TlsEndpoint& e;
};

// "TLSv1.3=12,TLSv1.2=1": a count per name, for INFO's one line.
std::string counts(const std::map<std::string, uint64_t>& m) {
  std::string s;
  for (const auto& [name, n] : m) s += (s.empty() ? "" : ",") + name + "=" + std::to_string(n);
  return s;
}
}  // namespace

void tlsPrometheus(std::string& o, const TlsSources& s) {
  auto out = std::back_inserter(o);
  const Side sides[] = {{"listener", s.listener}, {"backend", s.backend}};
  o += "# HELP rcp_tls_handshakes_total TLS handshakes completed, by side (listener: clients of --tls-port; "
       "backend: links to Redis over rediss://).\n# TYPE rcp_tls_handshakes_total counter\n";
  for (const Side& d : sides) fmt::format_to(out, "rcp_tls_handshakes_total{{side=\"{}\"}} {}\n", d.name, d.e.stats.handshakes);
  o += "# HELP rcp_tls_resumed_total TLS handshakes that resumed a session (no full handshake).\n"
       "# TYPE rcp_tls_resumed_total counter\n";
  for (const Side& d : sides) fmt::format_to(out, "rcp_tls_resumed_total{{side=\"{}\"}} {}\n", d.name, d.e.stats.resumed);
  o += "# HELP rcp_tls_handshake_failures_total TLS handshakes that failed, by side and cause (verify: a certificate "
       "refused or missing; protocol: not TLS, no common version or cipher; closed: the peer left; timeout: not done "
       "within --request-timeout, or --connect-timeout to Redis).\n# TYPE rcp_tls_handshake_failures_total counter\n";
  for (const Side& d : sides) {
    const net::TlsStats& t = d.e.stats;
    fmt::format_to(out,
                   "rcp_tls_handshake_failures_total{{side=\"{0}\",cause=\"verify\"}} {1}\n"
                   "rcp_tls_handshake_failures_total{{side=\"{0}\",cause=\"protocol\"}} {2}\n"
                   "rcp_tls_handshake_failures_total{{side=\"{0}\",cause=\"closed\"}} {3}\n"
                   "rcp_tls_handshake_failures_total{{side=\"{0}\",cause=\"timeout\"}} {4}\n",
                   d.name, t.failed_verify, t.failed_protocol, t.failed_closed, t.failed_timeout);
  }
  o += "# HELP rcp_tls_protocol_handshakes_total Completed TLS handshakes by protocol version and cipher.\n"
       "# TYPE rcp_tls_protocol_handshakes_total counter\n";
  for (const Side& d : sides) {
    for (const auto& [v, n] : d.e.stats.versions)
      fmt::format_to(out, "rcp_tls_protocol_handshakes_total{{side=\"{}\",version=\"{}\"}} {}\n", d.name, v, n);
  }
  o += "# HELP rcp_tls_cipher_handshakes_total Completed TLS handshakes by cipher.\n"
       "# TYPE rcp_tls_cipher_handshakes_total counter\n";
  for (const Side& d : sides) {
    for (const auto& [c, n] : d.e.stats.ciphers)
      fmt::format_to(out, "rcp_tls_cipher_handshakes_total{{side=\"{}\",cipher=\"{}\"}} {}\n", d.name, c, n);
  }
  o += "# HELP rcp_tls_certificate_expiry_timestamp_seconds When the side's own certificate expires (Unix time; "
       "alert before it lapses). Absent without one.\n# TYPE rcp_tls_certificate_expiry_timestamp_seconds gauge\n";
  for (const Side& d : sides) {
    if (d.e.expiry() != 0)
      fmt::format_to(out, "rcp_tls_certificate_expiry_timestamp_seconds{{side=\"{}\"}} {}\n", d.name, d.e.expiry());
  }
  o += "# HELP rcp_tls_reload_failures_total SIGHUP reloads whose TLS files did not load (the side kept its context).\n"
       "# TYPE rcp_tls_reload_failures_total counter\n";
  for (const Side& d : sides) fmt::format_to(out, "rcp_tls_reload_failures_total{{side=\"{}\"}} {}\n", d.name, d.e.reload_failures);
  fmt::format_to(out, "# HELP rcp_backend_tls_insecure 1 when Redis's certificate is not verified (--backend-tls-insecure).\n"
                      "# TYPE rcp_backend_tls_insecure gauge\nrcp_backend_tls_insecure {}\n",
                 s.config.backend_tls && s.config.backend_tls_insecure ? 1 : 0);
}

void tlsInfo(std::string& o, const TlsSources& s) {
  auto out = std::back_inserter(o);
  const net::TlsStats& l = s.listener.stats;
  const net::TlsStats& b = s.backend.stats;
  fmt::format_to(out,
                 "# Proxy_tls\r\ntls_port:{}\r\nunixsocket:{}\r\ntls_auth_clients:{}\r\ntls_handshakes:{}\r\n"
                 "tls_resumed:{}\r\ntls_failed_verify:{}\r\ntls_failed_protocol:{}\r\ntls_failed_closed:{}\r\n"
                 "tls_failed_timeout:{}\r\ntls_versions:{}\r\ntls_ciphers:{}\r\ntls_cert_expiry:{}\r\n"
                 "tls_reload_failures:{}\r\n",
                 s.bound_tls_port, s.config.unixsocket, s.config.tls_port != 0 ? s.config.tls_auth_clients : "",
                 l.handshakes, l.resumed, l.failed_verify, l.failed_protocol, l.failed_closed, l.failed_timeout,
                 counts(l.versions), counts(l.ciphers), s.listener.expiry(), s.listener.reload_failures);
  fmt::format_to(out,
                 "backend_tls:{}\r\nbackend_tls_insecure:{}\r\nbackend_tls_handshakes:{}\r\nbackend_tls_resumed:{}\r\n"
                 "backend_tls_failed_verify:{}\r\nbackend_tls_failed_protocol:{}\r\nbackend_tls_failed_closed:{}\r\n"
                 "backend_tls_versions:{}\r\nbackend_tls_ciphers:{}\r\nbackend_tls_cert_expiry:{}\r\n"
                 "backend_tls_reload_failures:{}\r\n\r\n",
                 s.config.backend_tls ? 1 : 0, s.config.backend_tls && s.config.backend_tls_insecure ? 1 : 0,
                 b.handshakes, b.resumed, b.failed_verify, b.failed_protocol, b.failed_closed, counts(b.versions),
                 counts(b.ciphers), s.backend.expiry(), s.backend.reload_failures);
}

}  // namespace rcp
