// A reply to one client request, protocol-neutral: N parts, each inline text followed by bytes
// shared with the cache (zero-copy), and a count of parts still waiting on a lookup. A part is
// the read-through's waiter for its own key; when the last part is filled the reply is ready and
// its connection writes it (replies leave in request order). Replies are pooled: steady traffic
// allocates nothing, and each keeps the capacity of its text buffer between uses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cache/entry.h"
#include "src/proxy/read_through.h"

namespace rcp::client {

class Connection;
struct Reply;

struct Part final : proxy::Waiter {
  enum class Body : uint8_t { kNone, kRespBulk, kValue };

  std::string text;             // bytes written first (a whole part when there is no body)
  EntryRef entry;               // zero-copy body, shared with the cache
  Body body = Body::kNone;
  Reply* owner = nullptr;

  std::string_view bodyBytes() const noexcept {
    switch (body) {
      case Body::kRespBulk: return entry->respBulk();
      case Body::kValue: return entry->value();
      default: return {};
    }
  }
  size_t bytes() const noexcept { return text.size() + bodyBytes().size(); }
  void setBody(EntryRef e, Body b) noexcept {
    entry = std::move(e);
    body = b;
  }
  // The lookup this part waited on finished: its connection's session renders it.
  void onResult(const proxy::Lookup& r) override;
  void clear() noexcept;
};

struct Reply {
  Reply* next = nullptr;        // the next request's reply on the same connection
  Connection* conn = nullptr;   // null once the connection is gone: the last pending part frees it
  uint16_t pending = 0;         // parts waiting on a lookup; ready at 0
  uint16_t nparts = 1;
  // Rendering hints for the session that made the reply (HTTP: HEAD, keep-alive, HTTP/1.0).
  bool head_only = false;
  bool keep_alive = true;
  bool http10 = false;
  Part first;                   // most replies have one part
  std::unique_ptr<Part[]> more; // parts 1..nparts-1; never reallocated while parts wait
  uint16_t more_capacity = 0;

  Reply() { first.owner = this; }
  bool ready() const noexcept { return pending == 0; }
  Part& part(size_t i) noexcept { return i == 0 ? first : more[i - 1]; }
  const Part& part(size_t i) const noexcept { return i == 0 ? first : more[i - 1]; }
  // Makes room for n parts (all empty); only before any part waits.
  void setParts(uint16_t n);
  size_t bytes() const noexcept {
    size_t b = 0;
    for (size_t i = 0; i < nparts; ++i) b += part(i).bytes();
    return b;
  }
  void clear() noexcept;
};

// Free list of replies. A reply handed out is owned by a connection's queue, or (orphaned) by its
// pending parts, until put back.
class ReplyPool {
 public:
  ReplyPool() = default;
  ~ReplyPool();
  ReplyPool(const ReplyPool&) = delete;
  ReplyPool& operator=(const ReplyPool&) = delete;

  Reply* get();
  void put(Reply* r) noexcept;

 private:
  static constexpr size_t kMaxFree = 4096;           // replies kept for reuse
  static constexpr size_t kMaxKeptTextBytes = 1024;  // a bigger text buffer is released on put()
  std::vector<Reply*> free_;
};

}  // namespace rcp::client
