// Protocol detection from the first bytes of a connection: '*' means RESP multibulk; a first line
// ending in " HTTP/<digit>.<digit>" means HTTP; anything else is RESP inline ("PING\r\n").
#pragma once

#include <cstddef>
#include <string_view>

namespace rcp::client {

enum class Protocol { kUnknown, kResp, kHttp };

// kUnknown: not decidable yet (no complete first line and under max_line bytes). Past max_line
// without a newline, a line that starts like an HTTP request ("GET /...") is taken as HTTP (which
// then answers 414), anything else as RESP (which answers "too big inline request").
Protocol sniffProtocol(std::string_view first_bytes, size_t max_line);

}  // namespace rcp::client
