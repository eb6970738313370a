// Protected mode, as Redis's protected-mode: a proxy with no --requirepass listening on an address
// other than loopback would turn a password-protected Redis into an open one for anyone who can
// reach its port. Then only loopback clients are served; the others get one error saying how to
// fix it (-DENIED over RESP, 403 over HTTP) and are closed.
#pragma once

#include <sys/socket.h>

#include <string>
#include <string_view>

namespace rcp {
struct Config;
}

namespace rcp::client {

// 127.0.0.0/8, ::1, and IPv4-mapped 127.x (::ffff:127.0.0.1).
bool isLoopbackAddress(const sockaddr* a) noexcept;
// A --bind value that only loopback clients can reach: a loopback address or "localhost".
bool isLoopbackBind(std::string_view bind) noexcept;
// Whether a client connecting from peer is refused under c.
bool protectedModeDenies(const Config& c, const sockaddr* peer) noexcept;
// The refusal: RESP error (with its DENIED prefix) and HTTP text.
std::string protectedModeMessage(const Config& c);

}  // namespace rcp::client
