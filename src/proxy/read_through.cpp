// Read-through and single-flight (see read_through.h).
#include "src/proxy/read_through.h"

#include <algorithm>
#include <cassert>
#include <new>
#include <stdexcept>

#include "resp/key_slot.h"
#include "resp/reply.h"

namespace rcp::proxy {

namespace {
// What a GET's reply (or an element of an MGET's) stands for. taken: the bulk hook took the bytes
// and built value (null if it could not); otherwise a bulk's entry is built from the frame.
// The message views the frame: valid during the completion only.
Lookup resultOf(std::string_view key, const resp::FrameView& v, bool taken, EntryRef value) {
  Lookup res;
  switch (v.type()) {
    case resp::FrameType::kBulk:
      if (!taken) {
        try {
          value = EntryRef::adopt(Entry::create(key, v.str()));
        } catch (const std::exception&) {  // out of memory, or a value over 4 GiB
          value.reset();
        }
      }
      if (value) {
        res.kind = Lookup::Kind::kValue;
        res.entry = std::move(value);
      } else {
        res.kind = Lookup::Kind::kBackendError;
        res.message = "ERR the proxy could not store the value (out of memory)";
      }
      break;
    case resp::FrameType::kNil: res.kind = Lookup::Kind::kNil; break;
    case resp::FrameType::kError:
      res.kind = v.str().starts_with("WRONGTYPE") ? Lookup::Kind::kWrongType : Lookup::Kind::kBackendError;
      res.message = v.str();
      break;
    default:
      res.kind = Lookup::Kind::kBackendError;
      res.message = "ERR unexpected reply type from Redis";
      break;
  }
  return res;
}
}  // namespace

// One backend GET and the waiters on it: a backend request owned by the read-through from start
// to completion (the upstream holds it in its queues meanwhile).
class ReadThrough::Fetch final : public backend::Request {
 public:
  explicit Fetch(ReadThrough& owner) : owner_(owner) {}

  // With tracking, the key's remaining life comes with its value (PTTL right behind the GET on the
  // same connection), so an entry never outlives the key in Redis.
  void encode(std::string& out) const override {
    resp::appendCommand(out, {"GET", key});
    if (with_ttl) resp::appendCommand(out, {"PTTL", key});
  }
  unsigned replies() const noexcept override { return with_ttl ? 2 : 1; }

  // The value is built straight from the reader's buffer: the one copy it needs.
  bool onBulk(const char* data, size_t len) noexcept override {
    try {
      value_ = EntryRef::adopt(Entry::create(key, {data, len}));
    } catch (const std::exception&) {  // out of memory, or a value over 4 GiB
      value_.reset();
    }
    return true;
  }

  void onReply(const resp::Frame& reply) override {
    if (!with_ttl) {
      owner_.complete(this, resultOf(key, reply.root(), reply.taken(), std::move(value_)), kNoExpiry);
      return;
    }
    if (!have_first_) {  // the GET's reply: kept until the PTTL's
      first_ = resultOf(key, reply.root(), reply.taken(), std::move(value_));
      message_.assign(first_.message);
      first_.message = message_;
      have_first_ = true;
      return;
    }
    resp::FrameView t = reply.root();
    owner_.complete(this, first_, t.type() == resp::FrameType::kInteger ? t.integer() : kNoExpiry);
  }

  // A GET may be asked again, unless half its replies were read (the rest would be out of step).
  bool retriable() const noexcept override { return !have_first_; }
  void onReplyLookup(const Lookup& res) { owner_.complete(this, res, kNoExpiry); }

  void onFailure(backend::Failure why, std::string_view detail) override {
    Lookup res;
    std::string refused;
    if (why == backend::Failure::kTooLarge) {  // Redis answered; the proxy refused the reply
      refused = "ERR " + std::string(detail);
      res.kind = Lookup::Kind::kBackendError;
      res.message = refused;
    } else {
      res.kind = why == backend::Failure::kTimeout ? Lookup::Kind::kTimeout : Lookup::Kind::kUnavailable;
      res.message = detail;
    }
    owner_.complete(this, res, kNoExpiry);
  }

