// Percent-decoding and key extraction (see percent.h).
#include "http/percent.h"

namespace rcp::http {

namespace {
// "http://" or "https://" in any case (RFC 3986 3.1: schemes are case-insensitive); 0 if neither.
size_t absolutePrefix(std::string_view t) noexcept {
  if (t.empty() || (t[0] | 0x20) != 'h') return 0;  // the usual origin form ("/key") leaves here
  for (std::string_view scheme : {std::string_view("http://"), std::string_view("https://")}) {
    if (t.size() < scheme.size()) continue;
    size_t i = 0;
    for (; i < scheme.size(); ++i) {
      char c = t[i] >= 'A' && t[i] <= 'Z' ? static_cast<char>(t[i] | 0x20) : t[i];
      if (c != scheme[i]) break;
    }
    if (i == scheme.size()) return i;
  }
  return 0;
}

int hexValue(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

bool percentDecode(std::string_view in, std::string& out) {
  out.clear();
  size_t i = 0;
  for (;;) {  // copy the runs between escapes whole: most keys have none
    size_t pct = in.find('%', i);
    if (pct == std::string_view::npos) {
      out.append(in.data() + i, in.size() - i);
      return true;
    }
    out.append(in.data() + i, pct - i);
    if (pct + 2 >= in.size()) return false;
    int hi = hexValue(in[pct + 1]), lo = hexValue(in[pct + 2]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i = pct + 3;
  }
}

KeyError keyFromTarget(std::string_view target, std::string& key) {
  if (size_t host = absolutePrefix(target); host != 0) {
    // The authority ends at the first '/', '?' or '#' (RFC 3986 3.2); only a '/' starts a path.
    size_t end = target.find_first_of("/?#", host);
    target = end == std::string_view::npos || target[end] != '/' ? std::string_view("/") : target.substr(end);
  }
  if (target.empty() || target[0] != '/') return KeyError::kBadTarget;
  target.remove_prefix(1);
  if (size_t q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
  if (target.empty()) return KeyError::kEmpty;
  return percentDecode(target, key) ? KeyError::kNone : KeyError::kBadEscape;
}

}  // namespace rcp::http
