// GET and MGET through the cache (see cache_reads.h).
#include "src/client/cache_reads.h"

#include <cstring>

#include "resp/reply.h"
#include "resp/request_parser.h"

namespace rcp::client {

// A pipelined batch of GETs over a cache bigger than the CPU's caches would wait on several misses
// per request (the bucket, the entry, its LRU neighbours), one after the other. Peeking at the
// requests behind the current one and prefetching for all of them at once overlaps those waits.
void CacheReads::prefetchAhead(std::string_view rest) {
  if (!ctx_.read_through.cacheEnabled()) return;
  if (rest.size() < kMinBatchBytes) return;  // one request, or none: nothing to overlap
  std::string_view key;
  size_t len = resp::peekGet(rest, &key);
  if (len == 0 || len == rest.size()) return;  // not a GET, or a lone request: nothing to overlap
  uint64_t hashes[kPrefetchRequests];
  size_t n = 0;
  do {
    Ahead& a = ahead_[n];
    a.hash = hashes[n] = ctx_.read_through.hashKey(key);
    a.len = key.size() <= kAheadKeyBytes ? static_cast<uint32_t>(key.size()) : 0;
    if (a.len != 0) std::memcpy(a.key, key.data(), a.len);
    ++n;
    rest.remove_prefix(len);
  } while (n < kPrefetchRequests && (len = resp::peekGet(rest, &key)) != 0);
  ahead_n_ = n;
  ctx_.read_through.prefetch(hashes, n);
  prefetched_ = n - 1;  // the request about to be parsed is the first of them
}

uint32_t CacheReads::get(Connection& conn, std::string_view key, int proto) {
  Reply* r = conn.pushReply();
  proxy::ReadThrough& rt = ctx_.read_through;
  const Ahead* a = ahead_at_ < ahead_n_ ? &ahead_[ahead_at_] : nullptr;
  bool seen = a != nullptr && a->len == key.size() && a->len != 0 && std::memcmp(a->key, key.data(), a->len) == 0;
  EntryRef e = rt.get(key, seen ? a->hash : rt.hashKey(key), r->first);
  if (!e) {
    r->pending = 1;  // the lookup fills the part later (render)
    return 1;
  }
  // The hot path: no formatting at all. The reply is copied out at the end of the loop turn;
  // start loading the value's lines now (the first is already here: the lookup read the key).
  ctx_.stats.countGet(Proto::kResp, Outcome::kHit);
  if (e->absent()) {  // "no such key", cached (--negative-ttl)
    resp::appendNull(r->first.text, proto);
    return 0;
  }
  std::string_view bulk = e->respBulk();
  for (size_t off = 64; off < bulk.size() && off <= kPrefetchValueBytes; off += 64) __builtin_prefetch(bulk.data() + off);
  r->first.setBody(std::move(e), Part::Body::kRespBulk);
  return 0;
}

uint32_t CacheReads::mget(Connection& conn, const Args& args, int proto) {
  size_t n = args.size() - 1;
  Reply* r = conn.pushReply();
  r->setParts(static_cast<uint16_t>(n));
  resp::appendArrayHeader(r->first.text, static_cast<long long>(n));
  waiters_.resize(n);
  hits_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    Part& p = r->part(i);
    p.tag = Part::Tag::kMget;
    waiters_[i] = &p;
  }
  ctx_.read_through.getMany(n, args.data() + 1, waiters_.data(), hits_.data());
  ++ctx_.stats.mgets;
  for (size_t i = 0; i < n; ++i) {
    if (hits_[i]) {
      ctx_.stats.countGet(Proto::kResp, Outcome::kHit);
      if (hits_[i]->absent()) {
        hits_[i].reset();
        resp::appendNull(r->part(i).text, proto);
        continue;
      }
      r->part(i).setBody(std::move(hits_[i]), Part::Body::kRespBulk);
    } else {
      ++r->pending;
    }
  }
  return r->pending;
}

void CacheReads::render(Reply& reply, Part& part, const proxy::Lookup& r, int proto) {
  using K = proxy::Lookup::Kind;
  ctx_.stats.countGet(Proto::kResp, r.found() ? Outcome::kMiss : Outcome::kError);
  bool in_mget = part.tag == Part::Tag::kMget;
  switch (r.kind) {
    case K::kValue: part.setBody(r.entry, Part::Body::kRespBulk); return;
    case K::kNil: resp::appendNull(part.text, proto); return;
    case K::kWrongType:
      if (in_mget) {  // MGET answers nil for a key that holds something else, as Redis does
        resp::appendNull(part.text, proto);
        return;
      }
      [[fallthrough]];
    case K::kBackendError:
    case K::kReply:
    case K::kEncoded: resp::appendError(part.text, resp::oneLine(r.message)); break;
    case K::kUnavailable: resp::appendError(part.text, "ERR backend unavailable: " + resp::oneLine(r.message)); break;
    case K::kTimeout: resp::appendError(part.text, "ERR backend timeout"); break;
  }
  if (in_mget) {
    part.error = true;
    reply.failed = true;
  }
}

void CacheReads::finish(Reply& reply) {
  std::string err;
  for (size_t i = 0; i < reply.nparts; ++i) {
    Part& p = reply.part(i);
    if (p.error && err.empty()) err = std::move(p.text);
    p.text.clear();
    p.entry.reset();
    p.body = {};
  }
  reply.nparts = 1;
  reply.first.text = std::move(err);
}

}  // namespace rcp::client
