// RESP session (see resp_session.h).
#include "src/client/resp_session.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "cache/lru_cache.h"
#include "resp/frame.h"
#include "resp/key_slot.h"
#include "resp/redact.h"
#include "resp/reply.h"
#include "src/client/clients.h"
#include "src/client/connection.h"
#include "src/client/local_commands.h"

namespace rcp::client {

namespace {
using resp::Cmd;
using resp::equalsIgnoreCase;

bool isConfigGet(const std::vector<std::string_view>& args) noexcept {
  return args.size() >= 2 && equalsIgnoreCase(args[0], "config") && equalsIgnoreCase(args[1], "get");
}

// Redis's reply with the CONFIG GET replies in it redacted (Part::redact).
void encodeRedacted(resp::FrameView root, const std::vector<uint32_t>& redact, std::string& out) {
  if (redact.front() == Part::kRedactWhole) {
    resp::encodeConfigRedacted(root, out);
    return;
  }
  if (root.type() != resp::FrameType::kArray || root.size() == 0) {  // EXEC aborted, or an error
    root.encode(out);
    return;
  }
  resp::appendArrayHeader(out, static_cast<long long>(root.size()));
  resp::FrameView e = root[0];
  for (uint32_t i = 0; i < root.size(); ++i, e = i < root.size() ? e.next() : e) {
    if (std::find(redact.begin(), redact.end(), i) != redact.end()) resp::encodeConfigRedacted(e, out);
    else e.encode(out);
  }
}

resp::RequestLimits limitsFrom(const Config& c) {
  resp::RequestLimits l;
  l.max_request_bytes = c.max_request_bytes;
  l.max_inline_bytes = std::min<size_t>(c.max_request_bytes, 64 << 10);
  return l;
}

constexpr std::string_view kCrossSlot = "CROSSSLOT Keys in request don't hash to the same slot";

std::string lowerName(std::string_view s) {
  std::string out(s.substr(0, 64));
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
  return resp::oneLine(out);
}

// A pub/sub PING's reply: "pong" in subscribed mode, +PONG once the connection has left it.
bool isPong(const resp::FrameView& f, bool* simple) {
  if (f.type() == resp::FrameType::kSimple && f.str() == "PONG") {
    *simple = true;
    return true;
  }
  *simple = false;
  return f.type() == resp::FrameType::kArray && f.size() == 2 && f[0].type() == resp::FrameType::kBulk &&
         f[0].str() == "pong";
}

constexpr uint64_t kNoDeadline = 0;

// SELECT's argument as a database index; -1 for anything Redis would refuse.
int dbIndex(std::string_view s) noexcept {
  int n = -1;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  return ec == std::errc() && p == s.data() + s.size() && n >= 0 ? n : -1;
}
}  // namespace

RespSession::RespSession(Connection& conn)
    : conn_(conn), clients_(conn.clients()), parser_(limitsFrom(conn.clients().config())),
      authed_(conn.clients().config().requirepass.empty()), db_(conn.clients().config().redis.db),
      configured_db_(conn.clients().config().redis.db), connected_ms_(conn.clients().loop().nowMs()) {}

RespSession::~RespSession() {
  if (proto_ == 3) --clients_.stats().resp3_clients;
  // The connection is gone: a pinned connection it held goes with it (Redis drops the client's
  // state, unblocks a blocked command, ends its subscriptions).
  if (pinned_ != nullptr) clients_.pinnedPool().release(std::exchange(pinned_, nullptr), false);
}

void RespSession::onData(const char* data, size_t len) {
  parser_.feed(data, len);
  run();
}

void RespSession::run() {
  while (conn_.canTakeRequest()) {
    if (holding_) {
      std::vector<std::string_view> args(held_.begin(), held_.end());
      Reply* tail = conn_.tailReply();
      raw_request_ = {};
      if (!dispatch(args)) return;  // still waiting
      holding_ = false;
      held_.clear();
      conn_.requestDone(tail != conn_.tailReply());
      continue;
    }
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
      ++clients_.stats().protocol_errors;
      resp::appendError(reply(), "ERR " + parser_.error());
      conn_.closeAfterWrite();
      return;
    }
    ++clients_.stats().resp_requests;
    if (proto_ == 3) ++clients_.stats().resp3_requests;
    Reply* tail = conn_.tailReply();
    raw_request_ = parser_.raw();
    if (!dispatch(parser_.args())) {
      hold(parser_.args());
      return;
    }
    conn_.requestDone(tail != conn_.tailReply());
  }
}

void RespSession::hold(const Args& args) {
  holding_ = true;
  held_.assign(args.begin(), args.end());
  prefetched_ = 0;
  ahead_n_ = 0;
}

// A pipelined batch of GETs over a cache bigger than the CPU's caches would wait on several misses
// per request (the bucket, the entry, its LRU neighbours), one after the other. Peeking at the
// requests behind the current one and prefetching for all of them at once overlaps those waits.
void RespSession::prefetchAhead() {
  if (!clients_.readThrough().cacheEnabled()) return;
  std::string_view rest = parser_.unparsed();
  if (rest.size() < kMinBatchBytes) return;  // one request, or none: nothing to overlap
  std::string_view key;
  size_t len = resp::peekGet(rest, &key);
  if (len == 0 || len == rest.size()) return;  // not a GET, or a lone request: nothing to overlap
  uint64_t hashes[kPrefetchRequests];
  size_t n = 0;
  do {
    Ahead& a = ahead_[n];
    a.hash = hashes[n] = clients_.readThrough().hashKey(key);
    a.len = key.size() <= kAheadKeyBytes ? static_cast<uint32_t>(key.size()) : 0;
    if (a.len != 0) std::memcpy(a.key, key.data(), a.len);
    ++n;
    rest.remove_prefix(len);
  } while (n < kPrefetchRequests && (len = resp::peekGet(rest, &key)) != 0);
  ahead_n_ = n;
  clients_.readThrough().prefetch(hashes, n);
  prefetched_ = n - 1;  // the request about to be parsed is the first of them
}

