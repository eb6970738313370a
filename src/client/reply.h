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

struct Part;
struct Reply;

// Where a reply reports that one of its parts' lookups has finished: the connection that queued it
// (which has its session render the part, and writes the reply once it is ready). The reply queue
// and the parts know this interface only, never the connection.
class ReplyOwner {
 public:
  virtual void onLookup(Reply& reply, Part& part, const proxy::Lookup& r) = 0;

 protected:
  ~ReplyOwner() = default;
};

// A part's states, and what each field holds in them:
//   waiting  (owner->pending counts it): the read-through or the forwarder holds it as a Waiter.
//            text is empty, except where the session parks what the render will need: a kInfo
//            part holds the proxy's own INFO sections, an HTTP conditional GET (Reply::conditional)
//            holds the request's If-None-Match value. entry and body are empty.
//   ready    text holds the bytes written first (the whole reply part, or a header before body);
//            entry, when set, is the cache entry body points into (zero-copy, kept alive by entry).
//   free     cleared (clear()) and in the pool with its reply, text keeping its capacity.
// tag, error and redact are set by the session when it queues the part and read when it renders.
struct Part final : proxy::Waiter {
  enum class Body : uint8_t { kNone, kRespBulk, kValue };
  // What the part waits on, so the session renders the result as that command's reply.
  enum class Tag : uint8_t {
    kGet,      // GET through the cache
    kMget,     // one key of an MGET through the cache
    kForward,  // a forwarded command: Redis's reply as it is
    kInfo,     // INFO: Redis's sections, then the proxy's
    kPinned,   // a forwarded command on the client's pinned connection
    kAborted,  // a DISCARD sent for an EXEC the proxy aborts: answered EXECABORT whatever Redis says
  };

  std::string text;             // bytes written first (a whole part when there is no body)
  EntryRef entry;               // zero-copy body, shared with the cache
  std::string_view body;        // the bytes of entry this part sends (its RESP bulk reply, or the value)
  Reply* owner = nullptr;
  Tag tag = Tag::kGet;
  bool error = false;           // text holds an error that replaces the whole reply (MGET)
  // CONFIG GET replies in Redis's reply, rendered without credentials (resp/redact.h): kRedactWhole
  // (the reply is one), else the indexes of the CONFIG GETs an EXEC's array answers.
  static constexpr uint32_t kRedactWhole = UINT32_MAX;
  std::vector<uint32_t> redact;

  size_t bytes() const noexcept { return text.size() + body.size(); }
  // The body is entry's RESP bulk reply (kRespBulk) or its bare value (kValue); the part holds a
  // reference, so the bytes stay valid after the cache drops the entry.
  void setBody(EntryRef e, Body b) noexcept {
    body = b == Body::kRespBulk ? e->respBulk() : e->value();
    entry = std::move(e);
  }
  // The lookup this part waited on finished: its connection's session renders it.
  void onResult(const proxy::Lookup& r) override;
  void clear() noexcept {
    text.clear();
    entry.reset();
    body = {};
    next_waiter = nullptr;
    tag = Tag::kGet;
    error = false;
    redact.clear();
  }
};

struct Reply {
  Reply* next = nullptr;        // the next request's reply on the same connection
  // The connection that queued it; null once the connection is gone: the reply is then owned by
  // its pending parts, and the last of them to finish frees it (Part::onResult).
  ReplyOwner* conn = nullptr;
  uint16_t pending = 0;         // parts waiting on a lookup; ready at 0
  uint16_t nparts = 1;
  // Rendering hints for the session that made the reply (HTTP: HEAD, keep-alive, HTTP/1.0).
  bool head_only = false;
  bool keep_alive = true;
  bool http10 = false;
  // HTTP: the request carried If-None-Match; while the lookup is pending its value waits in
  // first.text (as INFO's sections of the proxy's do).
  bool conditional = false;
  bool failed = false;          // a part failed: the reply becomes that part's error (MGET)
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
    size_t b = first.bytes();
    for (size_t i = 1; i < nparts; ++i) b += more[i - 1].bytes();
    return b;
  }
  void clear() noexcept {
    first.clear();
    for (size_t i = 1; i < nparts; ++i) more[i - 1].clear();
    next = nullptr;
    conn = nullptr;
    nparts = 1;
    head_only = http10 = failed = conditional = false;
    keep_alive = true;
  }
};

// Free list of replies. A reply handed out is owned by a connection's queue, or (orphaned) by its
// pending parts, until put back.
class ReplyPool {
 public:
  ReplyPool() = default;
  ~ReplyPool();
  ReplyPool(const ReplyPool&) = delete;
  ReplyPool& operator=(const ReplyPool&) = delete;

  Reply* get() {
    if (free_.empty()) return new Reply();
    Reply* r = free_.back();
    free_.pop_back();
    return r;
  }
  void put(Reply* r) noexcept {
    // A reply of many parts (a large MGET), or with a large text buffer, is not kept.
    if (r->more_capacity > kMaxKeptParts || r->first.text.capacity() > kMaxKeptTextBytes || free_.size() >= kMaxFree) {
      delete r;
      return;
    }
    r->clear();
    free_.push_back(r);
  }

 private:
  static constexpr size_t kMaxFree = 4096;           // replies kept for reuse
  static constexpr size_t kMaxKeptTextBytes = 1024;  // a bigger text buffer is released on put()
  static constexpr size_t kMaxKeptParts = 32;        // parts beyond the first kept with a reply (MGET)
  std::vector<Reply*> free_;
};

}  // namespace rcp::client
