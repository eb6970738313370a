// Read-through and single-flight (see read_through.h).
#include "src/read_through.h"

#include <cassert>

#include "src/connection.h"
#include "src/server.h"

namespace rcp {

namespace {
constexpr size_t kPrefetchValueBytes = 256;  // values up to this size are prefetched on a hit
}  // namespace

ReadThrough::~ReadThrough() {
  assert(inflight_.empty());
  for (Fetch* f : free_fetches_) delete f;
}

Fetch* ReadThrough::newFetch() {
  if (free_fetches_.empty()) return new Fetch();
  Fetch* f = free_fetches_.back();
  free_fetches_.pop_back();
  return f;
}

void ReadThrough::freeFetch(Fetch* f) noexcept {
  if (free_fetches_.size() >= kMaxFreeFetches || f->key.capacity() > kMaxKeptKeyBytes) {
    delete f;
    return;
  }
  f->key.clear();
  f->hash = 0;
  f->waiters_head = f->waiters_tail = nullptr;
  f->waiters = 0;
  f->deadline_ms = f->sent_ns = 0;
  free_fetches_.push_back(f);
}

void ReadThrough::get(std::string_view key, Slot* slot) {
  LruCache& cache = server_.cache();
  uint64_t hash = LruCache::hashKey(key);
  if (cache.enabled()) {
    EntryRef e = cache.get(key, hash, server_.nowMs());
    if (e) {
      server_.countGet(slot->http, Outcome::kHit);
      FetchResult r{FetchResult::Kind::kValue, std::move(e), {}};
      if (slot->http) {
        renderResult(*slot, r, server_.httpDate());
      } else {  // the hot path: no formatting at all
        // The reply is copied out at the end of the loop turn; start loading the value's lines
        // now (the first is already here: the lookup read the key next to it).
        std::string_view bulk = r.entry->respBulk();
        for (size_t off = 64; off < bulk.size() && off <= kPrefetchValueBytes; off += 64) __builtin_prefetch(bulk.data() + off);
        slot->entry = std::move(r.entry);
        slot->body = Slot::Body::kRespBulk;
        slot->ready = true;
      }
      return;
    }
  }
  if (auto it = inflight_.find(FetchKey{key, hash}); it != inflight_.end()) {
    Fetch* f = it->second;
    f->waiters_tail->next_waiter = slot;
    f->waiters_tail = slot;
    ++f->waiters;
    ++stats_.coalesced;
    return;
  }
  Fetch* f = newFetch();
  f->key.assign(key);
  f->hash = hash;
  f->waiters_head = f->waiters_tail = slot;
  f->waiters = 1;
  inflight_.emplace(FetchKey{f->key, hash}, f);
  ++stats_.fetches;
  server_.backend().submit(f);  // may complete f at once (backend down): f is not used after this
}

void ReadThrough::complete(Fetch* f, const FetchResult& r) {
  size_t erased = inflight_.erase(FetchKey{f->key, f->hash});
  assert(erased == 1);
  (void)erased;
  if (r.kind == FetchResult::Kind::kValue) server_.cache().put(r.entry.get(), f->hash, server_.nowMs());
  std::string_view date = server_.httpDate();
  Outcome outcome = r.kind == FetchResult::Kind::kValue || r.kind == FetchResult::Kind::kNil ? Outcome::kMiss : Outcome::kError;
  for (Slot* s = f->waiters_head; s != nullptr;) {
    Slot* next = s->next_waiter;
    s->next_waiter = nullptr;
    if (s->conn == nullptr) {
      server_.slots().put(s);  // its client left while the fetch was in flight
    } else {
      server_.countGet(s->http, outcome);
      renderResult(*s, r, date);
      s->conn->slotReady();
    }
    s = next;
  }
  freeFetch(f);
}

}  // namespace rcp