std::string& RespSession::reply() { return conn_.pushReply()->first.text; }

bool RespSession::dispatch(const Args& args) {
  // The hot paths: a GET or an MGET from a client with no state of its own, nothing to wait for.
  if (authed_ && clients_.config().deny_commands.empty() && ready(Route::kShared)) {
    if (resp::isGetName(args[0]) && cacheServes(Cmd::kGet, args)) {
      get(args[1]);
      return true;
    }
    if (resp::isMgetName(args[0]) && cacheServes(Cmd::kMget, args)) {
      mget(args);
      return true;
    }
  }
  return dispatchSlow(args);
}

bool RespSession::cacheServes(Cmd id, const Args& args) const noexcept {
  if (pinnedState()) return false;  // a watching connection, another database: read where the state is
  size_t max_key = clients_.config().max_key_bytes;
  if (id == Cmd::kGet) return args.size() == 2 && args[1].size() <= max_key;
  if (args.size() < 2 || args.size() - 1 > kMaxCachedMgetKeys) return false;
  for (size_t i = 1; i < args.size(); ++i)
    if (args[i].size() > max_key) return false;
  return true;
}

bool RespSession::dispatchSlow(const Args& args) {
  const Config& config = clients_.config();
  const resp::CommandSpec* spec = clients_.commands().find(args[0]);
  Cmd id = spec != nullptr ? spec->cmd : resp::commandId(args[0]);

  if (!authed_ && id != Cmd::kAuth && id != Cmd::kHello && id != Cmd::kQuit && id != Cmd::kReset) {
    resp::appendError(reply(), "NOAUTH Authentication required.");
    return true;
  }
  for (const std::string& denied : config.deny_commands) {
    if (equalsIgnoreCase(denied, args[0])) {
      ++clients_.stats().denied_commands;
      resp::appendError(reply(), "ERR command '" + lowerName(args[0]) + "' is disabled on this proxy (--deny-commands)");
      return true;
    }
  }
  if (id == Cmd::kQuit) {
    local(id, args);
    return true;
  }
  if (id == Cmd::kReset) {
    if (outstanding_ > 0 || marker_pending_) return false;
    resetState(false);
    name_.clear();
    setProto(2);  // RESET goes back to RESP2, as in Redis
    authed_ = clients_.config().requirepass.empty();
    resp::appendSimple(reply(), "RESET");
    return true;
  }
  if (stream_ != Stream::kOff) return dispatchStream(id, args);
  if (multi_) return dispatchInMulti(id, spec, args);
  if (id == Cmd::kHello) return dispatchHello(args);

  switch (id) {
    case Cmd::kGet:
    case Cmd::kMget:
      if (!cacheServes(id, args)) break;  // forwarded
      if (!ready(Route::kShared)) return false;
      if (id == Cmd::kGet) get(args[1]);
      else mget(args);
      return true;
    case Cmd::kClient: return dispatchClient(args);
    case Cmd::kSelect: return dispatchSelect(args);
    case Cmd::kMulti:
    case Cmd::kWatch: {
      Route route = pinned_ != nullptr ? Route::kPinned : Route::kStream;  // kStream: wait for everything
      if (!ready(route)) return false;
      if (pinned_ == nullptr && !acquirePinned()) return true;
      int32_t slot = kSlotUnknown;
      if (id == Cmd::kWatch && crossSlot(spec, args, &slot)) {
        resp::appendError(reply(), kCrossSlot);
        maybeRelease();
        return true;
      }
      (id == Cmd::kMulti ? multi_ : watching_) = true;
      if (id == Cmd::kMulti) {
        multi_queued_ = 0;
        exec_redact_.clear();
      }
      if (id == Cmd::kMulti && clients_.clustered() && !pinned_->opened()) {
        // In front of a cluster the transaction's node is its first key's: MULTI waits on the
        // connection until that key comes (or EXEC), and is answered now, as Redis answers it.
        pinned_->deferKeyless(true);
        clients_.forwarder().forward(*pinned_, args, discard_, config.backend_timeout_ms);
        resp::appendSimple(reply(), "OK");
        return true;
      }
      forward(Route::kPinned, args, Part::Tag::kPinned, config.backend_timeout_ms, nullptr, slot);
      return true;
    }
    case Cmd::kExec:
    case Cmd::kDiscard: return dispatchExec(id, args);
    case Cmd::kUnwatch: return dispatchUnwatch(args);
    case Cmd::kSubscribe:
    case Cmd::kUnsubscribe: return startStream(Stream::kPubSub, id, args);
    case Cmd::kMonitor: return startStream(Stream::kMonitor, id, args);
    case Cmd::kInfo: {
      // Asked for the proxy's sections only, the proxy answers alone (so INFO backend works while
      // Redis hangs); otherwise its sections are taken now and wait in the part for Redis's.
      bool proxy_only = false;
      std::string mine = proxyInfo(args, &proxy_only);
      if (proxy_only) {
        ++clients_.stats().local_commands;
        resp::appendVerbatim(reply(), mine, proto_);
        return true;
      }
      Route route = pinned_ != nullptr ? Route::kPinned : sharedRoute();
      if (!ready(route)) return false;
      forward(route, args, Part::Tag::kInfo, config.backend_timeout_ms, nullptr);
      conn_.tailReply()->first.text = std::move(mine);
      return true;
    }
    default:
      if (isLocal(id, args)) {
        local(id, args);
        return true;
      }
      break;
  }
  return dispatchCommand(spec, args);
}