  void reset() noexcept {
    key.clear();
    hash = epoch = 0;
    attached = with_ttl = have_first_ = false;
    first_ = {};
    message_.clear();
    waiters_head = waiters_tail = nullptr;
    value_.reset();
    deadline_ms = sent_ns = sent_ms = 0;
    retries = 0;
  }

  // The outcome for a value read some other way (an element of a batch's MGET reply).
  void completeWith(const Lookup& res, uint64_t sent_at, long long pttl, uint32_t from) {
    sent_ms = sent_at;
    node = from;
    owner_.complete(this, res, pttl);
  }
  Lookup resultFor(resp::FrameView v) const { return resultOf(key, v, false, {}); }

  std::string key;
  uint64_t hash = 0;
  uint64_t epoch = 0;     // the read-through's epoch when the fetch started
  bool attached = false;  // in the in-flight table: new GETs join it, its reply fills the cache
  bool with_ttl = false;  // PTTL is asked with the GET
  Waiter* waiters_head = nullptr;
  Waiter* waiters_tail = nullptr;

 private:
  ReadThrough& owner_;
  EntryRef value_;  // built by onBulk, handed out by onReply
  bool have_first_ = false;
  Lookup first_;          // with_ttl: the GET's outcome, waiting for the PTTL's
  std::string message_;   // first_'s message, which outlives the GET's frame
};

// The misses of one client MGET, fetched with one backend MGET; each key is a Fetch of its own in
// the in-flight table, so GETs join it and the reply completes each in turn.
class ReadThrough::Batch final : public backend::Request {
 public:
  Batch(std::vector<Fetch*> fetches, bool with_ttl) : fetches_(std::move(fetches)), with_ttl_(with_ttl) {}

  void encode(std::string& out) const override {
    resp::appendArrayHeader(out, static_cast<long long>(fetches_.size() + 1));
    out.append("$4\r\nMGET\r\n");
    for (const Fetch* f : fetches_) resp::appendBulk(out, f->key);
    if (with_ttl_)
      for (const Fetch* f : fetches_) resp::appendCommand(out, {"PTTL", f->key});
  }
  unsigned replies() const noexcept override { return with_ttl_ ? static_cast<unsigned>(fetches_.size()) + 1 : 1; }
  void onReply(const resp::Frame& reply) override {
    if (got_ == 0) {
      resp::FrameView r = reply.root();
      results_.resize(fetches_.size());
      if (r.type() == resp::FrameType::kArray && r.size() == fetches_.size()) {
        resp::FrameView e = r[0];
        for (size_t i = 0; i < fetches_.size(); ++i, e = i < fetches_.size() ? e.next() : e)
          results_[i] = fetches_[i]->resultFor(e);
      } else {
        error_ = r.type() == resp::FrameType::kError ? std::string(r.str()) : "ERR unexpected reply type from Redis";
        for (Lookup& res : results_) {
          res.kind = Lookup::Kind::kBackendError;
          res.message = error_;
        }
      }
      ttls_.assign(fetches_.size(), kNoExpiry);
    } else {
      resp::FrameView t = reply.root();
      if (t.type() == resp::FrameType::kInteger) ttls_[got_ - 1] = t.integer();
    }
    if (++got_ < replies()) return;
    for (size_t i = 0; i < fetches_.size(); ++i) fetches_[i]->completeWith(results_[i], sent_ms, ttls_[i], node);
    delete this;
  }
  void onFailure(backend::Failure why, std::string_view detail) override {
    std::string d(detail);
    for (Fetch* f : fetches_) f->onFailure(why, d);
    delete this;
  }
  bool retriable() const noexcept override { return got_ == 0; }

