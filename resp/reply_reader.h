// Incremental reader for the replies of the backing Redis, on hiredis's reader with object
// callbacks instead of its reply tree. A top-level bulk string is handed to a caller-supplied
// factory while it is still in the reader's buffer, so the caller can build its final object (a
// cache entry) with the only copy the value ever needs. Nested arrays are counted, not kept.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

struct redisReader;

namespace rcp::resp {

class ReplyReader {
 public:
  enum class Type { kString, kNil, kStatus, kError, kInteger, kArray };
  struct Reply {
    Type type = Type::kNil;
    void* object = nullptr;   // kString: what the factory built (the caller now owns it)
    std::string_view text;    // kStatus / kError: the line, valid until the next call
    long long integer = 0;    // kInteger; kArray: element count (-1 for a nil array)
  };
  // Builds the caller's object for a top-level bulk string; returns null on failure (out of memory),
  // which makes the stream fail.
  using Factory = void* (*)(void* ctx, const char* data, size_t len) noexcept;
  using Destroy = void (*)(void* object) noexcept;

  ReplyReader(Factory factory, Destroy destroy, void* ctx);
  ~ReplyReader();
  ReplyReader(const ReplyReader&) = delete;
  ReplyReader& operator=(const ReplyReader&) = delete;

  bool feed(const char* data, size_t len);
  enum class Status { kReply, kNeedMore, kError };
  Status next(Reply& out);
  std::string_view error() const noexcept;

 private:
  friend struct ReplyCallbacks;
  redisReader* reader_;
  Factory factory_;
  Destroy destroy_;
  void* ctx_;
  Reply current_;
  std::string text_;
};

}  // namespace rcp::resp
