// Which node of a Redis Cluster serves each of the 16384 slots, as the cluster reports it:
// CLUSTER SHARDS (Redis 7, maps of shards with their slot ranges and nodes), or CLUSTER SLOTS
// (older: ranges with their primary first). Read from a reply frame of either protocol (RESP2's
// flat key/value arrays or RESP3's maps). MOVED updates one slot in place until the next refresh.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "resp/frame.h"
#include "resp/key_slot.h"

namespace rcp::backend {

struct ClusterNode {
  std::string host;  // what to connect to: the node's endpoint (or ip)
  uint16_t port = 0;
  std::string id;    // the node's 40-character id (empty when the reply has none)
  bool operator==(const ClusterNode& o) const noexcept { return host == o.host && port == o.port; }
};

class SlotMap {
 public:
  static constexpr int kNone = -1;

  // Replaces the map with the reply's; false (the map unchanged, *why set) when the reply is not
  // one (an error, an unexpected shape).
  // tls: the links speak TLS, so a node's "tls-port" is the one to reach (its "port" when it has none).
  bool loadShards(const resp::FrameView& reply, std::string* why, bool tls = false);
  bool loadSlots(const resp::FrameView& reply, std::string* why);

  // The primary serving slot (an index into primaries()), or kNone when no node covers it.
  int primaryFor(uint16_t slot) const noexcept { return owner_[slot]; }
  int primaryForKey(std::string_view key) const noexcept { return owner_[resp::keySlot(key)]; }
  const std::vector<ClusterNode>& primaries() const noexcept { return primaries_; }
  size_t coveredSlots() const noexcept;
  // MOVED slot host:port: that node serves slot now (added to primaries() if new); its index.
  int moved(uint16_t slot, std::string_view host, uint16_t port);

 private:
  int indexOf(const ClusterNode& n);

  std::vector<ClusterNode> primaries_;
  std::array<int16_t, resp::kClusterSlots> owner_ = filled();
  static std::array<int16_t, resp::kClusterSlots> filled() {
    std::array<int16_t, resp::kClusterSlots> a;
    a.fill(static_cast<int16_t>(kNone));
    return a;
  }
};

}  // namespace rcp::backend