std::string RespSession::proxyInfo(const Args& args, bool* proxy_only) const {
  if (args.size() == 1) return clients_.host().info("default");
  std::string mine;
  *proxy_only = true;
  for (size_t i = 1; i < args.size(); ++i) {
    bool everything = equalsIgnoreCase(args[i], "all") || equalsIgnoreCase(args[i], "everything");
    std::string section = clients_.host().info(args[i]);
    *proxy_only &= !section.empty() && !everything && !equalsIgnoreCase(args[i], "default");
    if (!section.empty()) mine.append(mine.empty() ? "" : "\r\n").append(section);
    if (everything) break;  // every section of the proxy's is in already
  }
  return mine;
}

// Everything else: forwarded on the shared link, or on the pinned connection while the client has
// one; a blocking command gets a pinned connection of its own, with no deadline.
bool RespSession::dispatchCommand(const resp::CommandSpec* spec, const Args& args) {
  const Config& config = clients_.config();
  bool blocking = spec != nullptr && resp::blocks(*spec, args);
  int32_t slot = kSlotUnknown;
  if (clients_.clustered()) {
    if (pinned_ == nullptr && !blocking) {
      bool waits = false;
      if (dispatchCluster(spec, args, &waits, &slot)) return !waits;
    } else if (crossSlot(spec, args, &slot)) {
      resp::appendError(reply(), kCrossSlot);
      return true;
    }
  }
  Route route = blocking ? Route::kBlocking : pinned_ != nullptr ? Route::kPinned : sharedRoute();
  if (!ready(route)) return false;
  if (blocking && pinned_ == nullptr && !acquirePinned()) return true;
  // On the link that fills the cache, a write is ordered before every later fill; on any other,
  // a fill sent after it may reach Redis first, so its keys are dropped again at its reply.
  proxy::Forwarder::After& after = after_;  // empty: forward() takes what it holds
  invalidateWrites(spec, args, route == Route::kShared ? nullptr : &after);
  bool shared = route == Route::kShared || route == Route::kShared3;
  forward(route, args, shared ? Part::Tag::kForward : Part::Tag::kPinned,
          blocking ? kNoDeadline : config.backend_timeout_ms, after.empty() ? nullptr : &after, slot);
  return true;
}

bool RespSession::dispatchInMulti(Cmd id, const resp::CommandSpec* spec, const Args& args) {
  if (id == Cmd::kExec || id == Cmd::kDiscard) return dispatchExec(id, args);
  if (!ready(Route::kPinned)) return false;
  // In front of a cluster a transaction runs on one node, every key in one slot: Redis Cluster
  // aborts it otherwise.
  int32_t slot = kSlotUnknown;
  if (crossSlot(spec, args, &slot)) {
    resp::appendError(reply(), kCrossSlot);
    multi_aborted_ = true;
    return true;
  }
  // Queued, not run: its writes happen at EXEC, whose keys are invalidated then and again when it answers.
  if (spec == nullptr) {
    exec_after_.all |= !clients_.commands().learned();
  } else if (db_ == configured_db_ && (resp::mayWrite(*spec))) {
    keys_.clear();
    if (spec->cmd == Cmd::kFlush || !resp::writtenKeys(*spec, args, keys_)) exec_after_.all = true;
    for (std::string_view k : keys_) exec_after_.add(k);
  }
  if (id == Cmd::kSelect && args.size() == 2) db_ = dbIndex(args[1]);
  if (id == Cmd::kHello || id == Cmd::kClient) tainted_ = true;  // run at EXEC: the connection may change protocol or mode
  if (isConfigGet(args)) exec_redact_.push_back(multi_queued_);
  ++multi_queued_;
  forward(Route::kPinned, args, Part::Tag::kPinned, clients_.config().backend_timeout_ms, nullptr, slot);
  return true;
}

bool RespSession::dispatchExec(Cmd id, const Args& args) {
  if (!multi_ && !watching_) {
    resp::appendError(reply(), id == Cmd::kExec ? "ERR EXEC without MULTI" : "ERR DISCARD without MULTI");
    return true;
  }
  if (!ready(Route::kPinned)) return false;
  proxy::Forwarder::After after;
  if (id == Cmd::kExec && multi_) {
    if (exec_after_.all) clients_.readThrough().invalidateAllBy(proxy::ReadThrough::DropCause::kUnknownKeys);
    exec_after_.forEach([this](std::string_view k) { clients_.readThrough().invalidateWritten(k); });
    after = std::move(exec_after_);
  }
  exec_after_.clear();
  bool aborted = std::exchange(multi_aborted_, false) && multi_ && id == Cmd::kExec;
  multi_ = watching_ = false;
  if (pinned_ != nullptr) pinned_->deferKeyless(false);
  if (aborted) {  // the proxy refused a queued command: the transaction is discarded, as Redis would
    static const std::string_view kDiscard[] = {"DISCARD"};
    forward(Route::kPinned, Args(std::begin(kDiscard), std::end(kDiscard)), Part::Tag::kAborted,
            clients_.config().backend_timeout_ms, nullptr);
    return true;
  }
  forward(Route::kPinned, args, Part::Tag::kPinned, clients_.config().backend_timeout_ms, after.empty() ? nullptr : &after);
  if (id == Cmd::kExec) conn_.tailReply()->first.redact = std::move(exec_redact_);
  exec_redact_.clear();
  return true;
}

