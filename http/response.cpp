// Response head formatting and the Date cache (see response.h).
#include "http/response.h"

#include <charconv>
#include <cstring>

namespace rcp::http {

std::string_view statusText(int status) noexcept {
  switch (status) {
    case 200: return "OK";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 414: return "URI Too Long";
    case 421: return "Misdirected Request";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

namespace {
char* put(char* w, std::string_view s) noexcept {
  if (!s.empty()) std::memcpy(w, s.data(), s.size());  // an empty view may have no data pointer
  return w + s.size();
}
}  // namespace

// Every HTTP reply formats a head, so it is sized first and written in one pass (no append per
// piece, each with its own capacity check).
void appendHead(std::string& out, int status, size_t body_len, std::string_view date, const ResponseOptions& opt) {
  char len_text[24];
  auto lr = std::to_chars(len_text, len_text + sizeof len_text, body_len);
  std::string_view length(len_text, static_cast<size_t>(lr.ptr - len_text));
  if (status < 100 || status > 999) status = 500;  // three digits, whatever a caller passes
  std::string_view text = statusText(status);
  std::string_view connection = !opt.keep_alive ? "Connection: close\r\n"
                                : opt.http10     ? "Connection: keep-alive\r\n"
                                                 : "";
  constexpr std::string_view kVersion = "HTTP/1.1 ", kType = "\r\nContent-Type: ", kLength = "\r\nContent-Length: ",
                             kDate = "\r\nDate: ", kEnd = "\r\n";
  size_t total = kVersion.size() + 4 + text.size() + kDate.size() + date.size() + kEnd.size() +
                 connection.size() + opt.extra_headers.size() + kEnd.size();
  if (!opt.no_content) total += kType.size() + opt.content_type.size() + kLength.size() + length.size();
  size_t old = out.size();
  out.resize(old + total);
  char* w = out.data() + old;
  w = put(w, kVersion);
  *w++ = static_cast<char>('0' + status / 100);
  *w++ = static_cast<char>('0' + status / 10 % 10);
  *w++ = static_cast<char>('0' + status % 10);
  *w++ = ' ';
  w = put(w, text);
  if (!opt.no_content) {
    w = put(w, kType);
    w = put(w, opt.content_type);
    w = put(w, kLength);
    w = put(w, length);
  }
  w = put(w, kDate);
  w = put(w, date);
  w = put(w, kEnd);
  w = put(w, connection);
  w = put(w, opt.extra_headers);
  w = put(w, kEnd);
}

std::string_view DateCache::get(std::time_t now) {
  if (now != cached_for_) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    len_ = std::strftime(text_, sizeof text_, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached_for_ = now;
  }
  return {text_, len_};
}

}  // namespace rcp::http
