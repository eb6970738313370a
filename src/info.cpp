// INFO text (see info.h).
#include "src/info.h"

#include <unistd.h>

#include <fmt/format.h>

#include "resp/commands.h"
#include "src/server.h"

namespace rcp {

std::string infoText(Server& s, std::string_view section) {
  bool all = resp::equalsIgnoreCase(section, "all") || resp::equalsIgnoreCase(section, "everything") ||
             resp::equalsIgnoreCase(section, "default");
  auto want = [&](std::string_view name) { return all || resp::equalsIgnoreCase(section, name); };
  const Config& c = s.config();
  const ServerStats& st = s.stats();
  const CacheStats& cs = s.cache().stats();
  const BackendStats& bs = s.backend().stats();
  const ReadThroughStats& rt = s.readThrough().stats();
  std::string o;
  auto out = std::back_inserter(o);
  if (want("server")) {
    fmt::format_to(out,
                   "# Server\r\nredis_version:7.0.0\r\nproxy:redis-cache-proxy\r\nproxy_version:{}\r\n"
                   "redis_mode:standalone\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\n\r\n",
                   RCP_VERSION, getpid(), s.boundPort(), (s.nowMs() - s.startedMs()) / 1000);
  }
  if (want("clients")) {
    fmt::format_to(out, "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\n\r\n", s.clients(), c.max_clients);
  }
  if (want("stats")) {
    fmt::format_to(out,
                   "# Stats\r\ntotal_connections_received:{}\r\nrejected_connections:{}\r\n"
                   "resp_connections:{}\r\nhttp_connections:{}\r\n"
                   "total_commands_processed:{}\r\nhttp_requests:{}\r\nresp_requests:{}\r\n"
                   "keyspace_hits:{}\r\nkeyspace_misses:{}\r\nevicted_keys:{}\r\nexpired_keys:{}\r\n"
                   "coalesced_misses:{}\r\ninflight_misses:{}\r\nprotocol_errors:{}\r\nunknown_commands:{}\r\n"
                   "total_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\n"
                   "idle_closes:{}\r\noutput_limit_closes:{}\r\naccept_errors:{}\r\n\r\n",
                   st.connections_received, st.rejected_connections, st.resp_connections, st.http_connections,
                   st.resp_requests + st.http_requests, st.http_requests, st.resp_requests, cs.hits,
                   rt.fetches + rt.coalesced, cs.evictions, cs.expirations, rt.coalesced, s.readThrough().inflight(),
                   st.protocol_errors, st.unknown_commands, st.bytes_in, st.bytes_out, st.idle_closes,
                   st.output_limit_closes, st.accept_errors);
  }
  if (want("cache")) {
    fmt::format_to(out, "# Cache\r\ncache_keys:{}\r\ncache_capacity_keys:{}\r\ncache_bytes:{}\r\ncache_ttl_ms:{}\r\n\r\n",
                   s.cache().size(), s.cache().capacity(), s.cache().bytes(), s.cache().ttlMs());
  }
  if (want("backend")) {
    fmt::format_to(out,
                   "# Backend\r\nbackend_addr:{}\r\nbackend_link_status:{}\r\nbackend_requests:{}\r\n"
                   "backend_pending:{}\r\nbackend_errors:{}\r\nbackend_timeouts:{}\r\nbackend_failed:{}\r\n"
                   "backend_connects:{}\r\nbackend_disconnects:{}\r\n\r\n",
                   c.redis.display(), s.backend().stateName(), bs.requests, s.backend().pending(), bs.errors,
                   bs.timeouts, bs.failed, bs.connects, bs.disconnects);
  }
  if (!o.empty()) o.resize(o.size() - 2);  // no blank line after the last section
  return o;
}

}  // namespace rcp
