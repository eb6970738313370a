// Finding a primary through Redis Sentinel, as Redis's guidelines for Sentinel clients describe:
// ask the Sentinels (SENTINEL get-master-addr-by-name), each within --sentinel-timeout, and accept
// an address only when a majority of those that answered name it (one Sentinel with a stale view
// cannot move the proxy); listen to +switch-master on every Sentinel to ask again at once, and
// ask every --sentinel-poll as well, since a message can be missed. Those that answered move to
// the front of the list. A failover's first steps (+selected-slave, +promoted-slave) fence the
// primary at once: Sentinel promotes the replica before it announces the switch, and what the old
// primary acknowledges in between is lost when it is demoted. What the address is used for (ROLE confirmed on every connection, the
// switch) is the topology policy's (topology_upstream.h, sentinel_master.cpp).
//
// Each Sentinel has two connections: one for questions (a NodeUpstream: its backoff, deadlines,
// fail-fast while down) and one subscribed to +switch-master (a Link in stream mode, reconnected
// with backoff). The questions of one round go to every Sentinel at once; a round decides as soon
// as a majority of all the Sentinels agree, or once every one has answered or failed.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "src/backend/link.h"
#include "src/backend/node_upstream.h"
#include "src/base/config.h"
#include "src/base/loop.h"

namespace rcp::backend {

struct SentinelStats {
  uint64_t rounds = 0;        // rounds of questions asked
  uint64_t answers = 0;       // answers that named an address
  uint64_t errors = 0;        // questions that failed (unreachable, timed out, refused, unknown master)
  uint64_t no_majority = 0;   // rounds whose answers named no address a majority agreed on
  uint64_t messages = 0;      // +switch-master messages for this master
  uint64_t promotions = 0;    // +selected-slave / +promoted-slave for this master (the primary fenced until the switch)
  uint64_t switches = 0;      // times the proxy moved to another primary
  uint64_t refused = 0;       // Sentinel-named nodes refused: their ROLE was not master
  uint64_t last_switch_unix_ms = 0;  // wall clock of the last switch (0: none)
};

// What a round decides, for the topology policy.
class SentinelListener {
 public:
  // A majority of the Sentinels that answered name host:port.
  virtual void onSentinelMaster(const std::string& host, uint16_t port) = 0;
  // No Sentinel answered with an address (why says what each did), or the answers disagreed.
  virtual void onSentinelNoMaster(const std::string& why) = 0;
  // A Sentinel selected or promoted a replica of the primary at host:port (+selected-slave,
  // +promoted-slave): that primary is about to be demoted; what it acknowledges from now on may be lost.
  virtual void onSentinelPromoted(const std::string& host, uint16_t port) = 0;

 protected:
  ~SentinelListener() = default;
};

class SentinelWatch final {
 public:
  SentinelWatch(Loop& loop, const Config& config, net::TlsEndpoint* tls, SentinelListener& listener);
  ~SentinelWatch();
  SentinelWatch(const SentinelWatch&) = delete;
  SentinelWatch& operator=(const SentinelWatch&) = delete;

  void start();  // connects to every Sentinel and asks the first round
  void close();
  void flush();  // the end-of-turn pass
  // A round now (a +switch-master, start-up), or right after the one in flight.
  void resolveNow();
  // A round soon: at most one per kMinGapMs (a link to the primary lost, a request parked).
  void resolveSoon();

  struct PeerView {
    std::string address;     // host:port (rediss:// in front under TLS)
    bool answered = false;   // answered the last round with an address
    bool subscribed = false; // its +switch-master subscription is live
    std::string said;        // host:port it named in its last answer, or why it did not
  };
  std::vector<PeerView> peers() const;
  const SentinelStats& stats() const noexcept { return stats_; }
  SentinelStats& stats() noexcept { return stats_; }

 private:
  class Peer;
  class Ask;
  friend class Peer;
  friend class Ask;

  void startRound();
  void onAnswer(Peer& peer, uint64_t round, std::string host, uint16_t port);
  void onAskFailed(Peer& peer, uint64_t round, std::string why);
  void decide();
  void onSwitchMessage(std::string_view payload);
  void onPromotedMessage(std::string_view channel, std::string_view payload);
  void onTick();

  static constexpr uint64_t kMinGapMs = 100;  // resolveSoon: rounds at most this often
  static constexpr uint64_t kTickMs = 20;

  Loop& loop_;
  const Config& config_;
  net::TlsEndpoint* tls_;
  SentinelListener& listener_;
  std::vector<std::unique_ptr<Peer>> peers_;  // in the order they are asked; those that answered first
  uint64_t round_ = 0;           // the round in flight (or the last one)
  bool in_round_ = false;
  bool decided_ = false;         // the round in flight has decided (a majority agreed early)
  bool again_ = false;           // another round was asked for while one was in flight
  uint64_t soon_at_ms_ = 0;      // resolveSoon: when the next round may start (0: none wanted)
  uint64_t last_round_ms_ = 0;
  uv_timer_t tick_;
  bool closed_ = false;
  UpstreamStats link_stats_;
  LatencyHistogram latency_;
  SentinelStats stats_;
};

}  // namespace rcp::backend
