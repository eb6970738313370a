// Protected mode (see protected_mode.h).
#include "src/client/protected_mode.h"

#include <netinet/in.h>
#include <uv.h>

#include <cstring>

#include "src/base/config.h"

namespace rcp::client {

bool isLoopbackAddress(const sockaddr* a) noexcept {
  if (a == nullptr) return false;
  if (a->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(a);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (a->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a);
    const uint8_t* b = in6->sin6_addr.s6_addr;
    static const uint8_t kLoop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(b, kLoop, 16) == 0) return true;
    return std::memcmp(b, kMapped, 12) == 0 && b[12] == 127;
  }
  if (a->sa_family == AF_UNIX) return true;  // a local socket: the same machine
  return false;
}

bool isLoopbackBind(std::string_view bind) noexcept {
  if (bind == "localhost") return true;
  std::string b(bind);
  sockaddr_in in{};
  if (uv_ip4_addr(b.c_str(), 0, &in) == 0) return isLoopbackAddress(reinterpret_cast<const sockaddr*>(&in));
  sockaddr_in6 in6{};
  if (uv_ip6_addr(b.c_str(), 0, &in6) == 0) return isLoopbackAddress(reinterpret_cast<const sockaddr*>(&in6));
  return false;
}

bool protectedModeDenies(const Config& c, const sockaddr* peer) noexcept {
  return c.protected_mode && c.requirepass.empty() && !isLoopbackBind(c.bind) && !isLoopbackAddress(peer);
}

std::string protectedModeMessage(const Config& c) {
  return "redis-cache-proxy is running in protected mode: no --requirepass is set and it listens on " + c.bind +
         ", so only loopback clients are served. To serve this client: set --requirepass (clients then AUTH, "
         "or send HTTP Basic credentials), or bind a loopback address (--bind 127.0.0.1), or, if every "
         "client that can reach this port may read and write your Redis, start with --protected-mode no.";
}

}  // namespace rcp::client
