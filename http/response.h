// HTTP/1.1 response heads. The body is written by the caller as its own buffer (a cache hit's
// value is never copied); these functions only format the status line and headers.
#pragma once

#include <cstddef>
#include <ctime>
#include <string>
#include <string_view>

namespace rcp::http {

std::string_view statusText(int status) noexcept;

struct ResponseOptions {
  bool keep_alive = true;        // false adds "Connection: close"
  bool http10 = false;           // an HTTP/1.0 client asked for keep-alive: say it explicitly
  std::string_view content_type = "application/octet-stream";
  std::string_view extra_headers;  // complete "Name: value\r\n" lines, e.g. "Allow: GET, HEAD\r\n"
  bool no_content = false;       // 304 Not Modified: no Content-Type, no Content-Length
};

// Appends the status line and headers (ending with the blank line) to out, announcing body_len.
void appendHead(std::string& out, int status, size_t body_len, std::string_view date, const ResponseOptions& opt);

// Formats the IMF-fixdate that the Date header needs ("Sun, 06 Nov 1994 08:49:37 GMT"), at most once
// per second: the hot path reads the cached text.
class DateCache {
 public:
  std::string_view get(std::time_t now);

 private:
  std::time_t cached_for_ = -1;
  char text_[32] = {};
  size_t len_ = 0;
};

}  // namespace rcp::http
