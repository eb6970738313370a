// HTTP validators and freshness (see conditional.h).
#include "http/conditional.h"

#include <charconv>
#include <cstring>

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

size_t formatValidatorHeaders(char* buf, std::string_view etag, long long max_age_s, long long age_s) noexcept {
  char* w = buf;
  auto put = [&w](std::string_view s) noexcept {
    std::memcpy(w, s.data(), s.size());
    w += s.size();
  };
  put("ETag: ");
  put(etag.substr(0, kEtagBytes));
  if (max_age_s < 0) {
    put("\r\nCache-Control: no-cache\r\n");
  } else {
    put("\r\nCache-Control: max-age=");
    w = std::to_chars(w, w + 20, max_age_s).ptr;
    put("\r\n");
  }
  if (age_s >= 0) {
    put("Age: ");
    w = std::to_chars(w, w + 20, age_s).ptr;
    put("\r\n");
  }
  return static_cast<size_t>(w - buf);
}

void appendValidatorHeaders(std::string& out, std::string_view etag, long long max_age_s, long long age_s) {
  char buf[kValidatorHeadersMax];
  out.append(buf, formatValidatorHeaders(buf, etag, max_age_s, age_s));
}

}  // namespace rcp::http
