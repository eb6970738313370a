// libFuzzer target: the backend reply reader (hiredis's reader with object callbacks that build
// cache entries), fed in chunks; every built entry must be released exactly once (ASan checks).
#include <cstddef>
#include <cstdint>

#include "cache/entry.h"
#include "resp/reply_reader.h"

namespace {
void* make(void*, const char* d, size_t n) noexcept { return rcp::Entry::create("k", {d, n}); }
void destroy(void* o) noexcept { static_cast<rcp::Entry*>(o)->release(); }
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t chunk = 1 + data[0] % 64;
  const char* p = reinterpret_cast<const char*>(data + 1);
  size_t n = size - 1;
  rcp::resp::ReplyReader reader(make, destroy, nullptr);
  for (size_t off = 0; off < n; off += chunk) {
    reader.feed(p + off, std::min(chunk, n - off));
    rcp::resp::ReplyReader::Reply r;
    for (;;) {
      auto st = reader.next(r);
      if (st != rcp::resp::ReplyReader::Status::kReply) {
        if (st == rcp::resp::ReplyReader::Status::kError) return 0;
        break;
      }
      if (r.type == rcp::resp::ReplyReader::Type::kString) destroy(r.object);
    }
  }
  return 0;
}
