// RESP session: the commands that move the client's pinned state (see resp_session.h and
// client_state.h): MULTI / EXEC / DISCARD, WATCH / UNWATCH, SELECT, CLIENT (TRACKING, REPLY and the
// rest), HELLO, RESET, and taking and giving back the pinned connection they need.
#include <charconv>

#include "resp/reply.h"
#include "src/client/local_commands.h"
#include "src/client/resp_session.h"

namespace rcp::client {

namespace {
using resp::Cmd;
using resp::equalsIgnoreCase;
using namespace resp_detail;

// SELECT's argument as a database index; -1 for anything Redis would refuse.
int dbIndex(std::string_view s) noexcept {
  int n = -1;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  return ec == std::errc() && p == s.data() + s.size() && n >= 0 ? n : -1;
}

bool isConfigGet(const std::vector<std::string_view>& args) noexcept {
  return args.size() >= 2 && equalsIgnoreCase(args[0], "config") && equalsIgnoreCase(args[1], "get");
}
}  // namespace

bool RespSession::dispatchPinning(Cmd id, const resp::CommandSpec* spec, const Args& args) {
  switch (id) {
    case Cmd::kMulti:
    case Cmd::kWatch: return dispatchMultiWatch(id, spec, args);
    case Cmd::kExec:
    case Cmd::kDiscard: return dispatchExec(id, args);
    case Cmd::kUnwatch: return dispatchUnwatch(args);
    case Cmd::kSelect: return dispatchSelect(args);
    default: return dispatchCommand(spec, args);
  }
}

bool RespSession::dispatchMultiWatch(Cmd id, const resp::CommandSpec* spec, const Args& args) {
  Route route = pinned_ != nullptr ? Route::kPinned : Route::kStream;  // kStream: wait for everything
  if (!ready(route)) return false;
  if (pinned_ == nullptr && !acquirePinned()) return true;
  int32_t slot = kSlotUnknown;
  if (id == Cmd::kWatch && crossSlot(spec, args, &slot)) {
    resp::appendError(reply(), kCrossSlot);
    maybeRelease();
    return true;
  }
  state_.set(id == Cmd::kMulti ? ClientState::kMulti : ClientState::kWatching);
  if (id == Cmd::kMulti) {
    multi_queued_ = 0;
    exec_redact_.clear();
  }
  if (id == Cmd::kMulti && ctx_.clustered() && !pinned_->opened()) {
    // In front of a cluster the transaction's node is its first key's: MULTI waits on the
    // connection until that key comes (or EXEC), and is answered now, as Redis answers it.
    pinned_->deferKeyless(true);
    ctx_.forwarder.forward(*pinned_, args, discard_, ctx_.config.backend_timeout_ms);
    resp::appendSimple(reply(), "OK");
    return true;
  }
  forward(Route::kPinned, args, Part::Tag::kPinned, ctx_.config.backend_timeout_ms, nullptr, slot);
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
    state_.set(ClientState::kMultiAborted);
    return true;
  }
  // Queued, not run: its writes happen at EXEC, whose keys are invalidated then and again when it answers.
  if (spec == nullptr) {
    exec_after_.all |= !ctx_.commands.learned();
  } else if (state_.db == state_.configured_db && resp::mayWrite(*spec)) {
    keys_.clear();
    if (spec->cmd == Cmd::kFlush || !resp::writtenKeys(*spec, args, keys_)) exec_after_.all = true;
    for (std::string_view k : keys_) exec_after_.add(k);
  }
  if (id == Cmd::kSelect && args.size() == 2) state_.db = dbIndex(args[1]);
  // Run at EXEC, these may change the connection's protocol or mode: it is not reused.
  if (id == Cmd::kHello || id == Cmd::kClient) state_.set(ClientState::kTainted);
  if (isConfigGet(args)) exec_redact_.push_back(multi_queued_);
  ++multi_queued_;
  forward(Route::kPinned, args, Part::Tag::kPinned, ctx_.config.backend_timeout_ms, nullptr, slot);
  return true;
}

