// The cluster's slot map (see slot_map.h).
#include "src/backend/slot_map.h"

#include <utility>

namespace rcp::backend {

namespace {
using resp::FrameType;
using resp::FrameView;

bool isAggregate(const FrameView& v) noexcept {
  return v.type() == FrameType::kArray || v.type() == FrameType::kMap || v.type() == FrameType::kSet;
}
bool isString(const FrameView& v) noexcept {
  return v.type() == FrameType::kBulk || v.type() == FrameType::kSimple || v.type() == FrameType::kVerbatim;
}
bool validRange(long long a, long long b) noexcept { return a >= 0 && b >= a && b < resp::kClusterSlots; }
bool validPort(long long p) noexcept { return p > 0 && p <= 65535; }

// Either command's reply is an array (of shards, of ranges); an error is Redis's refusal.
bool isTable(const FrameView& reply, std::string_view command, std::string* why) {
  if (reply.type() == FrameType::kError) *why = std::string(reply.str());
  else if (!isAggregate(reply)) *why = std::string(command) + ": not an array";
  else return true;
  return false;
}

// A shard's or a node's field: the value after the key name in a flat key/value array or a map.
bool field(const FrameView& obj, std::string_view name, FrameView* out) {
  size_t n = obj.size();
  if (n == 0) return false;
  FrameView k = obj[0];
  for (size_t i = 0; i + 1 < n; i += 2) {
    FrameView v = k.next();
    if (isString(k) && k.str() == name) {
      *out = v;
      return true;
    }
    if (i + 2 < n) k = v.next();
  }
  return false;
}
}  // namespace

int SlotMap::indexOf(const ClusterNode& n) {
  for (size_t i = 0; i < primaries_.size(); ++i)
    if (primaries_[i] == n) return static_cast<int>(i);
  primaries_.push_back(n);
  return static_cast<int>(primaries_.size() - 1);
}

bool SlotMap::loadShards(const FrameView& reply, std::string* why, bool tls) {
  if (!isTable(reply, "CLUSTER SHARDS", why)) return false;
  SlotMap fresh;
  size_t shards = reply.size();
  FrameView shard = shards > 0 ? reply[0] : reply;
  for (size_t s = 0; s < shards; ++s, shard = s < shards ? shard.next() : shard) {
    FrameView slots = shard, nodes = shard;
    if (!isAggregate(shard) || !field(shard, "slots", &slots) || !field(shard, "nodes", &nodes) ||
        !isAggregate(slots) || !isAggregate(nodes) || slots.size() % 2 != 0) {
      *why = "CLUSTER SHARDS: a shard without slots and nodes";
      return false;
    }
    // Every range is checked, whether or not the shard has a primary now.
    FrameView v = slots.size() > 0 ? slots[0] : slots;
    for (size_t i = 0; i < slots.size(); i += 2) {
      FrameView end = v.next();
      if (v.type() != FrameType::kInteger || end.type() != FrameType::kInteger ||
          !validRange(v.integer(), end.integer())) {
        *why = "CLUSTER SHARDS: a bad slot range";
        return false;
      }
      if (i + 2 < slots.size()) v = end.next();
    }
    // The shard's primary: the node whose role is master (and that is not marked failed).
    int primary = kNone;
    size_t n = nodes.size();
    FrameView node = n > 0 ? nodes[0] : nodes;
    for (size_t i = 0; i < n; ++i, node = i < n ? node.next() : node) {
      FrameView role = node, health = node, ip = node, endpoint = node, port = node, id = node;
      if (!isAggregate(node) || !field(node, "role", &role) || !isString(role) || role.str() != "master") continue;
      if (field(node, "health", &health) && isString(health) && health.str() == "fail") continue;
      // A TLS-only node has "tls-port" and no "port"; one with both is reached on the port of the
      // links' kind.
      bool found = (tls && field(node, "tls-port", &port)) || field(node, "port", &port) ||
                   field(node, "tls-port", &port);
      if (!found || port.type() != FrameType::kInteger || !validPort(port.integer())) {
        *why = "CLUSTER SHARDS: a node without a port";
        return false;
      }
      ClusterNode c;
      bool has_endpoint = field(node, "endpoint", &endpoint) && isString(endpoint) && !endpoint.str().empty() &&
                          endpoint.str() != "?";
      if (has_endpoint) c.host = std::string(endpoint.str());
      else if (field(node, "ip", &ip) && isString(ip)) c.host = std::string(ip.str());
      c.port = static_cast<uint16_t>(port.integer());
      if (field(node, "id", &id) && isString(id)) c.id = std::string(id.str());
      primary = fresh.indexOf(c);
      break;
    }
    if (primary == kNone) continue;  // a shard with no primary now: its slots stay uncovered
    v = slots.size() > 0 ? slots[0] : slots;
    for (size_t i = 0; i < slots.size(); i += 2) {
      FrameView end = v.next();
      for (long long slot = v.integer(); slot <= end.integer(); ++slot)
        fresh.owner_[static_cast<size_t>(slot)] = static_cast<int16_t>(primary);
      if (i + 2 < slots.size()) v = end.next();
    }
  }
  *this = std::move(fresh);
  return true;
}

bool SlotMap::loadSlots(const FrameView& reply, std::string* why) {
  if (!isTable(reply, "CLUSTER SLOTS", why)) return false;
  SlotMap fresh;
  size_t ranges = reply.size();
  FrameView r = ranges > 0 ? reply[0] : reply;
  for (size_t k = 0; k < ranges; ++k, r = k < ranges ? r.next() : r) {
    // [start, end, [host, port, id, ...] (the primary), replicas...]
    if (!isAggregate(r) || r.size() < 3) {
      *why = "CLUSTER SLOTS: a short range";
      return false;
    }
    FrameView start = r[0], end = start.next(), primary = end.next();
    if (start.type() != FrameType::kInteger || end.type() != FrameType::kInteger ||
        !validRange(start.integer(), end.integer()) || !isAggregate(primary) || primary.size() < 2) {
      *why = "CLUSTER SLOTS: a bad range";
      return false;
    }
    FrameView host = primary[0], port = host.next();
    if (!isString(host) || port.type() != FrameType::kInteger || !validPort(port.integer())) {
      *why = "CLUSTER SLOTS: a bad node";
      return false;
    }
    ClusterNode c;
    c.host = std::string(host.str());
    c.port = static_cast<uint16_t>(port.integer());
    if (primary.size() >= 3 && isString(port.next())) c.id = std::string(port.next().str());
    int index = fresh.indexOf(c);
    for (long long slot = start.integer(); slot <= end.integer(); ++slot)
      fresh.owner_[static_cast<size_t>(slot)] = static_cast<int16_t>(index);
  }
  *this = std::move(fresh);
  return true;
}

size_t SlotMap::coveredSlots() const noexcept {
  size_t n = 0;
  for (int16_t o : owner_) n += o != kNone;
  return n;
}

int SlotMap::moved(uint16_t slot, std::string_view host, uint16_t port) {
  ClusterNode c;
  c.host = std::string(host);
  c.port = port;
  int index = indexOf(c);
  owner_[slot & (resp::kClusterSlots - 1)] = static_cast<int16_t>(index);
  return index;
}

}  // namespace rcp::backend
