// Unit tests for replies made of parts and the reply queue's write accounting: the ready prefix as
// iovecs, partial writes resuming inside a reply, a waiting reply holding back the ones behind it,
// the iovec cap, and orphaned replies freed by their last part.
#include <doctest/doctest.h>

#include <string>

#include "src/client/reply_queue.h"

using rcp::EntryRef;
using rcp::client::Part;
using rcp::client::Reply;
using rcp::client::ReplyPool;
using rcp::client::ReplyQueue;

namespace {
EntryRef entry(const std::string& value) { return EntryRef::adopt(rcp::Entry::create("k", value)); }

std::string join(const uv_buf_t* bufs, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s.append(bufs[i].base, bufs[i].len);
  return s;
}

// Writes everything ready, at most chunk bytes per "write", as a connection would.
std::string drain(ReplyQueue& q, size_t chunk, size_t max_bufs = 128) {
  std::string out;
  for (;;) {
    uv_buf_t bufs[128];
    ReplyQueue::Batch b = q.collect(bufs, max_bufs);
    if (b.replies == 0) return out;
    std::string all = join(bufs, b.bufs);
    REQUIRE(all.size() == b.bytes);
    size_t n = std::min(chunk, all.size());
    out += all.substr(0, n);
    q.advance(n);
  }
}
}  // namespace

TEST_CASE("reply queue: a partial write resumes inside the reply, text and zero-copy body alike") {
  ReplyPool pool;
  ReplyQueue q(pool);
  Reply* r = q.push(nullptr);
  r->first.text = "HEAD:";
  r->first.setBody(entry("value"), Part::Body::kRespBulk);
  std::string expected = "HEAD:$5\r\nvalue\r\n";
  for (size_t chunk : {size_t{1}, size_t{3}, size_t{100}}) {
    CAPTURE(chunk);
    if (q.empty()) {
      Reply* again = q.push(nullptr);
      again->first.text = "HEAD:";
      again->first.setBody(entry("value"), Part::Body::kRespBulk);
    }
    CHECK(drain(q, chunk) == expected);
    CHECK(q.empty());
  }
}

TEST_CASE("reply queue: replies of many parts leave in request order, a waiting reply holds back those behind") {
  ReplyPool pool;
  ReplyQueue q(pool);
  Reply* a = q.push(nullptr);
  a->first.text = "A";
  Reply* b = q.push(nullptr);  // e.g. a multi-key reply: header, then one part per key
  b->setParts(4);
  b->part(0).text = "*3\r\n";
  b->part(1).setBody(entry("x"), Part::Body::kRespBulk);
  b->part(2).text = "$-1\r\n";
  b->part(3).text = "[";
  b->part(3).setBody(entry("yy"), Part::Body::kValue);
  b->pending = 1;  // one part still waits on a lookup
  Reply* c = q.push(nullptr);
  c->first.text = "C";
  CHECK(drain(q, 1000) == "A");
  CHECK(q.size() == 2);
  size_t bytes = 0, replies = 0;
  q.unwritten(&bytes, &replies);
  CHECK((bytes == 0 && replies == 0));
  b->pending = 0;
  q.unwritten(&bytes, &replies);
  CHECK(replies == 2);
  CHECK(bytes == b->bytes() + 1);
  CHECK(drain(q, 2) == "*3\r\n$1\r\nx\r\n$-1\r\n[yyC");
  CHECK(q.empty());
}

TEST_CASE("reply queue: a write takes whole replies up to the iovec cap, the rest follow") {
  ReplyPool pool;
  ReplyQueue q(pool);
  std::string expected;
  for (int i = 0; i < 300; ++i) {
    Reply* r = q.push(nullptr);
    r->first.text = std::to_string(i) + ",";
    r->first.setBody(entry("v"), Part::Body::kValue);
    expected += std::to_string(i) + ",v";
  }
  uv_buf_t bufs[128];
  ReplyQueue::Batch first = q.collect(bufs, 128);
  CHECK(first.bufs <= 128);
  CHECK(first.replies == 64);  // two pieces each: whole replies only
  CHECK(drain(q, 7) == expected);
}

TEST_CASE("reply queue: a reply still waiting when its connection goes is freed by its last part") {
  ReplyPool pool;
  Reply* waiting;
  {
    ReplyQueue q(pool);
    q.push(nullptr)->first.text = "ready";
    waiting = q.push(nullptr);
    waiting->pending = 1;
  }  // the connection closed: the ready reply went back to the pool, the waiting one is orphaned
  CHECK(waiting->conn == nullptr);
  rcp::proxy::Lookup result;
  result.kind = rcp::proxy::Lookup::Kind::kNil;
  waiting->first.onResult(result);  // frees it (ASan/LSan would report a leak or a double free)
}
