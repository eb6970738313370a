// A protocol session: parses a connection's input into requests, queues one reply per request,
// and renders the results of the lookups those replies wait on. Implemented for RESP
// (resp_session.h) and HTTP (http_session.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "src/client/client_registry.h"
#include "src/proxy/read_through.h"

namespace rcp::client {

struct Part;
struct Reply;

class Session {
 public:
  virtual ~Session() = default;
  // New bytes from the client; may stop early when the connection cannot take more requests.
  virtual void onData(const char* data, size_t len) = 0;
  // The connection can take requests again: parse what was held back.
  virtual void resume() = 0;
  // Bytes received but held back (not yet parsed).
  virtual bool hasBacklog() const = 0;
  // What the session holds of its input, asked after every read.
  struct Input {
    size_t bytes;  // received and not yet parsed into requests (what --max-input-bytes bounds)
    bool partial;  // part of a request has arrived and the rest has not (what --request-timeout bounds)
  };
  virtual Input input() const = 0;
  // Fills part (of reply) from the result of the lookup it waited on, in this protocol.
  virtual void render(Reply& reply, Part& part, const proxy::Lookup& r) = 0;
  // The last part of a reply that has failed (Reply::failed) was rendered: make it one error.
  virtual void finish(Reply&) {}
  // The connection's output has drained, after the session asked (Connection::notifyWhenDrained).
  virtual void onDrained() {}
  // At the client's EOF: close at once instead of answering what is pending (a blocked or
  // subscribed client is gone, as Redis treats it).
  virtual bool closeOnEof() const { return false; }
  // Fills what the session knows of its client for CLIENT LIST (name, db, flags, last command ...).
  virtual void describe(ClientInfo&) const {}
  // Blocked in a command (BLPOP ...) on a connection to Redis whose id there is *redis_id, on the
  // node serving *slot: what CLIENT UNBLOCK of this client names.
  virtual bool blockedOn(long long* /*redis_id*/, int32_t* /*slot*/) const { return false; }
};

}  // namespace rcp::client
