// Incremental parser for client requests in RESP: multibulk arrays of bulk strings, read with
// hiredis's reader (object callbacks copy arguments into a reused arena, so no reply tree is built
// and a request allocates nothing once the arena has grown to the connection's usual request),
// and inline commands ("PING\r\n" from telnet), recognised per request as Redis does: a request
// starting with '*' is multibulk, anything else is an inline line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct redisReader;

namespace rcp::resp {

struct RequestLimits {
  size_t max_request_bytes = 1 << 20;  // largest multibulk request, all framing included
  size_t max_inline_bytes = 64 << 10;  // longest inline command line
  size_t max_args = 1024 * 1024;       // most arguments in one request (as Redis: an MSET of many keys)
};

class RequestParser {
 public:
  enum class Status { kRequest, kNeedMore, kError };

  explicit RequestParser(RequestLimits limits = {});
  ~RequestParser();
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Appends received bytes (copied into the parser's buffer).
  void feed(const char* data, size_t len);

  // Parses the next complete request. On kRequest, args() holds it until the next call of next()
  // or feed().
  // On kError, error() says why (a Redis-style "Protocol error: ..." text); the stream is unusable.
  Status next();

  const std::vector<std::string_view>& args() const noexcept { return args_; }
  // The request's bytes as received, when it arrived whole in the multibulk form every client sends
  // (so Redis can be sent the same bytes); empty otherwise. Valid as long as args().
  std::string_view raw() const noexcept { return raw_; }
  // The received bytes after the last parsed request (empty while a request is half parsed).
  std::string_view unparsed() const noexcept;
  const std::string& error() const noexcept { return error_; }
  // Bytes received and not yet parsed into requests.
  size_t buffered() const noexcept;
  // Capacity of the buffers that hold the current request's arguments (kept between requests up
  // to a bound, so one large request does not pin its memory for the connection's life).
  size_t argumentBytesKept() const noexcept { return arena_cap_ + inline_arena_.capacity(); }

 private:
  friend struct ReaderCallbacks;
  Status fail(std::string msg);
  Status nextInline();
  bool nextWhole(std::string_view buffered);
  Status checkPendingBulk();
  void startRequest() noexcept;
  // Copies one argument into the arena (hiredis's buffer moves under it: it compacts consumed
  // bytes, and a partial request spans feeds that may reallocate it).
  void addArg(const char* p, size_t n) {
    if (n > arena_cap_ - arena_len_) growArena(n);
    char* dst = arena_.get() + arena_len_;
    if (n != 0) std::memcpy(dst, p, n);
    arena_len_ += n;
    args_.emplace_back(dst, n);
  }
  void growArena(size_t need);

  static constexpr size_t kArenaInitialBytes = 64;      // enough for the usual GET; grows by doubling
  static constexpr size_t kArenaKeptBytes = 16 << 10;   // a bigger arena is released at the next request

  RequestLimits limits_;
  redisReader* reader_;           // owns the input buffer, for multibulk and inline alike
  std::unique_ptr<char[]> arena_; // argument bytes of the current request; args_ point into it
  size_t arena_len_ = 0;
  size_t arena_cap_ = 0;
  std::vector<std::string_view> args_;
  std::string_view raw_;          // the request's bytes, when parsed in place
  std::string inline_arena_;      // inline commands: unescaped argument bytes
  std::vector<std::pair<uint32_t, uint32_t>> inline_spans_;  // (offset, length) into inline_arena_
  std::string error_;
  std::string cb_error_;          // set by reader callbacks to explain a rejection
  size_t partial_bytes_ = 0;      // bytes of the current multibulk request consumed by earlier calls
  bool failed_ = false;
};

// A hint, not a parse: when `bytes` starts with a complete GET request in the shape clients send
// ("*2\r\n$3\r\nGET\r\n$<n>\r\n<key>\r\n", GET in any case), returns the request's length and sets
// *key; otherwise 0. The server peeks at the requests queued behind the one it serves to prefetch
// their cache lines; every request is still parsed by the reader.
size_t peekGet(std::string_view bytes, std::string_view* key) noexcept;

// Splits one inline command line the way redis-cli and Redis do (sdssplitargs): whitespace
// separates arguments; "double quotes" accept \n \r \t \b \a \\ \" and \xHH escapes; 'single quotes'
// accept \'. Returns false on unbalanced quotes.
bool splitInline(std::string_view line, std::string& arena, std::vector<std::pair<uint32_t, uint32_t>>& spans);

}  // namespace rcp::resp
