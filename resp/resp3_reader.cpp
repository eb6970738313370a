// The RESP3 frame reader (see resp3_reader.h).
#include "resp/resp3_reader.h"

#include <charconv>
#include <cstring>
#include <new>

namespace rcp::resp {

namespace {
constexpr size_t kKeepBytes = 64 << 10;  // buffer capacity kept between replies

// A whole decimal integer, optionally negative; false on anything else (or overflow).
bool parseInteger(std::string_view s, long long* out) noexcept {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && !(s.size() > 1 && s[0] == '0');
}

bool isBigNumber(std::string_view s) noexcept {
  if (!s.empty() && s[0] == '-') s.remove_prefix(1);
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

bool isDouble(std::string_view s) noexcept {
  if (s == "inf" || s == "-inf" || s == "nan") return true;
  double d;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}
}  // namespace

Resp3Reader::Resp3Reader(BulkHook hook, void* ctx, size_t max_bytes) : hook_(hook), ctx_(ctx), max_bytes_(max_bytes) {}

bool Resp3Reader::feed(const char* data, size_t len) {
  if (!error_.empty()) return true;
  if (skip_left_ > 0) {  // the rest of an oversized string: dropped, never buffered
    size_t k = std::min(len, skip_left_);
    skip_left_ -= k;
    data += k;
    len -= k;
    if (len == 0) return true;
  }
  try {
    // Values already read live in the frame: what was consumed can always go.
    if (pos_ > 0 && (pos_ == buf_.size() || pos_ >= kKeepBytes)) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
    buf_.append(data, len);
  } catch (const std::bad_alloc&) {
    return false;
  }
  return true;
}

Resp3Reader::Status Resp3Reader::fail(std::string why) {
  error_ = "RESP3: " + std::move(why);
  return Status::kError;
}

Resp3Reader::Step Resp3Reader::overLimit(size_t bytes) {
  over_limit_ = true;
  fail("reply of " + std::to_string(bytes) + " bytes or more, larger than the limit (" + std::to_string(max_bytes_) +
       " bytes)");
  return Step::kError;
}

Frame::Node* Resp3Reader::add(FrameType type) {
  try {
    return &frame_.nodes_.emplace_back(Frame::Node{type});
  } catch (const std::bad_alloc&) {
    error_ = "RESP3: out of memory for a reply";
    return nullptr;
  }
}

Resp3Reader::Status Resp3Reader::next() {
  if (!error_.empty()) return Status::kError;
  for (;;) {
    if (!in_frame_) {
      if (pos_ == buf_.size()) return Status::kNeedMore;
      frame_.clear();
      open_.clear();
      frame_bytes_ = payload_bytes_ = 0;
      in_frame_ = true;
    }
    switch (parseOne()) {
      case Step::kNeedMore: return Status::kNeedMore;
      case Step::kError: return Status::kError;
      case Step::kOversized: return Status::kOversized;
      case Step::kOpened: continue;
      case Step::kDone:
        if (finishValue()) {
          in_frame_ = false;
          frame_.link(0);
          return Status::kFrame;
        }
        continue;
    }
  }
}

bool Resp3Reader::finishValue() {
  while (!open_.empty()) {
    if (--open_.back().left > 0) return false;
    open_.pop_back();  // its last element was read: the aggregate is whole too
  }
  return true;
}

// The header line at pos_ (type byte, text, CRLF): *line_len is its text's length. Simple strings
// and errors may be as long as a reply may be; every other line is a number. A line still
// incomplete is searched again from where this search stopped (scanned_).
Resp3Reader::Step Resp3Reader::scanLine(const char* start, size_t avail, size_t* line_len) {
  char type = start[0];
  bool text_line = type == '+' || type == '-';
  size_t max_line = text_line ? max_bytes_ : kMaxLineBytes;
  size_t searchable = std::min(avail - 1, max_line + 1);  // the line's bytes after the type byte, CR included
  const void* cr = scanned_ < searchable ? std::memchr(start + 1 + scanned_, '\r', searchable - scanned_) : nullptr;
  if (cr == nullptr) {
    scanned_ = searchable;  // the next search starts where this one stopped
    if (avail - 1 > max_line) {
      if (text_line) return overLimit(avail - 1);
      return error("a line longer than " + std::to_string(kMaxLineBytes) + " bytes");
    }
    return Step::kNeedMore;
  }
  *line_len = static_cast<size_t>(static_cast<const char*>(cr) - start) - 1;
  if (avail < *line_len + 3) return Step::kNeedMore;
  if (start[*line_len + 2] != '\n') return error("a line not ended by CRLF");
  return Step::kDone;
}

Resp3Reader::Step Resp3Reader::error(std::string why) {
  fail(std::move(why));
  return Step::kError;
}

// A value whose bytes are kept in the frame's text (strings, simple lines, numbers as text).
Resp3Reader::Step Resp3Reader::addText(FrameType t, std::string_view s, size_t* carried) {
  *carried = s.size();
  Frame::Node* n = add(t);
  if (n == nullptr) return Step::kError;
  try {
    n->text_off = frame_.text_.size();
    n->text_len = s.size();
    frame_.text_.append(s);
  } catch (const std::bad_alloc&) {
    return error("out of memory for a reply");
  }
  return Step::kDone;
}

// A value of one line: simple string, error, integer, big number, double, boolean, null.
Resp3Reader::Step Resp3Reader::parseLineValue(char type, std::string_view line, size_t* carried) {
  switch (type) {
    case '+': return addText(FrameType::kSimple, line, carried);
    case '-': return addText(FrameType::kError, line, carried);
    case ':': {
      long long v;
      if (!parseInteger(line, &v) && !(line == "-0")) return error("bad integer");
      Frame::Node* n = add(FrameType::kInteger);
      if (n == nullptr) return Step::kError;
      n->number = v;
      return Step::kDone;
    }
    case '(':
      if (!isBigNumber(line)) return error("bad big number");
      return addText(FrameType::kBigNumber, line, carried);
    case ',':
      if (!isDouble(line)) return error("bad double");
      return addText(FrameType::kDouble, line, carried);
    case '#': {
      if (line != "t" && line != "f") return error("bad boolean");
      Frame::Node* n = add(FrameType::kBoolean);
      if (n == nullptr) return Step::kError;
      n->number = line == "t" ? 1 : 0;
      return Step::kDone;
    }
    case '_':
      if (!line.empty()) return error("bad null");
      return add(FrameType::kNull) != nullptr ? Step::kDone : Step::kError;
    default: return error(std::string("unknown type byte '") + (type >= ' ' && type <= '~' ? type : '?') + "'");
  }
}

// A string ($ bulk, ! blob error, = verbatim) whose header is line; *consumed grows by its bytes
// once they are all here.
Resp3Reader::Step Resp3Reader::parseString(char type, std::string_view line, const char* start, size_t avail,
                                           size_t* consumed, size_t* carried) {
  if (line == "?") return error("streamed strings are not supported");
  long long len;
  if (type == '$' && line == "-1")  // RESP2's null bulk, which a RESP3 peer may still send
    return add(FrameType::kNil) != nullptr ? Step::kDone : Step::kError;
  if (!parseInteger(line, &len) || len < 0) return error("bad string length");
  if (static_cast<unsigned long long>(len) > max_bytes_ && open_.empty()) {
    // A reply of one string over the limit: its bytes are dropped as they come, and the
    // stream goes on with the next reply (the request it answers gets the refusal).
    size_t n = static_cast<size_t>(len);
    oversized_bytes_ = n;
    skip_left_ = n + 2;
    pos_ += *consumed;
    size_t k = std::min(buf_.size() - pos_, skip_left_);
    pos_ += k;
    skip_left_ -= k;
    scanned_ = awaiting_ = 0;
    in_frame_ = false;
    frame_.clear();
    return Step::kOversized;
  }
  if (static_cast<unsigned long long>(len) > max_bytes_ || payload_bytes_ + static_cast<size_t>(len) > max_bytes_)
    return overLimit(payload_bytes_ + static_cast<size_t>(len));
  size_t n = static_cast<size_t>(len);
  if (avail < *consumed + n + 2) {  // the header stays until the string is whole
    awaiting_ = *consumed + n + 2;
    return Step::kNeedMore;
  }
  awaiting_ = 0;
  const char* data = start + *consumed;
  if (data[n] != '\r' || data[n + 1] != '\n') return error("a string not ended by CRLF");
  if (type == '=' && (n < 4 || data[3] != ':')) return error("bad verbatim string");
  *consumed += n + 2;
  FrameType t = type == '$' ? FrameType::kBulk : type == '!' ? FrameType::kBlobError : FrameType::kVerbatim;
  if (t == FrameType::kBulk && open_.empty() && hook_ != nullptr && hook_(ctx_, data, n)) {
    *carried = n;
    if (add(t) == nullptr) return Step::kError;
    frame_.taken_ = true;
    return Step::kDone;
  }
  return addText(t, std::string_view(data, n), carried);
}

// An aggregate's header (* array, % map, ~ set, | attribute, > push): opened, its elements follow.
Resp3Reader::Step Resp3Reader::parseAggregate(char type, std::string_view line) {
  if (line == "?") return error("streamed aggregates are not supported");
  if (type == '*' && line == "-1")  // RESP2's null array
    return add(FrameType::kNilArray) != nullptr ? Step::kDone : Step::kError;
  long long count;
  if (!parseInteger(line, &count) || count < 0) return error("bad aggregate length");
  // Every element takes at least 3 bytes ("_\r\n"): a count beyond what the limit could hold
  // is refused before anything is buffered towards it.
  if (static_cast<unsigned long long>(count) > max_bytes_ / 3) return overLimit(static_cast<size_t>(count) * 3);
  if (open_.size() >= kMaxDepth) return error("aggregates nested deeper than " + std::to_string(kMaxDepth));
  FrameType t = type == '*'   ? FrameType::kArray
                : type == '%' ? FrameType::kMap
                : type == '~' ? FrameType::kSet
                : type == '|' ? FrameType::kAttribute
                              : FrameType::kPush;
  if (t == FrameType::kPush && !open_.empty()) return error("a push inside another value");
  Frame::Node* n = add(t);
  if (n == nullptr) return Step::kError;
  n->number = count;
  size_t children = Frame::children(*n);
  if (children == 0) return Step::kDone;
  try {
    open_.push_back(Open{static_cast<uint32_t>(frame_.nodes_.size() - 1), children});
  } catch (const std::bad_alloc&) {
    return error("out of memory for a reply");
  }
  return Step::kOpened;
}

Resp3Reader::Step Resp3Reader::parseOne() {
  const char* start = buf_.data() + pos_;
  size_t avail = buf_.size() - pos_;
  if (avail < 3) return Step::kNeedMore;
  char type = start[0];
  if (resp2_only_ && type != '+' && type != '-' && type != ':' && type != '$' && type != '*' &&
      !(type == '_' && null3_on_resp2_)) {
    return error(std::string("a RESP3 reply (type byte '") + (type >= ' ' && type <= '~' ? type : '?') +
                 "') on a RESP2 connection: the stream is out of step with its requests");
  }
  size_t line_len = 0;
  Step step = scanLine(start, avail, &line_len);
  if (step != Step::kDone) return step;
  std::string_view line(start + 1, line_len);
  size_t consumed = line_len + 3;
  size_t carried = 0;  // what this value carries, towards the limit
  switch (type) {
    case '$':
    case '!':
    case '=': step = parseString(type, line, start, avail, &consumed, &carried); break;
    case '*':
    case '%':
    case '~':
    case '|':
    case '>': step = parseAggregate(type, line); break;
    default: step = parseLineValue(type, line, &carried); break;
  }
  if (step == Step::kError || step == Step::kNeedMore || step == Step::kOversized) return step;
  pos_ += consumed;
  scanned_ = 0;
  frame_bytes_ += consumed;
  payload_bytes_ += carried;  // a string's or a line's bytes; framing is not counted
  if (payload_bytes_ > max_bytes_) return overLimit(payload_bytes_);
  return step;
}

void Resp3Reader::releaseIdle() noexcept {
  if (in_frame_) return;
  if (pos_ == buf_.size() && buf_.capacity() > kKeepBytes) {
    std::string().swap(buf_);
    pos_ = 0;
  }
  if (frame_.text_.capacity() > kKeepBytes) std::string().swap(frame_.text_);
}

}  // namespace rcp::resp
