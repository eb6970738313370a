// HTTP responses the client wing writes itself, whole: a status with a short text body (errors,
// 404, the connection's refusals), shaped by the reply's hints (HEAD, keep-alive, HTTP/1.0).
#pragma once

#include <string_view>

#include "http/response.h"
#include "src/client/reply.h"

namespace rcp::client {

// The response options a reply's hints ask for.
http::ResponseOptions optionsFor(const Reply& reply);
// An HTTP response with a short text body as the whole of reply; the head includes the body.
void renderHttpText(Reply& reply, int status, std::string_view text, std::string_view http_date,
                    std::string_view extra_headers = {});

}  // namespace rcp::client
