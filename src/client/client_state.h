// A RESP client's state, as Redis keeps it on a connection (c->flags, c->db, c->resp ...): one
// flags word and the few values beside it. The session changes it as commands run; what it means
// for routing (the client holds state in Redis, so its commands run on a pinned connection and its
// reads bypass the cache) is read here, in one place.
#pragma once

#include <cstdint>
#include <string>

namespace rcp::client {

class ClientState {
 public:
  enum Flag : uint16_t {
    kAuthed = 1u << 0,         // AUTH / HELLO AUTH passed (from the start without --requirepass)
    kMulti = 1u << 1,          // between MULTI and EXEC / DISCARD
    kWatching = 1u << 2,       // WATCH until EXEC / DISCARD / UNWATCH
    kTainted = 1u << 4,        // the pinned connection carries state a reset does not clear: not reused
    kMultiAborted = 1u << 5,   // a command queued in MULTI was refused by the proxy (CROSSSLOT): EXEC aborts
    kMarkerPending = 1u << 6,  // pub/sub: the PING sent after an UNSUBSCRIBE has not come back
  };
  // What the client's pinned connection relays as it comes (stream mode).
  enum class Stream : uint8_t { kOff, kPubSub, kMonitor, kReplyMode };

  ClientState(bool authed, int configured) : flags_(authed ? kAuthed : 0), db(configured), configured_db(configured) {}

  bool has(Flag f) const noexcept { return (flags_ & f) != 0; }
  void set(Flag f, bool on = true) noexcept { flags_ = static_cast<uint16_t>(on ? flags_ | f : flags_ & ~f); }
  void clear(Flag f) noexcept { set(f, false); }
  // Clears f and says whether it was set.
  bool take(Flag f) noexcept {
    bool was = has(f);
    clear(f);
    return was;
  }

  // The client holds state in Redis (a transaction, WATCHed keys, tracking, another database, a
  // stream): its commands run on its pinned connection, and its reads are not the cache's.
  bool pinned() const noexcept {
    return (flags_ & (kMulti | kWatching)) != 0 || db != configured_db || stream != Stream::kOff;
  }
  // Back to a fresh connection's state (the pinned connection is gone, or RESET), keeping who the
  // client is (authentication, protocol, name).
  void resetPinned() noexcept {
    flags_ &= kAuthed;
    db = configured_db;
    stream = Stream::kOff;
    subs = ssubs = 0;
    client_pings = 0;
  }

 private:
  uint16_t flags_;

 public:
  int db;                    // SELECTed database (-1: a SELECT Redis may refuse)
  const int configured_db;   // the database of --redis, the one the cache holds
  int proto = 2;             // the RESP version the client speaks (HELLO)
  Stream stream = Stream::kOff;
  uint32_t client_pings = 0;  // pub/sub: the client's PINGs not yet answered
  // RESP3 pub/sub: the subscription counts Redis last reported (channels and patterns; shard
  // channels). RESP3 answers PING alike in and out of subscribed mode, so these say whether the
  // client has left it.
  long long subs = 0, ssubs = 0;
  std::string name, lib_name, lib_ver;  // CLIENT SETNAME, CLIENT SETINFO
};

}  // namespace rcp::client
