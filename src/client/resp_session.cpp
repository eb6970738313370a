// RESP session: the request pump, dispatch by shape, forwarding (see resp_session.h).
#include "src/client/resp_session.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "resp/frame.h"
#include "resp/key_slot.h"
#include "resp/redact.h"
#include "resp/reply.h"
#include "src/client/command_shapes.h"
#include "src/client/local_commands.h"
#include "src/proxy/split_rules.h"

namespace rcp::client {

namespace resp_detail {
std::string lowerName(std::string_view s) {
  std::string out(s.substr(0, 64));
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
  return resp::oneLine(out);
}
}  // namespace resp_detail

// The command CLIENT LIST shows: its name in lower case, "|sub" after a command of subcommands
// (client|list, config|get), as Redis shows it; bounded.
// The command CLIENT LIST shows as cmd=, as Redis names it: the last command the table knows (an
// unknown one runs nothing), "client|list" for the CLIENT subcommands. Kept as the table's entry:
// a forwarded command pays two stores; the name is looked at only when CLIENT LIST asks.
std::string RespSession::lastCommand() const {
  switch (last_cmd_) {
    case LastCmd::kNone: return "NULL";
    case LastCmd::kGet: return "get";
    case LastCmd::kMget: return "mget";
    case LastCmd::kOther: break;
  }
  if (last_gen_ != ctx_.commands.generation()) return "NULL";  // the table was learned anew since
  std::string name(last_spec_->name);
  if (last_spec_->cmd == resp::Cmd::kClient && !client_sub_.empty()) name += "|" + client_sub_;
  return name;
}

bool RespSession::blockedOn(long long* redis_id, int32_t* slot) const {
  if (last_route_ != Route::kBlocking || outstanding_ == 0 || pinned_ == nullptr || pinned_->redisId() <= 0)
    return false;
  *redis_id = pinned_->redisId();
  *slot = blocking_slot_;
  return true;
}

void RespSession::describe(ClientInfo& info) const {
  info.name = state_.name;
  info.lib_name = state_.lib_name;
  info.lib_ver = state_.lib_ver;
  info.db = state_.db < 0 ? 0 : state_.db;
  // In Redis's order of the letters (networking.c: catClientInfoString).
  info.flags.clear();
  if (state_.stream == Stream::kPubSub) info.flags += 'P';
  if (state_.has(ClientState::kMulti)) info.flags += 'x';
  if (tracking_.on()) info.flags += 't';
  if (tracking_.has(TrackingHub::Client::kBrokenRedir)) info.flags += 'R';
  if (tracking_.has(TrackingHub::Client::kBcast)) info.flags += 'B';
  if (state_.stream == Stream::kMonitor) info.flags += 'O';
  if (info.flags.empty()) info.flags = "N";
  info.redir = tracking_.on() ? static_cast<long long>(tracking_.redirect) : -1;
  info.pubsub = state_.stream == Stream::kPubSub;
  info.sub = state_.subs;
  info.ssub = state_.ssubs;
  info.resp = state_.proto;
  info.cmd = lastCommand();
}

namespace {
using resp::Cmd;
using resp::equalsIgnoreCase;
using namespace resp_detail;

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

// INFO's reply: Redis's own sections (clients read redis_version, role, maxmemory_policy ...), then
// the proxy's (mine), as the client's protocol spells a verbatim string.
void renderInfo(Part& part, const proxy::Lookup& r, int proto) {
  std::string mine = std::exchange(part.text, std::string());
  std::string text;
  if (r.kind == proxy::Lookup::Kind::kReply) {
    resp::FrameView root = r.frame->root();
    std::string_view theirs = root.str();
    if (root.type() == resp::FrameType::kVerbatim) theirs.remove_prefix(std::min<size_t>(4, theirs.size()));
    text.assign(theirs);
  }
  if (!mine.empty()) text.append(text.empty() ? "" : "\r\n").append(mine);
  resp::appendVerbatim(part.text, text, proto);
}
}  // namespace

RespSession::RespSession(Connection& conn, const SessionContext& context)
    : conn_(conn), ctx_(context), parser_(limitsFrom(context.config)), cache_(context),
      state_(context.config.requirepass.empty(), context.config.redis.db), connected_ms_(context.loop.nowMs()) {
  tracking_.id = conn.id();
  tracking_.peer = this;
  ctx_.tracking.join(tracking_);
}

RespSession::~RespSession() {
  ctx_.tracking.leave(tracking_);
  if (state_.proto == 3) --ctx_.stats.resp3_clients;
  // The connection is gone: a pinned connection it held goes with it (Redis drops the client's
  // state, unblocks a blocked command, ends its subscriptions).
  if (pinned_ != nullptr) ctx_.pinned.release(std::exchange(pinned_, nullptr), false);
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
      if (!runOne(args)) return;  // still waiting
      holding_ = false;
      held_.clear();
      conn_.requestDone(tail != conn_.tailReply());
      continue;
    }
    cache_.beforeParse(parser_);
    auto st = parser_.next();
    if (st == resp::RequestParser::Status::kNeedMore) {
      cache_.forgetAhead();  // the input is used up: the next batch starts with a look-ahead
      return;
    }
    if (st == resp::RequestParser::Status::kError) {
      ++ctx_.stats.protocol_errors;
      resp::appendError(reply(), "ERR " + parser_.error());
      conn_.closeAfterWrite();
      return;
    }
    ++ctx_.stats.resp_requests;
    if (state_.proto == 3) ++ctx_.stats.resp3_requests;
    Reply* tail = conn_.tailReply();
    raw_request_ = parser_.raw();
    if (!runOne(parser_.args())) {
      hold(parser_.args());
      return;
    }
    conn_.requestDone(tail != conn_.tailReply());
  }
}

