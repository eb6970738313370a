// A protocol session: parses a connection's input into requests and queues one reply slot per
// request. Implemented for RESP (resp_session.h) and HTTP (http_session.h).
#pragma once

#include <cstddef>

namespace rcp {

class Connection;

class Session {
 public:
  virtual ~Session() = default;
  // New bytes from the client; may stop early when the connection cannot take more requests.
  virtual void onData(const char* data, size_t len) = 0;
  // The connection can take requests again: parse what was held back.
  virtual void resume() = 0;
  // Bytes received but held back (not yet parsed).
  virtual bool hasBacklog() const = 0;
};

}  // namespace rcp
