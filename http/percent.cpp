// Percent-decoding and key extraction (see percent.h).
#include "http/percent.h"

namespace rcp::http {

namespace {
int hexValue(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

bool percentDecode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = hexValue(in[i + 1]), lo = hexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

KeyError keyFromTarget(std::string_view target, std::string& key) {
  if (target.starts_with("http://") || target.starts_with("https://")) {
    size_t host = target.find("://") + 3;
    size_t slash = target.find('/', host);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  if (target.empty() || target[0] != '/') return KeyError::kBadTarget;
  target.remove_prefix(1);
  if (size_t q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
  if (target.empty()) return KeyError::kEmpty;
  return percentDecode(target, key) ? KeyError::kNone : KeyError::kBadEscape;
}

}  // namespace rcp::http