bool RespSession::dispatchUnwatch(const Args& args) {
  if (pinned_ == nullptr) {  // nothing watched: Redis's answer, without a connection
    resp::appendSimple(reply(), "OK");
    return true;
  }
  if (!ready(Route::kPinned)) return false;
  watching_ = false;
  forward(Route::kPinned, args, Part::Tag::kPinned, clients_.config().backend_timeout_ms, nullptr);
  return true;
}

bool RespSession::dispatchSelect(const Args& args) {
  if (args.size() != 2) return dispatchCommand(clients_.commands().find("select"), args);
  int n = dbIndex(args[1]);
  if (clients_.clustered() && n != 0) {
    resp::appendError(reply(), "ERR SELECT is not allowed in cluster mode");
    return true;
  }
  if (n == configured_db_ && pinned_ == nullptr) {
    resp::appendSimple(reply(), "OK");  // the database the cache serves: nothing to change
    return true;
  }
  // Another database (or back to the configured one from another): on a pinned connection, which
  // SELECTs it, and whose reads bypass the cache (it holds the configured database only).
  Route route = pinned_ != nullptr ? Route::kPinned : Route::kStream;
  if (!ready(route)) return false;
  if (pinned_ == nullptr && !acquirePinned()) return true;
  db_ = n;
  forward(Route::kPinned, args, Part::Tag::kPinned, clients_.config().backend_timeout_ms, nullptr);
  return true;
}

bool RespSession::dispatchClient(const Args& args) {
  if (isLocal(Cmd::kClient, args)) {
    local(Cmd::kClient, args);
    return true;
  }
  std::string_view sub = args.size() >= 2 ? args[1] : std::string_view();
  if (equalsIgnoreCase(sub, "REPLY") && args.size() == 3) {
    if (equalsIgnoreCase(args[2], "ON") && pinned_ == nullptr) {
      resp::appendSimple(reply(), "OK");
      return true;
    }
    if (equalsIgnoreCase(args[2], "OFF") || equalsIgnoreCase(args[2], "SKIP") || equalsIgnoreCase(args[2], "ON"))
      return startStream(Stream::kReplyMode, Cmd::kClient, args);
  }
  if (equalsIgnoreCase(sub, "TRACKING")) return dispatchTracking(args);
  if (!tracking_ && clientTrackingOff(args, proto_, reply())) return true;  // not tracking: Redis's answers
  for (std::string_view s : {"KILL", "UNBLOCK"}) {
    if (equalsIgnoreCase(sub, s)) {
      resp::appendError(reply(), "ERR CLIENT " + lowerName(sub) +
                                     " is not supported through the proxy: the client ids it names are the "
                                     "proxy's own connections to Redis");
      return true;
    }
  }
  return dispatchCommand(clients_.commands().find("client"), args);
}

// Pub/sub, MONITOR, CLIENT REPLY: the client's pinned connection relays what Redis sends as it comes.
bool RespSession::startStream(Stream kind, Cmd id, const Args& args) {
  if (!ready(Route::kStream)) return false;
  if (pinned_ == nullptr && !acquirePinned()) return true;
  stream_ = kind;
  pinned_->setStreaming(true);
  ++clients_.stats().stream_commands;
  return dispatchStream(id, args);
}

bool RespSession::dispatchStream(Cmd id, const Args& args) {
  if (marker_pending_) return false;  // whether the client is still subscribed is not known yet
  if (stream_ == Stream::kPubSub && proto_ == 3 && clients_.clustered() && id != Cmd::kSubscribe &&
      id != Cmd::kUnsubscribe && id != Cmd::kPing) {
    // RESP3 lets a subscribed client run any command; in front of a cluster one whose key another
    // node serves than its subscribed connection's goes on the shared RESP3 link, its reply in
    // order with what the subscription streams.
    const resp::CommandSpec* spec = clients_.commands().find(args[0]);
    bool cross = false;
    int32_t slot = slotOf(spec, args, &cross);
    if (cross) {
      resp::appendError(reply(), kCrossSlot);
      return true;
    }
    if (wrongNode(slot)) {
      proxy::Forwarder::After& after = after_;
      invalidateWrites(spec, args, &after);
      forward(Route::kShared3, args, Part::Tag::kForward, clients_.config().backend_timeout_ms,
              after.empty() ? nullptr : &after, slot);
      return true;
    }
  }
  // Everything goes to Redis, and everything Redis sends comes back as it comes: subscribed, Redis
  // itself answers what is not allowed there, in order with what it streams.
  sendRaw(args);
  if (stream_ != Stream::kPubSub) return true;  // MONITOR, CLIENT REPLY
  if (id == Cmd::kPing) {
    // Subscribed, RESP2 answers every PING ["pong", msg]; RESP3 answers +PONG to a bare PING only.
    if (proto_ == 2 || args.size() == 1) ++client_pings_;
  } else if (id == Cmd::kUnsubscribe) {
    // How many replies an UNSUBSCRIBE brings, and whether the client is then out of subscribed
    // mode, is Redis's to say: a PING behind it answers "pong" in subscribed mode and +PONG out
    // of it (RESP2), or comes back once the unsubscribe pushes and their counts have (RESP3).
    // Until it comes back, the client's next requests wait.
    pinned_->sendRaw("*1\r\n$4\r\nPING\r\n");
    marker_pending_ = true;
  }
  return true;
}

