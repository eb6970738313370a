// A primary found through Redis Sentinel (--sentinel): what the topology policy does with the
// Sentinels' answers. Members of TopologyUpstream (see topology_upstream.h); the Sentinel client
// itself is sentinel.h.
//
// The primary is used only while confirmed: named by a majority of the Sentinels that answered
// since its link was last lost (Redis's guideline: ask again on every reconnect), and its ROLE
// checked on every connection (LinkOptions::requirePrimary). A request that finds no confirmed
// primary waits for one within its deadline, or fails at once with why when the last round got
// no answer. A switch drops the whole cache and every fill in flight, closes pinned connections
// (switchedEvent), retires the old node (what it is answering drains; what it had not sent goes
// to the new primary), and sends the parked requests.
#include <spdlog/spdlog.h>

#include <chrono>
#include <utility>

#include "src/backend/topology_upstream.h"

namespace rcp::backend {

std::string TopologyUpstream::primaryName() const {
  const TopologyUpstream& l = *leader_;
  return l.default_ != nullptr ? l.default_->up->name() : std::string();
}

void TopologyUpstream::onSentinelMaster(const std::string& host, uint16_t port) {
  if (closed_) return;
  no_answer_ = false;
  if (default_ != nullptr && default_->host == host && default_->port == port) {
    if (fenced_until_ms_ > loop_.nowMs()) return;  // a replica was promoted: the switch is coming
    fenced_until_ms_ = 0;
    no_primary_why_.clear();
    if (!confirmed_) spdlog::info("sentinel: master '{}' is still {}", config_.sentinel_master, default_->up->name());
    confirmed_ = true;
    sendParked();
    return;
  }
  fenced_until_ms_ = 0;
  no_primary_why_.clear();
  bool first = default_ == nullptr;
  std::string old = first ? std::string() : default_->up->name();
  default_ = nodeAt(host, port);  // its links check ROLE: a node that is not the primary is refused
  confirmed_ = true;
  if (first) {
    spdlog::info("sentinel: master '{}' is {}", config_.sentinel_master, default_->up->name());
  } else {
    SentinelStats& s = sentinel_->stats();
    ++s.switches;
    s.last_switch_unix_ms = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
    spdlog::warn("sentinel: master '{}' switched from {} to {}: the cache and the fills in flight are dropped, "
                 "pinned connections closed", config_.sentinel_master, old, default_->up->name());
    switchedEvent();  // before anything reaches the new primary: nothing of the old one is kept
  }
  mapChanged(false);  // the followers move too; the old node is retired
  sendParked();
}

void TopologyUpstream::onSentinelNoMaster(const std::string& why) {
  if (closed_) return;
  no_primary_why_ = why;
  no_answer_ = true;
  // A primary still confirmed keeps serving: the Sentinels being unreachable does not make it a
  // replica, and its ROLE is checked again on every connection. Requests that wait for one fail.
  if (default_ == nullptr || !confirmed_) {
    spdlog::warn("sentinel: {}", why);
    for (TopologyUpstream* t : upstreams()) t->failParked(why);
  }
}

void TopologyUpstream::onSentinelPromoted(const std::string& host, uint16_t port) {
  // Sentinel promotes the replica first and announces +switch-master later: what the old primary
  // acknowledges in between is lost when it is demoted. It is fenced: nothing new is sent to it;
  // requests wait, within their deadline, for the switch. Should no switch come by
  // --backend-timeout (the failover aborted), a round that names it again confirms it.
  if (closed_ || default_ == nullptr || default_->host != host || default_->port != port) return;
  fenced_until_ms_ = loop_.nowMs() + config_.backend_timeout_ms;
  confirmed_ = false;
  no_primary_why_ = "the primary " + default_->up->name() + " is being replaced (a Sentinel is promoting its replica)";
  spdlog::warn("sentinel: {}: nothing more is sent to it until the switch; pinned connections closed",
               no_primary_why_);
  fencedEvent();
}

void TopologyUpstream::primaryLost() {
  if (!confirmed_ || closed_) return;
  confirmed_ = false;
  no_primary_why_ = "the link to the primary " + default_->up->name() + " was lost and no Sentinel has confirmed it since";
  sentinel_->resolveNow();
}

std::vector<TopologyUpstream*> TopologyUpstream::upstreams() {
  std::vector<TopologyUpstream*> all{this};
  all.insert(all.end(), followers_.begin(), followers_.end());
  return all;
}

void TopologyUpstream::sendParked() {
  for (TopologyUpstream* t : upstreams()) {
    std::vector<Parked> due;
    due.swap(t->parked_);
    for (Parked& p : due) t->send(t->route(p.r->slot), p.r);
  }
}

void TopologyUpstream::failParked(const std::string& why) {
  std::vector<Parked> due;
  due.swap(parked_);
  for (Parked& p : due) fail(p.r, why);
}

bool TopologyUpstream::sentinelPark(Request* r) {
  TopologyUpstream& l = *leader_;
  if (l.mode_ != Mode::kSentinel || l.no_answer_ || !withinDeadline(*r)) return false;
  park(r, 50, l.no_primary_why_);
  l.sentinel_->resolveSoon();
  return true;
}

}  // namespace rcp::backend
