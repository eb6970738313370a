// Items grouped by the cluster slot of their keys, the one grouping code of the middle: the
// read-through's MGET misses (one backend MGET per slot) and the forwarder's split commands (one
// command per slot) both use it. Groups come in the order their slot first appears, and items keep
// their order within a group, so recombining by item index gives the request's order back.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace rcp::proxy {

struct SlotGroups {
  struct Group {
    uint16_t slot;
    uint32_t begin, end;  // a range of items
  };
  std::vector<uint32_t> items;  // item indexes, group after group
  std::vector<Group> groups;

  // Groups slots.size() items, item i's key being in slots[i]. O(n log n); reuses its buffers.
  void build(std::span<const uint16_t> slots);
  std::span<const uint32_t> of(const Group& g) const noexcept {
    return std::span<const uint32_t>(items).subspan(g.begin, g.end - g.begin);
  }
};

}  // namespace rcp::proxy