// HELLO is the proxy's to answer; one that changes the protocol waits until every reply shaped for
// the old one has gone, and cannot move a pinned connection (it speaks the protocol it was opened in).
bool RespSession::dispatchHello(const Args& args) {
  int want = proto_;
  if (args.size() >= 2) {
    if (args[1] == "2") want = 2;
    else if (args[1] == "3") want = 3;
  }
  if (want != proto_) {
    if (!ready(Route::kStream)) return false;
    if (pinned_ != nullptr) {
      resp::appendError(reply(), "ERR HELLO cannot switch protocols through the proxy while the connection holds "
                                 "state in Redis (WATCH, SELECT, CLIENT TRACKING): RESET first");
      return true;
    }
  }
  local(Cmd::kHello, args);
  return true;
}

void RespSession::setProto(int proto) noexcept {
  if (proto == proto_) return;
  ClientStats& st = clients_.stats();
  if (proto == 3) {
    ++st.resp3_clients;
    ++st.resp3_hellos;
  } else {
    --st.resp3_clients;
  }
  proto_ = proto;
}

// CLIENT TRACKING: a RESP3 client gets a pinned RESP3 connection with tracking on, so Redis's
// invalidation pushes reach it there, and its reads go there too (Redis tracks what that
// connection reads). REDIRECT cannot work: the id it names would be one of the proxy's connections.
bool RespSession::dispatchTracking(const Args& args) {
  if (clients_.clustered() && args.size() >= 3 && equalsIgnoreCase(args[2], "ON")) {
    resp::appendError(reply(), "ERR CLIENT TRACKING through the proxy is not supported in front of a Redis Cluster: "
                               "a tracking connection lives on one node and would see that node's keys only; the "
                               "proxy's own cache is kept coherent on every node");
    return true;
  }
  if (proto_ != 3) {
    resp::appendError(reply(), "ERR CLIENT TRACKING through the proxy needs RESP3 (HELLO 3): the invalidation "
                               "REDIRECT of RESP2 would name a connection of the proxy's that this client cannot see");
    return true;
  }
  for (size_t i = 3; i < args.size(); ++i) {
    if (equalsIgnoreCase(args[i], "REDIRECT")) {
      resp::appendError(reply(), "ERR CLIENT TRACKING REDIRECT is not supported through the proxy: the client id "
                                 "would name one of the proxy's connections to Redis; RESP3 clients get their "
                                 "invalidations as pushes on their own connection");
      return true;
    }
  }
  bool on = args.size() >= 3 && equalsIgnoreCase(args[2], "ON");
  if (args.size() == 3 && equalsIgnoreCase(args[2], "OFF") && pinned_ == nullptr) {
    resp::appendSimple(reply(), "OK");  // not tracking: nothing to turn off, as Redis answers
    return true;
  }
  Route route = pinned_ != nullptr ? Route::kPinned : Route::kStream;  // kStream: wait for everything
  if (!ready(route)) return false;
  if (pinned_ == nullptr && on && !clients_.takeTrackingOpen()) {
    resp::appendError(reply(), "ERR CLIENT TRACKING on: too many tracking connections opened to Redis in the last "
                               "second (--tracking-open-rate " +
                                   std::to_string(clients_.config().tracking_open_rate) + "); try again later");
    return true;
  }
  if (pinned_ == nullptr && !acquirePinned()) return true;
  tainted_ = true;  // Redis keeps what a tracking connection read: it is not handed to another client
  tracking_ = on;
  forward(Route::kPinned, args, Part::Tag::kPinned, clients_.config().backend_timeout_ms, nullptr);
  return true;
}

bool RespSession::acquirePinned() {
  pinned_ = clients_.pinnedPool().acquire(*this, proto_ == 3);
  if (pinned_ != nullptr) return true;
  resp::appendError(reply(), "ERR max number of pinned connections reached (--max-pinned " +
                                 std::to_string(clients_.config().max_pinned) +
                                 "): MULTI, WATCH, blocking commands, pub/sub and SELECT need one");
  return false;
}

void RespSession::maybeRelease() {
  if (pinned_ == nullptr || pinned_outstanding_ > 0 || pinnedState() || marker_pending_) return;
  clients_.pinnedPool().release(std::exchange(pinned_, nullptr), !std::exchange(tainted_, false));
}

void RespSession::resetState(bool reusable) {
  if (pinned_ != nullptr) clients_.pinnedPool().release(std::exchange(pinned_, nullptr), reusable && !tainted_);
  multi_ = watching_ = marker_pending_ = tracking_ = tainted_ = false;
  subs_ = ssubs_ = 0;
  db_ = configured_db_;
  stream_ = Stream::kOff;
  client_pings_ = 0;
  exec_after_.clear();
  exec_redact_.clear();
  multi_queued_ = 0;
}

void RespSession::sendRaw(const Args& args) {
  bool cross = false;
  int32_t slot = clients_.clustered() ? slotOf(clients_.commands().find(args[0]), args, &cross) : backend::Request::kAnySlot;
  std::string_view raw = rawOf(args);
  if (!raw.empty()) {
    pinned_->sendRaw(raw, slot);
    return;
  }
  raw_.clear();
  resp::appendCommand(raw_, args);
  pinned_->sendRaw(raw_, slot);
}