bool RespSession::runOne(const Args& args) {
  if (!tracking_.on()) return dispatch(args);
  // A tracking client: its own writes' invalidations follow their replies (as Redis orders them).
  ctx_.tracking.beginWrite(tracking_);
  bool done = dispatch(args);
  ctx_.tracking.endWrite();
  if (done && tracking_.on()) tracked(args);
  return done;
}

void RespSession::hold(const Args& args) {
  holding_ = true;
  held_.assign(args.begin(), args.end());
  cache_.forgetAhead();
}

std::string& RespSession::reply() { return conn_.pushReply()->first.text; }

bool RespSession::dispatch(const Args& args) {
  // The hot paths: a GET or an MGET from a client with no state of its own, nothing to wait for.
  if (state_.has(ClientState::kAuthed) && ctx_.config.deny_commands.empty() && ready(Route::kShared)) {
    if (resp::isGetName(args[0]) && !state_.pinned() && cache_.serves(Cmd::kGet, args)) {
      last_cmd_ = LastCmd::kGet;
      cacheQueued(cache_.get(conn_, args[1], state_.proto));
      return true;
    }
    if (resp::isMgetName(args[0]) && !state_.pinned() && cache_.serves(Cmd::kMget, args)) {
      last_cmd_ = LastCmd::kMget;
      cacheQueued(cache_.mget(conn_, args, state_.proto));
      return true;
    }
  }
  return dispatchSlow(args);
}

// Every request off the hot path: authentication, --deny-commands, a client in a stream or a
// transaction, then the command's shape (command_shapes.h) says which room runs it.
bool RespSession::dispatchSlow(const Args& args) {
  const resp::CommandSpec* spec = ctx_.commands.find(args[0]);
  Cmd id = spec != nullptr ? spec->cmd : resp::commandId(args[0]);
  if (spec != nullptr) {
    last_cmd_ = LastCmd::kOther;
    last_spec_ = spec;
    last_gen_ = ctx_.commands.generation();
  }

  if (!state_.has(ClientState::kAuthed) && id != Cmd::kAuth && id != Cmd::kHello && id != Cmd::kQuit &&
      id != Cmd::kReset) {
    resp::appendError(reply(), "NOAUTH Authentication required.");
    return true;
  }
  for (const std::string& denied : ctx_.config.deny_commands) {
    if (equalsIgnoreCase(denied, args[0])) {
      ++ctx_.stats.denied_commands;
      resp::appendError(reply(), "ERR command '" + lowerName(args[0]) + "' is disabled on this proxy (--deny-commands)");
      return true;
    }
  }
  if (id == Cmd::kQuit) {
    local(id, args);
    return true;
  }
  if (id == Cmd::kReset) return dispatchReset();
  if (state_.stream != Stream::kOff) return dispatchStream(id, args);
  if (state_.has(ClientState::kMulti)) return dispatchInMulti(id, spec, args);

  switch (shapeOf(id)) {
    case Shape::kCached:
      if (state_.pinned() || !cache_.serves(id, args)) break;  // forwarded, where the client's state is
      if (!ready(Route::kShared)) return false;
      cacheQueued(id == Cmd::kGet ? cache_.get(conn_, args[1], state_.proto) : cache_.mget(conn_, args, state_.proto));
      return true;
    case Shape::kConnection: return dispatchConnection(id, args);
    case Shape::kPinning: return dispatchPinning(id, spec, args);
    case Shape::kStream:
      return startStream(id == Cmd::kMonitor ? Stream::kMonitor : Stream::kPubSub, id, args);
    case Shape::kInfo: return dispatchInfo(args);
    case Shape::kForward: break;
  }
  return dispatchCommand(spec, args);
}

