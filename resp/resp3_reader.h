// Backend replies in RESP3 (a connection that sent HELLO 3), or RESP2 (a subset), cut into frames
// (frame.h): null, double, boolean, big number, blob error, verbatim string, map, set,
// attribute and push besides RESP2's types. Debian's hiredis (0.14) reads RESP2 only, so this is
// the one parser of the project's own: resumable (a reply split anywhere costs no re-parse),
// bounded (a frame's size, an aggregate's nesting), and building no object beyond the frame. A
// top-level bulk string is offered to the hook while it is in the buffer (a GET fills the cache with one copy).
// Streamed strings and aggregates ("$?", "*?") are refused: Redis does not send them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "resp/frame.h"

namespace rcp::resp {

class Resp3Reader {
 public:
  // Offered each top-level bulk string while its bytes are in the reader's buffer (valid during
  // the call only). Returns true when it took them; the frame then carries no copy.
  using BulkHook = bool (*)(void* ctx, const char* data, size_t len) noexcept;
  enum class Status { kFrame, kNeedMore, kError };
  // Nested aggregates: Redis's own replies nest a handful of levels (COMMAND DOCS about 8), but a
  // Lua script may return a table nested as deep as Lua's stack allows.
  static constexpr size_t kMaxDepth = 1024;
  static constexpr size_t kMaxLineBytes = 64 << 10; // a type line (simple string, number) before its CRLF

  // max_bytes: a frame (or a string in it) announced or read beyond this fails the stream.
  explicit Resp3Reader(BulkHook hook = nullptr, void* ctx = nullptr, size_t max_bytes = 512u << 20);
  Resp3Reader(const Resp3Reader&) = delete;
  Resp3Reader& operator=(const Resp3Reader&) = delete;

  // False when the bytes cannot be buffered (out of memory); the stream is then unusable.
  bool feed(const char* data, size_t len);
  // kFrame: frame() holds the next whole reply until the next call. kError: error() says why;
  // the stream is unusable.
  Status next();
  const Frame& frame() const noexcept { return frame_; }
  std::string_view error() const noexcept { return error_; }
  // Between replies: gives back the memory a large reply left in the buffers (over 64 KiB kept).
  void releaseIdle() noexcept;
  size_t bufferCapacity() const noexcept { return buf_.capacity(); }

 private:
  enum class Step { kDone, kOpened, kNeedMore, kError };
  Step parseOne();                  // one value at pos_
  bool finishValue();               // a value is whole: true when it ends the frame
  Status fail(std::string why);
  Frame::Node* add(FrameType type);

  std::string buf_;     // received bytes; unread from pos_
  size_t pos_ = 0;
  Frame frame_;
  struct Open {
    uint32_t node;  // the aggregate's node
    size_t left;    // elements still to come
  };
  std::vector<Open> open_;          // aggregates being read, outermost first
  bool in_frame_ = false;
  size_t frame_bytes_ = 0;          // bytes of the frame read so far
  std::string error_;
  BulkHook hook_;
  void* ctx_;
  size_t max_bytes_;
};

}  // namespace rcp::resp
