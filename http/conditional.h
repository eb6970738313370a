// HTTP validators and freshness (RFC 9110 8.8.3, 13.1.2; RFC 9111 5.1, 5.2): the entity tag of a
// cached value, If-None-Match's weak comparison, and the Cache-Control / Age / ETag header lines.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace rcp::http {

// A strong entity tag for a 64-bit validator: "\"" + 16 lower-case hex digits + "\"" (18 bytes).
constexpr size_t kEtagBytes = 18;
void formatEtag(char (&out)[kEtagBytes], uint64_t tag) noexcept;

// If-None-Match (a list of entity tags, or "*") names etag, by the weak comparison GET uses: the
// opaque tags equal whether either is marked W/. A malformed member matches nothing; "*" matches
// any current representation.
bool noneMatch(std::string_view if_none_match, std::string_view etag) noexcept;

// The header lines of a response served with a validator and a freshness lifetime, appended to
// out: "ETag: ...", then "Cache-Control: max-age=N" (N seconds: max_age_s when the proxy may let
// downstream caches keep it, "no-cache" when max_age_s is negative), then "Age: N" when age_s >= 0.
void appendValidatorHeaders(std::string& out, std::string_view etag, long long max_age_s, long long age_s);
// The same written into buf (the hot path: no allocation, no per-piece capacity check); returns the
// bytes written. buf must hold kValidatorHeadersMax bytes; etag must be kEtagBytes long or shorter.
constexpr size_t kValidatorHeadersMax = 128;
size_t formatValidatorHeaders(char* buf, std::string_view etag, long long max_age_s, long long age_s) noexcept;

}  // namespace rcp::http
