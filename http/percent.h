// Request-target to cache key: the path after the first '/', percent-decoded, binary-safe.
#pragma once

#include <string>
#include <string_view>

namespace rcp::http {

// Decodes %XX escapes into out (replacing its contents). False on a malformed escape ("%G1", "%4").
// '+' stays '+': paths are not form-encoded.
bool percentDecode(std::string_view in, std::string& out);

enum class KeyError { kNone, kBadTarget, kBadEscape, kEmpty };

// Extracts the key from an origin-form ("/key?query") or absolute-form ("http://host/key")
// request-target. The query, if any, is not part of the key (encode '?' as %3F).
KeyError keyFromTarget(std::string_view target, std::string& key);

}  // namespace rcp::http
