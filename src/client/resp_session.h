// RESP protocol session: parses requests (multibulk and inline) and routes each one, by the command
// table, to where it runs:
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
// GETs and MGETs are served by the cache (filled on the RESP2 link: the same bytes but nil). A
// RESP3 client that turns CLIENT TRACKING on is pinned to a connection with tracking on, whose
// invalidation pushes it receives, and its reads go there.
// Replies leave in request order. When a request must run on another connection than the ones
// still answering this client (entering or leaving a pinned state), it waits until they have
// answered, so Redis sees the client's commands in the order it sent them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "resp/commands.h"
#include "resp/reply.h"
#include "resp/request_parser.h"
#include "src/backend/pinned.h"
#include "src/client/reply.h"
#include "src/client/session.h"
#include "src/proxy/forwarder.h"

namespace rcp::client {

class Clients;
class Connection;

class RespSession final : public Session, private backend::PinnedUser {
 public:
  explicit RespSession(Connection& conn);
  ~RespSession() override;
  void onData(const char* data, size_t len) override;
  void resume() override { run(); }
  bool hasBacklog() const override { return holding_ || parser_.buffered() > 0; }
  Input input() const override {
    size_t held = parser_.buffered();
    return {held, held > 0};
  }
  void render(Reply& reply, Part& part, const proxy::Lookup& r) override;
  void finish(Reply& reply) override;
  void onDrained() override;
  bool closeOnEof() const override;

 private:
  using Args = std::vector<std::string_view>;
  // Where a request runs; a request waits while replies from another route are outstanding.
  // kShared: the RESP2 shared link, which also fills the cache; kShared3: the RESP3 shared link.
  enum class Route : uint8_t { kLocal, kShared, kShared3, kPinned, kBlocking, kStream };
  enum class Stream : uint8_t { kOff, kPubSub, kMonitor, kReplyMode };

  void run();
  // Prefetches the cache lines the next GETs in the input will touch (see LruCache::prefetch).
  void prefetchAhead();
  static constexpr size_t kPrefetchRequests = 16;    // GETs looked ahead at once
  static constexpr size_t kMinBatchBytes = 64;       // less input than this is at most one short GET
  static constexpr size_t kPrefetchValueBytes = 256; // values up to this size are prefetched on a hit
  static constexpr size_t kMaxCachedMgetKeys = 4096; // a larger MGET is forwarded as it is

  // Runs one request; false when it must wait for outstanding replies (it is then held).
  bool dispatch(const Args& args);
  bool dispatchSlow(const Args& args);
  // Whether the cache serves this GET or MGET for this client (no state that sends its reads
  // elsewhere, keys within --max-key-bytes, an MGET within kMaxCachedMgetKeys).
  bool cacheServes(resp::Cmd id, const Args& args) const noexcept;
  // INFO's sections of the proxy's for args; *proxy_only: every section asked for is the proxy's.
  std::string proxyInfo(const Args& args, bool* proxy_only) const;
  bool dispatchInMulti(resp::Cmd id, const resp::CommandSpec* spec, const Args& args);
  bool dispatchStream(resp::Cmd id, const Args& args);
  bool dispatchClient(const Args& args);
  bool dispatchSelect(const Args& args);
  bool dispatchUnwatch(const Args& args);
  bool dispatchExec(resp::Cmd id, const Args& args);
  bool dispatchCommand(const resp::CommandSpec* spec, const Args& args);  // forward (shared, pinned or blocking)
  bool startStream(Stream kind, resp::Cmd id, const Args& args);
  bool ready(Route route) const noexcept {
    return route == Route::kLocal || outstanding_ == 0 ||
           (route == last_route_ && route != Route::kBlocking && route != Route::kStream);
  }
  bool pinnedState() const noexcept {
    return multi_ || watching_ || tracking_ || db_ != configured_db_ || stream_ != Stream::kOff;
  }
  Route sharedRoute() const noexcept { return proto_ == 3 ? Route::kShared3 : Route::kShared; }
  bool dispatchHello(const Args& args);
  bool dispatchTracking(const Args& args);
  void setProto(int proto) noexcept;
  // Nil as the client's protocol spells it.
  void appendNull(std::string& out) const { resp::appendNull(out, proto_); }
  bool acquirePinned();  // false (and an error reply) at --max-pinned
  void maybeRelease();
  void resetState(bool reusable);
  void sendRaw(const Args& args);
  std::string_view rawOf(const Args& args) const noexcept;
  // slot: the cluster slot of args's keys when the caller knows it (kSlotUnknown: worked out here).
  static constexpr int32_t kSlotUnknown = -2;
  void forward(Route route, const Args& args, Part::Tag tag, uint64_t timeout_ms, proxy::Forwarder::After* after,
               int32_t slot = kSlotUnknown);
  // --- in front of a Redis Cluster
  // The slot of args's keys (Request::kAnySlot: keyless or not a cluster); *cross: they span slots.
  int32_t slotOf(const resp::CommandSpec* spec, const Args& args, bool* cross);
  // A command with keys in several slots, or a keyless one that concerns every node: split, sent to
  // every primary, refused (CROSSSLOT), or not this function's (false: forwarded as usual).
  // *slot_out: the keys' slot, for the forward that follows a false.
  bool dispatchCluster(const resp::CommandSpec* spec, const Args& args, bool* waits, int32_t* slot_out);
  // In front of a cluster: *slot gets the keys' slot; true when they span slots, or the client's
  // pinned connection is on another node than the one serving it (Redis Cluster's CROSSSLOT).
  bool crossSlot(const resp::CommandSpec* spec, const Args& args, int32_t* slot);
  // A pinned connection on another node than the one serving slot cannot run the command.
  bool wrongNode(int32_t slot) const;
  void local(resp::Cmd id, const Args& args);
  // Read-your-writes: drops what args may write from the cache (into after too, for a pinned route).
  void invalidateWrites(const resp::CommandSpec* spec, const Args& args, proxy::Forwarder::After* after);
  void get(std::string_view key);  // GET: the read-through cache
  void mget(const Args& args);     // MGET: the cache, one backend MGET for the misses
  std::string& reply();            // a ready reply's text, which the caller fills
  void hold(const Args& args);

