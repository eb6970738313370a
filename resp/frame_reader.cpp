// Frames of backend replies on hiredis's reader (see frame.h). The object callbacks append one
// node per value in the order hiredis reads them (an array before its elements), so a frame is a
// flat pre-order list; each node's subtree end is linked once the reply is whole.
#include <hiredis/read.h>  // the object-callback API; internals go through hiredis_reader.h

#include <cassert>
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <new>

#include "resp/frame.h"
#include "resp/hiredis_reader.h"

namespace rcp::resp {

namespace {
int marker;
void* kObject = &marker;  // a non-null object for hiredis: the values live in the Frame
}  // namespace

FrameType FrameView::type() const noexcept { return frame_->nodes_[index_].type; }

std::string_view FrameView::str() const noexcept {
  const Frame::Node& n = frame_->nodes_[index_];
  return {frame_->text_.data() + n.text_off, n.text_len};
}

long long FrameView::integer() const noexcept { return frame_->nodes_[index_].number; }

size_t FrameView::size() const noexcept { return Frame::children(frame_->nodes_[index_]); }

size_t Frame::children(const Node& n) noexcept {
  switch (n.type) {
    case FrameType::kArray:
    case FrameType::kSet:
    case FrameType::kPush: return static_cast<size_t>(n.number);
    case FrameType::kMap: return static_cast<size_t>(n.number) * 2;
    case FrameType::kAttribute: return static_cast<size_t>(n.number) * 2 + 1;
    default: return 0;
  }
}

FrameView FrameView::operator[](size_t i) const noexcept {
  assert(i < size());
  uint32_t at = index_ + 1;
  for (; i > 0; --i) at = frame_->nodes_[at].end;
  return FrameView(frame_, at);
}

FrameView FrameView::next() const noexcept { return FrameView(frame_, frame_->nodes_[index_].end); }

void FrameView::encode(std::string& out) const {
  auto line = [&out](char type, std::string_view s) {
    out.push_back(type);
    out.append(s);
    out.append("\r\n");
  };
  auto number = [&out](char type, long long v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.push_back(type);
    out.append(buf, end);
    out.append("\r\n");
  };
  switch (type()) {
    case FrameType::kBulk:
      assert(!(index_ == 0 && frame_->taken_));
      number('$', static_cast<long long>(str().size()));
      out.append(str());
      out.append("\r\n");
      return;
    case FrameType::kNil: out.append("$-1\r\n"); return;
    case FrameType::kSimple: line('+', str()); return;
    case FrameType::kError: line('-', str()); return;
    case FrameType::kInteger: number(':', integer()); return;
    case FrameType::kNilArray: out.append("*-1\r\n"); return;
    case FrameType::kNull: out.append("_\r\n"); return;
    case FrameType::kDouble: line(',', str()); return;
    case FrameType::kBoolean: out.append(integer() != 0 ? "#t\r\n" : "#f\r\n"); return;
    case FrameType::kBigNumber: line('(', str()); return;
    case FrameType::kBlobError:
    case FrameType::kVerbatim:
      number(type() == FrameType::kBlobError ? '!' : '=', static_cast<long long>(str().size()));
      out.append(str());
      out.append("\r\n");
      return;
    case FrameType::kArray:
    case FrameType::kMap:
    case FrameType::kSet:
    case FrameType::kAttribute:
    case FrameType::kPush: {
      static constexpr char kPrefix[] = {'*', '%', '~', '|', '>'};
      size_t which = type() == FrameType::kArray ? 0 : type() == FrameType::kMap ? 1 : type() == FrameType::kSet ? 2
                     : type() == FrameType::kAttribute ? 3 : 4;
      number(kPrefix[which], frame_->nodes_[index_].number);
      uint32_t at = index_ + 1;
      for (size_t i = 0; i < size(); ++i) {
        FrameView(frame_, at).encode(out);
        at = frame_->nodes_[at].end;
      }
      return;
    }
  }
}

void Frame::clear() {
  nodes_.clear();
  taken_ = false;
  if (text_.capacity() > kKeptTextBytes) std::string().swap(text_);
  text_.clear();
}

uint32_t Frame::link(uint32_t i) {
  uint32_t next = i + 1;
  size_t n = children(nodes_[i]);
  for (size_t k = 0; k < n; ++k) next = link(next);  // depth: hiredis's 7, Resp3Reader's kMaxDepth
  nodes_[i].end = next;
  return next;
}

struct FrameCallbacks {
  static FrameReader* self(const redisReadTask* t) { return static_cast<FrameReader*>(t->privdata); }
  // The top-level value starts a new frame; hiredis reads an array before its elements.
  static Frame::Node* add(const redisReadTask* t, FrameType type) {
    FrameReader* r = self(t);
    if (t->parent == nullptr) {
      r->frame_.clear();
      r->in_frame_ = true;
    }
    try {
      return &r->frame_.nodes_.emplace_back(Frame::Node{type});
    } catch (const std::bad_alloc&) {
      r->oom_ = "out of memory for a reply";
      return nullptr;
    }
  }
  static void* createString(const redisReadTask* t, char* s, size_t n) {
    FrameType type = t->type == REDIS_REPLY_STRING  ? FrameType::kBulk
                     : t->type == REDIS_REPLY_ERROR ? FrameType::kError
                                                    : FrameType::kSimple;
    FrameReader* r = self(t);
    Frame::Node* node = add(t, type);
    if (node == nullptr) return nullptr;
    if (t->parent == nullptr && type == FrameType::kBulk && r->hook_ != nullptr && r->hook_(r->ctx_, s, n)) {
      r->frame_.taken_ = true;
      return kObject;
    }
    try {
      node->text_off = r->frame_.text_.size();
      node->text_len = n;
      r->frame_.text_.append(s, n);
    } catch (const std::bad_alloc&) {
      r->oom_ = "out of memory for a reply";
      return nullptr;
    }
    return kObject;
  }
  static void* createArray(const redisReadTask* t, int elements) {
    Frame::Node* node = add(t, FrameType::kArray);
    if (node == nullptr) return nullptr;
    node->number = elements;
    return kObject;
  }
  static void* createInteger(const redisReadTask* t, long long v) {
    Frame::Node* node = add(t, FrameType::kInteger);
    if (node == nullptr) return nullptr;
    node->number = v;
    return kObject;
  }
  static void* createNil(const redisReadTask* t) {
    Frame::Node* node = add(t, t->type == REDIS_REPLY_ARRAY ? FrameType::kNilArray : FrameType::kNil);
    return node == nullptr ? nullptr : kObject;
  }
  static void freeObject(void*) {}
};

namespace {
redisReplyObjectFunctions kFunctions = {
    FrameCallbacks::createString, FrameCallbacks::createArray, FrameCallbacks::createInteger,
    FrameCallbacks::createNil, FrameCallbacks::freeObject};
}  // namespace

FrameReader::FrameReader(BulkHook hook, void* ctx, size_t max_bytes)
    : reader_(hiredis::create(&kFunctions, this)), hook_(hook), ctx_(ctx), max_bytes_(max_bytes) {}

FrameReader::~FrameReader() { hiredis::destroy(reader_); }

bool FrameReader::feed(const char* data, size_t len) { return hiredis::feed(reader_, data, len); }

FrameReader::Status FrameReader::next() {
  void* reply = nullptr;
  if (!hiredis::getReply(reader_, &reply)) return Status::kError;
  if (reply == nullptr) {
    // Refuse to buffer towards a reply larger than the cap: announced by a bulk length, or grown
    // (the elements read so far live in the frame).
    size_t pending = hiredis::unread(reader_).size();
    if (in_frame_) pending += frame_.text_.size() + frame_.nodes_.size() * sizeof(Frame::Node);
    if (hiredis::atBulkLength(reader_)) {
      std::string_view rest = hiredis::unread(reader_);
      unsigned long long n = 0;
      for (size_t i = 0; i < rest.size() && rest[i] >= '0' && rest[i] <= '9' && n <= max_bytes_; ++i)
        n = n * 10 + static_cast<unsigned>(rest[i] - '0');
      pending = std::max<size_t>(pending, static_cast<size_t>(std::min<unsigned long long>(n, SIZE_MAX)));
    }
    if (pending > max_bytes_) {
      oom_ = "reply larger than the limit (" + std::to_string(max_bytes_) + " bytes)";
      return Status::kError;
    }
    return Status::kNeedMore;
  }
  in_frame_ = false;
  frame_.link(0);
  return Status::kFrame;
}

void FrameReader::releaseIdle() noexcept {
  constexpr size_t kKeepBytes = 64 << 10;
  if (!hiredis::betweenReplies(reader_)) return;
  hiredis::releaseIfEmpty(reader_, kKeepBytes);
  if (frame_.text_.capacity() > kKeepBytes) std::string().swap(frame_.text_);
}

size_t FrameReader::bufferCapacity() const noexcept { return hiredis::bufferCapacity(reader_); }

std::string_view FrameReader::error() const noexcept {
  if (!oom_.empty()) return oom_;
  return hiredis::error(reader_);
}

}  // namespace rcp::resp
