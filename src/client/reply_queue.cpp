// Replies, their pool and the reply queue (see reply.h, reply_queue.h).
#include "src/client/reply_queue.h"

#include <algorithm>
#include <cassert>


namespace rcp::client {

void Part::onResult(const proxy::Lookup& r) {
  Reply& reply = *owner;
  assert(reply.pending > 0);
  if (reply.conn == nullptr) {  // its client left while the lookup was in flight
    if (--reply.pending == 0) delete &reply;
    return;
  }
  reply.conn->onLookup(reply, *this, r);
}

void Reply::setParts(uint16_t n) {
  assert(pending == 0 && n >= 1);
  if (n - 1 > more_capacity) {
    more.reset(new Part[n - 1]);
    more_capacity = static_cast<uint16_t>(n - 1);
    for (uint16_t i = 0; i < more_capacity; ++i) more[i].owner = this;
  }
  nparts = n;
}

ReplyPool::~ReplyPool() {
  for (Reply* r : free_) delete r;
}

void ReplyQueue::releaseAll() noexcept {
  for (Reply* r = head_; r != nullptr;) {
    Reply* next = r->next;
    r->next = nullptr;
    if (r->ready()) {
      pool_.put(r);
    } else {
      r->conn = nullptr;  // the pending parts free it
    }
    r = next;
  }
  head_ = tail_ = nullptr;
  size_ = 0;
  written_ = 0;
}

ReplyQueue::Batch ReplyQueue::collectMany(uv_buf_t* bufs, size_t max_bufs) const noexcept {
  Batch b;
  size_t skip = written_;  // bytes of the head reply an earlier write took
  for (const Reply* r = head_; r != nullptr && r->ready(); r = r->next) {
    // Whole replies only, so that the next collect starts at a reply (or inside the head one);
    // a single reply with more pieces than max_bufs goes out over several collects.
    if (b.bufs + 2 * size_t{r->nparts} > max_bufs && (b.replies > 0 || max_bufs - b.bufs < 2)) break;
    for (size_t i = 0; i < r->nparts && b.bufs + 2 <= max_bufs; ++i) {
      const Part& p = i == 0 ? r->first : r->more[i - 1];
      std::string_view text = p.text, body = p.body;
      if (skip != 0) {  // only in the head reply, after a partial write
        size_t t = std::min(skip, text.size());
        text.remove_prefix(t);
        skip -= t;
        t = std::min(skip, body.size());
        body.remove_prefix(t);
        skip -= t;
      }
      if (!text.empty()) setBuf(bufs[b.bufs++], text);
      if (!body.empty()) setBuf(bufs[b.bufs++], body);
      b.bytes += text.size() + body.size();
    }
    ++b.replies;
  }
  return b;
}

void ReplyQueue::unwritten(size_t* bytes, size_t* replies) const noexcept {
  size_t b = 0, n = 0;
  for (const Reply* r = head_; r != nullptr && r->ready(); r = r->next) {
    b += r->bytes();
    ++n;
  }
  *bytes = b - (n > 0 ? written_ : 0);
  *replies = n;
}

}  // namespace rcp::client
