// libFuzzer target: the backend frame reader (resp3_reader.h) on the RESP2 replies a link reads, fed
// in chunks, with a hook that builds a cache entry from each top-level bulk string
// (every entry released exactly once: ASan checks). Each frame is encoded back, and re-read whole
// it must give the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "cache/entry.h"
#include "resp/resp3_reader.h"

namespace {
bool take(void*, const char* d, size_t n) noexcept {
  rcp::Entry::create("k", {d, n})->release();
  return (n & 1) == 0;  // take some, leave others to the frame
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t chunk = 1 + data[0] % 64;
  const char* p = reinterpret_cast<const char*>(data + 1);
  size_t n = size - 1;
  // The link's reader: RESP2 only (its own link), a small limit so that oversized strings are
  // skipped and oversized aggregates refused.
  rcp::resp::Resp3Reader reader(take, nullptr, 4096);
  reader.setResp2Only(true);
  for (size_t off = 0; off < n; off += chunk) {
    if (!reader.feed(p + off, std::min(chunk, n - off))) return 0;
    for (;;) {
      auto st = reader.next();
      if (st == rcp::resp::Resp3Reader::Status::kError) return 0;
      if (st == rcp::resp::Resp3Reader::Status::kNeedMore) break;
      if (st == rcp::resp::Resp3Reader::Status::kOversized) {
        if (reader.oversizedBytes() <= 4096) std::abort();
        continue;
      }
      if (reader.frame().taken()) continue;
      if (reader.frame().root().type() >= rcp::resp::FrameType::kNull) std::abort();  // RESP2 types only
      std::string enc;
      reader.frame().root().encode(enc);
      rcp::resp::Resp3Reader again;
      if (!again.feed(enc.data(), enc.size()) || again.next() != rcp::resp::Resp3Reader::Status::kFrame) std::abort();
      std::string enc2;
      again.frame().root().encode(enc2);
      if (enc != enc2) std::abort();
    }
  }
  return 0;
}
