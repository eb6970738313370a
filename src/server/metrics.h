// The proxy's counters as one snapshot, rendered two ways: Prometheus text for the admin
// listener's /metrics, and the "# Section" / "field:value" text of RESP INFO.
#pragma once

#include <string>
#include <string_view>

namespace rcp {

class Server;

std::string prometheusText(const Server& server);
// section: "default", "all", "everything" or one section name (case-insensitive).
std::string infoText(const Server& server, std::string_view section);

}  // namespace rcp
