// Backend replies as frames: Resp3Reader (resp3_reader.h) cuts the byte stream from Redis into
// top-level replies and hands each one out as a Frame whose values are all readable, nested
// arrays included (invalidation messages, CLUSTER SHARDS, any array a forwarded command returns),
// and can be encoded back to the bytes Redis sent, for forwarding. A top-level bulk string can be
// taken by a hook while it is still in the reader's buffer, so a GET reply becomes a cache entry
// with the only copy the value ever needs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>


namespace rcp::resp {

enum class FrameType : uint8_t {
  kBulk,      // $n: a binary-safe string
  kNil,       // $-1
  kSimple,    // +text
  kError,     // -text
  kInteger,   // :n
  kArray,     // *n
  kNilArray,  // *-1
  // RESP3 (Resp3Reader)
  kNull,       // _
  kDouble,     // ,text (kept as Redis wrote it)
  kBoolean,    // #t / #f (integer() is 1 / 0)
  kBigNumber,  // (digits
  kBlobError,  // !n: a binary-safe error
  kVerbatim,   // =n: "txt:" or "mkd:" then the text
  kMap,        // %n: n pairs, 2n elements, key then value
  kSet,        // ~n
  kAttribute,  // |n: n pairs, then the value they describe (2n + 1 elements)
  kPush,       // >n: out-of-band data (pub/sub messages, invalidations)
};

class Frame;

// One value of a frame: the top-level reply or any element inside it. Valid while its frame is
// unchanged (until the reader's next call).
class FrameView {
 public:
  FrameType type() const noexcept;
  bool isNil() const noexcept { return type() == FrameType::kNil || type() == FrameType::kNilArray; }
  // kBulk, kSimple, kError and the RESP3 string types: the text (empty for a bulk string a hook took).
  std::string_view str() const noexcept;
  long long integer() const noexcept;  // kInteger; kBoolean as 1 / 0
  // Aggregates: the number of elements (a map's and an attribute's keys and values counted
  // apart, an attribute's described value last); 0 otherwise.
  size_t size() const noexcept;
  FrameView operator[](size_t i) const noexcept;  // kArray: element i < size(), O(i)
  // The value after this one inside the same array (only when there is one): walks an array in O(n).
  FrameView next() const noexcept;
  // Appends this value's RESP encoding: the bytes Redis sent (Redis writes canonical RESP).
  void encode(std::string& out) const;

 private:
  friend class Frame;
  FrameView(const Frame* f, uint32_t i) noexcept : frame_(f), index_(i) {}
  const Frame* frame_;
  uint32_t index_;
};

class Frame {
 public:
  FrameView root() const noexcept { return FrameView(this, 0); }
  // The top-level bulk string's bytes went to the reader's hook instead of into this frame.
  bool taken() const noexcept { return taken_; }

 private:
  friend class FrameView;
  friend class Resp3Reader;
  struct Node {
    FrameType type;
    uint32_t end = 0;      // index after this node's subtree (its next sibling)
    long long number = 0;  // kInteger, kBoolean: the value; aggregates: the count on the wire (pairs for a map)
    size_t text_off = 0;   // kBulk, kSimple, kError: bytes in text_
    size_t text_len = 0;
  };
  static constexpr size_t kKeptTextBytes = 64 << 10;  // a text buffer over this is released at the next frame
  void clear();
  uint32_t link(uint32_t i);  // sets end for the subtree at i; returns it
  static size_t children(const Node& n) noexcept;  // elements that follow an aggregate's node

  std::vector<Node> nodes_;  // pre-order: an array is followed by its elements
  std::string text_;         // every string's bytes
  bool taken_ = false;
};

}  // namespace rcp::resp