std::string_view RespSession::rawOf(const Args& args) const noexcept {
  // The client's own bytes when it sent the request whole (args[0] then points into them).
  bool inside = !raw_request_.empty() && !args.empty() && args[0].data() > raw_request_.data() &&
                args[0].data() < raw_request_.data() + raw_request_.size();
  return inside ? raw_request_ : std::string_view();
}

void RespSession::forward(Route route, const Args& args, Part::Tag tag, uint64_t timeout_ms,
                          proxy::Forwarder::After* after, int32_t slot) {
  Reply* r = conn_.pushReply();
  r->first.tag = tag;
  if (isConfigGet(args)) r->first.redact.push_back(Part::kRedactWhole);
  r->pending = 1;
  ++outstanding_;
  backend::Target* to = &clients_.shared();
  if (route == Route::kShared3) {
    to = &clients_.shared3();
  } else if (route != Route::kShared) {
    to = pinned_;
    ++pinned_outstanding_;
  }
  last_route_ = route;
  if (slot == kSlotUnknown) {
    bool cross = false;
    slot = clients_.clustered() ? slotOf(clients_.commands().find(args[0]), args, &cross) : backend::Request::kAnySlot;
  }
  clients_.forwarder().forward(*to, args, r->first, timeout_ms, after, rawOf(args), slot);
}

int32_t RespSession::slotOf(const resp::CommandSpec* spec, const Args& args, bool* cross) {
  *cross = false;
  keys_.clear();
  if (spec == nullptr) return backend::Request::kAnySlot;
  if (spec->cmd == Cmd::kSubscribe || spec->cmd == Cmd::kUnsubscribe) {
    // Shard channels live in slots (SSUBSCRIBE); the others are broadcast by the cluster.
    if (args.size() >= 2 && (args[0][0] | 0x20) == 's') keys_.assign(args.begin() + 1, args.end());
  } else if (!resp::writtenKeys(*spec, args, keys_)) {
    keys_.clear();
  }
  if (keys_.empty()) return backend::Request::kAnySlot;
  uint16_t slot = resp::keySlot(keys_[0]);
  for (size_t i = 1; i < keys_.size(); ++i)
    if (resp::keySlot(keys_[i]) != slot) *cross = true;
  return slot;
}

bool RespSession::crossSlot(const resp::CommandSpec* spec, const Args& args, int32_t* slot) {
  if (!clients_.clustered()) return false;
  bool cross = false;
  *slot = slotOf(spec, args, &cross);
  return cross || wrongNode(*slot);
}

bool RespSession::wrongNode(int32_t slot) const {
  if (pinned_ == nullptr || !pinned_->opened() || slot < 0) return false;
  std::string host;
  uint16_t port = 0;
  if (!clients_.shared().addressFor(slot, &host, &port)) return false;
  return host != pinned_->host() || port != pinned_->port();
}

bool RespSession::dispatchCluster(const resp::CommandSpec* spec, const Args& args, bool* waits, int32_t* slot_out) {
  using Combine = proxy::Forwarder::Combine;
  *waits = false;
  bool cross = false;
  int32_t slot = *slot_out = slotOf(spec, args, &cross);
  std::string name = lowerName(args[0]);
  Combine how = Combine::kSum;
  size_t step = 1;
  bool split = false;  // else sent to every primary
  if (slot >= 0) {
    if (!cross) return false;  // one slot: forwarded to its node as usual
    if (name == "del" || name == "unlink" || name == "exists" || name == "touch") {
      split = true;
    } else if (name == "mset" && args.size() >= 3 && args.size() % 2 == 1) {
      split = true;
      step = 2;
      how = Combine::kAllOk;
    } else if (name == "mget") {
      split = true;
      how = Combine::kByKey;
    } else {
      resp::appendError(reply(), kCrossSlot);
      return true;
    }
  } else if (name == "dbsize" && args.size() == 1) {
    how = Combine::kSum;
  } else if (name == "keys" && args.size() == 2) {
    how = Combine::kConcat;
  } else if ((name == "flushall" || name == "flushdb") && args.size() <= 2) {
    how = Combine::kAllOk;
  } else if (name == "script" && args.size() >= 2 && (equalsIgnoreCase(args[1], "load") || equalsIgnoreCase(args[1], "flush"))) {
    // EVALSHA then runs on any node
    how = equalsIgnoreCase(args[1], "load") ? Combine::kFirst : Combine::kAllOk;
  } else if (name == "scan" && args.size() >= 2) {
    Route route = sharedRoute();
    if (!ready(route)) {
      *waits = true;
      return true;
    }
    backend::Upstream& to = route == Route::kShared3 ? clients_.shared3() : clients_.shared();
    Reply* r = conn_.pushReply();
    if (!clients_.forwarder().forwardScan(to, args, r->first, clients_.config().backend_timeout_ms)) {
      resp::appendError(r->first.text, "ERR invalid cursor");
      return true;
    }
    r->first.tag = Part::Tag::kForward;
    r->pending = 1;
    ++outstanding_;
    last_route_ = route;
    return true;
  } else {
    return false;  // keyless: the default node
  }
  Route route = sharedRoute();
  if (!ready(route)) {
    *waits = true;
    return true;
  }
  proxy::Forwarder::After& after = after_;
  invalidateWrites(spec, args, route == Route::kShared ? nullptr : &after);
  Reply* r = conn_.pushReply();
  r->first.tag = Part::Tag::kForward;
  r->pending = 1;
  ++outstanding_;
  last_route_ = route;
  backend::Upstream& to = route == Route::kShared3 ? clients_.shared3() : clients_.shared();
  uint64_t timeout = clients_.config().backend_timeout_ms;
  proxy::Forwarder::After* a = after.empty() ? nullptr : &after;
  if (split) clients_.forwarder().forwardSplit(to, args, step, how, r->first, timeout, a);
  else clients_.forwarder().forwardAll(to, args, how, r->first, timeout, a);
  return true;
}

