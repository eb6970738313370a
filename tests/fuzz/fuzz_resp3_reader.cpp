// libFuzzer target: the RESP3 frame reader. The input is fed in chunks whose size comes from its
// first byte, with a small size limit; every frame read is encoded back and read again, and must
// give the same bytes; and the frames read from the input fed whole must be those read byte by
// byte (up to the first error).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "resp/resp3_reader.h"

namespace {
constexpr size_t kMaxBytes = 4096;

std::vector<std::string> frames(const char* p, size_t n, size_t chunk, bool resp2, bool* failed) {
  rcp::resp::Resp3Reader r(nullptr, nullptr, kMaxBytes);
  r.setResp2Only(resp2);  // a RESP2 link's reader: every RESP3 type is an error
  std::vector<std::string> out;
  *failed = false;
  for (size_t off = 0; off < n; off += chunk) {
    if (!r.feed(p + off, std::min(chunk, n - off))) std::abort();
    for (;;) {
      auto st = r.next();
      if (st == rcp::resp::Resp3Reader::Status::kNeedMore) break;
      if (st == rcp::resp::Resp3Reader::Status::kOversized) {  // a string over the limit, skipped
        if (r.oversizedBytes() <= kMaxBytes) std::abort();
        out.push_back("<oversized:" + std::to_string(r.oversizedBytes()) + ">");
        continue;
      }
      if (st == rcp::resp::Resp3Reader::Status::kError) {
        if (r.error().rfind("RESP3: ", 0) != 0) std::abort();
        *failed = true;
        return out;
      }
      std::string enc;
      r.frame().root().encode(enc);
      // Re-read: the same bytes, as one frame.
      rcp::resp::Resp3Reader again(nullptr, nullptr, kMaxBytes * 2);
      if (!again.feed(enc.data(), enc.size()) || again.next() != rcp::resp::Resp3Reader::Status::kFrame) std::abort();
      std::string enc2;
      again.frame().root().encode(enc2);
      if (enc2 != enc || again.next() != rcp::resp::Resp3Reader::Status::kNeedMore) std::abort();
      out.push_back(std::move(enc));
    }
    if (r.bufferCapacity() > (1u << 20)) std::abort();
  }
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t chunk = 1 + data[0] % 64;
  const char* p = reinterpret_cast<const char*>(data + 1);
  size_t n = size - 1;
  bool f1, f2, f3;
  bool resp2 = (data[0] & 0x80) != 0;
  auto a = frames(p, n, chunk, resp2, &f1);
  auto b = frames(p, n, 1, resp2, &f2);
  auto c = frames(p, n, n == 0 ? 1 : n, resp2, &f3);
  if (a != b || b != c || f1 != f2 || f2 != f3) std::abort();
  return 0;
}
