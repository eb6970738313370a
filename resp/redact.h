// Credentials kept out of what clients read through the proxy: CONFIG GET's reply names Redis's
// own passwords (requirepass, masterauth ...), which a proxy that holds the backend's password must
// not hand to every client of its own. The pairs of credential parameters are left out of the
// reply, as if Redis had no such parameter; everything else is the bytes Redis sent.
#pragma once

#include <string>
#include <string_view>

#include "resp/frame.h"

namespace rcp::resp {

// requirepass, masterauth, masteruser, tls-key-file-pass, tls-client-key-file-pass (any case).
bool isCredentialParameter(std::string_view name) noexcept;

// Appends a CONFIG GET reply (RESP2: a flat array of name, value; RESP3: a map) without the pairs
// of credential parameters. Any other reply (an error, another shape) is appended as it is.
void encodeConfigRedacted(FrameView reply, std::string& out);

}  // namespace rcp::resp
