// Replies, their pool and the reply queue (see reply.h, reply_queue.h).
#include "src/client/reply_queue.h"

#include <cassert>

#include "src/client/connection.h"

namespace rcp::client {

void Part::clear() noexcept {
  text.clear();
  entry.reset();
  body = Body::kNone;
  next_waiter = nullptr;
}

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

void Reply::clear() noexcept {
  for (size_t i = 0; i < nparts; ++i) part(i).clear();
  next = nullptr;
  conn = nullptr;
  pending = 0;
  nparts = 1;
  head_only = http10 = false;
  keep_alive = true;
}

ReplyPool::~ReplyPool() {
  for (Reply* r : free_) delete r;
}

Reply* ReplyPool::get() {
  if (free_.empty()) return new Reply();
  Reply* r = free_.back();
  free_.pop_back();
  return r;
}

void ReplyPool::put(Reply* r) noexcept {
  assert(r->pending == 0);
  r->clear();
  if (free_.size() >= kMaxFree || r->first.text.capacity() > kMaxKeptTextBytes || r->more_capacity > 0) {
    delete r;
    return;
  }
  free_.push_back(r);
}

ReplyQueue::~ReplyQueue() {
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
}

Reply* ReplyQueue::push(Connection* conn) {
  Reply* r = pool_.get();
  r->conn = conn;
  if (tail_ != nullptr) tail_->next = r;
  else head_ = r;
  tail_ = r;
  ++size_;
  return r;
}

ReplyQueue::Batch ReplyQueue::collect(uv_buf_t* bufs, size_t max_bufs) const noexcept {
  Batch b;
  size_t skip = written_;
  for (const Reply* r = head_; r != nullptr && r->ready(); r = r->next) {
    // Take a reply only when all its pieces fit (whole replies, so advance() stays simple).
    size_t need = 0;
    for (size_t i = 0; i < r->nparts; ++i) need += 2;
    if (b.bufs + need > max_bufs && b.replies > 0) break;
    for (size_t i = 0; i < r->nparts; ++i) {
      const Part& p = r->part(i);
      std::string_view pieces[2] = {p.text, p.bodyBytes()};
      for (std::string_view s : pieces) {
        if (skip >= s.size()) {
          skip -= s.size();
          continue;
        }
        s.remove_prefix(skip);
        skip = 0;
        if (b.bufs == max_bufs) return b;  // a single reply with more pieces than max_bufs
        bufs[b.bufs++] = uv_buf_init(const_cast<char*>(s.data()), static_cast<unsigned>(s.size()));
        b.bytes += s.size();
      }
    }
    ++b.replies;
  }
  return b;
}

void ReplyQueue::advance(size_t n) noexcept {
  written_ += n;
  while (head_ != nullptr && head_->ready()) {
    size_t bytes = head_->bytes();
    if (written_ < bytes) break;
    written_ -= bytes;
    Reply* r = head_;
    head_ = r->next;
    if (head_ == nullptr) tail_ = nullptr;
    --size_;
    pool_.put(r);
  }
  assert(head_ != nullptr || written_ == 0);
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
