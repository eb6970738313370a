// Credentials left out of CONFIG GET replies (see redact.h).
#include "resp/redact.h"

#include <array>
#include <vector>

#include "resp/commands.h"
#include "resp/reply.h"

namespace rcp::resp {

bool isCredentialParameter(std::string_view name) noexcept {
  static constexpr std::array<std::string_view, 5> kCredentials = {
      "requirepass", "masterauth", "masteruser", "tls-key-file-pass", "tls-client-key-file-pass"};
  for (std::string_view c : kCredentials)
    if (equalsIgnoreCase(name, c)) return true;
  return false;
}

void encodeConfigRedacted(FrameView reply, std::string& out) {
  FrameType t = reply.type();
  size_t n = reply.size();
  if ((t != FrameType::kArray && t != FrameType::kMap) || n == 0 || n % 2 != 0) {
    reply.encode(out);
    return;
  }
  std::vector<FrameView> kept;
  kept.reserve(n);
  FrameView e = reply[0];
  for (size_t i = 0; i < n; i += 2) {
    FrameView name = e;
    FrameView value = e.next();
    bool named = name.type() == FrameType::kBulk || name.type() == FrameType::kSimple;
    if (!(named && isCredentialParameter(name.str()))) {
      kept.push_back(name);
      kept.push_back(value);
    }
    if (i + 2 < n) e = value.next();
  }
  if (t == FrameType::kMap) appendMapHeader(out, static_cast<long long>(kept.size() / 2), 3);
  else appendArrayHeader(out, static_cast<long long>(kept.size()));
  for (FrameView v : kept) v.encode(out);
}

}  // namespace rcp::resp
