// HTTP/1.1 session: GET and HEAD /<percent-encoded key> through the read-through cache, keep-alive
// and pipelining with responses in request order; other methods 405, malformed requests 400 (then
// close), over-long URL or headers 414 / 431. Renders lookups as HTTP: a hit's body is the cached
// value, zero-copy.
#pragma once

#include <string>
#include <string_view>

#include "http/request_parser.h"
#include "src/client/connection.h"
#include "src/client/session.h"
#include "src/client/session_context.h"

namespace rcp::client {

class HttpSession final : public Session {
 public:
  HttpSession(Connection& conn, const SessionContext& context);
  void onData(const char* data, size_t len) override;
  void resume() override;
  bool hasBacklog() const override { return !backlog_.empty(); }
  Input input() const override {  // llhttp keeps no input of its own
    return {backlog_.size(), parser_.inMessage() || !backlog_.empty()};
  }
  void render(Reply& reply, Part& part, const proxy::Lookup& r) override;

 private:
  size_t run(const char* data, size_t len);  // returns bytes consumed
  void handle(const http::Request& req);
  void refuse(Reply& reply, int status, std::string_view text, std::string_view extra_headers = {});
  // A value's response: 200 with the body, or 304 when the request's If-None-Match names its ETag;
  // ETag, Cache-Control and (served from the cache) Age headers either way. if_none_match: the
  // request's header value (reply.conditional says whether there was one).
  // stale: served past its life because Redis could not be asked (--stale-if-error): said in a
  // Cache-Status header, with no freshness left.
  void respondValue(Reply& reply, const EntryRef& e, bool from_cache, std::string_view if_none_match,
                    bool stale = false);

  Connection& conn_;
  const SessionContext& context_;
  http::RequestParser parser_;
  std::string backlog_;  // input held back while the connection could not take requests
  std::string key_;      // decoded key of the request being handled (reused buffer)
  std::string inm_;      // a pending request's If-None-Match, taken back from its part at render
};

}  // namespace rcp::client
