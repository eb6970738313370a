// The link policy of one Redis node: one pipelined link, replaced on loss with capped exponential
// backoff plus jitter (at once after a timeout cut a working link). Requests over --max-inflight,
// or submitted while the link is connecting, wait their turn; while Redis is unreachable they
// fail fast. Waiting requests time out by their own deadlines.
//
// A RESP3 upstream (HELLO 3 in the handshake: the link for RESP3 clients' forwarded commands)
// stays dormant until its first request, so a proxy with RESP2 clients only opens no second link.
#pragma once

#include <uv.h>

#include <deque>
#include <random>
#include <string>

#include "src/backend/link.h"
#include "src/backend/node_owner.h"
#include "src/backend/upstream.h"
#include "src/base/config.h"
#include "src/base/loop.h"

namespace rcp::backend {

class NodeUpstream final : public Upstream, private LinkOwner {
 public:
  // config is the server's, updated in place on reload (max_inflight applies at once).
  NodeUpstream(Loop& loop, const Config& config, bool resp3 = false);
  // One node under a topology policy: its own address and handshake, its counters in the owner's.
  NodeUpstream(Loop& loop, const Config& config, LinkOptions options, NodeId id, NodeOwner* owner,
               UpstreamStats* stats, LatencyHistogram* latency, bool dormant);
  ~NodeUpstream() override;

  // first, then r, back to back on this node's link with nothing between them (a cluster's ASKING
  // before the redirected request). first is sent or failed with r.
  void submitPair(Request* first, Request* r);
  NodeId id() const noexcept { return id_; }
  const std::string& lastError() const noexcept { return last_error_; }  // why its last link failed
  const std::string& name() const noexcept { return name_; }
  // What its log lines call it ("backend" unless told: a Sentinel's question link says "sentinel").
  void setKind(const char* kind) noexcept { kind_ = kind; }
  void submitTo(NodeId, Request* r) override { submit(r); }
  bool nodeAddress(NodeId node, std::string* host, uint16_t* port) const override;

  void start() override;
  void close() override { close("proxy shutting down"); }
  // Every request it holds is failed (or handed to the owner) with why; the link closed.
  void close(std::string_view why);
  // Hands over every request not yet written (waiting for a turn or for the link), in order: the
  // owner sends them elsewhere (the new primary after a switch). What is in flight stays.
  void takeUnsent(std::vector<Request*>& out);
  void submit(Request* r) override;
  void cancel(Request* r) override;
  void flush() override;

  bool up() const noexcept override { return link_ != nullptr && link_->state() == Link::State::kUp; }
  NodeState state() const noexcept;
  const char* stateName() const noexcept override { return nodeStateName(state()); }
  size_t pending() const noexcept override {
    return (link_ != nullptr ? link_->inflight() : 0) + waiting_.size() + failing_.size();
  }
  const UpstreamStats& stats() const noexcept override { return *stats_; }
  const LatencyHistogram& latency() const noexcept override { return *latency_; }

 private:
  void onLinkUp(Link& link) override;
  void onLinkReplies(Link& link) override;
  void onLinkDown(Link& link, std::string_view why, std::vector<Request*>& retry) override;
  void onLinkRedirect(Link& link, Request& r, std::string_view error) override;
  void failOne(Request* r, Failure kind, std::string_view why);

  void connect();
  void scheduleReconnect();  // with backoff and jitter
  void sendWaiting();
  void onTick();
  void failWaiting(Failure kind, std::string_view why);

  static constexpr uint64_t kBackoffBaseMs = 100;  // first retry delay
  static constexpr uint64_t kBackoffMaxMs = 2000;  // cap on the retry delay
  static constexpr uint64_t kTickMs = 50;          // deadline check period

  Loop& loop_;
  const Config& config_;
  LinkOptions options_;
  NodeId id_ = 1;
  NodeOwner* owner_ = nullptr;
  std::string name_;              // host:port, for logs
  const char* kind_ = "backend";  // for logs
  Link* link_ = nullptr;          // the current link; it frees itself once closed
  std::deque<Request*> waiting_;  // not sent yet: over --max-inflight, or while connecting
  std::deque<Request*> failing_;  // failed at submit (no link): completed in the next flush
  uv_timer_t reconnect_timer_;
  uv_timer_t tick_timer_;
  bool closed_ = false;
  bool link_up_ = false;          // link_ has completed its handshake
  bool ever_up_ = false;
  bool dormant_ = false;          // RESP3: not connected until the first request
  unsigned attempt_ = 0;          // consecutive failed connection attempts
  std::string last_error_;
  std::minstd_rand rng_;
  UpstreamStats own_stats_;
  LatencyHistogram own_latency_;
  UpstreamStats* stats_ = &own_stats_;
  LatencyHistogram* latency_ = &own_latency_;
};

}  // namespace rcp::backend
