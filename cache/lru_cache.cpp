// LruCache: chained hash table (power-of-two buckets, doubled at load factor 1) with an intrusive
// LRU list threaded through the entries themselves, so the cache allocates nothing per operation
// beyond the entries it is handed.
#include "cache/lru_cache.h"

#include <cassert>
#include <cstring>
#include <random>

namespace rcp {

namespace {
constexpr size_t kInitialBuckets = 64;

}  // namespace

SipKey LruCache::randomKey() {
  std::random_device rd;  // the kernel's entropy: a client cannot predict it
  SipKey k;
  k.k0 = (uint64_t{rd()} << 32) | rd();
  k.k1 = (uint64_t{rd()} << 32) | rd();
  return k;
}

LruCache::LruCache(size_t capacity, uint64_t ttl_ms, SipKey key)
    : key_(key), capacity_(capacity), ttl_ms_(ttl_ms),
      buckets_(new Entry*[kInitialBuckets]()), bucket_mask_(kInitialBuckets - 1) {
  bytes_ = kInitialBuckets * sizeof(Entry*);
}

LruCache::~LruCache() { clear(); }

void LruCache::clear() {
  while (lru_head_ != nullptr) remove(lru_head_);
  assert(size_ == 0);
  cut_active_ = false;
}

Entry** LruCache::findSlot(std::string_view key, uint32_t hash) noexcept {
  Entry** slot = &buckets_[hash & bucket_mask_];
  while (*slot != nullptr) {
    Entry* e = *slot;
    if (e->hash_ == hash && e->key_len_ == key.size() && std::memcmp(e->bytes(), key.data(), key.size()) == 0)
      return slot;
    slot = &e->chain_next_;
  }
  return slot;
}

EntryRef LruCache::get(std::string_view key, uint64_t hash, uint64_t now_ms) {
  Entry** slot = findSlot(key, static_cast<uint32_t>(hash));
  Entry* e = *slot;
  if (e == nullptr) {
    ++stats_.misses;
    return {};
  }
  if (expired(e, now_ms)) {
    ++stats_.misses;
    if (dead(e, now_ms)) {
      ++stats_.expirations;
      unlinkAndRelease(slot);
    }
    return {};  // within the grace it stays, for getStale()
  }
  ++stats_.hits;
  if (lru_head_ != e) {
    lruUnlink(e);
    lruPushFront(e);
  }
  return EntryRef::share(e);
}

EntryRef LruCache::getStale(std::string_view key, uint64_t hash, uint64_t now_ms) {
  Entry* e = *findSlot(key, static_cast<uint32_t>(hash));
  if (e == nullptr || !expired(e, now_ms) || dead(e, now_ms)) return {};
  return EntryRef::share(e);
}

void LruCache::markAllStale(uint64_t now_ms) {
  if (grace_ms_ == 0) {
    clear();
    return;
  }
  cut_ms_ = now_ms + 1;  // stored at or before now
  cut_active_ = true;
}

bool LruCache::put(Entry* entry, uint64_t hash, uint64_t now_ms) {
  assert(entry != nullptr && !entry->cached_);
  if (!enabled()) return false;
  uint32_t h = static_cast<uint32_t>(hash);
  Entry** slot = findSlot(entry->key(), h);
  if (*slot != nullptr) {
    // Replace in place: the old entry leaves the table, so a refresh never costs capacity.
    unlinkAndRelease(slot);
    slot = findSlot(entry->key(), h);
  } else if (size_ >= capacity_) {
    ++stats_.evictions;
    remove(lru_tail_);
    slot = findSlot(entry->key(), h);
  }
  entry->retain();
  entry->hash_ = h;
  entry->stored_ms_ = now_ms;
  entry->cached_ = true;
  entry->chain_next_ = nullptr;
  *slot = entry;
  lruPushFront(entry);
  ++size_;
  bytes_ += entry->footprint();
  if (size_ > bucket_mask_ + 1) grow();
  return true;
}

void LruCache::prefetch(const uint64_t* hashes, size_t n) const noexcept {
  for (size_t i = 0; i < n; ++i) __builtin_prefetch(&buckets_[hashes[i] & bucket_mask_]);
  for (size_t i = 0; i < n; ++i) {
    const Entry* e = buckets_[hashes[i] & bucket_mask_];
    if (e != nullptr) {
      __builtin_prefetch(e);                                      // hash, lengths, LRU links
      __builtin_prefetch(reinterpret_cast<const char*>(e) + 64);  // the key, the value's start
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const Entry* e = buckets_[hashes[i] & bucket_mask_];
    if (e == nullptr) continue;
    if (e->hash_ == static_cast<uint32_t>(hashes[i])) {
      if (e->lru_prev_ != nullptr) __builtin_prefetch(e->lru_prev_, 1);
      if (e->lru_next_ != nullptr) __builtin_prefetch(e->lru_next_, 1);
    } else if (e->chain_next_ != nullptr) {
      __builtin_prefetch(e->chain_next_);
      __builtin_prefetch(reinterpret_cast<const char*>(e->chain_next_) + 64);
    }
  }
}

bool LruCache::erase(std::string_view key, uint64_t hash) {
  Entry** slot = findSlot(key, static_cast<uint32_t>(hash));
  if (*slot == nullptr) return false;
  unlinkAndRelease(slot);
  return true;
}

size_t LruCache::sweep(uint64_t now_ms, size_t max_scan) {
  size_t dropped = 0;
  Entry* e = lru_tail_;
  for (size_t scanned = 0; e != nullptr && scanned < max_scan; ++scanned) {
    Entry* warmer = e->lru_prev_;
    if (expired(e, now_ms) && dead(e, now_ms)) {
      remove(e);
      ++stats_.expirations;
      ++dropped;
    }
    e = warmer;
  }
  return dropped;
}

void LruCache::setCapacity(size_t capacity) {
  capacity_ = capacity;
  while (size_ > capacity_) {
    ++stats_.evictions;
    remove(lru_tail_);
  }
}

void LruCache::remove(Entry* e) {
  Entry** slot = findSlot(e->key(), e->hash_);
  assert(*slot == e);
  unlinkAndRelease(slot);
}

void LruCache::unlinkAndRelease(Entry** slot) {
  Entry* e = *slot;
  *slot = e->chain_next_;
  e->chain_next_ = nullptr;
  lruUnlink(e);
  e->cached_ = false;
  --size_;
  bytes_ -= e->footprint();
  e->release();  // a reply still being written may hold the entry a little longer
}

void LruCache::grow() {
  size_t n = (bucket_mask_ + 1) * 2;
  std::unique_ptr<Entry*[]> fresh(new Entry*[n]());
  for (size_t i = 0; i <= bucket_mask_; ++i) {
    Entry* e = buckets_[i];
    while (e != nullptr) {
      Entry* next = e->chain_next_;
      Entry*& head = fresh[e->hash_ & (n - 1)];
      e->chain_next_ = head;
      head = e;
      e = next;
    }
  }
  bytes_ += (n - (bucket_mask_ + 1)) * sizeof(Entry*);
  buckets_ = std::move(fresh);
  bucket_mask_ = n - 1;
}

void LruCache::lruPushFront(Entry* e) noexcept {
  e->lru_prev_ = nullptr;
  e->lru_next_ = lru_head_;
  if (lru_head_ != nullptr) lru_head_->lru_prev_ = e; else lru_tail_ = e;
  lru_head_ = e;
}

void LruCache::lruUnlink(Entry* e) noexcept {
  if (e->lru_prev_ != nullptr) e->lru_prev_->lru_next_ = e->lru_next_; else lru_head_ = e->lru_next_;
  if (e->lru_next_ != nullptr) e->lru_next_->lru_prev_ = e->lru_prev_; else lru_tail_ = e->lru_prev_;
  e->lru_prev_ = e->lru_next_ = nullptr;
}

}  // namespace rcp
