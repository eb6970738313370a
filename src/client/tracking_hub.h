// The proxy as its clients' tracking server: CLIENT TRACKING, CACHING, GETREDIR and TRACKINGINFO
// answered here, with Redis 7's semantics and errors (networking.c, tracking.c), for any number of
// clients over the proxy's one upstream tracking per node.
//
// The table: key -> the ids of the clients that read it (default mode, OPTIN/OPTOUT as CLIENT
// CACHING says), and prefix -> the ids of the BCAST clients that asked for it. It is fed through
// proxy::ChangeListener: Redis's invalidations of the proxy's own tracking (coherence.h; every
// key a client reads through the proxy is read by a tracked link of the proxy's, or served from a
// cache entry that one filled), and the writes clients send through the proxy, as they are sent.
// A default-mode key is reported once and forgotten, as Redis does; BCAST clients hear of every
// key under their prefixes that Redis reports (a link of the proxy's tracks those prefixes in
// BCAST mode), batched per loop turn and per prefix as Redis batches them per event-loop cycle.
//
// Delivery: RESP3 clients get `>2 invalidate [keys]` pushes, RESP2 clients the
// `__redis__:invalidate` message on the subscribed connection they REDIRECT to (proxy ids); a
// redirect target that has gone gives a RESP3 client `tracking-redir-broken` as Redis does. A
// push is queued behind every reply already queued for its client, so a client hears of a change
// after the reply that read the value (and its own write's reply before the invalidation it
// causes: pushes for the client whose command is being dispatched wait until it is queued).
// When the proxy cannot know (allChanged), every tracking client gets a null invalidation, queued
// before the reply of anything it reads afterwards.
//
// Memory: --tracking-table-max-keys keys at most (past it the oldest key is invalidated for its
// clients and forgotten), --tracking-max-prefixes prefixes per client. Entries of clients that
// left or turned tracking off are skipped when their key is reported (Redis does the same).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "src/base/config.h"
#include "src/base/histogram.h"
#include "src/proxy/read_through.h"

namespace rcp::client {

// A client invalidations can reach. Every RESP client is one (a REDIRECT may name any of them).
class TrackingPeer {
 public:
  virtual int trackingProto() const noexcept = 0;
  // In pub/sub mode: a RESP2 redirect target gets the messages only then (Redis's rule).
  virtual bool trackingSubscribed() const noexcept = 0;
  // Appends bytes to the client's output, after every reply already queued for it.
  virtual void trackingPush(std::string_view bytes) = 0;

 protected:
  ~TrackingPeer() = default;
};

struct TrackingStats {
  uint64_t enabled = 0;          // CLIENT TRACKING on accepted
  uint64_t invalidations = 0;    // invalidation messages queued to clients (a key, keys, or null)
  uint64_t null_messages = 0;    // of which null: the proxy could not know what changed
  uint64_t evicted_keys = 0;     // keys invalidated for their readers over --tracking-table-max-keys
  uint64_t redir_broken = 0;     // tracking-redir-broken pushes
  uint64_t refused = 0;          // CLIENT TRACKING on refused: the proxy's own tracking is off
};

class TrackingHub final : public proxy::ChangeListener {
 public:
  // One client's tracking state, as Redis keeps it in c->flags: owned by the client's session,
  // registered with join() and withdrawn with leave().
  struct Client {
    enum Flag : uint16_t {
      kOn = 1u << 0,
      kBcast = 1u << 1,
      kOptin = 1u << 2,
      kOptout = 1u << 3,
      kCaching = 1u << 4,     // CLIENT CACHING yes (OPTIN) / no (OPTOUT), for the next command
      kNoloop = 1u << 5,
      kBrokenRedir = 1u << 6,
    };
    uint64_t id = 0;
    TrackingPeer* peer = nullptr;
    uint16_t flags = 0;
    uint64_t redirect = 0;              // REDIRECT's id (0: none)
    // What the client may hold from its reads, for null invalidations: read nothing since tracking
    // began; read since the last null; or a null is queued and nothing was read since (a second
    // null would say nothing more: Redis's FLUSHALL is reported by every tracked link of the proxy).
    enum class Held : uint8_t { kNothing, kReads, kFlushed };
    Held held = Held::kNothing;
    std::vector<std::string> prefixes;  // BCAST's, in the order given
    bool has(Flag f) const noexcept { return (flags & f) != 0; }
    bool on() const noexcept { return (flags & kOn) != 0; }
    // Whether a read now is remembered (default mode; OPTIN with CACHING yes; OPTOUT without CACHING no).
    bool remembers() const noexcept {
      if ((flags & (kOn | kBcast)) != kOn) return false;
      if (flags & kOptin) return (flags & kCaching) != 0;
      if (flags & kOptout) return (flags & kCaching) == 0;
      return true;
    }
  };

  // Whether the proxy's own tracking can serve clients' tracking now; if not, why (an error text).
  using Readiness = std::function<bool(std::string* why)>;
  // The prefixes BCAST clients ask for (every client's, deduplicated) changed: the upstream BCAST
  // tracking is to cover them (empty: none needed).
  using PrefixesChanged = std::function<void(const std::vector<std::string>&)>;

  explicit TrackingHub(const Config& config) : config_(config) {}
  ~TrackingHub();
  TrackingHub(const TrackingHub&) = delete;
  TrackingHub& operator=(const TrackingHub&) = delete;
  void setReadiness(Readiness r) { ready_ = std::move(r); }
  // The client id of the proxy's invalidation link for the node at host:port (what a tracking
  // client's pinned connection redirects to), or 0 when there is none now.
  using RedirectSource = std::function<long long(const std::string& host, uint16_t port)>;
  void setRedirectSource(RedirectSource f) { redirect_source_ = std::move(f); }
  long long upstreamRedirect(const std::string& host, uint16_t port) const {
    return redirect_source_ ? redirect_source_(host, port) : 0;
  }
  void onPrefixesChanged(PrefixesChanged f) { prefixes_changed_ = std::move(f); }

