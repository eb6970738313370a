// The proxy's store: a chained hash map plus an intrusive LRU list over reference-counted entries;
// the least recently used entry is evicted at capacity. Expiry is checked on every lookup (an
// expired entry is never served), and sweep() reclaims expired entries from the cold end of the
// LRU list, where entries that are not read again end up.
// Every operation is O(1) (amortised for the table's doubling). No I/O and no clock: callers pass
// the current monotonic time in milliseconds, so tests drive time by hand.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "cache/entry.h"
#include "cache/siphash.h"

namespace rcp {

struct CacheStats {
  uint64_t hits = 0;         // get() found a live entry
  uint64_t misses = 0;       // get() found nothing, or only an expired entry
  uint64_t evictions = 0;    // entries dropped to make room (LRU)
  uint64_t expirations = 0;  // entries dropped because their TTL passed
};

class LruCache {
 public:
  // capacity: most entries held (0 disables caching). ttl_ms: entry lifetime after insertion
  // (0 means nothing is ever served from the cache, so nothing is stored). key: the hash key, random
  // per cache unless a test fixes it.
  LruCache(size_t capacity, uint64_t ttl_ms, SipKey key = randomKey());
  ~LruCache();
  LruCache(const LruCache&) = delete;
  LruCache& operator=(const LruCache&) = delete;

  // The keyed hash of a key (SipHash-1-2 under this cache's random key): clients cannot choose keys
  // that collide, so no bucket chain (nor the read-through's in-flight table, which shares the
  // hash) degrades to a list.
  uint64_t hashKey(std::string_view key) const noexcept { return sipHash<1, 2>(key_, key.data(), key.size()); }
  static SipKey randomKey();

  // A live entry for key (moved to most recently used), or null. An expired entry found here is
  // removed and counted as an expiration and a miss.
  EntryRef get(std::string_view key, uint64_t now_ms) { return get(key, hashKey(key), now_ms); }
  EntryRef get(std::string_view key, uint64_t hash, uint64_t now_ms);

  // Stores entry (taking one more reference) under its key, replacing any previous entry for that
  // key; evicts the least recently used entry when full. Returns false when caching is disabled.
  bool put(Entry* entry, uint64_t now_ms) { return put(entry, hashKey(entry->key()), now_ms); }
  bool put(Entry* entry, uint64_t hash, uint64_t now_ms);

  // A hint for a batch of lookups (a pipeline of GETs): starts loading, for every hash at once,
  // what get() will touch: the bucket, then the entry at its head, then either that entry's LRU
  // neighbours (it is the key: the hit relinks them) or the next entry in the chain. The get()s
  // that follow then find their cache lines on the way instead of waiting on one miss after
  // another, which with a table bigger than the CPU caches is most of a lookup's cost.
  // Changes nothing; safe for any hashes.
  void prefetch(const uint64_t* hashes, size_t n) const noexcept;

  // Stale-if-error: an entry past its life is kept grace_ms longer (get() misses it; getStale()
  // finds it) so that a failed refresh can serve it. 0 (the default): dropped when found expired.
  void setGrace(uint64_t grace_ms) noexcept { grace_ms_ = grace_ms; }
  uint64_t graceMs() const noexcept { return grace_ms_; }
  // An entry past its life and within the grace (null when none, or it is past the grace too).
  // Not counted as a hit, not moved in the LRU order.
  EntryRef getStale(std::string_view key, uint64_t hash, uint64_t now_ms);
  // Every entry stored until now is past its life from now on (never served fresh again), kept the
  // grace for getStale(); with no grace, the same as clear(). clear() ends it.
  void markAllStale(uint64_t now_ms);
  bool staleCut() const noexcept { return cut_active_; }
  // Drops key if present (for invalidation). Returns whether something was removed.
  bool erase(std::string_view key) { return erase(key, hashKey(key)); }
  bool erase(std::string_view key, uint64_t hash);  // hash is hashKey(key)

  // Looks at up to max_scan entries from the least recently used end and drops the expired ones;
  // returns how many it dropped.
  size_t sweep(uint64_t now_ms, size_t max_scan);

  // Changes limits at run time; shrinking evicts at once.
  void setCapacity(size_t capacity);
  void setTtl(uint64_t ttl_ms) noexcept { ttl_ms_ = ttl_ms; }

  void clear();

  size_t size() const noexcept { return size_; }
  size_t capacity() const noexcept { return capacity_; }
  uint64_t ttlMs() const noexcept { return ttl_ms_; }
  size_t bytes() const noexcept { return bytes_; }  // footprint of cached entries plus the table
  const CacheStats& stats() const noexcept { return stats_; }
  bool enabled() const noexcept { return capacity_ > 0 && ttl_ms_ > 0; }

  // Keys from most to least recently used, for tests and debugging (O(n)).
  template <typename F>
  void forEachMru(F&& f) const {
    for (const Entry* e = lru_head_; e != nullptr; e = e->lru_next_) f(e->key());
  }

 private:
  bool expired(const Entry* e, uint64_t now_ms) const noexcept {
    return now_ms - e->stored_ms_ >= ttl_ms_ || (cut_active_ && e->stored_ms_ < cut_ms_);
  }
  // Past its life and past the grace too: dropped when found.
  bool dead(const Entry* e, uint64_t now_ms) const noexcept {
    if (grace_ms_ == 0) return true;
    uint64_t end = e->stored_ms_ + ttl_ms_;  // when its life ended
    if (cut_active_ && e->stored_ms_ < cut_ms_ && cut_ms_ < end) end = cut_ms_;
    return now_ms >= end && now_ms - end >= grace_ms_;
  }
  Entry** findSlot(std::string_view key, uint32_t hash) noexcept;
  void unlinkAndRelease(Entry** slot);  // slot: the chain pointer that points at the entry
  void remove(Entry* e);
  void grow();
  void lruPushFront(Entry* e) noexcept;
  void lruUnlink(Entry* e) noexcept;

  SipKey key_;
  size_t capacity_;
  uint64_t ttl_ms_;
  uint64_t grace_ms_ = 0;     // stale-if-error: how long past its life an entry is kept
  uint64_t cut_ms_ = 0;       // markAllStale(): entries stored before this are past their life
  bool cut_active_ = false;
  std::unique_ptr<Entry*[]> buckets_;  // chains of entries; size is a power of two
  size_t bucket_mask_ = 0;
  size_t size_ = 0;                     // entries cached
  size_t bytes_ = 0;                    // sum of entry footprints
  Entry* lru_head_ = nullptr;           // most recently used
  Entry* lru_tail_ = nullptr;           // least recently used: the next eviction
  CacheStats stats_;
};

}  // namespace rcp
