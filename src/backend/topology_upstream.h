// The topology policy in front of what --redis names: which nodes there are and which one serves a
// request. One Redis, or a Redis Cluster found by itself; each node's link is a NodeUpstream
// (node_upstream.h), which reports to this policy through NodeOwner (node_owner.h).
//
// Where each part lives: routing, redirects (MOVED, ASK, TRYAGAIN ...), parking a request whose
// node is unreachable and draining a node that left the map are in topology_upstream.cpp; how the
// topology is learned (CLUSTER SHARDS, a refused read meaning "a single Redis", MOVED applied to
// the map, refresh timing) is in cluster_map.cpp; a primary found through Redis Sentinel
// (--sentinel: asked of the Sentinels, ROLE confirmed on every connection, the switch) is in
// sentinel_master.cpp, over the Sentinel client of sentinel.h.
//
// It starts with a link to the first seed and asks CLUSTER SHARDS (CLUSTER SLOTS on Redis 6). A
// Redis without cluster support answers with an error: the policy is then one node, every request
// on its link, as before. A cluster's answer is the slot map: one pipelined link per primary (a
// NodeUpstream each, with its backoff and deadlines), requests routed by Request::slot, keyless
// ones to the default node (the owner of slot 0).
//
// Redirections never reach the issuer: MOVED updates the slot's owner (a storm of them costs one
// refresh, debounced and jittered) and sends the request to the new owner; ASK sends ASKING and
// the request to the node named, the map unchanged; TRYAGAIN, CLUSTERDOWN and LOADING send it again
// after a backoff, within the request's deadline. A request whose node is unreachable waits, within
// its deadline, for a map that names another owner (a failover), then fails. The map is read
// again every --cluster-refresh too.
//
// The RESP3 policy follows the RESP2 one (its leader): one map, read by the leader, links of its own.
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/backend/node_owner.h"
#include "src/backend/node_upstream.h"
#include "src/backend/sentinel.h"
#include "src/backend/slot_map.h"
#include "src/backend/upstream.h"
#include "src/base/config.h"
#include "src/base/loop.h"

namespace rcp::backend {

struct ClusterStats {
  uint64_t moved = 0;           // MOVED redirections followed
  uint64_t ask = 0;             // ASK redirections followed
  uint64_t retried = 0;         // TRYAGAIN, CLUSTERDOWN, LOADING: sent again after a backoff
  uint64_t parked = 0;          // requests that waited for a new owner of an unreachable node's slot
  uint64_t refreshes = 0;       // slot maps read
  uint64_t refresh_errors = 0;  // map reads that failed
  uint64_t owner_changes = 0;   // maps or MOVEDs that gave a slot another owner
};

class TopologyUpstream final : public Upstream, public NodeOwner, private SentinelListener {
 public:
  // leader: null for the policy that reads the map; the RESP3 policy passes the RESP2 one.
  // tls: the backend's TLS side (rediss://), null or not enabled: plaintext links.
  TopologyUpstream(Loop& loop, const Config& config, bool resp3 = false, TopologyUpstream* leader = nullptr,
                   net::TlsEndpoint* tls = nullptr);
  ~TopologyUpstream() override;
  TopologyUpstream(const TopologyUpstream&) = delete;
  TopologyUpstream& operator=(const TopologyUpstream&) = delete;

  void start() override;
  void close() override;
  void submit(Request* r) override;
  void cancel(Request* r) override;
  void flush() override;
  void submitTo(NodeId node, Request* r) override;
  bool nodeAddress(NodeId node, std::string* host, uint16_t* port) const override;
  bool clustered() const noexcept override { return leader_->mode_ == Mode::kCluster; }
  bool routesBySlot() const noexcept override { return leader_->mode_ != Mode::kSingle; }
  bool up() const noexcept override;
  const char* stateName() const noexcept override;
  size_t pending() const noexcept override;
  const UpstreamStats& stats() const noexcept override { return stats_; }
  const LatencyHistogram& latency() const noexcept override { return latency_; }

  // The address of the node serving slot (the default node for Request::kAnySlot): where a pinned
  // connection for it goes. False before any node is known.
  bool addressFor(int32_t slot, std::string* host, uint16_t* port) const override;
  // The primaries in the map (a single Redis: its address), for fan-out commands.
  std::vector<NodeId> primaries() const override;
  const ClusterStats& clusterStats() const noexcept { return leader_->cstats_; }
  // --sentinel: the Sentinel client (null otherwise), and whether the primary it named is confirmed
  // (named by a majority since the last loss of its link).
  const SentinelWatch* sentinel() const noexcept { return leader_->sentinel_.get(); }
  bool primaryConfirmed() const noexcept { return leader_->confirmed_; }
  // The primary's address (host:port), empty while none is known.
  std::string primaryName() const;
  const SlotMap& map() const noexcept { return leader_->map_; }
  size_t nodeCount() const noexcept { return nodes_.size(); }

  // NodeOwner (called by the nodes' link policies)
  void onRedirect(NodeUpstream& node, Request& r, std::string_view error) override;
  bool onUnavailable(NodeUpstream& node, Request& r) override;

