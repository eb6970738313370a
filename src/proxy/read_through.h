// The read-through cache: a GET is answered from the cache, or joins the fetch already in flight
// for the same key (single-flight), or starts one fetch on the upstream. When the reply arrives
// the value is cached (strings only) and every waiter gets the result. It knows no protocol:
// waiters render results themselves.
//
// Coherence: invalidate(key) drops the cached value and detaches the key's fetch in flight, whose
// waiters still get the reply but which fills nothing; invalidateAll() clears the cache and bumps
// an epoch that voids every fill in flight. So no reply read before an invalidation can store an
// old value after it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/lru_cache.h"
#include "src/backend/request.h"
#include "src/backend/upstream.h"
#include "src/base/config.h"
#include "src/base/loop.h"
#include "src/proxy/slot_groups.h"

namespace rcp::proxy {

// What a GET produced, or a forwarded command (kReply).
struct Lookup {
  // kEncoded: a reply the proxy put together (a command split over cluster nodes), its RESP in message.
  enum class Kind : uint8_t { kValue, kNil, kWrongType, kBackendError, kUnavailable, kTimeout, kReply, kEncoded };
  Kind kind = Kind::kNil;
  EntryRef entry;            // kValue
  std::string_view message;  // Redis's error text, or why the backend is unavailable; valid during the call
  const resp::Frame* frame = nullptr;  // kReply: Redis's reply, valid during the call
  bool stale = false;  // kValue: an entry past its life, served because Redis could not be asked (--stale-if-error)
  bool found() const noexcept { return kind == Kind::kValue || kind == Kind::kNil; }
};

// Receives the result of a GET that missed. The read-through holds a waiter (threaded through
// next_waiter) from get() until onResult(), which is called exactly once; the waiter may be freed
// inside onResult.
class Waiter {
 public:
  virtual void onResult(const Lookup& r) = 0;
  Waiter* next_waiter = nullptr;

 protected:
  Waiter() = default;
  ~Waiter() = default;
  Waiter(const Waiter&) = default;
  Waiter& operator=(const Waiter&) = default;
};

struct ReadThroughStats {
  uint64_t fetches = 0;       // backend GETs started
  uint64_t coalesced = 0;     // GETs that joined a fetch already in flight
  uint64_t fills_voided = 0;  // fetches that completed after an invalidation and filled nothing
  uint64_t key_ttl_capped = 0;  // entries stored with a shorter life than --ttl: the key expires sooner in Redis
  uint64_t negative_stored = 0; // "no such key" entries stored (--negative-ttl)
  uint64_t batches = 0;       // backend MGETs sent for the misses of a client MGET
  uint64_t write_invalidations = 0;  // keys dropped because a client of this proxy wrote them
  // Whole-cache drops by cause: FLUSHALL/FLUSHDB/SWAPDB, a write whose keys cannot be known, and
  // (coherence) Redis's null invalidation, the invalidation link lost, a data link lost or
  // reconnected, the invalidation link silent past its PING deadline.
  uint64_t drops_flush = 0;
  uint64_t drops_swapdb = 0;   // SWAPDB through the proxy (Redis sends no invalidation for it)
  uint64_t drops_unknown_keys = 0;
  uint64_t drops_null_message = 0;
  uint64_t drops_link_lost = 0;
  uint64_t drops_reconnect = 0;
  uint64_t drops_ping_deadline = 0;
  uint64_t drops_slot_moved = 0;  // a Redis Cluster slot changed owner (the new one tracks nothing read before)
  uint64_t drops_failover = 0;    // a Sentinel-announced failover: the primary was replaced
  uint64_t stale_served = 0;      // values past their life served because Redis could not be asked
  uint64_t refreshes_ahead = 0;   // background refreshes a hit late in its entry's life started (--refresh-ahead)
  uint64_t marked_stale = 0;      // times a lost link made every entry stale instead of dropping it
};

// Who else hears what the read-through hears of Redis's changes (the tracking hub that serves the
// proxy's own clients' CLIENT TRACKING). Called from inside the change, never for a read.
class ChangeListener {
 public:
  // key changed: Redis said so (by_client false), or a client of the proxy is writing it now
  // (by_client true: called while its command is dispatched).
  virtual void keyChanged(std::string_view key, bool by_client) = 0;
  // Anything may have changed, or the proxy can no longer know what did (a null invalidation, a
  // flush, a link or its tracking lost, tracking back after a gap, a slot moved, a failover).
  virtual void allChanged() = 0;

 protected:
  ~ChangeListener() = default;
};

class ReadThrough {
 public:
  // config is the server's, updated in place on reload (backend_timeout_ms applies to new fetches).
  ReadThrough(Loop& loop, LruCache& cache, backend::Upstream& upstream, const Config& config);
  ~ReadThrough();
  ReadThrough(const ReadThrough&) = delete;
  ReadThrough& operator=(const ReadThrough&) = delete;

  // A hit returns the entry and leaves w alone. A miss returns null, and w->onResult() follows,
  // never from inside this call. hash is hashKey(key).
  EntryRef get(std::string_view key, uint64_t hash, Waiter& w);
  EntryRef get(std::string_view key, Waiter& w) { return get(key, cache_.hashKey(key), w); }
  // MGET: for each key i, hits[i] is set to the cached entry, or stays null and waiters[i]->onResult()
  // follows (never inside this call). The misses no fetch in flight covers go to Redis as one MGET
  // (one GET when there is one); each joins, and can be joined by, the GETs of other clients.
  void getMany(size_t n, const std::string_view* keys, Waiter* const* waiters, EntryRef* hits);
  uint64_t hashKey(std::string_view key) const noexcept { return cache_.hashKey(key); }
  bool cacheEnabled() const noexcept { return cache_.enabled(); }
  // A hint for a batch of GETs (see LruCache::prefetch).
  void prefetch(const uint64_t* hashes, size_t n) const noexcept { cache_.prefetch(hashes, n); }