 private:
  std::vector<Fetch*> fetches_;
  bool with_ttl_;
  unsigned got_ = 0;               // replies read
  std::vector<Lookup> results_;    // the MGET's, per key, waiting for the PTTLs
  std::vector<long long> ttls_;
  std::string error_;
};

ReadThrough::ReadThrough(Loop& loop, LruCache& cache, backend::Upstream& upstream, const Config& config)
    : loop_(loop), cache_(cache), upstream_(upstream), config_(config) {}

ReadThrough::~ReadThrough() {
  assert(live_fetches_ == 0);
  for (Fetch* f : free_fetches_) delete f;
}

ReadThrough::Fetch* ReadThrough::newFetch() {
  ++live_fetches_;
  if (free_fetches_.empty()) return new Fetch(*this);
  Fetch* f = free_fetches_.back();
  free_fetches_.pop_back();
  return f;
}

void ReadThrough::freeFetch(Fetch* f) noexcept {
  --live_fetches_;
  if (free_fetches_.size() >= kMaxFreeFetches || f->key.capacity() > kMaxKeptKeyBytes) {
    delete f;
    return;
  }
  f->reset();
  free_fetches_.push_back(f);
}

EntryRef ReadThrough::get(std::string_view key, uint64_t hash, Waiter& w) {
  if (cache_.enabled()) {
    uint64_t now = loop_.nowMs();
    EntryRef e = cache_.get(key, hash, now);
    if (e) {
      maybeRefresh(*e.get(), key, hash, now);
      return e;
    }
  }
  if (Fetch* f = startFetch(key, hash, &w)) upstream_.submit(f);  // completes later, never inside this call
  return {};
}

void ReadThrough::refreshAhead(std::string_view key, uint64_t hash) {
  if (inflight_.count(FetchKey{key, hash}) != 0) return;  // one refresh (or miss) at a time
  ++stats_.refreshes_ahead;
  if (Fetch* f = startFetch(key, hash, nullptr)) upstream_.submit(f);  // its reply fills the cache, for nobody
}

// Joins the fetch in flight for key, or registers a new one (returned, for the caller to submit).
// w null: a background refresh, which nobody waits for (until a miss joins it).
ReadThrough::Fetch* ReadThrough::startFetch(std::string_view key, uint64_t hash, Waiter* w) {
  if (w != nullptr) w->next_waiter = nullptr;
  if (auto it = inflight_.find(FetchKey{key, hash}); it != inflight_.end()) {
    Fetch* f = it->second;
    if (f->waiters_tail == nullptr) f->waiters_head = w;  // a background refresh's first waiter
    else f->waiters_tail->next_waiter = w;
    f->waiters_tail = w;
    ++stats_.coalesced;
    return nullptr;
  }
  Fetch* f = newFetch();
  f->key.assign(key);
  f->hash = hash;
  f->epoch = epoch_;
  f->attached = true;
  f->with_ttl = config_.tracking != Config::Tracking::kOff && cache_.enabled();  // nothing stored: no PTTL
  f->waiters_head = f->waiters_tail = w;
  f->timeout_ms = config_.backend_timeout_ms;
  f->slot = upstream_.routesBySlot() ? resp::keySlot(f->key) : backend::Request::kAnySlot;
  inflight_.emplace(FetchKey{f->key, hash}, f);
  ++stats_.fetches;
  return f;
}

void ReadThrough::getMany(size_t n, const std::string_view* keys, Waiter* const* waiters, EntryRef* hits) {
  batch_.clear();
  uint64_t now = loop_.nowMs();
  for (size_t i = 0; i < n; ++i) {
    uint64_t hash = cache_.hashKey(keys[i]);
    if (cache_.enabled()) {
      hits[i] = cache_.get(keys[i], hash, now);
      if (hits[i]) {
        maybeRefresh(*hits[i].get(), keys[i], hash, now);
        continue;
      }
    }
    if (Fetch* f = startFetch(keys[i], hash, waiters[i])) batch_.push_back(f);
  }
  if (batch_.empty()) return;
  if (batch_.size() == 1) {
    upstream_.submit(batch_[0]);
    return;
  }
  if (!upstream_.routesBySlot()) {
    submitBatch(std::move(batch_));
    batch_ = {};
    return;
  }
  // A Redis Cluster answers an MGET of one slot only: one MGET per slot (a GET for a slot of one key).
  slots_.resize(batch_.size());
  for (size_t i = 0; i < batch_.size(); ++i) slots_[i] = static_cast<uint16_t>(batch_[i]->slot);
  groups_.build(slots_);
  for (const SlotGroups::Group& g : groups_.groups) {
    std::span<const uint32_t> items = groups_.of(g);
    if (items.size() == 1) {
      upstream_.submit(batch_[items[0]]);
      continue;
    }
    std::vector<Fetch*> fetches;
    fetches.reserve(items.size());
    for (uint32_t i : items) fetches.push_back(batch_[i]);
    submitBatch(std::move(fetches));
  }
  batch_.clear();
}

void ReadThrough::submitBatch(std::vector<Fetch*> fetches) {
  ++stats_.batches;
  int32_t slot = fetches.front()->slot;
  auto* b = new Batch(std::move(fetches), config_.tracking != Config::Tracking::kOff && cache_.enabled());
  b->timeout_ms = config_.backend_timeout_ms;
  b->slot = slot;
  upstream_.submit(b);
}

void ReadThrough::invalidateAllBy(DropCause cause) {
  bool link = cause == DropCause::kLinkLost || cause == DropCause::kReconnect || cause == DropCause::kPingDeadline;
  if (link && config_.stale_if_error_ms != 0) {
    // The proxy can no longer know of Redis's changes: nothing is served fresh again, but while
    // Redis stays unreachable what it held may be served stale (--stale-if-error); the entries are
    // dropped once tracking is back (setNodeStoring).
    ++stats_.marked_stale;
    cache_.markAllStale(loop_.nowMs());
    ++epoch_;
    for (auto& [k, f] : inflight_) f->attached = false;
    inflight_.clear();
  } else {
    dropAll();
  }
  changedAll();
  switch (cause) {
    case DropCause::kFlush: ++stats_.drops_flush; break;
    case DropCause::kSwapdb: ++stats_.drops_swapdb; break;
    case DropCause::kUnknownKeys: ++stats_.drops_unknown_keys; break;
    case DropCause::kNullMessage: ++stats_.drops_null_message; break;
    case DropCause::kLinkLost: ++stats_.drops_link_lost; break;
    case DropCause::kReconnect: ++stats_.drops_reconnect; break;
    case DropCause::kPingDeadline: ++stats_.drops_ping_deadline; break;
    case DropCause::kSlotMoved: ++stats_.drops_slot_moved; break;
    case DropCause::kFailover: ++stats_.drops_failover; break;
  }
}

bool ReadThrough::covered(std::string_view key) const noexcept {
  // Broadcast tracking with prefixes: Redis says nothing of keys outside them, so they are not kept.
  if (config_.tracking != Config::Tracking::kBcast || config_.tracking_prefixes.empty()) return true;
  for (const std::string& p : config_.tracking_prefixes)
    if (key.starts_with(p)) return true;
  return false;
}

void ReadThrough::setStoring(bool on) {
  if (on) invalidateAll();  // fills read before now were not covered
  storing_ = on;
}

void ReadThrough::trackNodes(bool on) {
  per_node_ = on;
  node_storing_.clear();
  invalidateAll();
}

void ReadThrough::setNodeStoring(backend::NodeId node, bool on) {
  if (node >= node_storing_.size()) node_storing_.resize(node + 1, 0);
  bool was = node_storing_[node] != 0;
  if (on) {
    // Fills read before now were not covered: voided (the cache itself stays, but what a lost link
    // left stale goes: tracking is back).
    if (cache_.staleCut()) cache_.clear();
    ++epoch_;
    for (auto& [k, f] : inflight_) f->attached = false;
    inflight_.clear();
  }
  node_storing_[node] = on ? 1 : 0;
  // Tracking is back after a gap: what changed in it was reported to nobody.
  if (on && !was) changedAll();
}

void ReadThrough::invalidate(std::string_view key) {
  drop(key);
  if (listener_ != nullptr) listener_->keyChanged(key, false);
}

void ReadThrough::drop(std::string_view key) {
  uint64_t hash = cache_.hashKey(key);
  cache_.erase(key, hash);
  if (auto it = inflight_.find(FetchKey{key, hash}); it != inflight_.end()) {
    it->second->attached = false;  // its waiters still get the reply; it fills nothing
    inflight_.erase(it);
  }
}

void ReadThrough::invalidateAll() {
  dropAll();
  changedAll();
}

void ReadThrough::dropAll() {
  cache_.clear();
  ++epoch_;
  for (auto& [k, f] : inflight_) f->attached = false;
  inflight_.clear();
}

void ReadThrough::complete(Fetch* f, const Lookup& r, long long pttl) {
  if (f->attached) {
    size_t erased = inflight_.erase(FetchKey{f->key, f->hash});
    assert(erased == 1);
    (void)erased;
  }
  if (r.kind == Lookup::Kind::kValue) {
    // The value is as old as the request that read it: its age counts from the send, so a slow
    // reply does not extend its life past --ttl.
    // A reply slower than --ttl is served to its waiters but not stored.
    bool fresh = loop_.nowMs() - f->sent_ms < cache_.ttlMs();
    // The key's own remaining life in Redis (PTTL: -1 none, -2 gone since the GET, else ms) caps
    // the entry's: its stored time is moved back so that it expires when the key does.
    uint64_t ttl = cache_.ttlMs(), stored = f->sent_ms;
    bool alive = pttl == kNoExpiry || pttl > 0;
    uint64_t shift = 0;
    if (pttl > 0 && static_cast<uint64_t>(pttl) < ttl) {
      shift = std::min<uint64_t>(ttl - static_cast<uint64_t>(pttl), stored);
      stored -= shift;
      ++stats_.key_ttl_capped;
    }
    r.entry->setReadShiftMs(static_cast<uint32_t>(std::min<uint64_t>(shift, UINT32_MAX)));
    if (f->attached && f->epoch == epoch_ && fresh && alive && storing_ && nodeStoring(f->node) && covered(f->key))
      cache_.put(r.entry.get(), f->hash, stored);
    else ++stats_.fills_voided;
  } else if (r.kind == Lookup::Kind::kNil && config_.negative_ttl_ms != 0 && per_node_ && nodeStoring(f->node) &&
             storing_ && f->attached &&
             f->epoch == epoch_ && covered(f->key) && loop_.nowMs() - f->sent_ms < cache_.ttlMs()) {
    // Negative caching: Redis tracks a key read while missing, so its creation invalidates this.
    uint64_t ttl = cache_.ttlMs(), life = std::min(ttl, config_.negative_ttl_ms);
    uint64_t shift = ttl - life, stored = f->sent_ms > shift ? f->sent_ms - shift : 0;
    try {
      EntryRef absent = EntryRef::adopt(Entry::createAbsent(f->key));
      cache_.put(absent.get(), f->hash, stored);
      ++stats_.negative_stored;
    } catch (const std::exception&) {  // out of memory: nothing cached, nothing lost
    }
  }
  // Stale-if-error: Redis could not be asked, and the cache holds the key's value past its life
  // (expired, or made stale by a lost link) within --stale-if-error: that is served instead.
  Lookup stale;
  const Lookup* out = &r;
  if ((r.kind == Lookup::Kind::kUnavailable || r.kind == Lookup::Kind::kTimeout) && config_.stale_if_error_ms != 0) {
    EntryRef e = cache_.getStale(f->key, f->hash, loop_.nowMs());
    if (e && !e->absent()) {
      stale.kind = Lookup::Kind::kValue;
      stale.entry = std::move(e);
      stale.stale = true;
      out = &stale;
      ++stats_.stale_served;
    }
  }
  for (Waiter* w = f->waiters_head; w != nullptr;) {
    Waiter* next = w->next_waiter;
    w->next_waiter = nullptr;
    w->onResult(*out);  // may free w
    w = next;
  }
  freeFetch(f);
}

}  // namespace rcp::proxy
