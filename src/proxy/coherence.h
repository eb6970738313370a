// Coherence with Redis (CLIENT TRACKING): the cache never serves what Redis no longer holds.
//
// A link of its own (the invalidation link) asks Redis for its CLIENT ID and subscribes to
// __redis__:invalidate. The link that fills the cache sends CLIENT TRACKING ON REDIRECT <that id>
// (BCAST and prefixes in bcast mode) each time either link (re)connects, pipelined ahead of the
// reads that follow it, so every stored value was read under tracking. An invalidation names keys
// (each dropped, and its fetch in flight detached so it fills nothing) or is null (everything
// dropped, every fill in flight voided).
//
// When the proxy cannot know, it drops the whole cache and stores nothing until tracking is back:
// the invalidation link lost or silent past its PING deadline, the filling link lost (Redis forgets
// what that connection read). In auto mode a backend that refuses CLIENT TRACKING (or CLIENT)
// leaves the proxy TTL-only, with one warning.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "src/backend/link.h"
#include "src/backend/upstream.h"
#include "src/base/config.h"
#include "src/base/loop.h"
#include "src/proxy/read_through.h"

namespace rcp::proxy {

struct CoherenceStats {
  uint64_t messages = 0;         // invalidation messages received
  uint64_t keys = 0;             // keys they named
};

class Coherence final : private backend::LinkOwner, private backend::FrameSink {
 public:
  // data: the upstream whose link fills the cache. Hooks on its up and down events are added here,
  // so construct this before data is started.
  Coherence(Loop& loop, const Config& config, ReadThrough& read_through, backend::Upstream& data);
  ~Coherence();
  Coherence(const Coherence&) = delete;
  Coherence& operator=(const Coherence&) = delete;

  void start();
  void close();
  void flush();  // the end-of-turn pass: writes what the invalidation link queued
  // A reload may have turned the cache on (--ttl, --cache-keys): tracking is turned on if it was
  // left off for want of a cache.
  void cacheChanged();

  // "off" (--tracking off), "ttl-only" (auto, the backend refused tracking), "cache-off" (the cache
  // is disabled: tracking is not asked for), "connecting" (not yet or no longer covered: nothing is
  // stored), "on".
  const char* stateName() const noexcept;
  const char* modeName() const noexcept;
  bool on() const noexcept { return tracking_on_; }
  const CoherenceStats& stats() const noexcept { return stats_; }

 private:
  class ClientId;
  class TrackingOn;

  // LinkOwner (the invalidation link)
  void onLinkUp(backend::Link& link) override;
  void onLinkReplies(backend::Link&) override {}
  void onLinkDown(backend::Link& link, std::string_view why, std::vector<backend::Request*>& retry) override;
  // FrameSink: what the invalidation link streams
  void onFrame(const resp::Frame& frame) override;

  void connect();
  void scheduleReconnect();
  void onTick();
  void gotClientId(long long id);
  void refused(std::string_view what, std::string_view why);
  // The invalidation link is gone (or cannot be trusted): nothing the cache holds is covered.
  void lost(ReadThrough::DropCause cause, std::string_view why);
  void dataUp();
  void dataDown();
  void sendTrackingOn();
  void trackingReply(bool ok, std::string_view error);

  static constexpr uint64_t kTickMs = 100;
  static constexpr uint64_t kPingEveryMs = 1000;     // a PING on an invalidation link silent this long
  static constexpr uint64_t kPingDeadlineMs = 3000;  // no answer by then: the link counts as lost
  static constexpr uint64_t kBackoffBaseMs = 100;
  static constexpr uint64_t kBackoffMaxMs = 2000;

  Loop& loop_;
  const Config& config_;
  ReadThrough& rt_;
  backend::Upstream& data_;
  backend::LinkOptions options_;
  backend::UpstreamStats link_stats_;
  LatencyHistogram latency_;
  backend::Link* link_ = nullptr;     // the invalidation link; frees itself once closed
  std::unique_ptr<ClientId> client_id_;
  std::unique_ptr<TrackingOn> tracking_req_;
  long long redirect_id_ = -1;        // the invalidation link's client id, once subscribed
  bool subscribed_ = false;
  bool data_up_ = false;
  bool tracking_on_ = false;          // Redis accepted CLIENT TRACKING on the current filling link
  bool refused_ = false;              // auto mode fell back to TTL-only
  bool closed_ = false;
  uint64_t generation_ = 0;           // of the last CLIENT TRACKING ON; older replies are stale
  uint64_t last_frame_ms_ = 0;
  uint64_t ping_sent_ms_ = 0;         // 0: no PING outstanding
  unsigned attempt_ = 0;
  uv_timer_t tick_;
  uv_timer_t reconnect_;
  CoherenceStats stats_;
};

}  // namespace rcp::proxy
