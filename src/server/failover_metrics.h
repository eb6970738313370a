// Failover counters (--sentinel: the primary the Sentinels named, each Sentinel's last answer, the
// switches) rendered for /metrics and for INFO's Proxy_sentinel section.
#pragma once

#include <string>

#include "src/backend/topology_upstream.h"
#include "src/proxy/read_through.h"

namespace rcp {

void sentinelPrometheus(std::string& o, const backend::TopologyUpstream& up, const proxy::ReadThrough& rt);
void sentinelInfo(std::string& o, const Config& c, const backend::TopologyUpstream& up, const proxy::ReadThrough& rt);

}  // namespace rcp
