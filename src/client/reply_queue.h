// A connection's replies in request order, and the accounting of writing them: which bytes of the
// ready prefix are still to go (as iovecs, starting inside a partly written head reply), and
// which replies a write of n bytes has finished. No I/O here: the connection writes.
#pragma once

#include <uv.h>

#include <cstddef>

#include "src/client/reply.h"

namespace rcp::client {

class ReplyQueue {
 public:
  explicit ReplyQueue(ReplyPool& pool) : pool_(pool) {}
  // Ready replies go back to the pool; waiting ones are orphaned (their last part frees them).
  ~ReplyQueue();
  ReplyQueue(const ReplyQueue&) = delete;
  ReplyQueue& operator=(const ReplyQueue&) = delete;

  // A new reply at the tail, owned by the queue; conn is set, pending is 0.
  Reply* push(Connection* conn);
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
  Batch collect(uv_buf_t* bufs, size_t max_bufs) const noexcept;
  // n more bytes of the ready prefix were written: frees the replies written whole and remembers
  // how far into the next one the write got.
  void advance(size_t n) noexcept;
  // Ready bytes not yet written, and how many replies hold them.
  void unwritten(size_t* bytes, size_t* replies) const noexcept;

 private:
  ReplyPool& pool_;
  Reply* head_ = nullptr;  // oldest request
  Reply* tail_ = nullptr;
  size_t size_ = 0;
  size_t written_ = 0;     // bytes of the head reply already written
};

}  // namespace rcp::client
