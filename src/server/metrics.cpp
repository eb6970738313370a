// Prometheus and INFO renderings of the proxy's counters (see metrics.h). Both read the same
// fields, so a counter can not be in one and missing from the other.
#include "src/server/metrics.h"

#include "src/server/failover_metrics.h"
#include "src/server/metric_writer.h"
#include "src/server/tracking_metrics.h"

#include <unistd.h>

#include <fmt/format.h>

#include "resp/commands.h"

namespace rcp {

namespace {
constexpr std::string_view kProtoNames[] = {"resp", "http"};
constexpr std::string_view kOutcomeNames[] = {"hit", "miss", "error"};

// What both renderings read, and the values derived from it, computed in one place.
struct Snapshot {
  explicit Snapshot(const MetricSources& s)
      : c(s.config), st(s.clients.stats()), cs(s.cache.stats()), bs(s.upstream.stats()),
        rt(s.read_through.stats()), h(s.upstream.latency()), uptime_s(s.uptime_ms / 1000),
        reconnects(bs.connects > 0 ? bs.connects - 1 : 0) {}
  const Config& c;
  const client::ClientStats& st;
  const CacheStats& cs;
  const backend::UpstreamStats& bs;
  const proxy::ReadThroughStats& rt;
  const LatencyHistogram& h;
  uint64_t uptime_s;
  uint64_t reconnects;  // connections to Redis after the first
};
}  // namespace

namespace {
// The backend's metrics: its links, the cluster, the latency histogram.
void backendMetrics(std::string& o, const MetricSources& s, const Snapshot& n) {
  const auto& [c, st, cs, bs, rt, h, uptime_s, reconnects] = n;
  auto out = std::back_inserter(o);
  auto metric = metricWriter(o);
  metric("backend_up", "gauge", "1 while the link to Redis is up (a cluster: the link to every primary).", s.upstream.up() ? 1 : 0);
  {
    const backend::ClusterStats& k = s.upstream.clusterStats();
    metric("cluster_enabled", "gauge", "1 when the backend is a Redis Cluster.", s.upstream.clustered() ? 1 : 0);
    metric("cluster_primaries", "gauge", "Primaries in the cluster's slot map.", s.upstream.clustered() ? s.upstream.primaries().size() : 0);
    fmt::format_to(out, "# HELP rcp_cluster_redirects_total Cluster redirections followed (moved, ask) and requests "
                        "sent again after TRYAGAIN, CLUSTERDOWN or LOADING (retry).\n# TYPE rcp_cluster_redirects_total "
                        "counter\nrcp_cluster_redirects_total{{kind=\"moved\"}} {}\nrcp_cluster_redirects_total{{kind=\"ask\"}} "
                        "{}\nrcp_cluster_redirects_total{{kind=\"retry\"}} {}\n", k.moved, k.ask, k.retried);
    metric("cluster_map_refreshes_total", "counter", "Cluster slot maps read.", k.refreshes);
    metric("cluster_owner_changes_total", "counter", "Maps or MOVEDs that gave a slot another owner (each drops the cache).", k.owner_changes);
  }
  metric("backend_resp3_up", "gauge", "1 while the RESP3 link (RESP3 clients' forwarded commands; opened at first use) is up.", s.upstream3.up() ? 1 : 0);
  metric("backend_resp3_requests_total", "counter", "Requests sent to Redis on the shared RESP3 link.", s.upstream3.stats().requests);
  metric("backend_requests_total", "counter", "Requests sent to Redis on the shared link (GETs, MGETs, forwarded commands).", bs.requests);
  metric("backend_errors_total", "counter", "Error replies from Redis.", bs.errors);
  metric("backend_timeouts_total", "counter", "Backend requests failed by --backend-timeout.", bs.timeouts);
  metric("backend_failures_total", "counter", "Backend requests failed because the link was down or lost.", bs.failed);
  metric("backend_connects_total", "counter", "Successful connections to Redis.", bs.connects);
  metric("backend_disconnects_total", "counter", "Links to Redis lost or dropped.", bs.disconnects);
  metric("backend_retries_total", "counter", "Reads resent on a new link after the link they were sent on was lost.", bs.retried);
  metric("backend_reconnects_total", "counter", "Connections to Redis after the first one.", reconnects);
  o += "# HELP rcp_backend_request_duration_seconds Time from sending a GET to Redis to its reply.\n"
       "# TYPE rcp_backend_request_duration_seconds histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < LatencyHistogram::kBounds.size(); ++i) {
    cumulative += h.counts()[i];
    fmt::format_to(out, "rcp_backend_request_duration_seconds_bucket{{le=\"{}\"}} {}\n", LatencyHistogram::kBounds[i], cumulative);
  }
  fmt::format_to(out, "rcp_backend_request_duration_seconds_bucket{{le=\"+Inf\"}} {}\n", h.count());
  fmt::format_to(out, "rcp_backend_request_duration_seconds_sum {}\n", h.sumSeconds());
  fmt::format_to(out, "rcp_backend_request_duration_seconds_count {}\n", h.count());
}
}  // namespace

