// A connection's replies in request order, and the accounting of writing them: which bytes of the
// ready prefix are still to go (as iovecs, starting inside a partly written head reply), and
// which replies a write of n bytes has finished. No I/O here: the connection writes.
#pragma once

#include <uv.h>

#include <algorithm>
#include <cstddef>
#include <string_view>

#include "src/client/reply.h"

namespace rcp::client {

class ReplyQueue {
 public:
  explicit ReplyQueue(ReplyPool& pool) : pool_(pool) {}
  // Ready replies go back to the pool; waiting ones are orphaned (their last part frees them).
  ~ReplyQueue() { releaseAll(); }
  // The same, now: the queue is empty afterwards (its connection's teardown, see connection.h).
  void releaseAll() noexcept;
  ReplyQueue(const ReplyQueue&) = delete;
  ReplyQueue& operator=(const ReplyQueue&) = delete;

  // A new reply at the tail, owned by the queue; conn is set, pending is 0.
  Reply* push(ReplyOwner* conn) {
    Reply* r = pool_.get();
    r->conn = conn;
    if (tail_ != nullptr) tail_->next = r;
    else head_ = r;
    tail_ = r;
    ++size_;
    return r;
  }
  Reply* head() const noexcept { return head_; }
  Reply* tail() const noexcept { return tail_; }
  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return head_ == nullptr; }

  struct Batch {
    size_t bufs = 0;     // iovecs filled
    size_t bytes = 0;    // bytes they cover
    size_t replies = 0;  // replies they reach into
  };
  // The ready prefix not yet written, as up to max_bufs iovecs (whole replies only, except that
  // the first starts where the last write stopped). The bytes stay valid until advance() passes them.
  Batch collect(uv_buf_t* bufs, size_t max_bufs) const noexcept {
    const Reply* h = head_;
    if (h != nullptr && h->ready() && h->nparts == 1 && written_ == 0 && (h->next == nullptr || !h->next->ready())) {
      // The common case (a client waiting for each reply): one reply of one part, none of it written.
      Batch b;
      if (!h->first.text.empty()) setBuf(bufs[b.bufs++], h->first.text);
      if (!h->first.body.empty()) setBuf(bufs[b.bufs++], h->first.body);
      b.bytes = h->first.bytes();
      b.replies = 1;
      return b;
    }
    return collectMany(bufs, max_bufs);
  }  // n more bytes of the ready prefix were written: frees the replies written whole and remembers
  // how far into the next one the write got.
  void advance(size_t n) noexcept {
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
  }
  // Ready bytes not yet written, and how many replies hold them.
  void unwritten(size_t* bytes, size_t* replies) const noexcept;

 private:
  Batch collectMany(uv_buf_t* bufs, size_t max_bufs) const noexcept;  // collect(), in general
  // uv_buf_init is a call into libuv; on Unix a uv_buf_t is just these two fields.
  static void setBuf(uv_buf_t& b, std::string_view s) noexcept {
    b.base = const_cast<char*>(s.data());
    b.len = s.size();
  }

  ReplyPool& pool_;
  Reply* head_ = nullptr;  // oldest request
  Reply* tail_ = nullptr;
  size_t size_ = 0;
  size_t written_ = 0;     // bytes of the head reply already written
};

}  // namespace rcp::client
