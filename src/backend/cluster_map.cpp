// The cluster's own topology: the slot map read from CLUSTER SHARDS (CLUSTER SLOTS on Redis 6),
// how a refused read decides "a single Redis", MOVED applied to the map, and the refresh timing.
// Members of TopologyUpstream (see topology_upstream.h): this file is where the topology policy
// learns what a Redis Cluster looks like; another way of finding the nodes (a Sentinel-found
// primary) is a file beside this one, ending in mapChanged().
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <string>

#include "src/backend/topology_upstream.h"

namespace rcp::backend {

namespace {
bool containsNoCase(std::string_view hay, std::string_view needle) {
  auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end(),
                        [](char a, char b) { return (a | 0x20) == (b | 0x20); });
  return it != hay.end();
}
}  // namespace

void TopologyUpstream::onRefreshReply(const resp::FrameView& r) {
  refresh_in_flight_ = false;
  if (r.type() == resp::FrameType::kError || r.type() == resp::FrameType::kBlobError) onMapError(r.str(), refresh_shards_);
  else onMap(r, refresh_shards_);
}

void TopologyUpstream::onRefreshFailed(std::string_view why) {
  refresh_in_flight_ = false;
  ++cstats_.refresh_errors;
  spdlog::debug("cluster map refresh failed: {}", why);
  refreshLater();
}

void TopologyUpstream::refreshSoon() {
  assert(leader_ == this);
  if (refresh_wanted_) return;
  refresh_wanted_ = true;
  // Debounced and jittered: a storm of MOVED (or of proxies seeing one) costs one refresh.
  uint64_t earliest = last_refresh_ms_ + kRefreshMinGapMs;
  uint64_t now = loop_.nowMs();
  next_refresh_ms_ = std::max(now, earliest) + std::uniform_int_distribution<uint64_t>(0, kRefreshJitterMs)(rng_);
}

void TopologyUpstream::refreshNow() {
  assert(leader_ == this);
  if (closed_ || refresh_in_flight_) return;
  refresh_wanted_ = false;
  last_refresh_ms_ = loop_.nowMs();
  // Ask a node that is up: the default one, another in the map, else the seeds in turn.
  Node* ask = nullptr;
  if (default_ != nullptr && default_->up->up()) ask = default_;
  for (auto& n : nodes_)
    if (ask == nullptr && n->routed && n->up->up()) ask = n.get();
  if (ask == nullptr) {
    const auto& seeds = config_.redis_seeds;
    if (seeds.empty()) ask = default_;
    else {
      const BackendAddress& s = seeds[seed_at_++ % seeds.size()];
      ask = nodeAt(s.host, s.port);
    }
  }
  if (ask == nullptr) return;
  refresh_in_flight_ = true;
  refresh_->timeout_ms = config_.backend_timeout_ms;
  refresh_->issued_ms = loop_.nowMs();
  refresh_->redirects = 0;
  ask->up->submit(refresh_.get());
}

void TopologyUpstream::onMapError(std::string_view error, bool shards) {
  if (containsNoCase(error, "cluster support disabled")) {
    if (mode_ != Mode::kSingle) spdlog::info("backend {} is a single Redis (no cluster support)", default_->up->name());
    mode_ = Mode::kSingle;
    mapChanged(false);
    return;
  }
  if (containsNoCase(error, "unknown")) {
    if (shards) {  // Redis 6 has no CLUSTER SHARDS: CLUSTER SLOTS says as much
      refresh_shards_ = false;
      refreshNow();
      return;
    }
    mode_ = Mode::kSingle;  // no CLUSTER command at all (renamed away): a single Redis
    mapChanged(false);
    return;
  }
  ++cstats_.refresh_errors;
  if (mode_ == Mode::kProbing) {
    // Refused outright (an ACL without CLUSTER, say): served as a single Redis, said once.
    spdlog::warn("cluster map: {} refused CLUSTER {} ({}): served as a single Redis",
                 default_ != nullptr ? default_->up->name() : "?", shards ? "SHARDS" : "SLOTS", error);
    mode_ = Mode::kSingle;
    mapChanged(false);
    return;
  }
  spdlog::warn("cluster map: {} refused CLUSTER {}: {}; asked again in a second",
               default_ != nullptr ? default_->up->name() : "?", shards ? "SHARDS" : "SLOTS", error);
  refreshLater();
}

void TopologyUpstream::refreshLater() {
  refresh_wanted_ = true;
  next_refresh_ms_ = loop_.nowMs() + kRefreshAfterErrorMs +
                     std::uniform_int_distribution<uint64_t>(0, kRefreshJitterMs)(rng_);
}

void TopologyUpstream::onMap(const resp::FrameView& reply, bool shards) {
  SlotMap fresh;
  std::string why;
  if (!(shards ? fresh.loadShards(reply, &why, tls_ != nullptr && tls_->enabled()) : fresh.loadSlots(reply, &why))) {
    ++cstats_.refresh_errors;
    spdlog::warn("cluster map: unreadable reply to CLUSTER {}: {}", shards ? "SHARDS" : "SLOTS", why);
    refreshLater();
    return;
  }
  ++cstats_.refreshes;
  bool first = mode_ != Mode::kCluster;
  size_t changed = 0;
  if (!first) {
    for (size_t s = 0; s < resp::kClusterSlots; ++s) {
      int a = map_.primaryFor(static_cast<uint16_t>(s)), b = fresh.primaryFor(static_cast<uint16_t>(s));
      if (a == SlotMap::kNone) continue;
      if (b == SlotMap::kNone || !(map_.primaries()[static_cast<size_t>(a)] == fresh.primaries()[static_cast<size_t>(b)]))
        ++changed;
    }
  }
  map_ = std::move(fresh);
  mode_ = Mode::kCluster;
  if (first) {
    spdlog::info("backend is a Redis Cluster: {} primaries, {} of {} slots served", map_.primaries().size(),
                 map_.coveredSlots(), resp::kClusterSlots);
  } else if (changed != 0) {
    spdlog::info("cluster map: {} slots changed owner; {} primaries", changed, map_.primaries().size());
  }
  mapChanged(changed != 0);
}

void TopologyUpstream::applyMoved(uint16_t slot, std::string_view host, uint16_t port) {
  assert(leader_ == this);
  int before = map_.primaryFor(slot);
  bool same = before != SlotMap::kNone && map_.primaries()[static_cast<size_t>(before)].host == host &&
              map_.primaries()[static_cast<size_t>(before)].port == port;
  if (!same) {
    map_.moved(slot, host, port);
    routes_[slot] = nodeAt(host, port);
    routes_[slot]->routed = true;
    for (TopologyUpstream* f : followers_) {
      f->routes_[slot] = f->nodeAt(host, port);
      f->routes_[slot]->routed = true;
    }
    ++cstats_.owner_changes;
    movedEvent();
  }
  refreshSoon();
}

void TopologyUpstream::mapChanged(bool owners_changed) {
  rebuild();
  for (TopologyUpstream* f : followers_) f->rebuild();
  if (owners_changed) {
    ++cstats_.owner_changes;
    movedEvent();
  }
}

}  // namespace rcp::backend
