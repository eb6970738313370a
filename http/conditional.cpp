// HTTP validators and freshness (see conditional.h).
#include "http/conditional.h"

#include <charconv>

namespace rcp::http {

void formatEtag(char (&out)[kEtagBytes], uint64_t tag) noexcept {
  static constexpr char kHex[] = "0123456789abcdef";
  out[0] = '"';
  for (int i = 0; i < 16; ++i) out[1 + i] = kHex[(tag >> (60 - 4 * i)) & 0xf];
  out[17] = '"';
}

namespace {
bool ows(char c) noexcept { return c == ' ' || c == '\t'; }
std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && ows(s.back())) s.remove_suffix(1);
  return s;
}
}  // namespace

bool noneMatch(std::string_view list, std::string_view etag) noexcept {
  std::string_view want = etag.starts_with("W/") ? etag.substr(2) : etag;
  if (trim(list) == "*") return true;
  // entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; members separated by commas (and OWS). An etagc
  // never is a DQUOTE, so a member ends at its second quote.
  size_t i = 0;
  while (i < list.size()) {
    while (i < list.size() && (ows(list[i]) || list[i] == ',')) ++i;
    if (i >= list.size()) break;
    if (list.compare(i, 2, "W/") == 0) i += 2;
    if (i >= list.size() || list[i] != '"') return false;  // malformed: nothing after it is trusted
    size_t close = list.find('"', i + 1);
    if (close == std::string_view::npos) return false;
    if (list.substr(i, close - i + 1) == want) return true;
    i = close + 1;
    while (i < list.size() && ows(list[i])) ++i;
    if (i < list.size() && list[i] != ',') return false;
  }
  return false;
}

void appendValidatorHeaders(std::string& out, std::string_view etag, long long max_age_s, long long age_s) {
  char num[24];
  out.append("ETag: ").append(etag).append("\r\n");
  if (max_age_s < 0) {
    out.append("Cache-Control: no-cache\r\n");
  } else {
    auto r = std::to_chars(num, num + sizeof num, max_age_s);
    out.append("Cache-Control: max-age=").append(num, r.ptr).append("\r\n");
  }
  if (age_s >= 0) {
    auto r = std::to_chars(num, num + sizeof num, age_s);
    out.append("Age: ").append(num, r.ptr).append("\r\n");
  }
}

}  // namespace rcp::http