  // Redis says key changed: drop it, and let no fetch read before now fill it.
  void invalidate(std::string_view key);
  // Redis says everything changed (or the proxy can no longer know): drop all, void every fill.
  void invalidateAll();

  // Every write of this proxy invalidates the keys it names first (read-your-writes); a write
  // whose keys cannot be known, and FLUSHALL / FLUSHDB / SWAPDB, drop everything.
  void invalidateWritten(std::string_view key) {
    ++stats_.write_invalidations;
    drop(key);
    if (listener_ != nullptr) listener_->keyChanged(key, true);
  }
  // A write of this proxy has been answered on a link other than the one that fills the cache: its
  // keys are dropped again (a fill read before the write may have landed meanwhile). The cache's
  // business only: the change itself was reported when the write was sent.
  void dropWritten(std::string_view key) { drop(key); }
  void dropAllWritten() { dropAll(); }
  // One listener (or none): told of every change after the cache has acted on it.
  void setListener(ChangeListener* l) noexcept { listener_ = l; }
  enum class DropCause : uint8_t {
    kFlush, kSwapdb, kUnknownKeys, kNullMessage, kLinkLost, kReconnect, kPingDeadline, kSlotMoved, kFailover
  };
  void invalidateAllBy(DropCause cause);

  // Whether fills are stored. Off while the proxy cannot know of Redis's changes (tracking wanted
  // and not established): every GET is then read from Redis. Turning it on voids the fills in
  // flight, so only reads sent after the moment tracking covers them are stored.
  void setStoring(bool on);
  // Fills are stored (from some node, with per-node tracking).
  bool storing() const noexcept {
    if (!storing_ || !per_node_) return storing_;
    for (uint8_t on : node_storing_)
      if (on != 0) return true;
    return false;
  }
  // Coherence per backend node (set by the coherence layer): with trackNodes(true), a value is stored
  // only when the node that answered tracks its reads (setNodeStoring), and only then may "no such
  // key" be cached (--negative-ttl), since creating the key then sends an invalidation. Turning a
  // node on voids the fills in flight (they were read before its tracking covered them).
  void trackNodes(bool on);
  void setNodeStoring(backend::NodeId node, bool on);
  bool nodeStoring(backend::NodeId node) const noexcept {
    return !per_node_ || (node < node_storing_.size() && node_storing_[node] != 0);
  }

  size_t inflight() const noexcept { return inflight_.size(); }
  const ReadThroughStats& stats() const noexcept { return stats_; }

 private:
  class Fetch;
  class Batch;
  struct FetchKey {
    std::string_view key;
    uint64_t hash;
    bool operator==(const FetchKey& o) const noexcept { return key == o.key; }
  };
  // The in-flight table is keyed with the hash the cache lookup already computed, so a miss hashes
  // its key once. (With std::hash of a string, libstdc++ also answers finds in a table of up to 20
  // keys by comparing the key with every entry.)
  struct FetchKeyHash {
    size_t operator()(const FetchKey& k) const noexcept { return k.hash; }
  };

  void drop(std::string_view key);  // the cache's part of invalidate()
  void dropAll();                   // the cache's part of invalidateAll()
  void changedAll() {
    if (listener_ != nullptr) listener_->allChanged();
  }
  bool covered(std::string_view key) const noexcept;  // tracking reports changes of key
  // --refresh-ahead: a hit on e, past that fraction of its life, starts one background fetch.
  void maybeRefresh(const Entry& e, std::string_view key, uint64_t hash, uint64_t now) {
    if (config_.refresh_ahead > 0 && now - e.storedMs() >= refreshAfterMs()) refreshAhead(key, hash);
  }
  uint64_t refreshAfterMs() const noexcept {
    return static_cast<uint64_t>(static_cast<double>(cache_.ttlMs()) * config_.refresh_ahead);
  }
  void refreshAhead(std::string_view key, uint64_t hash);
  Fetch* newFetch();
  void submitBatch(std::vector<Fetch*> fetches);
  Fetch* startFetch(std::string_view key, uint64_t hash, Waiter* w);  // registered, not yet submitted
  static constexpr long long kNoExpiry = -1;  // PTTL's answer for a key without an expiry
  void complete(Fetch* f, const Lookup& r, long long pttl);
  void freeFetch(Fetch* f) noexcept;

  static constexpr size_t kMaxFreeFetches = 1024;  // kept for reuse, with their key buffers
  static constexpr size_t kMaxKeptKeyBytes = 256;  // a longer key's buffer is not kept

  Loop& loop_;
  LruCache& cache_;
  backend::Upstream& upstream_;
  const Config& config_;
  uint64_t epoch_ = 0;  // bumped by invalidateAll(); a fetch of an older epoch fills nothing
  bool storing_ = true;
  bool per_node_ = false;
  std::vector<uint8_t> node_storing_;  // by NodeId
  std::unordered_map<FetchKey, Fetch*, FetchKeyHash> inflight_;  // attached fetches; keys view Fetch::key
  std::vector<Fetch*> free_fetches_;
  std::vector<Fetch*> batch_;  // getMany's misses, reused
  SlotGroups groups_;          // scratch: getMany's misses by slot (a cluster)
  std::vector<uint16_t> slots_;
  size_t live_fetches_ = 0;  // attached or detached, not yet completed
  ReadThroughStats stats_;
  ChangeListener* listener_ = nullptr;
};

}  // namespace rcp::proxy
