// HTTP session (see http_session.h).
#include "src/http_session.h"

#include <algorithm>

#include "http/percent.h"
#include "src/connection.h"
#include "src/read_through.h"
#include "src/server.h"

namespace rcp {

namespace {
http::RequestLimits limitsFrom(const Config& c) {
  http::RequestLimits l;
  // Room for the longest key percent-encoded (3 bytes per byte), and never less than 8 KiB.
  l.max_url_bytes = std::max<size_t>(8 << 10, c.max_key_bytes * 3 + 1024);
  l.max_header_bytes = std::min<size_t>(c.max_request_bytes, 16 << 10);
  return l;
}
}  // namespace

HttpSession::HttpSession(Connection& conn) : conn_(conn), parser_(limitsFrom(conn.server().config())) {}

void HttpSession::onData(const char* data, size_t len) {
  if (!backlog_.empty()) {
    backlog_.append(data, len);
    resume();
    return;
  }
  size_t used = run(data, len);
  if (used < len && !conn_.closingAfterWrite()) backlog_.assign(data + used, len - used);
}

void HttpSession::resume() {
  if (backlog_.empty()) return;
  size_t used = run(backlog_.data(), backlog_.size());
  if (conn_.closingAfterWrite()) backlog_.clear();
  else backlog_.erase(0, used);
}

size_t HttpSession::run(const char* data, size_t len) {
  size_t off = 0;
  while (off < len && conn_.canTakeRequest()) {
    size_t used = 0;
    auto st = parser_.parse(data + off, len - off, used);
    off += used;
    if (st == http::RequestParser::Status::kNeedMore) break;
    if (st == http::RequestParser::Status::kError) {
      ++conn_.server().stats().protocol_errors;
      Slot* s = conn_.pushSlot();
      s->http = true;
      s->keep_alive = false;
      renderHttpText(*s, parser_.errorStatus(), parser_.errorReason(), conn_.server().httpDate());
      conn_.closeAfterWrite();
      return len;
    }
    handle(parser_.request());
    conn_.requestQueued();
    if (!parser_.request().keep_alive) {
      conn_.closeAfterWrite();  // what follows a "Connection: close" request is not read
      return len;
    }
  }
  return off;
}

void HttpSession::handle(const http::Request& req) {
  Server& server = conn_.server();
  ++server.stats().http_requests;
  Slot* s = conn_.pushSlot();
  s->http = true;
  s->head_only = req.method == http::Method::kHead;
  s->keep_alive = req.keep_alive;
  s->http10 = req.http_minor == 0;
  if (req.method == http::Method::kOther) {
    server.countGet(true, Outcome::kError);
    renderHttpText(*s, 405, "method not allowed: use GET or HEAD", server.httpDate(), "Allow: GET, HEAD\r\n");
    return;
  }
  switch (http::keyFromTarget(req.target, key_)) {
    case http::KeyError::kNone:
      if (key_.size() > server.config().max_key_bytes) {
        server.countGet(true, Outcome::kError);
        renderHttpText(*s, 414, "key is too long (over --max-key-bytes)", server.httpDate());
        return;
      }
      server.readThrough().get(key_, s);
      return;
    case http::KeyError::kEmpty:
      server.countGet(true, Outcome::kError);
      renderHttpText(*s, 400, "missing key: GET /<percent-encoded key>", server.httpDate());
      return;
    case http::KeyError::kBadEscape:
      server.countGet(true, Outcome::kError);
      renderHttpText(*s, 400, "bad percent-encoding in key", server.httpDate());
      return;
    case http::KeyError::kBadTarget:
      server.countGet(true, Outcome::kError);
      renderHttpText(*s, 400, "bad request-target", server.httpDate());
      return;
  }
}

}  // namespace rcp