void RespSession::local(Cmd id, const Args& args) {
  Clients& clients = clients_;
  ++clients.stats().local_commands;
  uint64_t now = clients.loop().nowMs();
  int proto = proto_;
  LocalClient c{conn_.id(), name_, lib_name_, lib_ver_, authed_, proto, {}, {}};
  if (id == Cmd::kClient) {  // CLIENT INFO / LIST: two system calls, not for every PING
    c.addr = conn_.peerAddress();
    c.laddr = conn_.localAddress();
  }
  c.age_s = (now - connected_ms_) / 1000;
  c.idle_s = (now - conn_.lastActiveMs()) / 1000;
  c.db = db_;
  c.flags = multi_ ? "x" : stream_ == Stream::kPubSub ? "P" : stream_ == Stream::kMonitor ? "O" : "N";
  runLocalCommand(id, args, c, LocalEnv{clients.config(), clients.host().backendVersion(), clients.host().backendResp3()},
                  reply());
  setProto(proto);
  if (c.quit) conn_.closeAfterWrite();
}

void RespSession::invalidateWrites(const resp::CommandSpec* spec, const Args& args, proxy::Forwarder::After* after) {
  proxy::ReadThrough& rt = clients_.readThrough();
  using Cause = proxy::ReadThrough::DropCause;
  if (spec == nullptr) {
    // Not in the table: if the table is the backend's own, Redis will refuse it; if not, it may
    // be a write the proxy cannot see into.
    if (clients_.commands().learned()) return;
    rt.invalidateAllBy(Cause::kUnknownKeys);
    if (after != nullptr) after->all = true;
    return;
  }
  if (!resp::mayWrite(*spec)) return;
  if (spec->cmd == Cmd::kFlush) {
    // FLUSHDB of another database leaves the cache's alone; FLUSHALL and SWAPDB reach it.
    if (db_ != configured_db_ && spec->name == "flushdb") return;
    rt.invalidateAllBy(spec->name == "swapdb" ? Cause::kSwapdb : Cause::kFlush);
    if (after != nullptr) after->all = true;
    return;
  }
  if (db_ != configured_db_) return;  // another database: nothing of it is cached
  keys_.clear();
  if (!resp::writtenKeys(*spec, args, keys_)) {
    rt.invalidateAllBy(Cause::kUnknownKeys);
    if (after != nullptr) after->all = true;
    return;
  }
  for (std::string_view k : keys_) {
    rt.invalidateWritten(k);
    if (after != nullptr) after->add(k);
  }
}

void RespSession::get(std::string_view key) {
  Clients& clients = clients_;
  Reply* r = conn_.pushReply();
  proxy::ReadThrough& rt = clients.readThrough();
  const Ahead* a = ahead_at_ < ahead_n_ ? &ahead_[ahead_at_] : nullptr;
  bool seen = a != nullptr && a->len == key.size() && a->len != 0 && std::memcmp(a->key, key.data(), a->len) == 0;
  EntryRef e = rt.get(key, seen ? a->hash : rt.hashKey(key), r->first);
  if (!e) {
    r->pending = 1;  // the lookup fills the part later (render)
    ++outstanding_;
    last_route_ = Route::kShared;
    return;
  }
  // The hot path: no formatting at all. The reply is copied out at the end of the loop turn;
  // start loading the value's lines now (the first is already here: the lookup read the key).
  clients.stats().countGet(Proto::kResp, Outcome::kHit);
  if (e->absent()) {  // "no such key", cached (--negative-ttl)
    appendNull(r->first.text);
    return;
  }
  std::string_view bulk = e->respBulk();
  for (size_t off = 64; off < bulk.size() && off <= kPrefetchValueBytes; off += 64) __builtin_prefetch(bulk.data() + off);
  r->first.setBody(std::move(e), Part::Body::kRespBulk);
}

void RespSession::mget(const Args& args) {
  size_t n = args.size() - 1;
  Reply* r = conn_.pushReply();
  r->setParts(static_cast<uint16_t>(n));
  resp::appendArrayHeader(r->first.text, static_cast<long long>(n));
  waiters_.resize(n);
  hits_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    Part& p = r->part(i);
    p.tag = Part::Tag::kMget;
    waiters_[i] = &p;
  }
  clients_.readThrough().getMany(n, args.data() + 1, waiters_.data(), hits_.data());
  ++clients_.stats().mgets;
  for (size_t i = 0; i < n; ++i) {
    if (hits_[i]) {
      clients_.stats().countGet(Proto::kResp, Outcome::kHit);
      if (hits_[i]->absent()) {
        hits_[i].reset();
        appendNull(r->part(i).text);
        continue;
      }
      r->part(i).setBody(std::move(hits_[i]), Part::Body::kRespBulk);
    } else {
      ++r->pending;
    }
  }
  if (r->pending > 0) {
    outstanding_ += r->pending;
    last_route_ = Route::kShared;
  }
}

