// HTTP/1.1 session: GET and HEAD /<percent-encoded key> through the read-through cache, keep-alive
// and pipelining with responses in request order; other methods 405, malformed requests 400 (then
// close), over-long URL or headers 414 / 431.
#pragma once

#include <string>

#include "http/request_parser.h"
#include "src/session.h"

namespace rcp {

class Connection;

class HttpSession final : public Session {
 public:
  explicit HttpSession(Connection& conn);
  void onData(const char* data, size_t len) override;
  void resume() override;
  bool hasBacklog() const override { return !backlog_.empty(); }

 private:
  size_t run(const char* data, size_t len);  // returns bytes consumed
  void handle(const http::Request& req);

  Connection& conn_;
  http::RequestParser parser_;
  std::string backlog_;  // input held back while the connection could not take requests
  std::string key_;      // decoded key of the request being handled (reused buffer)
};

}  // namespace rcp