bool RespSession::dispatchExec(Cmd id, const Args& args) {
  bool multi = state_.has(ClientState::kMulti);
  if (!multi && !state_.has(ClientState::kWatching)) {
    resp::appendError(reply(), id == Cmd::kExec ? "ERR EXEC without MULTI" : "ERR DISCARD without MULTI");
    return true;
  }
  if (!ready(Route::kPinned)) return false;
  proxy::Forwarder::After after;
  if (id == Cmd::kExec && multi) {
    if (exec_after_.all) ctx_.read_through.invalidateAllBy(proxy::ReadThrough::DropCause::kUnknownKeys);
    exec_after_.forEach([this](std::string_view k) { ctx_.read_through.invalidateWritten(k); });
    after = std::move(exec_after_);
  }
  exec_after_.clear();
  bool aborted = state_.take(ClientState::kMultiAborted) && multi && id == Cmd::kExec;
  state_.clear(ClientState::kMulti);
  state_.clear(ClientState::kWatching);
  if (pinned_ != nullptr) pinned_->deferKeyless(false);
  if (aborted) {  // the proxy refused a queued command: the transaction is discarded, as Redis would
    static const std::string_view kDiscard[] = {"DISCARD"};
    forward(Route::kPinned, Args(std::begin(kDiscard), std::end(kDiscard)), Part::Tag::kAborted,
            ctx_.config.backend_timeout_ms, nullptr);
    return true;
  }
  forward(Route::kPinned, args, Part::Tag::kPinned, ctx_.config.backend_timeout_ms, after.empty() ? nullptr : &after);
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
  state_.clear(ClientState::kWatching);
  forward(Route::kPinned, args, Part::Tag::kPinned, ctx_.config.backend_timeout_ms, nullptr);
  return true;
}

bool RespSession::dispatchSelect(const Args& args) {
  if (args.size() != 2) return dispatchCommand(ctx_.commands.find("select"), args);
  int n = dbIndex(args[1]);
  if (ctx_.clustered() && n != 0) {
    resp::appendError(reply(), "ERR SELECT is not allowed in cluster mode");
    return true;
  }
  if (n == state_.configured_db && pinned_ == nullptr) {
    resp::appendSimple(reply(), "OK");  // the database the cache serves: nothing to change
    return true;
  }
  // Another database (or back to the configured one from another): on a pinned connection, which
  // SELECTs it, and whose reads bypass the cache (it holds the configured database only).
  Route route = pinned_ != nullptr ? Route::kPinned : Route::kStream;
  if (!ready(route)) return false;
  if (pinned_ == nullptr && !acquirePinned()) return true;
  state_.db = n;
  forward(Route::kPinned, args, Part::Tag::kPinned, ctx_.config.backend_timeout_ms, nullptr);
  return true;
}

bool RespSession::dispatchClient(const Args& args) {
  std::string_view what = args.size() >= 2 ? args[1] : std::string_view();
  client_sub_ = lowerName(what.substr(0, 32));
  if (equalsIgnoreCase(what, "LIST") || equalsIgnoreCase(what, "KILL") ||
      (equalsIgnoreCase(what, "INFO") && args.size() == 2)) {
    // Over every client of the proxy (client_registry.h), this one included.
    ++ctx_.stats.local_commands;
    ClientInfo self;
    conn_.describe(self);
    if (equalsIgnoreCase(what, "LIST")) clientList(args, ctx_.directory, state_.proto, reply());
    else if (equalsIgnoreCase(what, "INFO")) resp::appendVerbatim(reply(), clientLine(self), state_.proto);
    else clientKill(args, self, ctx_.directory, reply());
    return true;
  }
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
  if (dispatchTracking(args)) return true;
  if (equalsIgnoreCase(sub, "UNBLOCK")) return dispatchUnblock(args);
  return dispatchCommand(ctx_.commands.find("client"), args);
}

