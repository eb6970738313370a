// Incremental HTTP/1.x request parser on llhttp. It pauses llhttp at the end of every request, so
// pipelined input yields one request at a time and the caller controls how far it reads (back-
// pressure). Enforces the URL and header size limits that llhttp itself does not have.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rcp::http {

struct RequestLimits {
  size_t max_url_bytes = 8 << 10;      // request-target; longer gets 414
  size_t max_header_bytes = 16 << 10;  // all header names and values together; more gets 431
};

enum class Method : uint8_t { kGet, kHead, kOther };

struct Request {
  Method method = Method::kOther;
  std::string_view target;       // the raw request-target, valid until the next parse()
  uint8_t http_major = 1;
  uint8_t http_minor = 1;
  bool keep_alive = true;        // the connection may carry another request after this one
  bool upgrade = false;          // Upgrade or CONNECT: the stream after this request is not HTTP
  std::string_view host;         // the Host header's value (the first, if several), valid until the next parse()
  uint8_t host_count = 0;        // Host header lines (RFC 9112 3.2: exactly one in HTTP/1.1)
  bool expect_continue = false;  // "Expect: 100-continue": answered at once, then the connection closes
  std::string_view authorization;  // the first Authorization header's value, valid until the next parse()
  // If-None-Match: every such header's value, joined by commas (a list either way), valid until the
  // next parse(); has_if_none_match tells an absent header from an empty one.
  std::string_view if_none_match;
  bool has_if_none_match = false;
};

class RequestParser {
 public:
  enum class Status { kRequest, kNeedMore, kError };

  explicit RequestParser(RequestLimits limits = {});
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Parses from data[0..len). Sets consumed to the bytes used: on kRequest, up to the end of that
  // request (call again with the rest); on kNeedMore, all of it. After kError the stream is dead.
  Status parse(const char* data, size_t len, size_t& consumed);

  const Request& request() const noexcept { return req_; }
  // A request's first byte has been read and its headers have not all arrived.
  bool inMessage() const noexcept { return in_message_; }
  int errorStatus() const noexcept { return error_status_; }  // 400, 414, 431 or 505
  std::string_view errorReason() const noexcept { return error_reason_; }

 private:
  static int onMessageBegin(llhttp_t* p) noexcept;
  static int onUrl(llhttp_t* p, const char* at, size_t len) noexcept;
  static int onHeaderField(llhttp_t* p, const char* at, size_t len) noexcept;
  static int onHeaderValue(llhttp_t* p, const char* at, size_t len) noexcept;
  static int onHeaderValueComplete(llhttp_t* p) noexcept;
  static int onHeadersComplete(llhttp_t* p) noexcept;
  enum class HeaderKind : uint8_t { kOther, kHost, kExpect, kAuthorization, kIfNoneMatch };
  HeaderKind headerKind() const noexcept;  // of the header line being parsed
  static int countHeaderBytes(RequestParser* s, size_t len) noexcept;  // 431 past the limit
  static int onMessageComplete(llhttp_t* p) noexcept;
  Status fail(int status, std::string reason);

  RequestLimits limits_;
  llhttp_t parser_;
  llhttp_settings_t settings_;
  Request req_;
  std::string url_;            // request-target accumulated across reads
  size_t header_bytes_ = 0;    // of the request being parsed
  size_t field_bytes_ = 0;     // of the header line being parsed: its name
  char name_[8];               // the first bytes of the header name being parsed, lower-cased
  // The first Host header's value. A longer one than fits (a host name is at most 253 bytes, and a
  // port 6 more) is kept cut short, which names no allowed host.
  static constexpr size_t kMaxHostBytes = 272;
  char host_[kMaxHostBytes];
  size_t host_len_ = 0;
  std::string authorization_;  // the first Authorization header's value (the header limit bounds it)
  bool authorization_seen_ = false;
  std::string if_none_match_;  // every If-None-Match value, comma-joined (the header limit bounds it)
  uint8_t if_none_match_lines_ = 0;  // complete If-None-Match lines so far (a later one adds a comma first)
  bool if_none_match_open_ = false;  // the current If-None-Match line has had a value byte
  char expect_[16];            // the Expect header's value, lower-cased (enough for "100-continue")
  size_t expect_len_ = 0;
  int error_status_ = 0;
  std::string error_reason_;
  bool paused_ = false;        // llhttp is paused after a complete request
  bool in_message_ = false;    // between a request's first byte and its end
};

}  // namespace rcp::http
