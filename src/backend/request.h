// One command sent to Redis, and what the layers above implement to receive its outcome.
//
// Contract: the issuer owns a request and keeps it alive until exactly one of onReply / onFailure
// has been called, or until it cancels it (Upstream::cancel; the reply is then read and dropped).
// No callback is ever made from inside the call that submitted the request: a request that fails
// at once (no link to Redis) fails in the end-of-turn pass. A request is on at most one queue.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "resp/frame.h"

namespace rcp::backend {

enum class Failure : uint8_t {
  kUnavailable,  // no link to Redis, or the link was lost before the reply
  kTimeout,      // no reply by the request's deadline (or its reply came slower than the rate floor)
  kTooLarge,     // Redis's reply was over --max-backend-reply-bytes: refused, never retried
};

// A MOVED or ASK error from a Redis Cluster node (for a cluster policy; a single Redis never sends it).
struct Redirect {
  bool ask = false;         // ASK: this request only; MOVED: the slot moved
  uint16_t slot = 0;
  std::string_view address; // host:port of the node to ask
};

class Request {
 public:
  // Appends the command in RESP to out: one command, or replies() commands pipelined together
  // (a GET and its key's PTTL), each of whose replies goes to onReply in order.
  virtual void encode(std::string& out) const = 0;
  virtual unsigned replies() const noexcept { return 1; }
  // A top-level bulk string reply, offered while its bytes are still in the reader's buffer (valid
  // during the call only), so the request can build its own object with the one copy it needs.
  // Returns true when it took the bytes: the frame given to onReply then carries no copy.
  virtual bool onBulk(const char* /*data*/, size_t /*len*/) noexcept { return false; }
  // The whole reply (each of them, for a request of several commands); the frame is valid during
  // the call only. The last reply (or a failure) ends the request.
  virtual void onReply(const resp::Frame& reply) = 0;
  virtual void onFailure(Failure why, std::string_view detail) = 0;
  // A cluster redirect; false lets the error reach onReply as it is.
  virtual bool onRedirect(const Redirect&) { return false; }
  // Safe to send again when a link is lost before its reply (a read): the policy then retries it
  // once on the next link instead of failing it.
  virtual bool retriable() const noexcept { return false; }

  uint64_t timeout_ms = 0;  // set by the issuer before submitting: 0 = no deadline (BLPOP k 0)
  // Set by the issuer: the Redis Cluster slot of the request's keys (all in one slot), or kAnySlot
  // for a keyless command (a cluster policy sends it to its default node; a single Redis ignores it).
  static constexpr int32_t kAnySlot = -1;
  int32_t slot = kAnySlot;

  // --- kept by the link and the policy while the request is queued
  uint64_t deadline_ms = 0;  // monotonic; 0 = none
  uint64_t sent_ns = 0;      // uv_hrtime() when written, for the latency histogram
  uint64_t sent_ms = 0;      // loop time (uv_now) when written: what Redis answers is no older
  uint8_t retries = 0;       // times resent after a lost link
  uint8_t replies_read = 0;  // replies of this request read so far on its current link
  uint8_t redirects = 0;     // times sent again after a MOVED, ASK, TRYAGAIN, CLUSTERDOWN or LOADING
  uint64_t issued_ms = 0;    // loop time when the issuer submitted it: redirects and waits stay within timeout_ms of it
  uint32_t node = 0;         // the node it was last sent to (a cluster policy's NodeId; 0 for a single Redis)

 protected:
  Request() = default;
  ~Request() = default;  // not deleted through this interface: the issuer owns it
  Request(const Request&) = default;
  Request& operator=(const Request&) = default;
};

}  // namespace rcp::backend
