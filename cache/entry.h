// One cached key/value pair in a single allocation: the cache's links, the key, and the value framed
// as a RESP bulk string ("$<len>\r\n<value>\r\n"), so a RESP hit writes one buffer and an HTTP hit
// writes the value slice, both without copying or formatting. The value is immutable once built.
// Entries are reference-counted (not atomically: everything runs on one loop thread); the cache
// holds one reference, and every reply that is being written holds one more.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

namespace rcp {

class Entry {
 public:
  // Allocates an entry holding copies of key and value; refcount starts at 1 (the caller's).
  // Values over 4 GiB - 1 are refused (std::length_error); Redis itself stops at 512 MB.
  static Entry* create(std::string_view key, std::string_view value);
  // Allocates an entry whose value bytes are left for the caller to fill through valueData().
  static Entry* createUninitialized(std::string_view key, size_t value_len);
  // An entry that records "no such key" (negative caching): an empty value, answered as nil.
  static Entry* createAbsent(std::string_view key);
  bool absent() const noexcept { return absent_; }

  // The value's validator (HTTP's ETag): SipHash-1-2 of the value's bytes under a fixed key,
  // computed once when the entry is built, the same for the same bytes in every proxy and after a
  // restart. 0 for an absent entry.
  uint64_t etag() const noexcept { return etag_; }
  static uint64_t etagOf(std::string_view value) noexcept;
  // Freshness: the entry's life counts from storedMs() (monotonic ms, moved back by readShiftMs()
  // when the key's own TTL in Redis is shorter than --ttl), so the value was read from Redis at
  // storedMs() + readShiftMs(): what HTTP's Age counts from.
  uint64_t storedMs() const noexcept { return stored_ms_; }
  uint32_t readShiftMs() const noexcept { return read_shift_ms_; }
  void setReadShiftMs(uint32_t ms) noexcept { read_shift_ms_ = ms; }
  bool cached() const noexcept { return cached_; }

  std::string_view key() const noexcept { return {bytes(), key_len_}; }
  std::string_view value() const noexcept { return {bytes() + key_len_ + resp_header_len_, value_len_}; }
  // The whole RESP bulk reply for this value: header, value, CRLF.
  std::string_view respBulk() const noexcept {
    return {bytes() + key_len_, resp_header_len_ + value_len_ + 2};
  }
  char* valueData() noexcept { return bytes() + key_len_ + resp_header_len_; }
  // Bytes this entry occupies in memory (header struct plus key and framed value).
  size_t footprint() const noexcept { return sizeof(Entry) + key_len_ + resp_header_len_ + value_len_ + 2; }

  void retain() noexcept { ++refs_; }
  void release() noexcept;
  uint32_t refs() const noexcept { return refs_; }

 private:
  friend class LruCache;
  Entry() = default;
  ~Entry() = default;
  // The variable part follows the struct in the same allocation:
  // key, then "$<len>\r\n", value, "\r\n".
  char* bytes() noexcept { return reinterpret_cast<char*>(this + 1); }
  const char* bytes() const noexcept { return reinterpret_cast<const char*>(this + 1); }

  // Links owned by LruCache while the entry is cached; null otherwise. The layout is kept to 64
  // bytes (one cache line): with a 16-byte key and a 100-byte value an entry is one 208-byte
  // malloc chunk.
  Entry* lru_prev_ = nullptr;   // towards most recently used
  Entry* lru_next_ = nullptr;   // towards least recently used
  Entry* chain_next_ = nullptr; // hash bucket chain
  uint64_t stored_ms_ = 0;      // monotonic ms when stored: expiry is measured from here
  uint64_t etag_ = 0;           // etagOf(value)
  uint32_t read_shift_ms_ = 0;  // stored_ms_ + this = when the value was read (see storedMs())
  uint32_t hash_ = 0;           // low 32 bits of the key's hash, for rehashing and fast compares
  uint32_t refs_ = 1;           // owners: the cache and in-flight writes
  uint32_t value_len_ = 0;      // bytes (Redis caps strings at 512 MB)
  uint32_t key_len_ = 0;        // bytes
  uint8_t resp_header_len_ = 0; // bytes of "$<len>\r\n"
  bool cached_ = false;         // linked into an LruCache
  bool absent_ = false;         // "no such key" (createAbsent)
};

// Owning handle to an Entry (one reference). Move-only in spirit; copy retains.
class EntryRef {
 public:
  EntryRef() noexcept = default;
  // Adopts a reference the caller already holds.
  static EntryRef adopt(Entry* e) noexcept { EntryRef r; r.e_ = e; return r; }
  static EntryRef share(Entry* e) noexcept { if (e) e->retain(); return adopt(e); }
  EntryRef(const EntryRef& o) noexcept : e_(o.e_) { if (e_) e_->retain(); }
  EntryRef(EntryRef&& o) noexcept : e_(std::exchange(o.e_, nullptr)) {}
  EntryRef& operator=(EntryRef o) noexcept { std::swap(e_, o.e_); return *this; }
  ~EntryRef() { if (e_) e_->release(); }

  Entry* get() const noexcept { return e_; }
  Entry* operator->() const noexcept { return e_; }
  explicit operator bool() const noexcept { return e_ != nullptr; }
  void reset() noexcept { if (e_) std::exchange(e_, nullptr)->release(); }

 private:
  Entry* e_ = nullptr;
};

}  // namespace rcp
