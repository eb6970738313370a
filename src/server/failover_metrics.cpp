// Failover counters for /metrics and INFO (see failover_metrics.h).
#include "src/server/failover_metrics.h"

#include <fmt/format.h>

#include "src/server/metric_writer.h"

namespace rcp {

namespace {
std::string labelEscaped(std::string_view v) {
  std::string s;
  for (char ch : v) {
    if (ch == '\\' || ch == '"') s += '\\';
    if (ch == '\n') {
      s += "\\n";
      continue;
    }
    s += ch;
  }
  return s;
}
}  // namespace

void sentinelPrometheus(std::string& o, const backend::TopologyUpstream& up, const proxy::ReadThrough& rt) {
  const backend::SentinelWatch* w = up.sentinel();
  if (w == nullptr) return;
  const backend::SentinelStats& st = w->stats();
  auto out = std::back_inserter(o);
  auto metric = metricWriter(o);
  std::string primary = up.primaryName();
  fmt::format_to(out,
                 "# HELP rcp_sentinel_primary_info The primary the Sentinels named (empty: none known) and whether it is "
                 "confirmed since its link was last lost.\n# TYPE rcp_sentinel_primary_info gauge\n"
                 "rcp_sentinel_primary_info{{address=\"{}\",confirmed=\"{}\"}} 1\n",
                 labelEscaped(primary), up.primaryConfirmed() ? 1 : 0);
  metric("sentinel_primary_known", "gauge", "1 while a confirmed primary is known (/readyz is not ready otherwise).",
         up.primaryConfirmed() ? 1 : 0);
  o += "# HELP rcp_sentinel_answering 1 for each Sentinel that named an address in the last round.\n"
       "# TYPE rcp_sentinel_answering gauge\n";
  for (const auto& p : w->peers())
    fmt::format_to(out, "rcp_sentinel_answering{{sentinel=\"{}\"}} {}\n", labelEscaped(p.address), p.answered ? 1 : 0);
  metric("sentinel_switches_total", "counter", "Times the proxy moved to another primary (each drops the cache).", st.switches);
  metric("sentinel_last_switch_timestamp_seconds", "gauge", "Wall-clock time of the last switch (0: none).",
         static_cast<double>(st.last_switch_unix_ms) / 1000);
  metric("sentinel_rounds_total", "counter", "Rounds of SENTINEL get-master-addr-by-name asked of every Sentinel.", st.rounds);
  metric("sentinel_errors_total", "counter", "Questions to a Sentinel that failed (unreachable, timed out, refused).", st.errors);
  metric("sentinel_no_majority_total", "counter", "Rounds whose answers named no address a majority agreed on.", st.no_majority);
  metric("sentinel_messages_total", "counter", "+switch-master messages for this master.", st.messages);
  metric("sentinel_promotions_total", "counter",
         "+selected-slave / +promoted-slave messages for this master: the primary was fenced (nothing sent to it) until the switch.",
         st.promotions);
  metric("sentinel_cache_drops_total", "counter", "Whole-cache drops caused by a switch.", rt.stats().drops_failover);
}

void sentinelInfo(std::string& o, const Config& c, const backend::TopologyUpstream& up, const proxy::ReadThrough& rt) {
  const backend::SentinelWatch* w = up.sentinel();
  if (w == nullptr) return;
  const backend::SentinelStats& st = w->stats();
  auto out = std::back_inserter(o);
  std::string primary = up.primaryName();
  auto peers = w->peers();
  size_t answering = 0;
  for (const auto& p : peers) answering += p.answered ? 1 : 0;
  fmt::format_to(out,
                 "# Proxy_sentinel\r\nsentinel_master_name:{}\r\nsentinel_primary:{}\r\nsentinel_primary_confirmed:{}\r\n"
                 "sentinel_sentinels:{}\r\nsentinel_answering:{}\r\nsentinel_switches:{}\r\nsentinel_last_switch_ms:{}\r\n"
                 "sentinel_rounds:{}\r\nsentinel_errors:{}\r\nsentinel_no_majority:{}\r\nsentinel_messages:{}\r\n"
                 "sentinel_promotions:{}\r\n"
                 "sentinel_cache_drops:{}\r\n",
                 c.sentinel_master, primary.empty() ? "none" : primary, up.primaryConfirmed() ? 1 : 0, peers.size(),
                 answering, st.switches, st.last_switch_unix_ms, st.rounds, st.errors, st.no_majority, st.messages, st.promotions,
                 rt.stats().drops_failover);
  for (size_t i = 0; i < peers.size(); ++i) {
    std::string said = peers[i].said;
    for (char& ch : said)
      if (ch == ',' || ch == '\r' || ch == '\n') ch = ' ';
    fmt::format_to(out, "sentinel{}:address={},answered={},subscribed={},said={}\r\n", i, peers[i].address,
                   peers[i].answered ? 1 : 0, peers[i].subscribed ? 1 : 0, said);
  }
  o += "\r\n";
}

}  // namespace rcp
