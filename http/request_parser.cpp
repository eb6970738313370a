// llhttp wrapper (see request_parser.h).
#include "http/request_parser.h"

#include <algorithm>
#include <cstring>

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
  settings_.on_headers_complete = onHeadersComplete;
  settings_.on_message_complete = onMessageComplete;
  llhttp_init(&parser_, HTTP_REQUEST, &settings_);
  parser_.data = this;
}

int RequestParser::onMessageBegin(llhttp_t* p) noexcept {
  RequestParser* s = self(p);
  s->in_message_ = true;
  s->url_.clear();
  s->header_bytes_ = 0;
  s->field_bytes_ = 0;
  s->host_len_ = 0;
  s->authorization_.clear();
  s->authorization_seen_ = false;
  s->if_none_match_.clear();
  s->if_none_match_lines_ = 0;
  s->if_none_match_open_ = false;
  s->expect_len_ = 0;
  s->req_.host_count = 0;
  s->req_.expect_continue = false;
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
  RequestParser* s = self(p);
  // The first bytes of the name, lower-cased, tell the headers the proxy reads (Host, Expect).
  for (size_t i = 0; i < len && s->field_bytes_ + i < sizeof s->name_; ++i)
    s->name_[s->field_bytes_ + i] = at[i] >= 'A' && at[i] <= 'Z' ? static_cast<char>(at[i] | 0x20) : at[i];
  s->field_bytes_ += len;
  return countHeaderBytes(s, len);
}

// A header line with no name (": v") is not a header field (RFC 9112 5.1); llhttp lets it through.
int RequestParser::onHeaderValueComplete(llhttp_t* p) noexcept {
  RequestParser* s = self(p);
  if (s->field_bytes_ == 0) {
    s->error_status_ = 400;
    s->error_reason_ = "Bad Request: empty header name";
    return HPE_USER;
  }
  switch (s->headerKind()) {
    case HeaderKind::kHost:
      if (s->req_.host_count < 255) ++s->req_.host_count;
      break;
    case HeaderKind::kExpect: {
      std::string_view v(s->expect_, s->expect_len_);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      s->req_.expect_continue = v == "100-continue";
      break;
    }
    case HeaderKind::kAuthorization: s->authorization_seen_ = true; break;
    case HeaderKind::kIfNoneMatch:
      if (s->if_none_match_lines_ < 255) ++s->if_none_match_lines_;
      s->if_none_match_open_ = false;
      break;
    case HeaderKind::kOther: break;
  }
  s->field_bytes_ = 0;
  return HPE_OK;
}

RequestParser::HeaderKind RequestParser::headerKind() const noexcept {
  // Word compares of the lower-cased name: on every header line of every request.
  uint32_t w;
  std::memcpy(&w, name_, sizeof w);
  uint32_t host, expe;
  std::memcpy(&host, "host", 4);
  std::memcpy(&expe, "expe", 4);
  if (field_bytes_ == 4 && w == host) return HeaderKind::kHost;
  if (field_bytes_ == 6 && w == expe && name_[4] == 'c' && name_[5] == 't') return HeaderKind::kExpect;
  if (field_bytes_ == 13 && std::memcmp(name_, "authoriz", 8) == 0) return HeaderKind::kAuthorization;
  if (field_bytes_ == 13 && std::memcmp(name_, "if-none-", 8) == 0) return HeaderKind::kIfNoneMatch;
  return HeaderKind::kOther;
}

// A request that asks for "100 Continue" before sending a body is answered at once instead: a GET
// needs no body, and waiting for one the client will not send until told would hang both. The
// connection closes after the answer (whatever body follows is not read).
int RequestParser::onHeadersComplete(llhttp_t* p) noexcept { return self(p)->req_.expect_continue ? 1 : 0; }

int RequestParser::onHeaderValue(llhttp_t* p, const char* at, size_t len) noexcept {
  RequestParser* s = self(p);
  // The first Host's value is kept (the header size limit bounds it), and Expect's, lower-cased.
  HeaderKind kind = s->headerKind();
  if (kind == HeaderKind::kHost && s->req_.host_count == 0) {
    size_t n = std::min(len, kMaxHostBytes - s->host_len_);
    std::memcpy(s->host_ + s->host_len_, at, n);
    s->host_len_ += n;
  } else if (kind == HeaderKind::kAuthorization && !s->authorization_seen_) {
    s->authorization_.append(at, len);
  } else if (kind == HeaderKind::kIfNoneMatch) {
    if (!s->if_none_match_open_ && s->if_none_match_lines_ > 0) s->if_none_match_.push_back(',');
    s->if_none_match_open_ = true;
    s->if_none_match_.append(at, len);
  } else if (kind == HeaderKind::kExpect) {
    for (size_t i = 0; i < len && s->expect_len_ < sizeof s->expect_; ++i)
      s->expect_[s->expect_len_++] = at[i] >= 'A' && at[i] <= 'Z' ? static_cast<char>(at[i] | 0x20) : at[i];
  }
  return countHeaderBytes(s, len);
}

int RequestParser::countHeaderBytes(RequestParser* s, size_t len) noexcept {
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
  s->in_message_ = false;
  Request& r = s->req_;
  switch (p->method) {
    case HTTP_GET: r.method = Method::kGet; break;
    case HTTP_HEAD: r.method = Method::kHead; break;
    default: r.method = Method::kOther; break;
  }
  r.target = s->url_;
  r.host = std::string_view(s->host_, s->host_len_);
  r.authorization = s->authorization_;
  r.if_none_match = s->if_none_match_;
  r.has_if_none_match = s->if_none_match_lines_ > 0;
  r.http_major = p->http_major;
  r.http_minor = p->http_minor;
  r.keep_alive = llhttp_should_keep_alive(p) != 0;
  r.upgrade = p->upgrade != 0 || p->method == HTTP_CONNECT;
  if (r.upgrade || r.expect_continue) r.keep_alive = false;
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