  // backend::PinnedUser
  void onPinnedLost(std::string_view why, bool was_up) override;
  void onPinnedFrame(const resp::Frame& frame) override;

  Connection& conn_;
  Clients& clients_;
  resp::RequestParser parser_;
  size_t prefetched_ = 0;  // requests parsed ahead of whose cache lines were prefetched
  // The keys the look-ahead hashed, so a GET whose parsed key has the same bytes reuses the hash
  // (the hint is never trusted: only equal bytes share a hash). Keys longer than kAheadKeyBytes
  // are hashed again.
  static constexpr size_t kAheadKeyBytes = 48;
  struct Ahead {
    uint64_t hash;
    uint32_t len;  // 0: not kept
    char key[kAheadKeyBytes];
  };
  Ahead ahead_[kPrefetchRequests];
  size_t ahead_n_ = 0;     // entries of the current look-ahead
  size_t ahead_at_ = 0;    // the entry of the request being run

  // --- the client's state (Redis keeps the same on a connection)
  bool authed_;
  int proto_ = 2;           // the RESP version the client speaks (HELLO)
  bool multi_ = false;      // between MULTI and EXEC / DISCARD
  bool tracking_ = false;   // CLIENT TRACKING on (RESP3): pinned, its reads on that connection
  bool tainted_ = false;    // the pinned connection carries state a reset does not clear: not reused
  bool watching_ = false;   // WATCH until EXEC / DISCARD / UNWATCH
  bool multi_aborted_ = false;  // a command queued in MULTI was refused by the proxy (CROSSSLOT): EXEC aborts
  int db_;                  // SELECTed database (-1: a SELECT Redis may refuse)
  int configured_db_;       // the database of --redis, the one the cache holds
  Stream stream_ = Stream::kOff;
  bool marker_pending_ = false;  // pub/sub: the PING sent after an UNSUBSCRIBE has not come back
  uint32_t client_pings_ = 0;    // pub/sub: the client's PINGs not yet answered
  // RESP3 pub/sub: the subscription counts Redis last reported (channels and patterns; shard
  // channels). RESP3 answers PING alike in and out of subscribed mode, so these say whether the
  // client has left it.
  long long subs_ = 0, ssubs_ = 0;
  std::string name_, lib_name_, lib_ver_;
  uint64_t connected_ms_;

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
  std::vector<proxy::Waiter*> waiters_; // scratch (MGET)
  std::vector<EntryRef> hits_;          // scratch (MGET)
  std::string raw_;                     // scratch (stream mode)
  std::string_view raw_request_;        // the request being run as the client sent it, if whole
};

}  // namespace rcp::client
