// Read-through logic: a GET is answered from the cache, or joins the fetch already in flight for
// the same key (single-flight), or starts one fetch that the backend link sends. When the reply
// arrives the value is cached (strings only) and every waiting slot is filled.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/lru_cache.h"
#include "src/slot.h"

namespace rcp {

class Server;

// One backend GET and the slots waiting on it. Owned by ReadThrough from start to completion;
// the backend link holds it in its queues meanwhile.
struct Fetch {
  std::string key;
  uint64_t hash = 0;
  Slot* waiters_head = nullptr;
  Slot* waiters_tail = nullptr;
  uint32_t waiters = 0;
  uint64_t deadline_ms = 0;  // monotonic; set when queued on the backend
  uint64_t sent_ns = 0;      // uv_hrtime() when written to the backend link, for the latency histogram
};

struct ReadThroughStats {
  uint64_t fetches = 0;    // backend GETs started
  uint64_t coalesced = 0;  // GETs that joined a fetch already in flight
};

// The in-flight table's key carries the hash the cache lookup already computed, so a miss hashes
// its key once. (With std::hash of a string, libstdc++ also answers finds in a table of up to 20
// keys by comparing the key with every entry.)
struct FetchKey {
  std::string_view key;
  uint64_t hash;
  bool operator==(const FetchKey& o) const noexcept { return key == o.key; }
};
struct FetchKeyHash {
  size_t operator()(const FetchKey& k) const noexcept { return k.hash; }
};

class ReadThrough {
 public:
  explicit ReadThrough(Server& server) : server_(server) {}
  ~ReadThrough();
  ReadThrough(const ReadThrough&) = delete;
  ReadThrough& operator=(const ReadThrough&) = delete;

  // Serves a GET for key into slot (whose conn and protocol are set): ready at once on a hit,
  // otherwise later, through Connection::complete().
  void get(std::string_view key, Slot* slot);

  // Called by the backend with the outcome of a fetch; the fetch is freed here.
  void complete(Fetch* f, const FetchResult& r);

  size_t inflight() const noexcept { return inflight_.size(); }
  const ReadThroughStats& stats() const noexcept { return stats_; }

 private:
  Fetch* newFetch();
  void freeFetch(Fetch* f) noexcept;

  static constexpr size_t kMaxFreeFetches = 1024;  // kept for reuse, with their key buffers
  static constexpr size_t kMaxKeptKeyBytes = 256;  // a longer key's buffer is not kept

  Server& server_;
  std::unordered_map<FetchKey, Fetch*, FetchKeyHash> inflight_;  // keys view Fetch::key
  std::vector<Fetch*> free_fetches_;
  ReadThroughStats stats_;
};

}  // namespace rcp
