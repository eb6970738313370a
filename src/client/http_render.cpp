// Whole HTTP text responses (see http_render.h).
#include "src/client/http_render.h"

namespace rcp::client {

http::ResponseOptions optionsFor(const Reply& reply) {
  http::ResponseOptions opt;
  opt.keep_alive = reply.keep_alive;
  opt.http10 = reply.http10;
  return opt;
}

void renderHttpText(Reply& reply, int status, std::string_view text, std::string_view http_date,
                    std::string_view extra_headers) {
  http::ResponseOptions opt = optionsFor(reply);
  opt.content_type = "text/plain; charset=utf-8";
  opt.extra_headers = extra_headers;
  std::string& head = reply.first.text;
  head.clear();
  http::appendHead(head, status, text.size() + 1, http_date, opt);
  if (!reply.head_only) {
    head.append(text);
    head.push_back('\n');
  }
}

}  // namespace rcp::client