std::string prometheusText(const MetricSources& s) {
  const Snapshot n(s);
  const auto& [c, st, cs, bs, rt, h, uptime_s, reconnects] = n;
  std::string o;
  auto out = std::back_inserter(o);
  auto metric = metricWriter(o);
  fmt::format_to(out, "# HELP rcp_build_info Version of the running proxy.\n# TYPE rcp_build_info gauge\n"
                      "rcp_build_info{{version=\"{}\"}} 1\n", RCP_VERSION);
  metric("uptime_seconds", "gauge", "Seconds since the proxy started.", uptime_s);
  o += "# HELP rcp_requests_total GET requests by protocol and outcome (hit: from the cache; miss: fetched "
       "from Redis; error: refused or failed).\n# TYPE rcp_requests_total counter\n";
  for (size_t p = 0; p < 2; ++p)
    for (size_t k = 0; k < 3; ++k)
      fmt::format_to(out, "rcp_requests_total{{protocol=\"{}\",outcome=\"{}\"}} {}\n", kProtoNames[p],
                     kOutcomeNames[k], st.gets[p][k]);
  o += "# HELP rcp_resp_requests_total RESP requests by the protocol version the client speaks.\n"
       "# TYPE rcp_resp_requests_total counter\n";
  fmt::format_to(out, "rcp_resp_requests_total{{proto=\"2\"}} {}\nrcp_resp_requests_total{{proto=\"3\"}} {}\n",
                 st.resp_requests - st.resp3_requests, st.resp3_requests);
  metric("resp3_clients", "gauge", "Clients speaking RESP3 now (after HELLO 3).", st.resp3_clients);
  metric("refresh_ahead_total", "counter", "Background refreshes started by a hit late in its entry's life (--refresh-ahead).", s.read_through.stats().refreshes_ahead);
  metric("stale_served_total", "counter", "Values past their life served because Redis could not be asked (--stale-if-error).", s.read_through.stats().stale_served);
  metric("http_not_modified_total", "counter", "HTTP 304 Not Modified answers: If-None-Match named the value's ETag (counted among the hits and misses too).", st.http_not_modified);
  metric("commands_total", "counter", "RESP commands answered by the proxy itself (PING, INFO, ...).", st.local_commands);
  metric("forwarded_commands_total", "counter", "Commands forwarded to Redis for clients (GET misses not included).", s.forwarder.stats().forwarded);
  metric("mget_requests_total", "counter", "MGETs served through the cache.", st.mgets);
  metric("mget_batches_total", "counter", "Backend MGETs sent for the misses of client MGETs.", rt.batches);
  metric("denied_commands_total", "counter", "Commands refused by --deny-commands.", st.denied_commands);
  metric("http_auth_failures_total", "counter", "HTTP requests refused with 401 (--requirepass).", st.auth_failures);
  metric("pinned_connections", "gauge", "Backend connections pinned to a client now (MULTI, WATCH, blocking, pub/sub, SELECT).", s.pinned.inUse());
  metric("pinned_connections_max", "gauge", "Most pinned connections at once (--max-pinned).", c.max_pinned);
  metric("pinned_connections_idle", "gauge", "Pinned connections kept open for reuse.", s.pinned.idle());
  metric("pinned_opened_total", "counter", "Pinned connections opened.", s.pinned.stats().opened);
  metric("pinned_refused_total", "counter", "Requests for a pinned connection refused at --max-pinned.", s.pinned.stats().refused);
  metric("pinned_lost_total", "counter", "Pinned connections lost while a client held them (the client is closed).", s.pinned.stats().lost);
  metric("write_invalidations_total", "counter", "Cached keys dropped because a client of the proxy wrote them.", rt.write_invalidations);
  o += "# HELP rcp_cache_drops_total Whole-cache drops by cause (flush: FLUSHALL/FLUSHDB through the proxy; swapdb: SWAPDB through the proxy; "
       "unknown_keys: a write whose keys cannot be known; null_message: Redis's null invalidation; link_lost: the "
       "invalidation link lost; reconnect: the filling link lost; ping_deadline: the invalidation link silent; slot_moved: a cluster slot changed owner; failover: a Sentinel-announced switch of primary).\n"
       "# TYPE rcp_cache_drops_total counter\n";
  fmt::format_to(out, "rcp_cache_drops_total{{cause=\"flush\"}} {}\nrcp_cache_drops_total{{cause=\"unknown_keys\"}} {}\n"
                      "rcp_cache_drops_total{{cause=\"null_message\"}} {}\nrcp_cache_drops_total{{cause=\"link_lost\"}} {}\n"
                      "rcp_cache_drops_total{{cause=\"reconnect\"}} {}\nrcp_cache_drops_total{{cause=\"ping_deadline\"}} {}\n"
                      "rcp_cache_drops_total{{cause=\"swapdb\"}} {}\nrcp_cache_drops_total{{cause=\"slot_moved\"}} {}\n"
                      "rcp_cache_drops_total{{cause=\"failover\"}} {}\n",
                 rt.drops_flush, rt.drops_unknown_keys, rt.drops_null_message, rt.drops_link_lost, rt.drops_reconnect,
                 rt.drops_ping_deadline, rt.drops_swapdb, rt.drops_slot_moved, rt.drops_failover);
  fmt::format_to(out, "# HELP rcp_tracking_info Coherence: the --tracking mode and its state now (on, connecting, "
                      "ttl-only, off).\n# TYPE rcp_tracking_info gauge\nrcp_tracking_info{{mode=\"{}\",state=\"{}\"}} 1\n",
                 s.coherence.modeName(), s.coherence.stateName());
  metric("tracking_on", "gauge", "1 while CLIENT TRACKING covers the cache (--tracking): values changed in Redis are dropped when Redis says so.", s.coherence.on() ? 1 : 0);
  metric("cache_storing", "gauge", "1 while fills are stored (0: tracking wanted and not established, every GET read from Redis).", s.read_through.storing() ? 1 : 0);
  metric("invalidation_messages_total", "counter", "Invalidation messages from Redis.", s.coherence.stats().messages);
  metric("negative_entries_total", "counter", "\"No such key\" entries stored (--negative-ttl).", rt.negative_stored);
  metric("invalidated_keys_total", "counter", "Keys Redis's invalidation messages named.", s.coherence.stats().keys);
  metric("invalidation_unexpected_frames_total", "counter",
         "Frames on an invalidation link that were not a message, the subscription or a PING reply; each made the link count as lost.",
         s.coherence.stats().unexpected);
  metric("fills_voided_total", "counter", "Fetches that completed after an invalidation (or while nothing was stored) and filled nothing.", rt.fills_voided);
  metric("protocol_errors_total", "counter", "Connections closed for malformed input.", st.protocol_errors);
  metric("cache_entries", "gauge", "Keys in the cache.", s.cache.size());
  metric("cache_capacity_entries", "gauge", "Most keys the cache holds (--cache-keys).", s.cache.capacity());
  metric("cache_bytes", "gauge", "Memory held by cached entries and the hash table.", s.cache.bytes());
  metric("cache_ttl_seconds", "gauge", "Lifetime of a cached value (--ttl).", static_cast<double>(s.cache.ttlMs()) / 1000);
  metric("cache_evictions_total", "counter", "Entries evicted to make room (LRU).", cs.evictions);
  metric("cache_expirations_total", "counter", "Entries dropped because their TTL passed.", cs.expirations);
  metric("inflight_misses", "gauge", "Backend fetches in flight.", s.read_through.inflight());
  metric("coalesced_misses_total", "counter", "Misses that joined a fetch already in flight for the same key.", rt.coalesced);
  backendMetrics(o, s, n);
  metric("client_connections", "gauge", "Client connections open now.", s.clients.count());
  metric("client_connections_max", "gauge", "Most client connections at once (--max-clients).", c.max_clients);
  metric("client_connections_total", "counter", "Client connections accepted, rejected ones included.", st.connections_received);
  metric("client_connections_rejected_total", "counter", "Connections refused over --max-clients.", st.rejected_connections);
  metric("client_connections_denied_total", "counter", "Connections refused by protected mode (--protected-mode: not loopback, no --requirepass).", st.protected_denied);
  metric("client_idle_closes_total", "counter", "Clients closed by --idle-timeout.", st.idle_closes);
  metric("client_output_limit_closes_total", "counter", "Clients closed for not reading (--max-output-bytes).", st.output_limit_closes);
  metric("client_input_limit_closes_total", "counter", "Clients closed for holding the most unparsed input over --max-input-bytes.", st.input_limit_closes);
  metric("client_input_bytes", "gauge", "Unparsed input all clients hold (bounded by --max-input-bytes).", s.clients.inputBytes());
  metric("client_request_timeouts_total", "counter", "Clients closed for a request not arriving whole (--request-timeout).", st.request_timeouts);
  metric("received_bytes_total", "counter", "Bytes read from clients.", st.bytes_in);
  metric("sent_bytes_total", "counter", "Bytes written to clients.", st.bytes_out);
  tlsPrometheus(o, s.tls);
  sentinelPrometheus(o, s.upstream, s.read_through);
  clientTrackingPrometheus(o, s.clients.tracking(), c);
  return o;
}

