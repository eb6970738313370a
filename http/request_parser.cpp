// llhttp wrapper (see request_parser.h).
#include "http/request_parser.h"

namespace rcp::http {

namespace {
RequestParser* self(llhttp_t* p) { return static_cast<RequestParser*>(p->data); }
}  // namespace

RequestParser::RequestParser(RequestLimits limits) : limits_(limits) {
  llhttp_settings_init(&settings_);
  settings_.on_message_begin = onMessageBegin;
  settings_.on_url = onUrl;
  settings_.on_header_field = onHeaderField;
  settings_.on_header_value = onHeaderValue;
  settings_.on_header_value_complete = onHeaderValueComplete;
  settings_.on_message_complete = onMessageComplete;
  llhttp_init(&parser_, HTTP_REQUEST, &settings_);
  parser_.data = this;
}

int RequestParser::onMessageBegin(llhttp_t* p) noexcept {
  RequestParser* s = self(p);
  s->url_.clear();
  s->header_bytes_ = 0;
  s->field_bytes_ = 0;
  return HPE_OK;
}

int RequestParser::onUrl(llhttp_t* p, const char* at, size_t len) noexcept {
  RequestParser* s = self(p);
  if (s->url_.size() + len > s->limits_.max_url_bytes) {
    s->error_status_ = 414;
    s->error_reason_ = "URI Too Long";
    return HPE_USER;
  }
  s->url_.append(at, len);
  return HPE_OK;
}

int RequestParser::onHeaderField(llhttp_t* p, const char* at, size_t len) noexcept {
  // A field name is a token (RFC 9110 5.1): no whitespace before the colon ("Host : x"), which
  // some servers read differently, the classic request-smuggling shape.
  for (size_t i = 0; i < len; ++i) {
    unsigned char c = static_cast<unsigned char>(at[i]);
    if (c <= ' ' || c >= 0x7f || c == ':' || c == '"' || c == '(' || c == ')' || c == ',' || c == '/' ||
        c == ';' || c == '<' || c == '=' || c == '>' || c == '?' || c == '@' || c == '[' || c == '\\' ||
        c == ']' || c == '{' || c == '}') {
      RequestParser* s = self(p);
      s->error_status_ = 400;
      s->error_reason_ = "Bad Request: invalid character in header name";
      return HPE_USER;
    }
  }
  self(p)->field_bytes_ += len;
  return onHeaderValue(p, at, len);
}

// A header line with no name (": v") is not a header field (RFC 9112 5.1); llhttp lets it through.
int RequestParser::onHeaderValueComplete(llhttp_t* p) noexcept {
  RequestParser* s = self(p);
  if (s->field_bytes_ == 0) {
    s->error_status_ = 400;
    s->error_reason_ = "Bad Request: empty header name";
    return HPE_USER;
  }
  s->field_bytes_ = 0;
  return HPE_OK;
}

int RequestParser::onHeaderValue(llhttp_t* p, const char* /*at*/, size_t len) noexcept {
  RequestParser* s = self(p);
  s->header_bytes_ += len;
  if (s->header_bytes_ > s->limits_.max_header_bytes) {
    s->error_status_ = 431;
    s->error_reason_ = "Request Header Fields Too Large";
    return HPE_USER;
  }
  return HPE_OK;
}

int RequestParser::onMessageComplete(llhttp_t* p) noexcept {
  RequestParser* s = self(p);
  Request& r = s->req_;
  switch (p->method) {
    case HTTP_GET: r.method = Method::kGet; break;
    case HTTP_HEAD: r.method = Method::kHead; break;
    default: r.method = Method::kOther; break;
  }
  r.target = s->url_;
  r.http_major = p->http_major;
  r.http_minor = p->http_minor;
  r.keep_alive = llhttp_should_keep_alive(p) != 0;
  r.upgrade = p->upgrade != 0 || p->method == HTTP_CONNECT;
  if (r.upgrade) r.keep_alive = false;
  return HPE_PAUSED;
}

RequestParser::Status RequestParser::fail(int status, std::string reason) {
  if (error_status_ == 0) {
    error_status_ = status;
    error_reason_ = std::move(reason);
  }
  return Status::kError;
}

RequestParser::Status RequestParser::parse(const char* data, size_t len, size_t& consumed) {
  consumed = 0;
  if (error_status_ != 0) return Status::kError;
  if (paused_) {
    llhttp_resume(&parser_);
    paused_ = false;
  }
  if (len == 0) return Status::kNeedMore;
  llhttp_errno_t err = llhttp_execute(&parser_, data, len);
  switch (err) {
    case HPE_OK:
      consumed = len;
      return Status::kNeedMore;
    case HPE_PAUSED:
    case HPE_PAUSED_UPGRADE: {
      consumed = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data);
      paused_ = true;
      if (req_.http_major != 1) return fail(505, "HTTP Version Not Supported");
      if (err == HPE_PAUSED_UPGRADE) {
        // Nothing after an upgrade request is HTTP; answer it and close.
        req_.upgrade = true;
        req_.keep_alive = false;
      }
      return Status::kRequest;
    }
    case HPE_USER:
      return fail(400, "Bad Request");  // error_status_ already set by the callback
    case HPE_INVALID_VERSION:
    case HPE_PAUSED_H2_UPGRADE:  // the HTTP/2 connection preface
      return fail(505, "HTTP Version Not Supported");
    default:
      return fail(400, std::string("Bad Request: ") + llhttp_get_error_reason(&parser_));
  }
}

}  // namespace rcp::http
