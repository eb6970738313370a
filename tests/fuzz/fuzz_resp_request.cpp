// libFuzzer target: the RESP request parser (multibulk through hiredis's reader, inline commands),
// fed in chunks whose sizes come from the input itself, with small limits so limit paths are hit.
// Also checks the GET look-ahead against the parser: whenever peekGet() recognises the next
// request, the parser must produce exactly that GET.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

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
      std::string_view rest = parser.unparsed(), key;
      size_t peeked = rcp::resp::peekGet(rest, &key);
      if (peeked > rest.size() || (peeked != 0 && (key.data() < rest.data() || key.data() + key.size() > rest.data() + peeked)))
        std::abort();
      std::string peeked_key(key);
      auto st = parser.next();
      if (peeked != 0 && st == rcp::resp::RequestParser::Status::kRequest) {
        const auto& a = parser.args();
        if (a.size() != 2 || a[0].size() != 3 || (a[0][0] | 0x20) != 'g' || (a[0][1] | 0x20) != 'e' ||
            (a[0][2] | 0x20) != 't' || a[1] != peeked_key)
          std::abort();  // the hint named a different request than the parser read
      }
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
