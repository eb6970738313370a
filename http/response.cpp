// Response head formatting and the Date cache (see response.h).
#include "http/response.h"

#include <charconv>

namespace rcp::http {

std::string_view statusText(int status) noexcept {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

void appendHead(std::string& out, int status, size_t body_len, std::string_view date, const ResponseOptions& opt) {
  char num[24];
  out.append("HTTP/1.1 ");
  auto r = std::to_chars(num, num + sizeof num, status);
  out.append(num, r.ptr);
  out.push_back(' ');
  out.append(statusText(status));
  out.append("\r\nContent-Type: ");
  out.append(opt.content_type);
  out.append("\r\nContent-Length: ");
  r = std::to_chars(num, num + sizeof num, body_len);
  out.append(num, r.ptr);
  out.append("\r\nDate: ");
  out.append(date);
  out.append("\r\n");
  if (!opt.keep_alive) out.append("Connection: close\r\n");
  else if (opt.http10) out.append("Connection: keep-alive\r\n");
  out.append(opt.extra_headers);
  out.append("\r\n");
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
