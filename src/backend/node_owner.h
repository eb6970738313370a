// What a node's link policy (node_upstream.h) tells the topology policy above it
// (topology_upstream.h), and the states it reports. The interface lives here, apart from both, so
// that either side can change without the other's header.
#pragma once

#include <cstdint>
#include <string_view>

#include "src/backend/request.h"

namespace rcp::backend {

class NodeUpstream;

// A node's state, as its owner and the metrics see it.
enum class NodeState : uint8_t {
  kIdle,        // never connected (a RESP3 node no client has used yet: dormant)
  kResolving,   // its link is resolving the host name
  kConnecting,  // TCP connecting
  kHandshake,   // AUTH / HELLO / SELECT / ... under way
  kUp,          // serving
  kDown,        // unreachable, backing off before the next attempt
  kClosed,      // closed: the proxy is shutting down, or the node left the topology
};
const char* nodeStateName(NodeState s) noexcept;

class NodeOwner {
 public:
  // r's first reply was MOVED, ASK, TRYAGAIN, CLUSTERDOWN or LOADING (error): r is the owner's now.
  virtual void onRedirect(NodeUpstream& node, Request& r, std::string_view error) = 0;
  // r cannot be sent: the node is unreachable. True when the owner takes it (to send it again
  // once the topology names another node for it), false to fail it.
  virtual bool onUnavailable(NodeUpstream& node, Request& r) = 0;

 protected:
  ~NodeOwner() = default;
};

}  // namespace rcp::backend
