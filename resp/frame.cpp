// Frames of backend replies (see frame.h): reading values, walking arrays, and encoding a value
// back to the bytes Redis sent. The reader that builds them is resp3_reader.cpp.
#include "resp/frame.h"

#include <cassert>
#include <charconv>
#include <cstdint>

namespace rcp::resp {

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
  for (size_t k = 0; k < n; ++k) next = link(next);  // depth: at most Resp3Reader::kMaxDepth
  nodes_[i].end = next;
  return next;
}

}  // namespace rcp::resp
