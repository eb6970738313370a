// RESP session (see resp_session.h).
#include "src/client/resp_session.h"

#include <algorithm>
#include <cstring>

#include "cache/lru_cache.h"
#include "resp/commands.h"
#include "resp/reply.h"
#include "src/client/clients.h"
#include "src/client/connection.h"
#include "src/client/local_commands.h"

namespace rcp::client {

namespace {
resp::RequestLimits limitsFrom(const Config& c) {
  resp::RequestLimits l;
  l.max_request_bytes = c.max_request_bytes;
  l.max_inline_bytes = std::min<size_t>(c.max_request_bytes, 64 << 10);
  return l;
}

std::string quoteArgs(const std::vector<std::string_view>& args) {
  std::string s;
  for (size_t i = 1; i < args.size() && s.size() < 128; ++i) {
    s += '\'';
    s.append(args[i].substr(0, 128));
    s += "' ";
  }
  return s;
}
}  // namespace

RespSession::RespSession(Connection& conn) : conn_(conn), parser_(limitsFrom(conn.clients().config())) {}

void RespSession::onData(const char* data, size_t len) {
  parser_.feed(data, len);
  run();
}

void RespSession::run() {
  while (conn_.canTakeRequest()) {
    if (prefetched_ == 0) {
      ahead_n_ = ahead_at_ = 0;
      prefetchAhead();
    } else {
      --prefetched_;
      ++ahead_at_;
    }
    auto st = parser_.next();
    if (st == resp::RequestParser::Status::kNeedMore) {
      prefetched_ = 0;  // the input is used up: the next batch starts with a look-ahead
      ahead_n_ = 0;
      return;
    }
    if (st == resp::RequestParser::Status::kError) {
      ++conn_.clients().stats().protocol_errors;
      resp::appendError(reply(), "ERR " + parser_.error());
      conn_.closeAfterWrite();
      return;
    }
    dispatch(parser_.args());
    conn_.requestQueued();
  }
}

// A pipelined batch of GETs over a cache bigger than the CPU's caches would wait on several misses
// per request (the bucket, the entry, its LRU neighbours), one after the other. Peeking at the
// requests behind the current one and prefetching for all of them at once overlaps those waits.
void RespSession::prefetchAhead() {
  if (!conn_.clients().readThrough().cacheEnabled()) return;
  std::string_view rest = parser_.unparsed();
  if (rest.size() < kMinBatchBytes) return;  // one request, or none: nothing to overlap
  std::string_view key;
  size_t len = resp::peekGet(rest, &key);
  if (len == 0 || len == rest.size()) return;  // not a GET, or a lone request: nothing to overlap
  uint64_t hashes[kPrefetchRequests];
  size_t n = 0;
  do {
    Ahead& a = ahead_[n];
    a.hash = hashes[n] = conn_.clients().readThrough().hashKey(key);
    a.len = key.size() <= kAheadKeyBytes ? static_cast<uint32_t>(key.size()) : 0;
    if (a.len != 0) std::memcpy(a.key, key.data(), a.len);
    ++n;
    rest.remove_prefix(len);
  } while (n < kPrefetchRequests && (len = resp::peekGet(rest, &key)) != 0);
  ahead_n_ = n;
  conn_.clients().readThrough().prefetch(hashes, n);
  prefetched_ = n - 1;  // the request about to be parsed is the first of them
}

std::string& RespSession::reply() { return conn_.pushReply()->first.text; }

void RespSession::dispatch(const std::vector<std::string_view>& args) {
  Clients& clients = conn_.clients();
  ++clients.stats().resp_requests;
  if (args.size() == 2 && resp::isGetName(args[0])) return get(args[1]);  // the hot path
  const resp::CommandSpec* spec = resp::lookupCommand(args[0]);
  if (spec == nullptr) {
    ++clients.stats().unknown_commands;
    resp::appendError(reply(), "ERR unknown command '" + resp::oneLine(args[0].substr(0, 128)) +
                                   "', with args beginning with: " + resp::oneLine(quoteArgs(args)));
    return;
  }
  if (!resp::arityOk(*spec, args.size())) {
    resp::appendError(reply(), "ERR wrong number of arguments for '" + std::string(spec->name) + "' command");
    return;
  }
  if (spec->cmd == resp::Cmd::kGet) return get(args[1]);
  ++clients.stats().local_commands;
  LocalClient local{conn_.id(), conn_.name()};
  runLocalCommand(*spec, args, local, clients.host(), reply());
  if (local.quit) conn_.closeAfterWrite();
}

void RespSession::get(std::string_view key) {
  Clients& clients = conn_.clients();
  if (key.size() > clients.config().max_key_bytes) {
    clients.stats().countGet(Proto::kResp, Outcome::kError);
    resp::appendError(reply(), "ERR key is too long (over --max-key-bytes, " +
                                   std::to_string(clients.config().max_key_bytes) + " bytes)");
    return;
  }
  Reply* r = conn_.pushReply();
  proxy::ReadThrough& rt = clients.readThrough();
  const Ahead* a = ahead_at_ < ahead_n_ ? &ahead_[ahead_at_] : nullptr;
  bool seen = a != nullptr && a->len == key.size() && a->len != 0 && std::memcmp(a->key, key.data(), a->len) == 0;
  EntryRef e = rt.get(key, seen ? a->hash : rt.hashKey(key), r->first);
  if (!e) {
    r->pending = 1;  // the lookup fills the part later (render)
    return;
  }
  // The hot path: no formatting at all. The reply is copied out at the end of the loop turn;
  // start loading the value's lines now (the first is already here: the lookup read the key).
  clients.stats().countGet(Proto::kResp, Outcome::kHit);
  std::string_view bulk = e->respBulk();
  for (size_t off = 64; off < bulk.size() && off <= kPrefetchValueBytes; off += 64) __builtin_prefetch(bulk.data() + off);
  r->first.setBody(std::move(e), Part::Body::kRespBulk);
}

void RespSession::render(Reply&, Part& part, const proxy::Lookup& r) {
  using K = proxy::Lookup::Kind;
  conn_.clients().stats().countGet(Proto::kResp, r.found() ? Outcome::kMiss : Outcome::kError);
  switch (r.kind) {
    case K::kValue: part.setBody(r.entry, Part::Body::kRespBulk); break;
    case K::kNil: resp::appendNil(part.text); break;
    case K::kWrongType:
    case K::kBackendError: resp::appendError(part.text, resp::oneLine(r.message)); break;
    case K::kUnavailable: resp::appendError(part.text, "ERR backend unavailable: " + resp::oneLine(r.message)); break;
    case K::kTimeout: resp::appendError(part.text, "ERR backend timeout"); break;
  }
}

}  // namespace rcp::client
