// The policy over backend links, as the read-through, the forwarder and the coherence layer see it:
// where a request goes and what happens when a link fails. Two policies implement it:
// NodeUpstream (node_upstream.h), one node's link with its backoff and deadlines, and
// TopologyUpstream (topology_upstream.h), which the server runs: the nodes of one Redis or a Redis
// Cluster, a NodeUpstream each, requests routed among them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "src/backend/request.h"
#include "src/base/histogram.h"

namespace rcp::backend {

struct UpstreamStats {
  uint64_t requests = 0;     // requests written to Redis
  uint64_t errors = 0;       // error replies from Redis
  uint64_t timeouts = 0;     // requests failed by their deadline
  uint64_t failed = 0;       // requests failed because no link was up, or it was lost
  uint64_t connects = 0;     // successful (re)connections
  uint64_t disconnects = 0;  // links lost or dropped
  uint64_t retried = 0;      // reads resent on a new link after the one they were sent on was lost
};

// Where a request can be sent: the shared upstream, or one client's pinned connection.
class Target {
 public:
  // Queues r (see request.h for the contract); it is written in the end-of-turn pass.
  virtual void submit(Request* r) = 0;
  // Withdraws a request that has not completed: no callback will be made for it.
  virtual void cancel(Request* r) = 0;

 protected:
  ~Target() = default;
};

// A backend node, as the policy numbers it: stable for as long as the node is known (a single Redis
// is node 1; a cluster's nodes are numbered as they are found). 0 is no node.
using NodeId = uint32_t;

class Upstream : public Target {
 public:
  virtual ~Upstream() = default;
  // Submits r to one node (the coherence layer's CLIENT TRACKING, which must run on that node's link).
  virtual void submitTo(NodeId node, Request* r) = 0;
  // A node's address, while it is known.
  virtual bool nodeAddress(NodeId node, std::string* host, uint16_t* port) const = 0;
  // The backend is a Redis Cluster (known once its first node has answered CLUSTER SHARDS).
  virtual bool clustered() const noexcept { return false; }
  // Requests should name their slot and multi-key reads keep to one slot: a cluster, or a backend
  // not yet known not to be one (the first moments, before it has answered CLUSTER SHARDS).
  virtual bool routesBySlot() const noexcept { return clustered(); }
  // The nodes a command for every node goes to (a cluster's primaries; a single Redis's one node).
  virtual std::vector<NodeId> primaries() const { return {1}; }
  // The address of the node serving slot (Request::kAnySlot: the default node), where a pinned
  // connection for it goes. False when no node is known.
  virtual bool addressFor(int32_t /*slot*/, std::string* /*host*/, uint16_t* /*port*/) const { return false; }
  virtual void start() = 0;
  // Fails everything pending and closes every link; the object may be destroyed once the loop has
  // run the close callbacks.
  virtual void close() = 0;

  // The end-of-turn pass: writes what was queued, delivers failures decided since the last pass.
  virtual void flush() = 0;

  // Called each time a link to Redis comes up, after the requests that waited for it were sent
  // (what the proxy learns of Redis is asked for again on every connection; tracking is turned on
  // again). Hooks run in the order they were added.
  void onUp(std::function<void(NodeId)> hook) { on_up_.push_back(std::move(hook)); }
  // Called when a link has come up, before the requests that waited for it are sent: a request
  // submitted to that node from the hook is the first on the new connection (CLIENT TRACKING,
  // which must cover every read after it).
  void onReady(std::function<void(NodeId)> hook) { on_ready_.push_back(std::move(hook)); }
  // Called when a link that had come up is lost (Redis forgets what that connection had read).
  void onDown(std::function<void(NodeId)> hook) { on_down_.push_back(std::move(hook)); }
  // Called when a node leaves the topology (a cluster's map no longer names it); its link is closed.
  void onGone(std::function<void(NodeId)> hook) { on_gone_.push_back(std::move(hook)); }
  // Called when a slot changed owner (a MOVED, or a new map): what was read from the old owner is
  // no longer tracked by the node that now serves the slot.
  void onMoved(std::function<void()> hook) { on_moved_.push_back(std::move(hook)); }
  // Called when the primary was replaced (a Sentinel-announced failover): nothing read from the old
  // one may be served (asynchronous replication may have lost it), and connections pinned to it
  // (transactions, subscriptions, blocked commands) are gone, as they are for Redis's own clients.
  void onSwitched(std::function<void()> hook) { on_switched_.push_back(std::move(hook)); }
  // Called when the primary is about to be replaced (a Sentinel promoting its replica): nothing new
  // is sent to it, and connections pinned to it are closed (what they would write could be lost).
  void onFenced(std::function<void()> hook) { on_fenced_.push_back(std::move(hook)); }
  virtual bool up() const noexcept = 0;
  virtual const char* stateName() const noexcept = 0;
  virtual size_t pending() const noexcept = 0;  // submitted and not completed
  virtual const UpstreamStats& stats() const noexcept = 0;
  virtual const LatencyHistogram& latency() const noexcept = 0;

 protected:
  void upEvent(NodeId n) {
    for (auto& h : on_up_) h(n);
  }
  void readyEvent(NodeId n) {
    for (auto& h : on_ready_) h(n);
  }
  void downEvent(NodeId n) {
    for (auto& h : on_down_) h(n);
  }
  void goneEvent(NodeId n) {
    for (auto& h : on_gone_) h(n);
  }
  void movedEvent() {
    for (auto& h : on_moved_) h();
  }
  void switchedEvent() {
    for (auto& h : on_switched_) h();
  }
  void fencedEvent() {
    for (auto& h : on_fenced_) h();
  }
  std::vector<std::function<void(NodeId)>> on_up_;
  std::vector<std::function<void(NodeId)>> on_ready_;
  std::vector<std::function<void(NodeId)>> on_down_;
  std::vector<std::function<void(NodeId)>> on_gone_;
  std::vector<std::function<void()>> on_moved_;
  std::vector<std::function<void()>> on_switched_;
  std::vector<std::function<void()>> on_fenced_;
};

}  // namespace rcp::backend
