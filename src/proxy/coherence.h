// Coherence with Redis (CLIENT TRACKING): the cache never serves what Redis no longer holds.
//
// Per backend node (one for a single Redis, each primary of a cluster): a link of its own (the
// invalidation link) asks the node for its CLIENT ID and subscribes to __redis__:invalidate. The
// node's link that fills the cache sends CLIENT TRACKING ON REDIRECT <that id> (BCAST and prefixes
// in bcast mode) each time either link (re)connects, pipelined ahead of the reads that follow it,
// so every stored value was read under tracking; a node's answers are stored only while it is. An invalidation names keys
// (each dropped, and its fetch in flight detached so it fills nothing) or is null (everything
// dropped, every fill in flight voided).
//
// When the proxy cannot know, it drops the whole cache and stores nothing from that node until its
// tracking is back: the invalidation link lost or silent past its PING deadline, the filling link
// lost (Redis forgets what that connection read). A cluster slot changing owner drops the cache too
// (the new owner tracks nothing read from the old one). In auto mode a backend that refuses CLIENT TRACKING (or CLIENT)
// leaves the proxy TTL-only, with one warning.
//
// The proxy's clients' own CLIENT TRACKING (client/tracking_hub.h) is served from the same
// reports: the links that run RESP3 clients' forwarded commands track their reads too (trackAlso),
// and while clients ask for BCAST prefixes each node has a BCAST link for them (bcast_link.h).
// When one of those is lost or made again, the clients' hook says nothing they read can be vouched for.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "src/backend/link.h"
#include "src/backend/upstream.h"
#include "src/base/config.h"
#include "src/base/loop.h"
#include "src/proxy/read_through.h"

namespace rcp::proxy {

struct CoherenceStats {
  uint64_t messages = 0;         // invalidation messages received
  uint64_t keys = 0;             // keys they named
  uint64_t unexpected = 0;       // frames on an invalidation link that were none of its shapes (each cost the link)
};

class Coherence final {
 public:
  // data: the upstream whose links fill the cache. Hooks on its node events are added here, so
  // construct this before data is started.
  Coherence(Loop& loop, const Config& config, ReadThrough& read_through, backend::Upstream& data,
            net::TlsEndpoint* tls = nullptr);
  ~Coherence();
  Coherence(const Coherence&) = delete;
  Coherence& operator=(const Coherence&) = delete;

  void start();
  void close();
  void flush();  // the end-of-turn pass: writes what the invalidation links queued
  // A reload may have turned the cache on (--ttl, --cache-keys): tracking is turned on if it was
  // left off for want of a cache.
  void cacheChanged();

  // "off" (--tracking off), "ttl-only" (auto, the backend refused tracking), "cache-off" (the cache
  // is disabled: tracking is not asked for), "connecting" (some node not yet or no longer covered:
  // what it answers is not stored), "on" (every node that fills the cache is covered).
  const char* stateName() const noexcept;
  const char* modeName() const noexcept;
  bool on() const noexcept;
  size_t trackedNodes() const noexcept;  // nodes whose tracking is on
  const CoherenceStats& stats() const noexcept { return stats_; }

  // --- the proxy's clients' tracking
  struct ClientHooks {
    std::function<void()> lost;     // a tracking the clients rely on was lost or made again
    std::function<void()> covered;  // every node's BCAST link covers the prefixes last set
  };
  void setClientHooks(ClientHooks hooks) { client_hooks_ = std::move(hooks); }
  // RESP3 clients' forwarded commands run on extra's links: their reads are tracked there too
  // (redirected to the same invalidation links). Before start().
  void trackAlso(backend::Upstream& extra);
  // The prefixes the clients' BCAST tracking needs reported (empty: no BCAST links).
  void setClientPrefixes(std::vector<std::string> prefixes);
  // Whether clients' tracking can be served (the proxy tracks every key it reads); else why not.
  bool clientTrackingReady(std::string* why) const;
  // The client id of the invalidation link for the node at host:port, while subscribed (else 0).
  long long redirectFor(const std::string& host, uint16_t port) const;

 private:
  class Tracker;
  class TrackingOn;
  friend class Tracker;
  friend class TrackingOn;

  Tracker* tracker(backend::NodeId node) const noexcept;
  void nodeUp(backend::NodeId node);
  void nodeDown(backend::NodeId node);
  void nodeGone(backend::NodeId node);
  void slotsMoved();
  void refused(std::string_view what, std::string_view why);
  void extraUp(backend::NodeId node);
  void extraDown(backend::NodeId node);
  void bcastApplied();
  void clientsLost() {
    if (client_hooks_.lost) client_hooks_.lost();
  }
  void onTick();
  bool active() const noexcept { return config_.tracking != Config::Tracking::kOff && !refused_ && !closed_; }

  static constexpr uint64_t kTickMs = 100;
  static constexpr uint64_t kPingEveryMs = 1000;     // a PING on an invalidation link silent this long
  static constexpr uint64_t kPingDeadlineMs = 3000;  // no answer by then: the link counts as lost
  static constexpr uint64_t kBackoffBaseMs = 100;
  static constexpr uint64_t kBackoffMaxMs = 2000;

  Loop& loop_;
  const Config& config_;
  net::TlsEndpoint* tls_;  // the backend's TLS side (null: plaintext)
  ReadThrough& rt_;
  backend::Upstream& data_;
  std::vector<std::unique_ptr<Tracker>> trackers_;  // one per node that has come up
  backend::UpstreamStats link_stats_;
  LatencyHistogram latency_;
  bool refused_ = false;  // auto mode fell back to TTL-only
  bool started_ = false;
  bool closed_ = false;
  uv_timer_t tick_;
  CoherenceStats stats_;
  ClientHooks client_hooks_;
  backend::Upstream* extra_ = nullptr;
  std::vector<backend::NodeId> extra_waiting_;  // extra's nodes up with no tracker yet at their address
  std::vector<std::string> client_prefixes_;
  uint64_t prefixes_gen_ = 0;
};

}  // namespace rcp::proxy