std::string infoText(const MetricSources& s, std::string_view section) {
  bool all = resp::equalsIgnoreCase(section, "all") || resp::equalsIgnoreCase(section, "everything") ||
             resp::equalsIgnoreCase(section, "default");
  auto want = [&](std::string_view name) { return all || resp::equalsIgnoreCase(section, name); };
  const Snapshot n(s);
  const auto& [c, st, cs, bs, rt, h, uptime_s, reconnects] = n;
  std::string o;
  auto out = std::back_inserter(o);
  // Redis's own sections come first in INFO (the session puts them there); the proxy's names
  // collide with none of Redis's, so a client reading INFO into one map keeps Redis's values.
  if (want("proxy")) {
    fmt::format_to(out,
                   "# Proxy\r\nproxy:redis-cache-proxy\r\nproxy_version:{}\r\nproxy_process_id:{}\r\n"
                   "proxy_tcp_port:{}\r\nproxy_uptime_in_seconds:{}\r\nproxy_connected_clients:{}\r\n"
                   "proxy_maxclients:{}\r\n\r\n",
                   RCP_VERSION, getpid(), s.bound_port, uptime_s, s.clients.count(), c.max_clients);
  }
  if (want("proxy_stats")) {
    uint64_t hits = st.gets[0][0] + st.gets[1][0], misses = st.gets[0][1] + st.gets[1][1];
    fmt::format_to(out,
                   "# Proxy_stats\r\nproxy_total_connections_received:{}\r\nproxy_rejected_connections:{}\r\n"
                   "resp_connections:{}\r\nhttp_connections:{}\r\nresp3_clients:{}\r\nresp3_hellos:{}\r\n"
                   "resp2_requests:{}\r\nresp3_requests:{}\r\n"
                   "proxy_total_commands_processed:{}\r\nhttp_requests:{}\r\nhttp_not_modified:{}\r\nstale_served:{}\r\nrefresh_ahead:{}\r\nresp_requests:{}\r\n"
                   "proxy_keyspace_hits:{}\r\nproxy_keyspace_misses:{}\r\nrequest_errors:{}\r\n"
                   "resp_hits:{}\r\nresp_misses:{}\r\nresp_errors:{}\r\nhttp_hits:{}\r\nhttp_misses:{}\r\nhttp_errors:{}\r\n"
                   "proxy_evicted_keys:{}\r\nproxy_expired_keys:{}\r\n"
                   "coalesced_misses:{}\r\ninflight_misses:{}\r\nprotocol_errors:{}\r\nunknown_commands:{}\r\n"
                   "proxy_total_net_input_bytes:{}\r\nproxy_total_net_output_bytes:{}\r\n"
                   "idle_closes:{}\r\noutput_limit_closes:{}\r\nrequest_timeouts:{}\r\ninput_limit_closes:{}\r\n"
                   "client_input_bytes:{}\r\naccept_errors:{}\r\n"
                   "local_commands:{}\r\nforwarded_commands:{}\r\nmget_requests:{}\r\nmget_batches:{}\r\n"
                   "denied_commands:{}\r\nhttp_auth_failures:{}\r\nstream_commands:{}\r\n"
                   "pinned_connections:{}\r\npinned_idle:{}\r\nmax_pinned:{}\r\npinned_opened:{}\r\n"
                   "pinned_reused:{}\r\npinned_refused:{}\r\npinned_lost:{}\r\n"
                   "write_invalidations:{}\r\ncache_drops_flush:{}\r\ncache_drops_unknown_keys:{}\r\n"
                   "fills_voided:{}\r\nbackend_commands_learned:{}\r\n"
                   "tracking_mode:{}\r\ntracking_state:{}\r\ncache_storing:{}\r\nkey_ttl_capped:{}\r\nnegative_stored:{}\r\n"
                   "invalidation_messages:{}\r\n"
                   "invalidated_keys:{}\r\ncache_drops_null_message:{}\r\ncache_drops_link_lost:{}\r\n"
                   "cache_drops_reconnect:{}\r\ncache_drops_ping_deadline:{}\r\ncache_drops_swapdb:{}\r\n\r\n",
                   st.connections_received, st.rejected_connections, st.resp_connections, st.http_connections,
                   st.resp3_clients, st.resp3_hellos, st.resp_requests - st.resp3_requests, st.resp3_requests,
                   st.resp_requests + st.http_requests, st.http_requests, st.http_not_modified, rt.stale_served, rt.refreshes_ahead, st.resp_requests, hits, misses,
                   st.gets[0][2] + st.gets[1][2], st.gets[0][0], st.gets[0][1], st.gets[0][2], st.gets[1][0],
                   st.gets[1][1], st.gets[1][2], cs.evictions, cs.expirations, rt.coalesced,
                   s.read_through.inflight(), st.protocol_errors, st.unknown_commands, st.bytes_in, st.bytes_out,
                   st.idle_closes, st.output_limit_closes, st.request_timeouts, st.input_limit_closes,
                   s.clients.inputBytes(), s.accept_errors, st.local_commands, s.forwarder.stats().forwarded,
                   st.mgets, rt.batches, st.denied_commands, st.auth_failures, st.stream_commands,
                   s.pinned.inUse(), s.pinned.idle(), c.max_pinned, s.pinned.stats().opened,
                   s.pinned.stats().reused, s.pinned.stats().refused, s.pinned.stats().lost,
                   rt.write_invalidations, rt.drops_flush, rt.drops_unknown_keys, rt.fills_voided,
                   s.backend_facts.commandsLearned(), s.coherence.modeName(), s.coherence.stateName(),
                   s.read_through.storing() ? 1 : 0, rt.key_ttl_capped, rt.negative_stored, s.coherence.stats().messages, s.coherence.stats().keys,
                   rt.drops_null_message, rt.drops_link_lost, rt.drops_reconnect, rt.drops_ping_deadline, rt.drops_swapdb);
  }
  if (want("cache")) {
    fmt::format_to(out, "# Cache\r\ncache_keys:{}\r\ncache_capacity_keys:{}\r\ncache_bytes:{}\r\ncache_ttl_ms:{}\r\n\r\n",
                   s.cache.size(), s.cache.capacity(), s.cache.bytes(), s.cache.ttlMs());
  }
  if (want("backend")) {
    std::string backend_addr = c.sentinel() ? s.upstream.primaryName() : c.redis.display();  // Sentinel: the primary now
    if (backend_addr.empty()) backend_addr = "none";
    fmt::format_to(out,
                   "# Backend\r\nbackend_addr:{}\r\nbackend_link_status:{}\r\nbackend_requests:{}\r\n"
                   "backend_pending:{}\r\nbackend_errors:{}\r\nbackend_timeouts:{}\r\nbackend_failed:{}\r\n"
                   "backend_connects:{}\r\nbackend_reconnects:{}\r\nbackend_disconnects:{}\r\nbackend_replies:{}\r\n"
                   "backend_latency_avg_us:{}\r\nbackend_redis_version:{}\r\n"
                   "backend_resp3_link_status:{}\r\nbackend_resp3_requests:{}\r\n",
                   backend_addr, s.upstream.stateName(), bs.requests, s.upstream.pending(), bs.errors,
                   bs.timeouts, bs.failed, bs.connects, reconnects, bs.disconnects, h.count(),
                   h.count() == 0 ? 0 : static_cast<uint64_t>(h.sumSeconds() * 1e6 / static_cast<double>(h.count())),
                   s.backend_facts.version().empty() ? std::string_view("unknown") : s.backend_facts.version(),
                   s.upstream3.stateName(), s.upstream3.stats().requests);
    const backend::ClusterStats& k = s.upstream.clusterStats();
    fmt::format_to(out,
                   "backend_cluster_enabled:{}\r\nbackend_cluster_primaries:{}\r\nbackend_cluster_slots_served:{}\r\n"
                   "backend_cluster_tracked_nodes:{}\r\nbackend_cluster_moved:{}\r\nbackend_cluster_ask:{}\r\nbackend_cluster_retried:{}\r\n"
                   "backend_cluster_parked:{}\r\nbackend_cluster_refreshes:{}\r\nbackend_cluster_refresh_errors:{}\r\n"
                   "backend_cluster_owner_changes:{}\r\nbackend_cluster_split_commands:{}\r\nbackend_cluster_split_parts:{}\r\n"
                   "backend_cluster_cache_drops_slot_moved:{}\r\n\r\n",
                   s.upstream.clustered() ? 1 : 0, s.upstream.clustered() ? s.upstream.primaries().size() : 0,
                   s.upstream.clustered() ? s.upstream.map().coveredSlots() : 0, s.coherence.trackedNodes(),
                   k.moved, k.ask, k.retried, k.parked, k.refreshes, k.refresh_errors, k.owner_changes,
                   s.forwarder.stats().split, s.forwarder.stats().split_parts, rt.drops_slot_moved);
  }
  if (want("proxy_tls")) tlsInfo(o, s.tls);
  if (want("proxy_sentinel")) sentinelInfo(o, c, s.upstream, s.read_through);
  if (want("proxy_client_tracking")) clientTrackingInfo(o, s.clients.tracking(), c);
  if (!o.empty()) o.resize(o.size() - 2);  // no blank line after the last section
  return o;
}

}  // namespace rcp
