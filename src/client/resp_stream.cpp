// RESP session: the stream relay (see resp_session.h). A client that subscribes, runs MONITOR or
// turns CLIENT REPLY off gets its pinned connection in stream mode: everything it sends goes to
// Redis, and everything Redis sends comes back as it comes (back-pressure pauses the pinned
// connection while the client is not reading). Whether an UNSUBSCRIBE left the client out of
// subscribed mode is Redis's to say: a PING sent behind it tells.
#include <spdlog/spdlog.h>

#include "resp/frame.h"
#include "resp/reply.h"
#include "src/client/resp_session.h"

namespace rcp::client {

namespace {
using resp::Cmd;
using namespace resp_detail;

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

}  // namespace

// Pub/sub, MONITOR, CLIENT REPLY: the client's pinned connection relays what Redis sends as it comes.
bool RespSession::startStream(Stream kind, Cmd id, const Args& args) {
  if (!ready(Route::kStream)) return false;
  if (pinned_ == nullptr && !acquirePinned()) return true;
  state_.stream = kind;
  pinned_->setStreaming(true);
  ++ctx_.stats.stream_commands;
  return dispatchStream(id, args);
}

bool RespSession::dispatchStream(Cmd id, const Args& args) {
  if (state_.has(ClientState::kMarkerPending)) return false;  // whether the client is still subscribed is not known yet
  if (state_.stream == Stream::kPubSub && state_.proto == 3 && ctx_.clustered() && id != Cmd::kSubscribe &&
      id != Cmd::kUnsubscribe && id != Cmd::kPing) {
    // RESP3 lets a subscribed client run any command; in front of a cluster one whose key another
    // node serves than its subscribed connection's goes on the shared RESP3 link, its reply in
    // order with what the subscription streams.
    const resp::CommandSpec* spec = ctx_.commands.find(args[0]);
    bool cross = false;
    int32_t slot = slotOf(spec, args, &cross);
    if (cross) {
      resp::appendError(reply(), kCrossSlot);
      return true;
    }
    if (wrongNode(slot)) {
      proxy::Forwarder::After& after = after_;
      invalidateWrites(spec, args, &after);
      forward(Route::kShared3, args, Part::Tag::kForward, ctx_.config.backend_timeout_ms,
              after.empty() ? nullptr : &after, slot);
      return true;
    }
  }
  // Everything goes to Redis, and everything Redis sends comes back as it comes: subscribed, Redis
  // itself answers what is not allowed there, in order with what it streams.
  sendRaw(args);
  if (state_.stream != Stream::kPubSub) return true;  // MONITOR, CLIENT REPLY
  if (id == Cmd::kPing) {
    // Subscribed, RESP2 answers every PING ["pong", msg]; RESP3 answers +PONG to a bare PING only.
    if (state_.proto == 2 || args.size() == 1) ++state_.client_pings;
  } else if (id == Cmd::kUnsubscribe) {
    // How many replies an UNSUBSCRIBE brings, and whether the client is then out of subscribed
    // mode, is Redis's to say: a PING behind it answers "pong" in subscribed mode and +PONG out
    // of it (RESP2), or comes back once the unsubscribe pushes and their counts have (RESP3).
    // Until it comes back, the client's next requests wait.
    pinned_->sendRaw("*1\r\n$4\r\nPING\r\n");
    state_.set(ClientState::kMarkerPending);
  }
  return true;
}

void RespSession::onDrained() {
  if (pinned_ != nullptr && pinned_->streaming()) pinned_->pauseReading(false);
}

bool RespSession::closeOnEof() const {
  // A client gone while blocked or subscribed: Redis drops it at once (so a BLPOP pops nothing for
  // nobody); other requests are answered before the connection closes.
  return pinned_ != nullptr && (last_route_ == Route::kBlocking || state_.stream != Stream::kOff);
}

void RespSession::onPinnedLost(std::string_view why, bool was_up) {
  bool streaming = state_.stream != Stream::kOff;
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
  if (state_.stream == Stream::kPubSub && state_.proto == 3 && root.type() == resp::FrameType::kPush && root.size() == 3 &&
      root[0].type() == resp::FrameType::kBulk && root[2].type() == resp::FrameType::kInteger) {
    std::string_view kind = root[0].str();
    if (kind == "subscribe" || kind == "unsubscribe" || kind == "psubscribe" || kind == "punsubscribe")
      state_.subs = root[2].integer();
    else if (kind == "ssubscribe" || kind == "sunsubscribe")
      state_.ssubs = root[2].integer();
  }
  if (state_.stream == Stream::kPubSub && isPong(root, &simple)) {
    if (state_.client_pings > 0) {
      --state_.client_pings;
    } else if (state_.take(ClientState::kMarkerPending)) {  // the UNSUBSCRIBE before it has been answered whole
      bool left = state_.proto == 3 ? state_.subs == 0 && state_.ssubs == 0 : simple;
      if (left) {               // and the client has left subscribed mode
        state_.stream = Stream::kOff;
        pinned_->setStreaming(false);
        maybeRelease();
      }
      conn_.kick();  // run what waited
      return;
    }
  }
  Reply* r = conn_.pushReply();
  if (state_.stream == Stream::kMonitor && root.type() == resp::FrameType::kSimple) {
    // A command of a pinned connection: named by its client's address, not the proxy's socket.
    resp::appendSimple(r->first.text,
                       monitorLine(root.str(), [this](std::string_view a) { return ctx_.pinned.clientAt(a); }));
  } else {
    root.encode(r->first.text);
  }
  conn_.kick();
  if (pinned_ != nullptr && conn_.outputBacklogged()) {
    pinned_->pauseReading(true);
    conn_.notifyWhenDrained();
  }
}

}  // namespace rcp::client
