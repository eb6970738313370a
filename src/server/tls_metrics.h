// The TLS counters of both sides (the listener's handshakes with clients, the links' with Redis)
// rendered for /metrics and for INFO's Proxy_tls section.
#pragma once

#include <cstdint>
#include <string>

#include "src/base/config.h"
#include "src/net/tls_context.h"

namespace rcp {

struct TlsSources {
  const Config& config;
  const net::TlsEndpoint& listener;  // --tls-port
  const net::TlsEndpoint& backend;   // rediss://
  uint16_t bound_tls_port;
};

void tlsPrometheus(std::string& o, const TlsSources& s);
void tlsInfo(std::string& o, const TlsSources& s);

}  // namespace rcp
