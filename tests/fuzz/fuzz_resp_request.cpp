// libFuzzer target: the RESP request parser (multibulk through hiredis's reader, inline commands),
// fed in chunks whose sizes come from the input itself, with small limits so limit paths are hit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "resp/request_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t chunk = 1 + data[0] % 64;  // first byte: chunk size of the feed
  const char* p = reinterpret_cast<const char*>(data + 1);
  size_t n = size - 1;
  rcp::resp::RequestLimits limits;
  limits.max_request_bytes = 4096;
  limits.max_inline_bytes = 512;
  limits.max_args = 64;
  rcp::resp::RequestParser parser(limits);
  for (size_t off = 0; off < n; off += chunk) {
    parser.feed(p + off, std::min(chunk, n - off));
    for (;;) {
      auto st = parser.next();
      if (st == rcp::resp::RequestParser::Status::kNeedMore) break;
      if (st == rcp::resp::RequestParser::Status::kError) {
        if (parser.error().rfind("Protocol error", 0) != 0) std::abort();  // every error is a protocol error
        return 0;
      }
      const auto& args = parser.args();
      if (args.empty() || args.size() > limits.max_args) std::abort();
      size_t total = 0;
      for (auto a : args) total += a.size();
      if (total > limits.max_request_bytes) std::abort();
    }
    if (parser.buffered() > limits.max_request_bytes + chunk) std::abort();  // input stays bounded
  }
  return 0;
}