bool RespSession::dispatchConnection(Cmd id, const Args& args) {
  if (id == Cmd::kHello) return dispatchHello(args);
  if (id == Cmd::kClient) return dispatchClient(args);
  local(id, args);  // PING, ECHO, AUTH
  return true;
}

bool RespSession::dispatchInfo(const Args& args) {
  // Asked for the proxy's sections only, the proxy answers alone (so INFO backend works while
  // Redis hangs); otherwise its sections are taken now and wait in the part for Redis's.
  bool proxy_only = false;
  std::string mine = proxyInfo(args, &proxy_only);
  if (proxy_only) {
    ++ctx_.stats.local_commands;
    resp::appendVerbatim(reply(), mine, state_.proto);
    return true;
  }
  Route route = pinned_ != nullptr ? Route::kPinned : sharedRoute();
  if (!ready(route)) return false;
  forward(route, args, Part::Tag::kInfo, ctx_.config.backend_timeout_ms, nullptr);
  conn_.tailReply()->first.text = std::move(mine);
  return true;
}

std::string RespSession::proxyInfo(const Args& args, bool* proxy_only) const {
  if (args.size() == 1) return ctx_.host.info("default");
  std::string mine;
  *proxy_only = true;
  for (size_t i = 1; i < args.size(); ++i) {
    bool everything = equalsIgnoreCase(args[i], "all") || equalsIgnoreCase(args[i], "everything");
    std::string section = ctx_.host.info(args[i]);
    *proxy_only &= !section.empty() && !everything && !equalsIgnoreCase(args[i], "default");
    if (!section.empty()) mine.append(mine.empty() ? "" : "\r\n").append(section);
    if (everything) break;  // every section of the proxy's is in already
  }
  return mine;
}

