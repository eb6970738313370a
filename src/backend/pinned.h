// Pinned connections: a client whose state lives on its Redis connection (MULTI, WATCH, a blocking
// command, pub/sub, MONITOR, CLIENT REPLY, SELECT of another database) gets a backend connection of
// its own for as long as the state lasts. The pool opens them, bounds them (--max-pinned), keeps a
// few idle ones for reuse, writes them in the end-of-turn pass and checks their deadlines.
//
// Lifetime: a Pinned belongs to the pool; a client holds it from acquire() to release(). When its
// link is lost (or cannot be opened) every request on it fails, then the user is told and must
// release it. Pinned objects are reused, never freed before the pool.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "src/backend/link.h"
#include "src/backend/upstream.h"
#include "src/base/config.h"
#include "src/base/loop.h"

namespace rcp::backend {

class PinnedPool;

// The client side of a pinned connection.
class PinnedUser {
 public:
  // The connection is gone: every request on it has been failed. was_up: it had been working
  // (the client's state on it is lost), rather than never opened.
  virtual void onPinnedLost(std::string_view why, bool was_up) = 0;
  // Stream mode: what Redis sent; on a RESP3 connection also every push, in either mode (valid
  // during the call only).
  virtual void onPinnedFrame(const resp::Frame& frame) = 0;
  // The client's own address (ip:port), which MONITOR shows instead of the pinned connection's.
  virtual std::string clientAddress() const { return {}; }

 protected:
  ~PinnedUser() = default;
};

class Pinned final : public Target, private LinkOwner, private FrameSink {
 public:
  Pinned(PinnedPool& pool, uint64_t serial) : pool_(pool), serial_(serial) {}
  Pinned(const Pinned&) = delete;
  Pinned& operator=(const Pinned&) = delete;

  // FIFO mode: one reply per request, in order.
  // In front of a Redis Cluster the connection opens at the first request, on the node serving its
  // slot (Request::slot); keyless ones before it open it on the default node.
  void submit(Request* r) override;
  void cancel(Request* r) override;
  // Stream mode: what Redis sends goes to the user's onPinnedFrame (see Link::sendRaw).
  void sendRaw(std::string_view bytes, int32_t slot = Request::kAnySlot);
  // The connection's node (a cluster's: known once opened); empty before.
  const std::string& host() const noexcept { return host_; }
  uint16_t port() const noexcept { return port_; }
  bool opened() const noexcept { return opened_; }
  // Before it is opened, keyless requests wait for a keyed one to choose the node (a cluster's
  // MULTI waits for its first key); off, a keyless request opens it on the default node.
  void deferKeyless(bool on) noexcept { defer_keyless_ = on; }
  void setStreaming(bool on);
  bool streaming() const noexcept { return streaming_; }
  // Back-pressure from the client: stop reading from Redis while it cannot take more.
  void pauseReading(bool paused);
  bool up() const noexcept { return link_ != nullptr && link_->state() == Link::State::kUp; }
  uint64_t serial() const noexcept { return serial_; }  // distinguishes connections, for logs and CLIENT INFO
  // Its connection's id on Redis (0 before the handshake, or when Redis refused CLIENT ID).
  long long redisId() const noexcept { return link_ != nullptr ? link_->clientId() : 0; }
  bool resp3() const noexcept { return resp3_; }
  // CLIENT TRACKING on this connection, for tracking clients' reads in a transaction or another
  // database: the redirect id it was turned on with (0: off), and the clients that read through it
  // since. When the connection goes, Redis forgets what it tracked: those clients are told
  // (PinnedPool::onTrackingLost). It stays reusable: its reports are of real changes only.
  long long trackingRedirect() const noexcept { return tracking_redirect_; }
  void setTrackingRedirect(long long id) noexcept { tracking_redirect_ = id; }
  void trackedFor(uint64_t client);

 private:
  friend class PinnedPool;
  void open(PinnedUser* user, bool resp3);
  void openOn(int32_t slot);  // the link, to the node serving slot
  // Closes the link as lost: its user is told (its state on Redis is gone) and releases it.
  void lose(std::string_view why);
  void closeLink(std::string_view why);
  void trackingGone();
  void flush();
  void sendWaiting();
  void failWaiting(std::string_view why);
  // LinkOwner
  void onLinkUp(Link& link) override;
  void onLinkReplies(Link& link) override;
  void onLinkDown(Link& link, std::string_view why, std::vector<Request*>& retry) override;
  // FrameSink
  void onFrame(const resp::Frame& frame) override;

