// One node's BCAST tracking for the proxy's clients (CLIENT TRACKING ... BCAST PREFIX p through the
// proxy): a link of its own runs CLIENT TRACKING on REDIRECT <the node's invalidation link> BCAST
// with every prefix the clients asked for, so Redis reports each change under them, whoever made
// it and whether or not the key was ever read through the proxy. The reports arrive on the
// invalidation link with the rest (coherence.h). A new prefix set is applied in one transaction
// (MULTI, CLIENT TRACKING off, on with the new set, EXEC): no moment is left uncovered.
//
// Lost (the link, its PING, or Redis refusing): the hook says so (the clients can no longer trust
// what they read) and the link is made again with a backoff; once the prefixes are covered again
// the hook says so once more (what was read in the gap was reported to nobody). A new redirect (the
// invalidation link was replaced) is such a gap too.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "src/backend/link.h"
#include "src/base/histogram.h"
#include "src/base/loop.h"

namespace rcp::proxy {

class BcastLink final : private backend::LinkOwner {
 public:
  struct Hooks {
    std::function<void()> lost;                  // coverage lost: what clients read may have changed unreported
    std::function<void(uint64_t gen)> applied;   // the prefix set of generation gen is covered
  };
  BcastLink(Loop& loop, backend::LinkOptions options, backend::UpstreamStats& stats, LatencyHistogram& latency,
            Hooks hooks);
  ~BcastLink();
  BcastLink(const BcastLink&) = delete;
  BcastLink& operator=(const BcastLink&) = delete;

  // Reports to go to client id redirect, for these prefixes, as generation gen. None: tracking off
  // on the link, which closes once nobody has asked for a prefix for kIdleCloseMs (toggling BCAST
  // costs Redis no connections).
  void set(long long redirect, const std::vector<std::string>& prefixes, uint64_t gen);
  uint64_t appliedGen() const noexcept { return applied_gen_; }
  void tick(uint64_t now_ms);
  void flush();

 private:
  class Step;
  friend class Step;
  void onLinkUp(backend::Link& link) override;
  void onLinkReplies(backend::Link&) override {}
  void onLinkDown(backend::Link& link, std::string_view why, std::vector<backend::Request*>& retry) override;
  void open();
  void apply();
  void stepDone(uint64_t gen, bool last, bool ok, std::string_view error);
  void fail(std::string_view why);
  std::vector<std::string> onArgs() const;

  static constexpr uint64_t kIdleCloseMs = 30000;
  static constexpr uint64_t kPingEveryMs = 1000;
  static constexpr uint64_t kPingTimeoutMs = 3000;
  static constexpr uint64_t kBackoffBaseMs = 100;
  static constexpr uint64_t kBackoffMaxMs = 2000;

  Loop& loop_;
  backend::LinkOptions options_;
  backend::UpstreamStats& stats_;
  LatencyHistogram& latency_;
  Hooks hooks_;
  backend::Link* link_ = nullptr;  // frees itself once closed
  bool up_ = false;
  bool sent_on_ = false;  // CLIENT TRACKING on was sent on this connection
  bool recovering_ = false;  // coverage was lost (the link, or the redirect): the next application says so again
  long long redirect_ = -1;
  std::vector<std::string> prefixes_;
  uint64_t gen_ = 0;          // the set wanted
  uint64_t applied_gen_ = 0;  // the set Redis confirmed on this connection
  uint64_t link_gen_ = 0;     // bumped per connection: steps of an older one are ignored
  uint64_t last_ping_ms_ = 0;
  uint64_t idle_since_ms_ = 0;  // no prefix asked for since (0: some are)
  uint64_t reconnect_at_ms_ = 0;
  unsigned attempt_ = 0;
};

}  // namespace rcp::proxy