 private:
  enum class Mode : uint8_t { kProbing, kSingle, kCluster, kSentinel };
  struct Node {
    NodeId id;
    std::string host;
    uint16_t port;
    std::unique_ptr<NodeUpstream> up;
    bool routed = false;  // named by the current map (or the single Redis)
    uint64_t retired_ms = 0;  // left the map: drained (its replies are MOVED, followed), then closed
    bool closed = false;      // closed on an earlier tick: freed on the next
  };
  struct Parked {
    Request* r;
    uint64_t due_ms;
    std::string why;  // what it fails with if its deadline passes first
  };
  // CLUSTER SHARDS (or CLUSTER SLOTS) on one node: the leader's slot map (read in cluster_map.cpp).
  class Refresh final : public Request {
   public:
    explicit Refresh(TopologyUpstream& owner) : owner_(owner) {}
    void encode(std::string& out) const override;
    void onReply(const resp::Frame& reply) override { owner_.onRefreshReply(reply.root()); }
    void onFailure(Failure, std::string_view why) override { owner_.onRefreshFailed(why); }

   private:
    TopologyUpstream& owner_;
  };

  Node* nodeAt(std::string_view host, uint16_t port);  // created (and started) when new
  Node* byId(NodeId id) const noexcept;
  Node* route(int32_t slot);
  void send(Node* n, Request* r);
  void rebuild();  // routes_ from the leader's map; nodes no longer in it retired
  void retireUnrouted();  // nodes no longer routed: drained, then closed
  void park(Request* r, uint64_t delay_ms, std::string_view why);
  bool withinDeadline(const Request& r) const noexcept;
  void fail(Request* r, std::string_view why);
  void onTick();
  // --- the leader's (cluster_map.cpp)
  void onRefreshReply(const resp::FrameView& reply);
  void onRefreshFailed(std::string_view why);
  void refreshSoon();
  void refreshNow();
  void refreshLater();  // after a failed or refused refresh
  void onMap(const resp::FrameView& reply, bool shards);
  void onMapError(std::string_view error, bool shards);
  void applyMoved(uint16_t slot, std::string_view host, uint16_t port);
  void mapChanged(bool owners_changed);
  // --- the leader's, with --sentinel (sentinel_master.cpp)
  void onSentinelMaster(const std::string& host, uint16_t port) override;
  void onSentinelNoMaster(const std::string& why) override;
  void onSentinelPromoted(const std::string& host, uint16_t port) override;
  void primaryLost();            // the primary's link was lost: confirmed again before use
  void sendParked();             // every parked request of the leader and the followers, now
  void failParked(const std::string& why);
  bool sentinelPark(Request* r); // no confirmed primary: r waits within its deadline (true)
  // --sentinel, and the primary is not confirmed (none known yet, its link lost since, or fenced).
  bool unconfirmed() const noexcept { return leader_->mode_ == Mode::kSentinel && !leader_->confirmed_; }
  std::vector<TopologyUpstream*> upstreams();  // the leader and its followers

  static constexpr uint64_t kTickMs = 20;
  static constexpr uint64_t kRefreshMinGapMs = 100;   // a refresh soon after a MOVED: at most this often
  static constexpr uint64_t kRefreshJitterMs = 100;
  static constexpr uint64_t kRefreshAfterErrorMs = 1000;
  static constexpr uint8_t kMaxRedirects = 16;
  static constexpr uint8_t kImmediateMoves = 2;  // MOVEDs followed at once; past them, with a backoff

  Loop& loop_;
  const Config& config_;
  net::TlsEndpoint* tls_;  // the backend's TLS side (null: plaintext); every node's links use it
  bool resp3_;
  TopologyUpstream* leader_;             // this, for the leader
  std::vector<TopologyUpstream*> followers_;
  Mode mode_ = Mode::kProbing;          // the leader's
  SlotMap map_;                         // the leader's
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Node>> retired_;  // no longer routed: draining, then closed, then freed
  std::array<Node*, resp::kClusterSlots> routes_{};
  Node* default_ = nullptr;             // keyless commands; a single Redis: its node
  NodeId next_id_ = 1;
  std::vector<Parked> parked_;
  std::vector<std::pair<Request*, std::string>> failing_;  // failed here: completed in the next flush
  std::unique_ptr<Refresh> refresh_;
  bool refresh_in_flight_ = false;
  bool refresh_shards_ = true;          // CLUSTER SHARDS (Redis 7), else CLUSTER SLOTS
  bool refresh_wanted_ = false;
  uint64_t last_refresh_ms_ = 0;
  uint64_t next_refresh_ms_ = 0;        // the periodic refresh
  size_t seed_at_ = 0;                  // the next seed to ask when no node answers
  std::unique_ptr<SentinelWatch> sentinel_;  // the leader's, with --sentinel
  bool confirmed_ = false;              // the leader's: default_ was named by the Sentinels since its link last failed
  std::string no_primary_why_;          // the leader's: why no primary is known (what requests fail with)
  bool no_answer_ = false;              // the leader's: the last round named no primary (requests fail fast)
  uint64_t fenced_until_ms_ = 0;        // the leader's: a replica was promoted; the primary is not used until the switch or then
  bool closed_ = false;
  uv_timer_t tick_;
  std::minstd_rand rng_;
  UpstreamStats stats_;
  LatencyHistogram latency_;
  ClusterStats cstats_;
};

}  // namespace rcp::backend
