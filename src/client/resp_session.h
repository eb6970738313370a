// RESP protocol session: parses requests (multibulk and inline) and routes each one, by its shape
// (command_shapes.h), to where it runs:
//   - answered by the proxy (PING, ECHO, QUIT, RESET, HELLO, AUTH, CLIENT about this connection);
//   - through the read-through cache (GET, MGET): a hit is the cached entry's bulk bytes, zero-copy;
//   - forwarded on the shared pipelined link (every other command), a write invalidating its keys
//     first, so the client reads its own writes;
//   - on a pinned connection of its own while the client has state in Redis: MULTI ... EXEC, WATCH,
//     a blocking command, SELECT of another database (FIFO mode), pub/sub, MONITOR, CLIENT REPLY
//     (stream mode: what Redis sends is relayed as it comes).
// A client that sent HELLO 3 speaks RESP3: the proxy's own replies take their RESP3 shapes, and its
// forwarded commands travel on backend connections that speak RESP3 too (the shared RESP3 link, or
// a RESP3 pinned connection), so Redis shapes every reply and the proxy relays it as it is. Its
// GETs and MGETs are served by the cache (filled on the RESP2 link: the same bytes but nil).
// CLIENT TRACKING is the proxy's (tracking_hub.h): a tracking client stays on the shared links and
// the cache, the keys it reads are remembered, and invalidations reach it as pushes (RESP3) or on
// the subscribed connection it redirects to (RESP2).
// Replies leave in request order. When a request must run on another connection than the ones
// still answering this client (entering or leaving a pinned state), it waits until they have
// answered, so Redis sees the client's commands in the order it sent them.
// The session is spread over rooms by shape: this file and resp_session.cpp are the request pump,
// dispatch and forwarding; cache_reads.h the cache's GET and MGET; resp_pinned.cpp the commands that
// move the client's pinned state (client_state.h); resp_stream.cpp the pub/sub and MONITOR relay.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "resp/commands.h"
#include "resp/reply.h"
#include "resp/request_parser.h"
#include "src/backend/pinned.h"
#include "src/client/cache_reads.h"
#include "src/client/client_state.h"
#include "src/client/connection.h"
#include "src/client/reply.h"
#include "src/client/session.h"
#include "src/client/session_context.h"
#include "src/proxy/forwarder.h"

namespace rcp::client {

class RespSession final : public Session, private backend::PinnedUser, private TrackingPeer {
 public:
  RespSession(Connection& conn, const SessionContext& context);
  ~RespSession() override;
  void onData(const char* data, size_t len) override;
  void resume() override { run(); }
  bool hasBacklog() const override { return holding_ || parser_.buffered() > 0; }
  Input input() const override {
    size_t held = parser_.buffered();
    return {held, held > 0};
  }
  void render(Reply& reply, Part& part, const proxy::Lookup& r) override;
  void finish(Reply& reply) override { CacheReads::finish(reply); }
  void onDrained() override;
  bool closeOnEof() const override;
  void describe(ClientInfo& info) const override;
  bool blockedOn(long long* redis_id, int32_t* slot) const override;

 private:
  using Args = std::vector<std::string_view>;
  using Stream = ClientState::Stream;
  // Where a request runs; a request waits while replies from another route are outstanding.
  // kShared: the RESP2 shared link, which also fills the cache; kShared3: the RESP3 shared link.
  enum class Route : uint8_t { kLocal, kShared, kShared3, kPinned, kBlocking, kStream };

  // --- the pump and dispatch (resp_session.cpp)
  void run();
  void hold(const Args& args);
  // dispatch(), and for a tracking client the hub told of the command (its writer scope, its reads).
  bool runOne(const Args& args);
  // Runs one request; false when it must wait for outstanding replies (it is then held).
  bool dispatch(const Args& args);
  bool dispatchSlow(const Args& args);
  std::string lastCommand() const;  // CLIENT LIST's cmd=
  bool dispatchConnection(resp::Cmd id, const Args& args);
  bool dispatchInfo(const Args& args);
  // INFO's sections of the proxy's for args; *proxy_only: every section asked for is the proxy's.
  std::string proxyInfo(const Args& args, bool* proxy_only) const;
  bool dispatchCommand(const resp::CommandSpec* spec, const Args& args);  // forward (shared, pinned or blocking)
  bool ready(Route route) const noexcept {
    return route == Route::kLocal || outstanding_ == 0 ||
           (route == last_route_ && route != Route::kBlocking && route != Route::kStream);
  }
  Route sharedRoute() const noexcept { return state_.proto == 3 ? Route::kShared3 : Route::kShared; }
  // A cache read's reply was queued with `waiting` parts waiting on lookups.
  void cacheQueued(uint32_t waiting) noexcept {
    if (waiting == 0) return;
    outstanding_ += waiting;
    last_route_ = Route::kShared;
  }
  void setProto(int proto) noexcept;
  void local(resp::Cmd id, const Args& args);
  std::string& reply();  // a ready reply's text, which the caller fills
  void sendRaw(const Args& args);
  std::string_view rawOf(const Args& args) const noexcept;
  // slot: the cluster slot of args's keys when the caller knows it (kSlotUnknown: worked out here).
  static constexpr int32_t kSlotUnknown = -2;
  void forward(Route route, const Args& args, Part::Tag tag, uint64_t timeout_ms, proxy::Forwarder::After* after,
               int32_t slot = kSlotUnknown);
  // Read-your-writes: drops what args may write from the cache (into after too, for a pinned route).
  void invalidateWrites(const resp::CommandSpec* spec, const Args& args, proxy::Forwarder::After* after);
  // --- in front of a Redis Cluster (resp_session.cpp)
  // The slot of args's keys (Request::kAnySlot: keyless or not a cluster); *cross: they span slots.
  int32_t slotOf(const resp::CommandSpec* spec, const Args& args, bool* cross);
  // A command with keys in several slots, or a keyless one that concerns every node: split, sent to
  // every primary, refused (CROSSSLOT), or not this function's (false: forwarded as usual), by the
  // rules of src/proxy/split_rules.h. *slot_out: the keys' slot, for the forward that follows a false.
  bool dispatchCluster(const resp::CommandSpec* spec, const Args& args, bool* waits, int32_t* slot_out);
  // In front of a cluster: *slot gets the keys' slot; true when they span slots, or the client's
  // pinned connection is on another node than the one serving it (Redis Cluster's CROSSSLOT).
  bool crossSlot(const resp::CommandSpec* spec, const Args& args, int32_t* slot);
  // A pinned connection on another node than the one serving slot cannot run the command.
  bool wrongNode(int32_t slot) const;

