// RESP request parsing (see request_parser.h). hiredis's reader owns the input buffer; inline
// requests are cut from that same buffer by moving its cursor (hiredis_reader.h), which is safe
// only between multibulk requests (the reader's task stack is empty then).
#include "resp/request_parser.h"

#include <hiredis/read.h>  // the object-callback API; internals go through hiredis_reader.h

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstring>
#include <new>

#include "resp/hiredis_reader.h"

namespace rcp::resp {

namespace {
int marker;  // a non-null object for hiredis; the arguments themselves live in the parser's arena
void* kObject = &marker;

bool isHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
int hexVal(char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }
bool isSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f'; }
}  // namespace

struct ReaderCallbacks {
  static RequestParser* parser(const redisReadTask* t) { return static_cast<RequestParser*>(t->privdata); }

  static void* createString(const redisReadTask* t, char* s, size_t n) {
    RequestParser* p = parser(t);
    if (t->parent == nullptr || t->type != REDIS_REPLY_STRING) {
      p->cb_error_ = "Protocol error: expected '$' in multibulk request";
      return nullptr;
    }
    p->addArg(s, n);
    return kObject;
  }
  static void* createArray(const redisReadTask* t, int elements) {
    RequestParser* p = parser(t);
    if (t->parent != nullptr) {
      p->cb_error_ = "Protocol error: expected '$', got '*'";
      return nullptr;
    }
    if (static_cast<size_t>(elements) > p->limits_.max_args) {
      p->cb_error_ = "Protocol error: invalid multibulk length";
      return nullptr;
    }
    p->startRequest();
    return kObject;
  }
  static void* createInteger(const redisReadTask* t, long long) {
    parser(t)->cb_error_ = "Protocol error: expected '$', got ':'";
    return nullptr;
  }
  static void* createNil(const redisReadTask* t) {
    if (t->parent == nullptr) {  // "*-1\r\n": an empty request, which Redis skips
      parser(t)->startRequest();
      return kObject;
    }
    parser(t)->cb_error_ = "Protocol error: invalid bulk length";
    return nullptr;
  }
  static void freeObject(void*) {}
};

namespace {
redisReplyObjectFunctions kFunctions = {
    ReaderCallbacks::createString, ReaderCallbacks::createArray, ReaderCallbacks::createInteger,
    ReaderCallbacks::createNil, ReaderCallbacks::freeObject};
}  // namespace

RequestParser::RequestParser(RequestLimits limits) : limits_(limits), reader_(hiredis::create(&kFunctions, this)) {}

RequestParser::~RequestParser() { hiredis::destroy(reader_); }

void RequestParser::feed(const char* data, size_t len) {
  if (failed_ || len == 0) return;
  // Inline requests move the reader's cursor without going through redisReaderGetReply, which is
  // where the reader compacts its buffer; compact here so inline-only clients stay bounded.
  if (hiredis::betweenReplies(reader_)) hiredis::compact(reader_);
  if (!hiredis::feed(reader_, data, len)) {
    failed_ = true;
    error_ = "Protocol error: out of memory";
  }
}

size_t RequestParser::buffered() const noexcept { return hiredis::unread(reader_).size(); }

std::string_view RequestParser::unparsed() const noexcept {
  if (failed_ || !hiredis::betweenReplies(reader_)) return {};
  return hiredis::unread(reader_);
}

size_t peekGet(std::string_view b, std::string_view* key) noexcept {
  // "*2\r\n$3\r\n" then "GET\r\n$" (GET in any case), compared eight and six bytes at a time.
  constexpr size_t kPrefix = 14;
  const char* p = b.data();
  if (std::endian::native != std::endian::little || b.size() < kPrefix + 5) return 0;
  uint64_t w0, w1;
  std::memcpy(&w0, p, 8);
  std::memcpy(&w1, p + 8, 8);
  constexpr uint64_t kHead = 0x0a0d'3324'0a0d'322aULL;  // "*2\r\n$3\r\n", as a little-endian load
  constexpr uint64_t kGet = 0x24'0a'0d'74'65'67ULL;      // "get\r\n$"
  constexpr uint64_t kLow6 = 0xffff'ffff'ffffULL;
  if (w0 != kHead || ((w1 | 0x20'20'20ULL) & kLow6) != kGet) return 0;
  size_t i = kPrefix, n = 0;
  for (; i < b.size() && i < kPrefix + 9 && p[i] >= '0' && p[i] <= '9'; ++i) n = n * 10 + static_cast<size_t>(p[i] - '0');
  if (i == kPrefix || b.size() - i < 2 || p[i] != '\r' || p[i + 1] != '\n') return 0;
  i += 2;
  if (b.size() - i < n + 2 || p[i + n] != '\r' || p[i + n + 1] != '\n') return 0;
  *key = std::string_view(p + i, n);
  return i + n + 2;
}

void RequestParser::startRequest() noexcept {
  args_.clear();
  arena_len_ = 0;
  if (arena_cap_ > kArenaKeptBytes) {  // one big request does not pin its arena for the connection's life
    arena_.reset();
    arena_cap_ = 0;
  }
}

void RequestParser::growArena(size_t need) {
  size_t cap = std::max(arena_cap_ * 2, kArenaInitialBytes);
  while (cap - arena_len_ < need) cap *= 2;
  std::unique_ptr<char[]> bigger(new char[cap]);
  char* old = arena_.get();
  if (arena_len_ != 0) std::memcpy(bigger.get(), old, arena_len_);
  for (std::string_view& a : args_) a = std::string_view(bigger.get() + (a.data() - old), a.size());
  arena_ = std::move(bigger);
  arena_cap_ = cap;
}

RequestParser::Status RequestParser::fail(std::string msg) {
  failed_ = true;
  error_ = std::move(msg);
  return Status::kError;
}

// The common case, parsed in place: a whole multibulk request already in the buffer, in the form
// every client sends (digits only, each bulk followed by CRLF). The arguments point into the
// reader's buffer, which nothing moves before the next feed() or next(). Anything else (a partial
// request, an odd form, an error to report) is left to hiredis's reader, which reads it as before.
bool RequestParser::nextWhole(std::string_view b) {
  const char* p = b.data();
  const char* end = p + b.size();
  auto number = [&](size_t* out) {  // digits then CRLF, at most 10 digits
    const char* start = p;
    size_t n = 0;
    while (p < end && *p >= '0' && *p <= '9' && p - start < 10) n = n * 10 + static_cast<size_t>(*p++ - '0');
    if (p == start || end - p < 2 || p[0] != '\r' || p[1] != '\n') return false;
    p += 2;
    *out = n;
    return true;
  };
  if (arena_cap_ > kArenaKeptBytes) startRequest();  // an earlier large request's arena goes
  ++p;  // '*'
  size_t argc = 0;
  if (!number(&argc) || argc == 0 || argc > limits_.max_args) return false;
  args_.clear();
  for (size_t i = 0; i < argc; ++i) {
    size_t len = 0;
    if (p == end || *p++ != '$' || !number(&len) || static_cast<size_t>(end - p) < len + 2 || p[len] != '\r' ||
        p[len + 1] != '\n')
      return false;
    args_.emplace_back(p, len);
    p += len + 2;
  }
  size_t total = static_cast<size_t>(p - b.data());
  if (total > limits_.max_request_bytes) return false;
  raw_ = b.substr(0, total);
  hiredis::consume(reader_, total);
  return true;
}

RequestParser::Status RequestParser::next() {
  raw_ = {};
  if (failed_) return Status::kError;
  for (;;) {
    if (hiredis::betweenReplies(reader_)) {  // between requests: pick the form of the next one
      std::string_view rest = hiredis::unread(reader_);
      if (rest.empty()) return Status::kNeedMore;
      if (rest[0] == '*' && nextWhole(rest)) return Status::kRequest;
      if (rest[0] != '*') {
        Status s = nextInline();
        if (s == Status::kRequest && args_.empty()) continue;  // blank line: skipped, like Redis
        return s;
      }
    }
    size_t before = buffered();
    void* reply = nullptr;
    if (!hiredis::getReply(reader_, &reply)) {
      return fail(!cb_error_.empty() ? cb_error_ : std::string("Protocol error: ") + hiredis::error(reader_));
    }
    size_t consumed = partial_bytes_ + (before - buffered());
    if (consumed > limits_.max_request_bytes || (reply == nullptr && before > limits_.max_request_bytes))
      return fail("Protocol error: request too large");
    if (reply == nullptr) {
      partial_bytes_ = consumed;
      return checkPendingBulk();
    }
    partial_bytes_ = 0;
    if (args_.empty()) continue;  // "*0" or "*-1": nothing to run
    return Status::kRequest;
  }
}

// A request is incomplete. If the reader stopped at a bulk header that announces more than a
// request may hold, reject it now instead of buffering towards it.
RequestParser::Status RequestParser::checkPendingBulk() {
  if (buffered() > limits_.max_request_bytes) return fail("Protocol error: request too large");
  if (!hiredis::atBulkLength(reader_)) return Status::kNeedMore;
  std::string_view rest = hiredis::unread(reader_);
  const char* p = rest.data();
  const char* end = p + rest.size();
  {
    unsigned long long n = 0;
    for (; p < end && *p >= '0' && *p <= '9'; ++p) {
      n = n * 10 + static_cast<unsigned>(*p - '0');
      if (n > limits_.max_request_bytes) return fail("Protocol error: invalid bulk length");
    }
  }
  return Status::kNeedMore;
}

RequestParser::Status RequestParser::nextInline() {
  std::string_view rest = hiredis::unread(reader_);
  const char* start = rest.data();
  size_t avail = rest.size();
  const void* nl = std::memchr(start, '\n', avail);
  if (nl == nullptr) {
    if (avail > limits_.max_inline_bytes) return fail("Protocol error: too big inline request");
    return Status::kNeedMore;
  }
  size_t line_len = static_cast<size_t>(static_cast<const char*>(nl) - start);
  if (line_len > limits_.max_inline_bytes) return fail("Protocol error: too big inline request");
  std::string_view line(start, line_len);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (inline_arena_.capacity() > kArenaKeptBytes) std::string().swap(inline_arena_);
  if (arena_cap_ > kArenaKeptBytes) startRequest();
  inline_arena_.clear();
  inline_spans_.clear();
  bool ok = splitInline(line, inline_arena_, inline_spans_);
  hiredis::consume(reader_, line_len + 1);  // the reader compacts its buffer itself later
  if (!ok) return fail("Protocol error: unbalanced quotes in request");
  if (inline_spans_.size() > limits_.max_args) return fail("Protocol error: too many arguments");
  args_.clear();
  for (auto [off, n] : inline_spans_) args_.emplace_back(inline_arena_.data() + off, n);
  return Status::kRequest;
}

bool splitInline(std::string_view line, std::string& arena, std::vector<std::pair<uint32_t, uint32_t>>& spans) {
  size_t i = 0, n = line.size();
  for (;;) {
    while (i < n && isSpace(line[i])) ++i;
    if (i >= n) return true;
    size_t start = arena.size();
    bool in_dq = false, in_sq = false, done = false;
    while (!done) {
      if (in_dq) {
        if (i >= n) return false;
        char c = line[i];
        if (c == '\\' && i + 3 < n && line[i + 1] == 'x' && isHex(line[i + 2]) && isHex(line[i + 3])) {
          arena.push_back(static_cast<char>(hexVal(line[i + 2]) * 16 + hexVal(line[i + 3])));
          i += 3;
        } else if (c == '\\' && i + 1 < n) {
          char e = line[++i];
          switch (e) {
            case 'n': arena.push_back('\n'); break;
            case 'r': arena.push_back('\r'); break;
            case 't': arena.push_back('\t'); break;
            case 'b': arena.push_back('\b'); break;
            case 'a': arena.push_back('\a'); break;
            default: arena.push_back(e); break;
          }
        } else if (c == '"') {
          if (i + 1 < n && !isSpace(line[i + 1])) return false;  // closing quote must end the arg
          done = true;
        } else {
          arena.push_back(c);
        }
      } else if (in_sq) {
        if (i >= n) return false;
        char c = line[i];
        if (c == '\\' && i + 1 < n && line[i + 1] == '\'') {
          arena.push_back('\'');
          ++i;
        } else if (c == '\'') {
          if (i + 1 < n && !isSpace(line[i + 1])) return false;
          done = true;
        } else {
          arena.push_back(c);
        }
      } else {
        if (i >= n) { done = true; continue; }
        char c = line[i];
        if (isSpace(c)) done = true;
        else if (c == '"') in_dq = true;
        else if (c == '\'') in_sq = true;
        else arena.push_back(c);
      }
      if (i < n) ++i;
    }
    spans.emplace_back(static_cast<uint32_t>(start), static_cast<uint32_t>(arena.size() - start));
  }
}

}  // namespace rcp::resp
