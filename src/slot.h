// A reply slot: one per client request, queued on its connection in request order. A slot is either
// ready (its bytes are known) or waiting on a backend fetch. Slots are pooled so steady-state traffic
// allocates nothing: each keeps the capacity of its head buffer between uses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cache/entry.h"

namespace rcp {

class Connection;

// What a read-through GET produced, rendered per protocol by renderResult().
struct FetchResult {
  enum class Kind : uint8_t { kValue, kNil, kWrongType, kBackendError, kUnavailable, kTimeout };
  Kind kind = Kind::kNil;
  EntryRef entry;           // kValue
  std::string_view message; // Redis's error text, or why the backend is unavailable
};

struct Slot {
  enum class Body : uint8_t { kNone, kRespBulk, kValue };

  Slot* next = nullptr;         // next request on the same connection
  Slot* next_waiter = nullptr;  // next slot waiting on the same fetch
  Connection* conn = nullptr;   // null once the connection is gone: the fetch then frees the slot
  bool ready = false;
  bool http = false;            // render results as HTTP (else RESP)
  bool head_only = false;       // HTTP HEAD: headers without the body
  bool keep_alive = true;       // HTTP: connection stays open after this response
  bool http10 = false;          // HTTP/1.0 client
  std::string head;             // bytes written before the body (a whole reply when there is no body)
  EntryRef entry;               // zero-copy body, shared with the cache
  Body body = Body::kNone;

  std::string_view bodyBytes() const noexcept {
    switch (body) {
      case Body::kRespBulk: return entry->respBulk();
      case Body::kValue: return entry->value();
      default: return {};
    }
  }
  size_t bytes() const noexcept { return head.size() + bodyBytes().size(); }
};

// Free list of slots. Slots handed out are owned by a connection or a fetch until put() back.
class SlotPool {
 public:
  Slot* get();
  void put(Slot* s) noexcept;
  ~SlotPool();

 private:
  static constexpr size_t kMaxFree = 4096;          // slots kept for reuse
  static constexpr size_t kMaxKeptHeadBytes = 1024;  // a bigger head buffer is released on put()
  std::vector<Slot*> free_;
  size_t allocated_ = 0;  // slots alive, in use or free
};

// Fills a waiting slot from a fetch result, in the slot's protocol, and marks it ready.
void renderResult(Slot& slot, const FetchResult& r, std::string_view http_date);

// HTTP response with a short text body (errors, 404); the head includes the body.
void renderHttpText(Slot& slot, int status, std::string_view text, std::string_view http_date,
                    std::string_view extra_headers = {});

}  // namespace rcp
