// HTTP session (see http_session.h).
#include "src/client/http_session.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "http/auth.h"
#include "http/conditional.h"
#include "http/host.h"
#include "http/percent.h"
#include "http/response.h"
#include "src/client/http_render.h"
#include "src/client/local_commands.h"
#include "src/client/connection.h"

namespace rcp::client {

namespace {
http::RequestLimits limitsFrom(const Config& c) {
  http::RequestLimits l;
  // Room for the longest key percent-encoded (3 bytes per byte), and never less than 8 KiB.
  l.max_url_bytes = std::max<size_t>(8 << 10, c.max_key_bytes * 3 + 1024);
  l.max_header_bytes = std::min<size_t>(c.max_request_bytes, 16 << 10);
  return l;
}

}  // namespace

HttpSession::HttpSession(Connection& conn, const SessionContext& context)
    : conn_(conn), context_(context), parser_(limitsFrom(context.config)) {}

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
      ++context_.stats.protocol_errors;
      Reply* r = conn_.pushReply();
      r->keep_alive = false;
      renderHttpText(*r, parser_.errorStatus(), parser_.errorReason(), context_.httpDate());
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

void HttpSession::refuse(Reply& reply, int status, std::string_view text, std::string_view extra_headers) {
  context_.stats.countGet(Proto::kHttp, Outcome::kError);
  renderHttpText(reply, status, text, context_.httpDate(), extra_headers);
}

void HttpSession::handle(const http::Request& req) {
  const SessionContext& ctx = context_;
  ++ctx.stats.http_requests;
  Reply* r = conn_.pushReply();
  r->head_only = req.method == http::Method::kHead;
  r->keep_alive = req.keep_alive;
  r->http10 = req.http_minor == 0;
  // RFC 9112 3.2: exactly one Host in HTTP/1.1, never two; then it must name this proxy (a page
  // reached through a rebinding DNS name must not read keys).
  const Config& config = ctx.config;
  if (req.host_count > 1) return refuse(*r, 400, "more than one Host header");
  if (req.host_count == 0 && req.http_minor >= 1) return refuse(*r, 400, "missing Host header (HTTP/1.1 requires one)");
  if (req.host_count == 1 && !http::hostAllowed(req.host, config.http_allowed_hosts))
    return refuse(*r, 421, "this Host is not allowed (see --http-allowed-hosts)");
  if (!config.requirepass.empty()) {
    std::string password;
    if (!http::passwordFromAuthorization(req.authorization, password) || !credentialsOk(config, "default", password)) {
      ++ctx.stats.auth_failures;
      return refuse(*r, 401, "authentication required: Authorization: Bearer <password> (see --requirepass)",
                    "WWW-Authenticate: Bearer realm=\"redis-cache-proxy\"\r\n"
                    "WWW-Authenticate: Basic realm=\"redis-cache-proxy\"\r\n");
    }
  }
  if (req.method == http::Method::kOther) return refuse(*r, 405, "method not allowed: use GET or HEAD", "Allow: GET, HEAD\r\n");
  switch (http::keyFromTarget(req.target, key_)) {
    case http::KeyError::kNone: break;
    case http::KeyError::kEmpty: return refuse(*r, 400, "missing key: GET /<percent-encoded key>");
    case http::KeyError::kBadEscape: return refuse(*r, 400, "bad percent-encoding in key");
    case http::KeyError::kBadTarget: return refuse(*r, 400, "bad request-target");
  }
  if (key_.size() > config.max_key_bytes) return refuse(*r, 414, "key is too long (over --max-key-bytes)");
  r->conditional = req.has_if_none_match;
  EntryRef e = ctx.read_through.get(key_, r->first);
  if (!e) {
    r->pending = 1;  // the lookup fills the part later (render)
    if (r->conditional) r->first.text.assign(req.if_none_match);  // kept for render
    return;
  }
  ctx.stats.countGet(Proto::kHttp, Outcome::kHit);
  if (e->absent()) return renderHttpText(*r, 404, "not found", ctx.httpDate());  // cached "no such key"
  respondValue(*r, e, true, req.if_none_match);
}

void HttpSession::respondValue(Reply& reply, const EntryRef& e, bool from_cache, std::string_view if_none_match,
                               bool stale) {
  const SessionContext& ctx = context_;
  const Config& config = ctx.config;
  uint64_t now = ctx.loop.nowMs();
  char etag[http::kEtagBytes];
  http::formatEtag(etag, e->etag());
  std::string_view tag(etag, sizeof etag);
  // Freshness: what is left of the entry's life (--ttl, or its key's TTL in Redis when shorter: the
  // stored time was moved back for it); a value not kept in the cache has none left.
  long long max_age = -1;  // no-cache
  if (config.http_max_age_ms != 0) {
    uint64_t life = !stale && e->cached() && now - e->storedMs() < config.ttl_ms ? config.ttl_ms - (now - e->storedMs()) : 0;
    max_age = static_cast<long long>(std::min(life, config.http_max_age_ms) / 1000);
  }
  uint64_t read_at = e->storedMs() + e->readShiftMs();
  long long age = from_cache ? static_cast<long long>((now > read_at ? now - read_at : 0) / 1000) : -1;
  char headers[http::kValidatorHeadersMax + 64];
  size_t n = http::formatValidatorHeaders(headers, tag, max_age, age);
  if (stale) {  // RFC 9211
    constexpr std::string_view kStale = "Cache-Status: redis-cache-proxy; hit; detail=stale-if-error\r\n";
    std::memcpy(headers + n, kStale.data(), kStale.size());
    n += kStale.size();
  }
  http::ResponseOptions opt = optionsFor(reply);
  opt.extra_headers = std::string_view(headers, n);
  if (reply.conditional && http::noneMatch(if_none_match, tag)) {
    ++ctx.stats.http_not_modified;
    opt.no_content = true;
    http::appendHead(reply.first.text, 304, 0, ctx.httpDate(), opt);
    return;
  }
  http::appendHead(reply.first.text, 200, e->value().size(), ctx.httpDate(), opt);
  if (!reply.head_only) reply.first.setBody(e, Part::Body::kValue);
}

void HttpSession::render(Reply& reply, Part& part, const proxy::Lookup& r) {
  using K = proxy::Lookup::Kind;
  assert(&part == &reply.first);
  (void)part;
  const SessionContext& ctx = context_;
  ctx.stats.countGet(Proto::kHttp, r.found() ? Outcome::kMiss : Outcome::kError);
  std::string_view date = ctx.httpDate();
  if (reply.conditional) inm_.swap(reply.first.text);  // the request's If-None-Match, kept while pending
  reply.first.text.clear();
  switch (r.kind) {
    case K::kValue:
      respondValue(reply, r.entry, r.stale, inm_, r.stale);
      return;
    case K::kNil: return renderHttpText(reply, 404, "not found", date);
    case K::kWrongType: return renderHttpText(reply, 409, "the key does not hold a string value (WRONGTYPE)", date);
    case K::kBackendError: return renderHttpText(reply, 502, "backend error: " + std::string(r.message), date);
    case K::kUnavailable: return renderHttpText(reply, 503, "backend unavailable: " + std::string(r.message), date);
    case K::kTimeout: return renderHttpText(reply, 504, "backend timeout", date);
    case K::kReply:
    case K::kEncoded: break;  // not asked for by HTTP
  }
  renderHttpText(reply, 502, "backend error: unexpected reply", date);
}

}  // namespace rcp::client
