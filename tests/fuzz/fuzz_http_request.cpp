// libFuzzer target: the HTTP request parser (llhttp, paused per request), key extraction and
// If-None-Match's comparison, fed in chunks whose sizes come from the input itself, with small
// limits so limit paths are hit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "http/conditional.h"
#include "http/percent.h"
#include "http/request_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t chunk = 1 + data[0] % 64;
  const char* p = reinterpret_cast<const char*>(data + 1);
  size_t n = size - 1;
  rcp::http::RequestLimits limits;
  limits.max_url_bytes = 256;
  limits.max_header_bytes = 512;
  rcp::http::RequestParser parser(limits);
  std::string key;
  for (size_t off = 0; off < n;) {
    size_t len = std::min(chunk, n - off);
    size_t pos = 0;
    while (pos < len) {
      size_t used = 0;
      auto st = parser.parse(p + off + pos, len - pos, used);
      if (used > len - pos) std::abort();
      pos += used;
      if (st == rcp::http::RequestParser::Status::kError) {
        int s = parser.errorStatus();
        if (s != 400 && s != 414 && s != 431 && s != 505) std::abort();
        return 0;
      }
      if (st == rcp::http::RequestParser::Status::kNeedMore) break;
      const auto& req = parser.request();
      if (req.target.size() > limits.max_url_bytes) std::abort();
      if (rcp::http::keyFromTarget(req.target, key) == rcp::http::KeyError::kNone && key.size() > req.target.size())
        std::abort();
      // If-None-Match: every line's value, joined by one comma each; compared without reading past it
      if (req.if_none_match.size() > limits.max_header_bytes + 255) std::abort();
      if (!req.has_if_none_match && !req.if_none_match.empty()) std::abort();
      if (rcp::http::noneMatch(req.if_none_match, "\"0123456789abcdef\"") &&
          req.if_none_match.find('*') == std::string_view::npos &&
          req.if_none_match.find("\"0123456789abcdef\"") == std::string_view::npos)
        std::abort();  // a match names the tag, or is "*"
      if (!req.keep_alive) return 0;  // the session stops reading here
    }
    off += len;
  }
  return 0;
}