  // --- the pinned state (resp_pinned.cpp)
  bool dispatchPinning(resp::Cmd id, const resp::CommandSpec* spec, const Args& args);
  bool dispatchMultiWatch(resp::Cmd id, const resp::CommandSpec* spec, const Args& args);
  bool dispatchInMulti(resp::Cmd id, const resp::CommandSpec* spec, const Args& args);
  bool dispatchExec(resp::Cmd id, const Args& args);
  bool dispatchUnwatch(const Args& args);
  bool dispatchSelect(const Args& args);
  bool dispatchClient(const Args& args);
  // CLIENT TRACKING / CACHING / GETREDIR / TRACKINGINFO (the hub's); false: not one of these.
  bool dispatchTracking(const Args& args);
  // A tracking client's command ran: the keys it read are remembered, CLIENT CACHING's flag spent.
  void tracked(const Args& args);
  // A tracking client's command is about to run on its pinned connection: the connection tracks
  // too (redirected to the proxy's invalidation link for its node), so what it reads there
  // (a transaction, another database) is reported like the rest.
  void trackPinned(const Args& args);
  // TrackingPeer
  int trackingProto() const noexcept override { return state_.proto; }
  bool trackingSubscribed() const noexcept override { return state_.stream == Stream::kPubSub; }
  void trackingPush(std::string_view bytes) override;
  bool dispatchUnblock(const Args& args);
  bool dispatchHello(const Args& args);
  bool dispatchReset();
  bool acquirePinned();  // false (and an error reply) at --max-pinned
  void maybeRelease();
  void resetState(bool reusable);

  // --- the stream relay: pub/sub, MONITOR, CLIENT REPLY (resp_stream.cpp)
  bool startStream(Stream kind, resp::Cmd id, const Args& args);
  bool dispatchStream(resp::Cmd id, const Args& args);
  // backend::PinnedUser
  void onPinnedLost(std::string_view why, bool was_up) override;
  void onPinnedFrame(const resp::Frame& frame) override;
  std::string clientAddress() const override { return conn_.peerAddress(); }

  Connection& conn_;
  const SessionContext& ctx_;
  resp::RequestParser parser_;
  CacheReads cache_;
  ClientState state_;
  uint64_t connected_ms_;
  // The last command, for CLIENT LIST: the hot paths set one byte, the rest its name.
  enum class LastCmd : uint8_t { kNone, kGet, kMget, kOther };
  LastCmd last_cmd_ = LastCmd::kNone;
  const resp::CommandSpec* last_spec_ = nullptr;  // kOther: the table's entry, valid while
  uint32_t last_gen_ = 0;                          // the table is of this generation
  std::string client_sub_;                         // the last CLIENT subcommand, lower case
  int32_t blocking_slot_ = -1;                     // the slot of the last blocking command's keys (kAnySlot)
  TrackingHub::Client tracking_;                   // CLIENT TRACKING's state, registered with the hub

  // --- routing
  // The waiter of a request whose reply the client does not get (a cluster's deferred MULTI).
  struct Discard final : proxy::Waiter {
    void onResult(const proxy::Lookup&) override {}
  };
  Discard discard_;
  backend::Pinned* pinned_ = nullptr;
  uint32_t outstanding_ = 0;         // parts waiting on Redis (any route)
  uint32_t pinned_outstanding_ = 0;  // of which on the pinned connection
  Route last_route_ = Route::kLocal;
  bool holding_ = false;             // held_ waits for outstanding replies
  std::vector<std::string> held_;
  proxy::Forwarder::After exec_after_;  // keys written by the commands queued in MULTI
  uint32_t multi_queued_ = 0;            // commands queued since MULTI: the next one's index in EXEC's reply
  std::vector<uint32_t> exec_redact_;    // the indexes of the CONFIG GETs queued (their replies redacted)
  proxy::Forwarder::After after_;       // scratch: a write's keys for the forward (its buffers reused)
  std::vector<std::string_view> keys_;  // scratch
  std::string raw_;                     // scratch (stream mode)
  std::string_view raw_request_;        // the request being run as the client sent it, if whole
};

// Shared by the session's rooms.
namespace resp_detail {
inline constexpr std::string_view kCrossSlot = "CROSSSLOT Keys in request don't hash to the same slot";
inline constexpr uint64_t kNoDeadline = 0;
// A command name as an error message quotes it: lower case, at most 64 bytes, one line.
std::string lowerName(std::string_view s);
}  // namespace resp_detail

}  // namespace rcp::client