void RespSession::render(Reply& reply, Part& part, const proxy::Lookup& r) {
  using K = proxy::Lookup::Kind;
  --outstanding_;
  switch (part.tag) {
    case Part::Tag::kGet:
    case Part::Tag::kMget: {
      clients_.stats().countGet(Proto::kResp, r.found() ? Outcome::kMiss : Outcome::kError);
      bool in_mget = part.tag == Part::Tag::kMget;
      switch (r.kind) {
        case K::kValue: part.setBody(r.entry, Part::Body::kRespBulk); return;
        case K::kNil: appendNull(part.text); return;
        case K::kWrongType:
          if (in_mget) {  // MGET answers nil for a key that holds something else, as Redis does
            appendNull(part.text);
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
      return;
    }
    case Part::Tag::kForward:
    case Part::Tag::kPinned:
    case Part::Tag::kAborted:
    case Part::Tag::kInfo: break;
  }
  if (part.tag == Part::Tag::kPinned || part.tag == Part::Tag::kAborted) --pinned_outstanding_;
  if (part.tag == Part::Tag::kAborted) {
    part.text.clear();
    resp::appendError(part.text, "EXECABORT Transaction discarded because of previous errors.");
    maybeRelease();
    return;
  }
  switch (r.kind) {
    case K::kEncoded: part.text.assign(r.message); break;
    case K::kReply:
      if (part.tag == Part::Tag::kInfo && (r.frame->root().type() == resp::FrameType::kBulk ||
                                           r.frame->root().type() == resp::FrameType::kVerbatim)) {
        // Redis's own sections (clients read redis_version, role, maxmemory_policy ...), then the proxy's.
        std::string_view theirs = r.frame->root().str();
        if (r.frame->root().type() == resp::FrameType::kVerbatim) theirs.remove_prefix(std::min<size_t>(4, theirs.size()));
        std::string text(theirs);
        std::string mine = std::exchange(part.text, std::string());
        if (!mine.empty()) text.append(text.empty() ? "" : "\r\n").append(mine);
        resp::appendVerbatim(part.text, text, proto_);
      } else {
        part.text.clear();
        if (part.redact.empty()) r.frame->root().encode(part.text);
        else encodeRedacted(r.frame->root(), part.redact, part.text);
      }
      break;
    default:
      if (part.tag == Part::Tag::kInfo) {  // Redis is unreachable: the proxy's own sections still answer
        std::string mine = std::exchange(part.text, std::string());
        resp::appendVerbatim(part.text, mine, proto_);
        break;
      }
      if (r.kind == K::kTimeout) resp::appendError(part.text, "ERR backend timeout");
      else resp::appendError(part.text, "ERR backend unavailable: " + resp::oneLine(r.message));
      break;
  }
  maybeRelease();
}

void RespSession::finish(Reply& reply) {
  // One key of an MGET failed: the reply is that error, as Redis answers a failed command.
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

void RespSession::onDrained() {
  if (pinned_ != nullptr && pinned_->streaming()) pinned_->pauseReading(false);
}

bool RespSession::closeOnEof() const {
  // A client gone while blocked or subscribed: Redis drops it at once (so a BLPOP pops nothing for
  // nobody); other requests are answered before the connection closes.
  return pinned_ != nullptr && (last_route_ == Route::kBlocking || stream_ != Stream::kOff);
}

void RespSession::onPinnedLost(std::string_view why, bool was_up) {
  bool streaming = stream_ != Stream::kOff;
  resetState(false);
  if (was_up) {
    // The client's state in Redis (transaction, subscriptions, blocked command, database) is gone,
    // as after a Redis restart: so is its connection.
    spdlog::debug("client {}: its pinned connection to Redis was lost ({}): closing", conn_.id(), why);
    conn_.closeAfterWrite();
  } else if (streaming) {
    resp::appendError(reply(), "ERR backend unavailable: " + resp::oneLine(why));
  }
  conn_.kick();
}

void RespSession::onPinnedFrame(const resp::Frame& frame) {
  resp::FrameView root = frame.root();
  bool simple = false;
  if (stream_ == Stream::kPubSub && proto_ == 3 && root.type() == resp::FrameType::kPush && root.size() == 3 &&
      root[0].type() == resp::FrameType::kBulk && root[2].type() == resp::FrameType::kInteger) {
    std::string_view kind = root[0].str();
    if (kind == "subscribe" || kind == "unsubscribe" || kind == "psubscribe" || kind == "punsubscribe")
      subs_ = root[2].integer();
    else if (kind == "ssubscribe" || kind == "sunsubscribe")
      ssubs_ = root[2].integer();
  }
  if (stream_ == Stream::kPubSub && isPong(root, &simple)) {
    if (client_pings_ > 0) {
      --client_pings_;
    } else if (marker_pending_) {
      marker_pending_ = false;  // the UNSUBSCRIBE before it has been answered whole
      bool left = proto_ == 3 ? subs_ == 0 && ssubs_ == 0 : simple;
      if (left) {               // and the client has left subscribed mode
        stream_ = Stream::kOff;
        pinned_->setStreaming(false);
        maybeRelease();
      }
      conn_.kick();  // run what waited
      return;
    }
  }
  Reply* r = conn_.pushReply();
  root.encode(r->first.text);
  conn_.kick();
  if (pinned_ != nullptr && conn_.outputBacklogged()) {
    pinned_->pauseReading(true);
    conn_.notifyWhenDrained();
  }
}

}  // namespace rcp::client
