// Protocol detection (see sniff.h).
#include "src/client/sniff.h"

#include <cstring>

namespace rcp::client {

namespace {
bool isDigit(char c) { return c >= '0' && c <= '9'; }

bool looksLikeHttpStart(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && i < 24 && s[i] >= 'A' && s[i] <= 'Z') ++i;
  return i > 0 && i + 1 < s.size() && s[i] == ' ' && (s[i + 1] == '/' || s[i + 1] == '*' || s[i + 1] == 'h');
}
}  // namespace

Protocol sniffProtocol(std::string_view s, size_t max_line) {
  if (s.empty()) return Protocol::kUnknown;
  if (s[0] == '*') return Protocol::kResp;
  size_t nl = s.find('\n');
  if (nl == std::string_view::npos) {
    if (s.size() <= max_line) return Protocol::kUnknown;
    return looksLikeHttpStart(s) ? Protocol::kHttp : Protocol::kResp;
  }
  std::string_view line = s.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  constexpr std::string_view kTail = " HTTP/";
  if (line.size() >= kTail.size() + 3) {
    std::string_view end = line.substr(line.size() - kTail.size() - 3);
    if (end.substr(0, kTail.size()) == kTail && isDigit(end[6]) && end[7] == '.' && isDigit(end[8]))
      return Protocol::kHttp;
  }
  return Protocol::kResp;
}

}  // namespace rcp::client