  void join(Client& c) { peers_[c.id] = &c; }
  void leave(Client& c);
  // Redis forgot what it tracked for these clients (a connection they read through is gone): each
  // that may hold something gets a null.
  void nullFor(const std::vector<uint64_t>& ids);
  // RESET: tracking off, as Redis's RESET turns it off.
  void off(Client& c) { disable(c); }

  // CLIENT TRACKING / CACHING / GETREDIR / TRACKINGINFO from c: true with the reply appended to
  // out; false when the arguments are not one of these (Redis's own error for them follows).
  bool command(Client& c, const std::vector<std::string_view>& args, int proto, std::string& out);
  // c (tracking) read key (a cached GET, an MGET's key, a forwarded read's key): remembered if
  // c's mode says so.
  void read(Client& c, std::string_view key) {
    if (c.remembers()) remember(c.id, key);
    if (c.remembers() || c.has(Client::kBcast)) c.held = Client::Held::kReads;
  }
  // c's command ran (anything but CLIENT CACHING; a transaction keeps the flag to its end).
  static void commandDone(Client& c) noexcept { c.flags &= static_cast<uint16_t>(~Client::kCaching); }
  // c's write is being dispatched: invalidations for c wait until endWrite() (after its reply was
  // queued), and with NOLOOP c hears nothing of the keys it writes.
  void beginWrite(Client& c) noexcept { writer_ = &c; }
  void endWrite();
  // The end-of-turn pass: BCAST invalidations gathered this turn are sent.
  void flush();
  // Redis now reports every prefix asked for: the BCAST clients that asked for one before it was
  // covered get a null (what they read meanwhile may have changed unreported).
  void bcastCovered();

  // proxy::ChangeListener
  void keyChanged(std::string_view key, bool by_client) override;
  void allChanged() override;

  // The connections have been written: each invalidation queued since the change that caused it was
  // learned is counted in the delivery latency (learned -> handed to the client's socket).
  void delivered() {
    if (unsent_ != 0) delivery_.observe(nowNs() - stamp_ns_, unsent_);
    unsent_ = 0;
    stamp_ns_ = 0;  // a change that sent nothing leaves no stamp for the next turn's
  }
  const LatencyHistogram& deliveryLatency() const noexcept { return delivery_; }

  size_t keys() const noexcept { return keys_.size(); }
  size_t clients() const noexcept { return tracking_; }
  size_t prefixes() const noexcept { return prefix_table_.size(); }
  const TrackingStats& stats() const noexcept { return stats_; }

 private:
  // A key's readers; dedup through a set once they are many.
  struct KeyEntry {
    std::vector<uint64_t> ids;
    std::unique_ptr<std::unordered_set<uint64_t>> many;
    const std::string* key = nullptr;  // the map's key
    KeyEntry* older = nullptr;
    KeyEntry* newer = nullptr;
  };
  struct PrefixEntry {
    std::vector<uint64_t> ids;
    std::vector<std::string> pending;  // keys reported this turn
    std::unordered_set<std::string> pending_set;
  };
  static constexpr size_t kLinearIds = 16;  // readers of a key kept in a vector alone up to this
  struct KeyHash {  // lookups by string_view, without a copy of the key
    using is_transparent = void;
    size_t operator()(std::string_view k) const noexcept { return std::hash<std::string_view>()(k); }
  };

  void remember(uint64_t id, std::string_view key);
  void unlink(KeyEntry* e) noexcept;
  // Sends the invalidation of key (or null: key == nullptr) to each id in ids that still tracks in
  // default mode (and is not the NOLOOP writer).
  void notifyKey(const std::vector<uint64_t>& ids, const std::string& key);
  // One invalidation message to c: keys (an encoded array, or a null), deferred while c is the writer.
  void send(Client& c, const std::string* keys, bool null);
  void deliver(Client& c, std::string_view payload);
  void enable(Client& c, uint64_t redirect, uint16_t options, const std::vector<std::string_view>& prefixes);
  void disable(Client& c);
  void prefixesChanged();
  bool trackingCommand(Client& c, const std::vector<std::string_view>& args, std::string& out);
  void trackingInfo(const Client& c, int proto, std::string& out) const;

  const Config& config_;
  Readiness ready_;
  RedirectSource redirect_source_;
  PrefixesChanged prefixes_changed_;
  std::unordered_map<uint64_t, Client*> peers_;  // every RESP client, by id
  std::unordered_map<std::string, KeyEntry, KeyHash, std::equal_to<>> keys_;
  KeyEntry* oldest_ = nullptr;
  KeyEntry* newest_ = nullptr;
  std::map<std::string, PrefixEntry, std::less<>> prefix_table_;  // in byte order, as Redis walks its radix tree
  bool bcast_pending_ = false;
  std::vector<uint64_t> uncovered_;  // BCAST clients that added a prefix not yet covered
  size_t tracking_ = 0;  // clients with tracking on
  Client* writer_ = nullptr;
  std::vector<std::string> deferred_;  // the writer's invalidations until endWrite(): keys arrays, "" for a null
  std::string scratch_;
  TrackingStats stats_;
  LatencyHistogram delivery_;
  uint64_t stamp_ns_ = 0;  // when the first change not yet delivered was learned (0: none)
  uint64_t unsent_ = 0;    // invalidations queued since
  static uint64_t nowNs() noexcept {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
  }
  void stamp() noexcept {
    if (stamp_ns_ == 0) stamp_ns_ = nowNs();
  }
};

}  // namespace rcp::client
