// Grouping by slot (see slot_groups.h).
#include "src/proxy/slot_groups.h"

#include <algorithm>

namespace rcp::proxy {

void SlotGroups::build(std::span<const uint16_t> slots) {
  items.resize(slots.size());
  for (uint32_t i = 0; i < items.size(); ++i) items[i] = i;
  // By slot, then by position: each slot's items together and in order.
  std::sort(items.begin(), items.end(), [&](uint32_t a, uint32_t b) {
    return slots[a] != slots[b] ? slots[a] < slots[b] : a < b;
  });
  groups.clear();
  for (uint32_t i = 0; i < items.size();) {
    uint32_t j = i + 1;
    while (j < items.size() && slots[items[j]] == slots[items[i]]) ++j;
    groups.push_back({slots[items[i]], i, j});
    i = j;
  }
  // Groups in the order their slot first appears (a group's first item is its earliest).
  std::sort(groups.begin(), groups.end(), [&](const Group& a, const Group& b) { return items[a.begin] < items[b.begin]; });
}

}  // namespace rcp::proxy
