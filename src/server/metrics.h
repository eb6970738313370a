// The proxy's counters as one snapshot, rendered two ways: Prometheus text for the admin
// listener's /metrics, and the "# Section" / "field:value" text of RESP INFO.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cache/lru_cache.h"
#include "src/backend/pinned.h"
#include "src/backend/topology_upstream.h"
#include "src/base/config.h"
#include "src/client/clients.h"
#include "src/proxy/backend_facts.h"
#include "src/proxy/coherence.h"
#include "src/proxy/forwarder.h"
#include "src/proxy/read_through.h"
#include "src/server/tls_metrics.h"

namespace rcp {

// What the renderings read: the server's parts (read only) and a few values of its own. The
// server builds one per rendering.
struct MetricSources {
  const Config& config;
  const LruCache& cache;
  const proxy::ReadThrough& read_through;
  const backend::TopologyUpstream& upstream;
  const backend::TopologyUpstream& upstream3;
  const backend::PinnedPool& pinned;
  const proxy::Forwarder& forwarder;
  const proxy::BackendFacts& backend_facts;
  const proxy::Coherence& coherence;
  const client::Clients& clients;
  uint64_t uptime_ms;
  uint16_t bound_port;
  uint64_t accept_errors;
  TlsSources tls;
};

std::string prometheusText(const MetricSources& sources);
// section: "default", "all", "everything" or one section name (case-insensitive).
std::string infoText(const MetricSources& sources, std::string_view section);

}  // namespace rcp
