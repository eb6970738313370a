// The upstream policy for one Redis: one pipelined link, replaced on loss with capped exponential
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
#include "src/backend/upstream.h"
#include "src/base/config.h"
#include "src/base/loop.h"

namespace rcp::backend {

class SingleUpstream final : public Upstream, private LinkOwner {
 public:
  // config is the server's, updated in place on reload (max_inflight applies at once).
  SingleUpstream(Loop& loop, const Config& config, bool resp3 = false);
  ~SingleUpstream() override;

  void start() override;
  void close() override;
  void submit(Request* r) override;
  void cancel(Request* r) override;
  void flush() override;

  bool up() const noexcept override { return link_ != nullptr && link_->state() == Link::State::kUp; }
  const char* stateName() const noexcept override;
  size_t pending() const noexcept override {
    return (link_ != nullptr ? link_->inflight() : 0) + waiting_.size() + failing_.size();
  }
  const UpstreamStats& stats() const noexcept override { return stats_; }
  const LatencyHistogram& latency() const noexcept override { return latency_; }

 private:
  void onLinkUp(Link& link) override;
  void onLinkReplies(Link& link) override;
  void onLinkDown(Link& link, std::string_view why, std::vector<Request*>& retry) override;

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
  Link* link_ = nullptr;          // the current link; it frees itself once closed
  std::deque<Request*> waiting_;  // not sent yet: over --max-inflight, or while connecting
  std::deque<Request*> failing_;  // failed at submit (no link): completed in the next flush
  uv_timer_t reconnect_timer_;
  uv_timer_t tick_timer_;
  bool closed_ = false;
  bool link_up_ = false;          // link_ has completed its handshake
  bool dormant_ = false;          // RESP3: not connected until the first request
  unsigned attempt_ = 0;          // consecutive failed connection attempts
  std::string last_error_;
  std::minstd_rand rng_;
  UpstreamStats stats_;
  LatencyHistogram latency_;
};

}  // namespace rcp::backend
