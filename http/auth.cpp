// HTTP credentials (see auth.h).
#include "http/auth.h"

#include <cstdint>

namespace rcp::http {

namespace {
int sextet(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool schemeIs(std::string_view v, std::string_view scheme) noexcept {
  if (v.size() <= scheme.size() || v[scheme.size()] != ' ') return false;
  for (size_t i = 0; i < scheme.size(); ++i)  // auth schemes are case-insensitive (RFC 9110 11.1)
    if ((v[i] | 0x20) != (scheme[i] | 0x20)) return false;
  return true;
}
}  // namespace

bool base64Decode(std::string_view in, std::string& out) {
  out.clear();
  if (in.size() % 4 != 0) return false;
  for (size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      char c = in[i + j];
      if (c == '=' && i + 4 == in.size() && j >= 2) {
        v[j] = 0;
        ++pad;
      } else if (pad > 0 || (v[j] = sextet(c)) < 0) {
        return false;
      }
    }
    uint32_t n = (static_cast<uint32_t>(v[0]) << 18) | (static_cast<uint32_t>(v[1]) << 12) |
                 (static_cast<uint32_t>(v[2]) << 6) | static_cast<uint32_t>(v[3]);
    out.push_back(static_cast<char>(n >> 16));
    if (pad < 2) out.push_back(static_cast<char>((n >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(n & 0xff));
  }
  return true;
}

bool passwordFromAuthorization(std::string_view header, std::string& password) {
  while (!header.empty() && (header.back() == ' ' || header.back() == '\t')) header.remove_suffix(1);
  while (!header.empty() && (header.front() == ' ' || header.front() == '\t')) header.remove_prefix(1);
  if (schemeIs(header, "Bearer")) {
    password.assign(header.substr(7));
    return !password.empty();
  }
  if (schemeIs(header, "Basic")) {
    std::string decoded;
    if (!base64Decode(header.substr(6), decoded)) return false;
    size_t colon = decoded.find(':');
    if (colon == std::string::npos) return false;
    password = decoded.substr(colon + 1);
    return true;
  }
  return false;
}

}  // namespace rcp::http