// Everything else: forwarded on the shared link, or on the pinned connection while the client has
// one; a blocking command gets a pinned connection of its own, with no deadline.
bool RespSession::dispatchCommand(const resp::CommandSpec* spec, const Args& args) {
  const Config& config = ctx_.config;
  bool blocking = spec != nullptr && resp::blocks(*spec, args);
  int32_t slot = kSlotUnknown;
  if (ctx_.clustered()) {
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
  if (blocking) blocking_slot_ = slot == kSlotUnknown ? backend::Request::kAnySlot : slot;
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

void RespSession::sendRaw(const Args& args) {
  bool cross = false;
  int32_t slot = ctx_.clustered() ? slotOf(ctx_.commands.find(args[0]), args, &cross) : backend::Request::kAnySlot;
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
  backend::Target* to = &ctx_.shared;
  if (route == Route::kShared3) {
    to = &ctx_.shared3;
  } else if (route != Route::kShared) {
    to = pinned_;
    ++pinned_outstanding_;
    if (tracking_.on()) trackPinned(args);
  }
  last_route_ = route;
  if (slot == kSlotUnknown) {
    bool cross = false;
    slot = ctx_.clustered() ? slotOf(ctx_.commands.find(args[0]), args, &cross) : backend::Request::kAnySlot;
  }
  ctx_.forwarder.forward(*to, args, r->first, timeout_ms, after, rawOf(args), slot);
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
  if (!ctx_.clustered()) return false;
  bool cross = false;
  *slot = slotOf(spec, args, &cross);
  return cross || wrongNode(*slot);
}

bool RespSession::wrongNode(int32_t slot) const {
  if (pinned_ == nullptr || !pinned_->opened() || slot < 0) return false;
  std::string host;
  uint16_t port = 0;
  if (!ctx_.shared.addressFor(slot, &host, &port)) return false;
  return host != pinned_->host() || port != pinned_->port();
}

void RespSession::setProto(int proto) noexcept {
  if (proto == state_.proto) return;
  ClientStats& st = ctx_.stats;
  if (proto == 3) {
    ++st.resp3_clients;
    ++st.resp3_hellos;
  } else {
    --st.resp3_clients;
  }
  state_.proto = proto;
}

void RespSession::local(Cmd id, const Args& args) {
  ++ctx_.stats.local_commands;
  int proto = state_.proto;
  bool authed = state_.has(ClientState::kAuthed);
  LocalClient c{conn_.id(), state_.name, state_.lib_name, state_.lib_ver, authed, proto};
  runLocalCommand(id, args, c, LocalEnv{ctx_.config, ctx_.host.backendVersion(), ctx_.host.backendResp3()}, reply());
  state_.set(ClientState::kAuthed, authed);
  setProto(proto);
  if (c.quit) conn_.closeAfterWrite();
}

void RespSession::invalidateWrites(const resp::CommandSpec* spec, const Args& args, proxy::Forwarder::After* after) {
  proxy::ReadThrough& rt = ctx_.read_through;
  using Cause = proxy::ReadThrough::DropCause;
  if (spec == nullptr) {
    // Not in the table: if the table is the backend's own, Redis will refuse it; if not, it may
    // be a write the proxy cannot see into.
    if (ctx_.commands.learned()) return;
    rt.invalidateAllBy(Cause::kUnknownKeys);
    if (after != nullptr) after->all = true;
    return;
  }
  if (!resp::mayWrite(*spec)) return;
  if (spec->cmd == Cmd::kFlush) {
    // FLUSHDB of another database leaves the cache's alone; FLUSHALL and SWAPDB reach it.
    if (state_.db != state_.configured_db && spec->name == "flushdb") return;
    rt.invalidateAllBy(spec->name == "swapdb" ? Cause::kSwapdb : Cause::kFlush);
    if (after != nullptr) after->all = true;
    return;
  }
  if (state_.db != state_.configured_db) return;  // another database: nothing of it is cached
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

bool RespSession::dispatchCluster(const resp::CommandSpec* spec, const Args& args, bool* waits, int32_t* slot_out) {
  using Kind = proxy::SplitRule::Kind;
  *waits = false;
  bool cross = false;
  int32_t slot = *slot_out = slotOf(spec, args, &cross);
  if (slot >= 0 && !cross) return false;  // one slot: forwarded to its node as usual
  const proxy::SplitRule* rule = proxy::findSplitRule(args, slot >= 0);
  if (rule == nullptr) {
    if (slot < 0) return false;  // keyless: the default node
    resp::appendError(reply(), kCrossSlot);
    return true;
  }
  Route route = sharedRoute();
  if (!ready(route)) {
    *waits = true;
    return true;
  }
  backend::Upstream& to = route == Route::kShared3 ? ctx_.shared3 : ctx_.shared;
  uint64_t timeout = ctx_.config.backend_timeout_ms;
  proxy::Forwarder::After& after = after_;
  if (rule->kind != Kind::kScan) invalidateWrites(spec, args, route == Route::kShared ? nullptr : &after);
  Reply* r = conn_.pushReply();
  if (rule->kind == Kind::kScan && !ctx_.forwarder.forwardScan(to, args, r->first, timeout)) {
    resp::appendError(r->first.text, "ERR invalid cursor");
    return true;
  }
  r->first.tag = Part::Tag::kForward;
  r->pending = 1;
  ++outstanding_;
  last_route_ = route;
  proxy::Forwarder::After* a = after.empty() ? nullptr : &after;
  if (rule->kind == Kind::kBySlot) ctx_.forwarder.forwardSplit(to, args, rule->step, rule->how, r->first, timeout, a);
  else if (rule->kind == Kind::kEveryPrimary) ctx_.forwarder.forwardAll(to, args, rule->how, r->first, timeout, a);
  return true;
}

void RespSession::render(Reply& reply, Part& part, const proxy::Lookup& r) {
  using K = proxy::Lookup::Kind;
  --outstanding_;
  if (part.tag == Part::Tag::kGet || part.tag == Part::Tag::kMget) {
    cache_.render(reply, part, r, state_.proto);
    return;
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
    case K::kReply: {
      resp::FrameView root = r.frame->root();
      if (part.tag == Part::Tag::kInfo &&
          (root.type() == resp::FrameType::kBulk || root.type() == resp::FrameType::kVerbatim)) {
        renderInfo(part, r, state_.proto);  // Redis's sections, then the proxy's
      } else {
        part.text.clear();
        if (part.redact.empty()) root.encode(part.text);
        else encodeRedacted(root, part.redact, part.text);
      }
      break;
    }
    default:
      if (part.tag == Part::Tag::kInfo) renderInfo(part, r, state_.proto);  // Redis unreachable: the proxy's own sections
      else if (r.kind == K::kTimeout) resp::appendError(part.text, "ERR backend timeout");
      else resp::appendError(part.text, "ERR backend unavailable: " + resp::oneLine(r.message));
      break;
  }
  maybeRelease();
}

}  // namespace rcp::client
