// The Host allow-list (see host.h).
#include "http/host.h"

#include <cstring>

namespace rcp::http {

namespace {
bool equalsLower(std::string_view s, std::string_view lower) noexcept {
  if (s.size() != lower.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i] >= 'A' && s[i] <= 'Z' ? static_cast<char>(s[i] | 0x20) : s[i];
    if (c != lower[i]) return false;
  }
  return true;
}
}  // namespace

bool hostAllowed(std::string_view host, std::span<const std::string> allowed) {
  while (!host.empty() && (host.front() == ' ' || host.front() == '\t')) host.remove_prefix(1);
  while (!host.empty() && (host.back() == ' ' || host.back() == '\t')) host.remove_suffix(1);
  for (const std::string& a : allowed) {
    if (a.size() == 1 && a[0] == '*') return true;
    if (a.size() != host.size() || host.empty()) continue;
    // Clients send lower case (browsers, curl, wrk): one memcmp settles nearly every request.
    if ((a[0] == host[0] && std::memcmp(a.data(), host.data(), host.size()) == 0) || equalsLower(host, a)) return true;
  }
  return false;
}

}  // namespace rcp::http