// CLIENT UNBLOCK <proxy id> [TIMEOUT|ERROR]: the client's blocked command runs on a pinned
// connection; Redis is asked to unblock that connection (by its id there) on the node serving it,
// and answers 1 or 0 as for its own clients; the blocked client gets nil or -UNBLOCKED through it.
bool RespSession::dispatchUnblock(const Args& args) {
  if (args.size() != 3 && args.size() != 4) {
    resp::appendError(reply(), "ERR unknown subcommand or wrong number of arguments for 'unblock'");
    return true;
  }
  long long id = 0;
  if (!resp::parseInteger(args[2], &id)) {
    resp::appendError(reply(), "ERR value is not an integer or out of range");
    return true;
  }
  if (args.size() == 4 && !equalsIgnoreCase(args[3], "TIMEOUT") && !equalsIgnoreCase(args[3], "ERROR")) {
    resp::appendError(reply(), "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
    return true;
  }
  long long redis_id = 0;
  int32_t slot = backend::Request::kAnySlot;
  if (id <= 0 || !ctx_.directory.blocked(static_cast<uint64_t>(id), &redis_id, &slot)) {
    resp::appendInteger(reply(), 0);
    return true;
  }
  Route route = sharedRoute();
  if (!ready(route)) return false;
  std::string rid = std::to_string(redis_id);
  Args unblock{"CLIENT", "UNBLOCK", rid};
  if (args.size() == 4) unblock.push_back(args[3]);
  forward(route, unblock, Part::Tag::kForward, ctx_.config.backend_timeout_ms, nullptr, slot);
  return true;
}

// HELLO is the proxy's to answer; one that changes the protocol waits until every reply shaped for
// the old one has gone, and cannot move a pinned connection (it speaks the protocol it was opened in).
bool RespSession::dispatchHello(const Args& args) {
  int want = state_.proto;
  if (args.size() >= 2) {
    if (args[1] == "2") want = 2;
    else if (args[1] == "3") want = 3;
  }
  if (want != state_.proto) {
    if (!ready(Route::kStream)) return false;
    if (pinned_ != nullptr) {
      resp::appendError(reply(), "ERR HELLO cannot switch protocols through the proxy while the connection holds "
                                 "state in Redis (WATCH, SELECT): RESET first");
      return true;
    }
  }
  local(Cmd::kHello, args);
  return true;
}

bool RespSession::dispatchReset() {
  if (outstanding_ > 0 || state_.has(ClientState::kMarkerPending)) return false;
  resetState(false);
  ctx_.tracking.off(tracking_);
  state_.name.clear();
  setProto(2);  // RESET goes back to RESP2, as in Redis
  state_.set(ClientState::kAuthed, ctx_.config.requirepass.empty());
  resp::appendSimple(reply(), "RESET");
  return true;
}

// CLIENT TRACKING, CACHING, GETREDIR, TRACKINGINFO: the proxy's tracking hub answers them (Redis's
// semantics and errors); nothing is sent to Redis, whose tracking of the proxy's links covers every
// client. Other arities are not these commands: Redis's own error comes back for them.
bool RespSession::dispatchTracking(const Args& args) {
  std::string out;
  if (!ctx_.tracking.command(tracking_, args, state_.proto, out)) return false;
  ++ctx_.stats.local_commands;
  reply().append(out);
  return true;
}

// A tracking client's command ran: the keys of a read-only command are remembered for it (Redis's
// trackingRememberKeys, scripts excepted), and CLIENT CACHING's flag, which covers one command (or
// one transaction), is spent; any CLIENT subcommand keeps it, as in Redis.
void RespSession::tracked(const Args& args) {
  const resp::CommandSpec* spec = ctx_.commands.find(args[0]);
  if (spec == nullptr || spec->cmd == Cmd::kClient) return;
  if (spec->has(resp::kFlagReadonly) && spec->cmd != Cmd::kScript) {
    keys_.clear();
    resp::writtenKeys(*spec, args, keys_);  // the key positions (and the keys of movable-key reads)
    for (std::string_view k : keys_) ctx_.tracking.read(tracking_, k);
  }
  if (!state_.has(ClientState::kMulti)) TrackingHub::commandDone(tracking_);
}

void RespSession::trackPinned(const Args& args) {
  // Not inside a transaction Redis has begun (the command would be queued), nor in a stream.
  if (state_.stream != Stream::kOff || (state_.has(ClientState::kMulti) && !equalsIgnoreCase(args[0], "MULTI"))) return;
  if (!pinned_->opened()) return;  // a cluster's, opened by its first key: not covered (docs/resp.md)
  long long id = ctx_.tracking.upstreamRedirect(pinned_->host(), pinned_->port());
  if (id <= 0) return;
  pinned_->trackedFor(tracking_.id);
  if (id == pinned_->trackingRedirect()) return;
  pinned_->setTrackingRedirect(id);
  std::string rid = std::to_string(id);
  Args on{"CLIENT", "TRACKING", "ON", "REDIRECT", rid};
  ctx_.forwarder.forward(*pinned_, on, discard_, ctx_.config.backend_timeout_ms);
}

void RespSession::trackingPush(std::string_view bytes) {
  if (conn_.closingAfterWrite()) return;
  conn_.pushReply()->first.text.assign(bytes);
  conn_.kick();
}

bool RespSession::acquirePinned() {
  pinned_ = ctx_.pinned.acquire(*this, state_.proto == 3);
  if (pinned_ != nullptr) return true;
  resp::appendError(reply(), "ERR max number of pinned connections reached (--max-pinned " +
                                 std::to_string(ctx_.config.max_pinned) +
                                 "): MULTI, WATCH, blocking commands, pub/sub and SELECT need one");
  return false;
}

void RespSession::maybeRelease() {
  if (pinned_ == nullptr || pinned_outstanding_ > 0 || state_.pinned() || state_.has(ClientState::kMarkerPending))
    return;
  ctx_.pinned.release(std::exchange(pinned_, nullptr), !state_.take(ClientState::kTainted));
}

void RespSession::resetState(bool reusable) {
  if (pinned_ != nullptr)
    ctx_.pinned.release(std::exchange(pinned_, nullptr), reusable && !state_.has(ClientState::kTainted));
  state_.resetPinned();
  exec_after_.clear();
  exec_redact_.clear();
  multi_queued_ = 0;
}

}  // namespace rcp::client
