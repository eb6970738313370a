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
