// Backend replies in RESP3 (a connection that sent HELLO 3), or RESP2 (a subset), cut into frames
// (frame.h): null, double, boolean, big number, blob error, verbatim string, map, set,
// attribute and push besides RESP2's types. Debian's hiredis (0.14) reads RESP2 only, so this is
// the one parser of the project's own: resumable (a reply split anywhere costs no re-parse),
// bounded (a frame's size, an aggregate's nesting), and building no object beyond the frame. A
// top-level bulk string is offered to the hook while it is in the buffer (a GET fills the cache with one copy).
// Streamed strings and aggregates ("$?", "*?") are refused: Redis does not send them.
//
// The limit (max_bytes) counts what a reply carries, not its framing: a string of exactly
// max_bytes is read (Redis's largest value, 512 MiB, under the default). A top-level string
// announced over it is skipped as it arrives, never buffered (kOversized: the stream stays usable);
// anything else over it fails the stream (kError, overLimit()).
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
  // kOversized: a top-level string announced longer than the limit; its bytes are being skipped
  // (oversizedBytes() says how long it was) and the next reply follows it.
  enum class Status { kFrame, kNeedMore, kError, kOversized };
  // Nested aggregates: Redis's own replies nest a handful of levels (COMMAND DOCS about 8), but a
  // Lua script may return a table nested as deep as Lua's stack allows.
  static constexpr size_t kMaxDepth = 1024;
  // A length, count or number line before its CRLF. Simple strings and errors ('+', '-') may be as
  // long as the reply limit: Redis writes long ones (MONITOR's line for a large SET, a script's
  // status_reply), and their search for CRLF resumes where it stopped (linear in the line).
  static constexpr size_t kMaxLineBytes = 64 << 10;

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
  // kError was a reply over the limit (the stream was in step: the reply at its head is the culprit).
  bool overLimit() const noexcept { return over_limit_; }
  size_t oversizedBytes() const noexcept { return oversized_bytes_; }
  size_t maxBytes() const noexcept { return max_bytes_; }
  // A RESP2 connection: any RESP3 type byte (a push, an attribute, '_' ...) means the stream is
  // out of step with the requests it answers, and fails it.
  void setResp2Only(bool on) noexcept { resp2_only_ = on; }
  // With setResp2Only: RESP3's null (`_`) is read all the same. Redis writes one on a RESP2
  // connection in one place: the null invalidation it redirects from a RESP3 tracking client.
  void setNull3OnResp2(bool on) noexcept { null3_on_resp2_ = on; }
  // A reply has begun and is not yet whole (or an oversized one is being skipped).
  bool midReply() const noexcept { return in_frame_ || pos_ < buf_.size() || skip_left_ > 0; }
  // The bytes the reply in progress is known to take: read so far plus the string it awaits, as
  // announced. What a deadline that allows for the size of a reply measures against.
  size_t announcedBytes() const noexcept { return (in_frame_ ? frame_bytes_ + awaiting_ : 0) + skip_left_; }
  // Between replies: gives back the memory a large reply left in the buffers (over 64 KiB kept).
  void releaseIdle() noexcept;
  size_t bufferCapacity() const noexcept { return buf_.capacity(); }

 private:
  enum class Step { kDone, kOpened, kNeedMore, kError, kOversized };
  Step parseOne();                  // one value at pos_
  Step scanLine(const char* start, size_t avail, size_t* line_len);
  Step parseLineValue(char type, std::string_view line, size_t* carried);
  Step parseString(char type, std::string_view line, const char* start, size_t avail, size_t* consumed,
                   size_t* carried);
  Step parseAggregate(char type, std::string_view line);
  Step addText(FrameType t, std::string_view s, size_t* carried);
  Step error(std::string why);      // fail(why), as a step
  bool finishValue();               // a value is whole: true when it ends the frame
  Status fail(std::string why);
  Step overLimit(size_t bytes);
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
  size_t frame_bytes_ = 0;          // bytes of the frame read so far, framing included
  size_t payload_bytes_ = 0;        // what the frame carries so far (strings, lines): the limit's measure
  size_t awaiting_ = 0;             // a string's announced bytes (header, body, CRLF) not yet all here
  size_t scanned_ = 0;              // bytes of a line at pos_ already searched for its CR
  size_t skip_left_ = 0;            // an oversized string's bytes still to drop as they come
  size_t oversized_bytes_ = 0;
  bool over_limit_ = false;
  bool resp2_only_ = false;
  bool null3_on_resp2_ = false;
  std::string error_;
  BulkHook hook_;
  void* ctx_;
  size_t max_bytes_;
};

}  // namespace rcp::resp
