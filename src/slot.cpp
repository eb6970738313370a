// Slot pooling and rendering of fetch results (see slot.h).
#include "src/slot.h"

#include <cassert>

#include "http/response.h"
#include "resp/reply.h"

namespace rcp {

Slot* SlotPool::get() {
  Slot* s;
  if (!free_.empty()) {
    s = free_.back();
    free_.pop_back();
  } else {
    s = new Slot();
    ++allocated_;
  }
  return s;
}

void SlotPool::put(Slot* s) noexcept {
  s->next = s->next_waiter = nullptr;
  s->conn = nullptr;
  s->ready = s->http = s->head_only = s->http10 = false;
  s->keep_alive = true;
  s->entry.reset();
  s->body = Slot::Body::kNone;
  s->head.clear();
  if (free_.size() >= kMaxFree || s->head.capacity() > kMaxKeptHeadBytes) {
    delete s;
    --allocated_;
    return;
  }
  free_.push_back(s);
}

SlotPool::~SlotPool() {
  for (Slot* s : free_) delete s;
}

void renderHttpText(Slot& slot, int status, std::string_view text, std::string_view http_date,
                    std::string_view extra_headers) {
  http::ResponseOptions opt;
  opt.keep_alive = slot.keep_alive;
  opt.http10 = slot.http10;
  opt.content_type = "text/plain; charset=utf-8";
  opt.extra_headers = extra_headers;
  slot.head.clear();
  http::appendHead(slot.head, status, text.size() + 1, http_date, opt);
  if (!slot.head_only) {
    slot.head.append(text);
    slot.head.push_back('\n');
  }
  slot.ready = true;
}

void renderResult(Slot& slot, const FetchResult& r, std::string_view http_date) {
  assert(!slot.ready);
  slot.head.clear();
  if (slot.http) {
    switch (r.kind) {
      case FetchResult::Kind::kValue: {
        http::ResponseOptions opt;
        opt.keep_alive = slot.keep_alive;
        opt.http10 = slot.http10;
        http::appendHead(slot.head, 200, r.entry->value().size(), http_date, opt);
        if (!slot.head_only) {
          slot.entry = r.entry;
          slot.body = Slot::Body::kValue;
        }
        slot.ready = true;
        return;
      }
      case FetchResult::Kind::kNil: return renderHttpText(slot, 404, "not found", http_date);
      case FetchResult::Kind::kWrongType:
        return renderHttpText(slot, 409, "the key does not hold a string value (WRONGTYPE)", http_date);
      case FetchResult::Kind::kBackendError:
        return renderHttpText(slot, 502, std::string("backend error: ") + std::string(r.message), http_date);
      case FetchResult::Kind::kUnavailable:
        return renderHttpText(slot, 503, std::string("backend unavailable: ") + std::string(r.message), http_date);
      case FetchResult::Kind::kTimeout: return renderHttpText(slot, 504, "backend timeout", http_date);
    }
  }
  switch (r.kind) {
    case FetchResult::Kind::kValue:
      slot.entry = r.entry;
      slot.body = Slot::Body::kRespBulk;
      break;
    case FetchResult::Kind::kNil: resp::appendNil(slot.head); break;
    case FetchResult::Kind::kWrongType:
    case FetchResult::Kind::kBackendError: resp::appendError(slot.head, resp::oneLine(r.message)); break;
    case FetchResult::Kind::kUnavailable:
      resp::appendError(slot.head, "ERR backend unavailable: " + resp::oneLine(r.message));
      break;
    case FetchResult::Kind::kTimeout: resp::appendError(slot.head, "ERR backend timeout"); break;
  }
  slot.ready = true;
}

}  // namespace rcp
