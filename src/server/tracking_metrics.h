// The clients' CLIENT TRACKING served by the proxy (client/tracking_hub.h): its table and counters,
// rendered for /metrics and for INFO's Proxy_client_tracking section.
#pragma once

#include <string>

#include "src/client/tracking_hub.h"

namespace rcp {

void clientTrackingPrometheus(std::string& o, const client::TrackingHub& hub, const Config& c);
void clientTrackingInfo(std::string& o, const client::TrackingHub& hub, const Config& c);

}  // namespace rcp
