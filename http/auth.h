// HTTP credentials: the password an Authorization header carries, as "Bearer <password>" or
// "Basic base64(user:password)" (any user name), for the proxy's --requirepass.
#pragma once

#include <string>
#include <string_view>

namespace rcp::http {

// The password in an Authorization header value; false when there is none, or it is malformed.
bool passwordFromAuthorization(std::string_view header, std::string& password);
// Standard base64 (RFC 4648 4), padding required; false on anything else.
bool base64Decode(std::string_view in, std::string& out);

}  // namespace rcp::http
