// libFuzzer target: the RESP request parser (multibulk through hiredis's reader, inline commands),
// fed in chunks whose sizes come from the input itself, with small limits so limit paths are hit.
// Also checks the GET look-ahead against the parser: whenever peekGet() recognises the next
// request, the parser must produce exactly that GET. And a differential: requests that arrive
// whole are parsed in place, those that arrive in pieces by hiredis's reader; the same bytes fed
// both ways must give the same requests (up to the first error).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "resp/request_parser.h"

namespace {
// The requests of the whole input fed in chunks of `chunk`, then "!" and the error if one came.
std::vector<std::string> requests(const char* p, size_t n, size_t chunk, const rcp::resp::RequestLimits& limits) {
  rcp::resp::RequestParser parser(limits);
  std::vector<std::string> out;
  for (size_t off = 0; off < n; off += chunk) {
    parser.feed(p + off, std::min(chunk, n - off));
    for (;;) {
      auto st = parser.next();
      if (st == rcp::resp::RequestParser::Status::kNeedMore) break;
      if (st == rcp::resp::RequestParser::Status::kError) {
        out.push_back("!");
        return out;
      }
      std::string r;
      for (auto a : parser.args()) r += std::to_string(a.size()) + ":" + std::string(a) + ",";
      out.push_back(r);
    }
  }
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  {
    rcp::resp::RequestLimits limits;
    limits.max_request_bytes = 4096;
    limits.max_inline_bytes = 512;
    limits.max_args = 64;
    const char* all = reinterpret_cast<const char*>(data + 1);
    std::vector<std::string> whole = requests(all, size - 1, size, limits), bytewise = requests(all, size - 1, 1, limits);
    // A request over a limit is refused as soon as the limit is seen, which may be a request
    // earlier when fed byte by byte: compare up to the first error of either.
    size_t n = std::min(whole.size(), bytewise.size());
    for (size_t i = 0; i < n; ++i) {
      if (whole[i] == "!" || bytewise[i] == "!") break;
      if (whole[i] != bytewise[i]) std::abort();
    }
    if (whole.size() != bytewise.size() && !(n > 0 && (whole[n - 1] == "!" || bytewise[n - 1] == "!")) &&
        !(whole.size() > n && whole[n] == "!") && !(bytewise.size() > n && bytewise[n] == "!"))
      std::abort();
  }
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
