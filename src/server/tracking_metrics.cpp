// The clients' tracking counters for /metrics and INFO (see tracking_metrics.h).
#include "src/server/tracking_metrics.h"

#include <fmt/format.h>

#include "src/server/metric_writer.h"

namespace rcp {

namespace {
// The bucket bound (µs) under which 99% of the observations fall (0: none yet).
double p99BoundUs(const LatencyHistogram& h) {
  if (h.count() == 0) return 0;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < LatencyHistogram::kBounds.size(); ++i) {
    cumulative += h.counts()[i];
    if (cumulative * 100 >= h.count() * 99) return LatencyHistogram::kBounds[i] * 1e6;
  }
  return -1;  // past the last bound
}
}  // namespace

void clientTrackingPrometheus(std::string& o, const client::TrackingHub& hub, const Config& c) {
  const client::TrackingStats& st = hub.stats();
  auto metric = metricWriter(o);
  metric("client_tracking_clients", "gauge", "Clients with CLIENT TRACKING on, served by the proxy.", hub.clients());
  metric("client_tracking_keys", "gauge", "Keys the clients' tracking table remembers (--tracking-table-max-keys).",
         hub.keys());
  metric("client_tracking_keys_max", "gauge", "Most keys the clients' tracking table holds (0: no limit).",
         c.tracking_table_max_keys);
  metric("client_tracking_prefixes", "gauge", "BCAST prefixes the clients track.", hub.prefixes());
  metric("client_tracking_enabled_total", "counter", "CLIENT TRACKING on accepted.", st.enabled);
  metric("client_tracking_refused_total", "counter", "CLIENT TRACKING on refused: the proxy's own tracking is off.",
         st.refused);
  metric("client_tracking_invalidations_total", "counter", "Invalidation messages sent to clients.", st.invalidations);
  metric("client_tracking_null_invalidations_total", "counter",
         "Null (flush everything) invalidations sent: Redis flushed, or the proxy could not know what changed.",
         st.null_messages);
  metric("client_tracking_evicted_keys_total", "counter",
         "Keys invalidated for their readers to keep the table under --tracking-table-max-keys.", st.evicted_keys);
  metric("client_tracking_redir_broken_total", "counter", "tracking-redir-broken pushes (the REDIRECT target left).",
         st.redir_broken);
  const LatencyHistogram& h = hub.deliveryLatency();
  auto out = std::back_inserter(o);
  o += "# HELP rcp_client_tracking_delivery_seconds From a change the proxy learns of (Redis's report, a write it "
       "forwards) to its invalidation handed to each tracking client's socket.\n"
       "# TYPE rcp_client_tracking_delivery_seconds histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < LatencyHistogram::kBounds.size(); ++i) {
    cumulative += h.counts()[i];
    fmt::format_to(out, "rcp_client_tracking_delivery_seconds_bucket{{le=\"{}\"}} {}\n", LatencyHistogram::kBounds[i],
                   cumulative);
  }
  fmt::format_to(out, "rcp_client_tracking_delivery_seconds_bucket{{le=\"+Inf\"}} {}\n", h.count());
  fmt::format_to(out, "rcp_client_tracking_delivery_seconds_sum {}\nrcp_client_tracking_delivery_seconds_count {}\n",
                 h.sumSeconds(), h.count());
}

void clientTrackingInfo(std::string& o, const client::TrackingHub& hub, const Config& c) {
  const client::TrackingStats& st = hub.stats();
  fmt::format_to(std::back_inserter(o),
                 "# Proxy_client_tracking\r\nclient_tracking_clients:{}\r\nclient_tracking_keys:{}\r\n"
                 "client_tracking_keys_max:{}\r\nclient_tracking_prefixes:{}\r\nclient_tracking_enabled:{}\r\n"
                 "client_tracking_refused:{}\r\nclient_tracking_invalidations:{}\r\nclient_tracking_null_invalidations:{}\r\n"
                 "client_tracking_evicted_keys:{}\r\nclient_tracking_redir_broken:{}\r\n"
                 "client_tracking_delivered:{}\r\nclient_tracking_delivery_avg_us:{:.1f}\r\n"
                 "client_tracking_delivery_p99_le_us:{:.0f}\r\n\r\n",
                 hub.clients(), hub.keys(), c.tracking_table_max_keys, hub.prefixes(), st.enabled, st.refused,
                 st.invalidations, st.null_messages, st.evicted_keys, st.redir_broken, hub.deliveryLatency().count(),
                 hub.deliveryLatency().count() == 0
                     ? 0.0
                     : hub.deliveryLatency().sumSeconds() * 1e6 / static_cast<double>(hub.deliveryLatency().count()),
                 p99BoundUs(hub.deliveryLatency()));
}

}  // namespace rcp