  PinnedPool& pool_;
  uint64_t serial_;
  PinnedUser* user_ = nullptr;    // null while idle in the pool
  Link* link_ = nullptr;          // frees itself once closed
  std::deque<Request*> waiting_;  // submitted before the link accepts
  std::string raw_waiting_;       // stream bytes sent before the link accepts
  bool streaming_ = false;
  bool paused_ = false;
  bool was_up_ = false;           // the current link completed its handshake
  bool resp3_ = false;            // the link speaks RESP3 (HELLO 3): its pushes go to the user as they come
  bool opened_ = false;           // the link was opened for the current user (a cluster opens it lazily)
  bool defer_keyless_ = false;
  std::string host_;              // the node it is (to be) connected to
  uint16_t port_ = 0;
  LinkOptions options_;           // a cluster node's (the link holds a reference)
  std::string laddr_;             // the link's own address once up (MONITOR names connections by it)
  std::string client_addr_;       // the address of its last user (kept while idle: MONITOR's lines come late)
  long long tracking_redirect_ = 0;
  std::vector<uint64_t> tracked_for_;  // client ids (see trackedFor)
  bool dirty_ = false;            // on the pool's flush list
  enum class Where : uint8_t { kFree, kIdle, kInUse } where_ = Where::kFree;  // in the pool
};

struct PinnedStats {
  uint64_t opened = 0;    // connections opened for clients
  uint64_t reused = 0;    // acquisitions served by an idle connection
  uint64_t refused = 0;   // acquisitions refused at --max-pinned
  uint64_t lost = 0;      // connections lost while a client held them
};

class PinnedPool {
 public:
  // config is the server's (max_pinned applies at once on reload). router: where a Redis Cluster's
  // slots are served (null: always the configured Redis).
  PinnedPool(Loop& loop, const Config& config, const Upstream* router = nullptr, net::TlsEndpoint* tls = nullptr);
  ~PinnedPool();
  PinnedPool(const PinnedPool&) = delete;
  PinnedPool& operator=(const PinnedPool&) = delete;

  void start();
  // Closes every connection (their requests fail); the pool may be destroyed after the loop ran.
  void close();
  // A connection for user, or null at --max-pinned; resp3: one that speaks RESP3 (for a client that
  // sent HELLO 3). Requests may be submitted at once: they wait for the connection to come up.
  Pinned* acquire(PinnedUser& user, bool resp3 = false);
  // The user is done with p. reusable: its connection is in the state it was opened in (no
  // transaction, no subscription, the configured database, nothing in flight), so it may serve
  // another client; otherwise it is closed.
  void release(Pinned* p, bool reusable);
  // The address of the client that holds (or last held) the pinned connection whose end is at
  // laddr (as Redis names it in MONITOR), or empty: not one of the pool's.
  std::string clientAt(std::string_view laddr);
  // The primary was replaced (a failover): every connection is closed (their users see them
  // lost, as Redis's own clients do) and none is kept idle.
  void closeAll(std::string_view why);
  // A connection that tracked for these clients (Pinned::trackedFor) is gone.
  void onTrackingLost(std::function<void(const std::vector<uint64_t>&)> f) { tracking_lost_ = std::move(f); }
  // The end-of-turn pass: writes what the turn queued on pinned connections.
  void flush();

  size_t inUse() const noexcept { return in_use_; }
  size_t idle() const noexcept { return idle_[0].size() + idle_[1].size(); }
  const PinnedStats& stats() const noexcept { return stats_; }
  const UpstreamStats& linkStats() const noexcept { return link_stats_; }

 private:
  friend class Pinned;
  void markDirty(Pinned* p);
  void onTick();
  void dropIdle(Pinned* p);

  static constexpr size_t kMaxIdle = 16;     // idle connections kept for reuse, per protocol
  static constexpr uint64_t kTickMs = 50;    // deadline check period

  bool clustered() const noexcept { return router_ != nullptr && router_->clustered(); }

  Loop& loop_;
  const Config& config_;
  const Upstream* router_;
  LinkOptions options_[2];                    // RESP2, RESP3
  std::vector<std::unique_ptr<Pinned>> all_;  // every Pinned ever made (reused)
  std::vector<Pinned*> free_;                 // objects with no connection
  std::vector<Pinned*> idle_[2];              // open connections with no user, RESP2 and RESP3
  std::vector<Pinned*> dirty_;                // to write at the end of the turn
  std::vector<Pinned*> flushing_;
  size_t in_use_ = 0;
  uint64_t next_serial_ = 1;
  uv_timer_t tick_;
  bool closed_ = false;
  PinnedStats stats_;
  std::function<void(const std::vector<uint64_t>&)> tracking_lost_;
  UpstreamStats link_stats_;
  LatencyHistogram latency_;
};

}  // namespace rcp::backend
