// Unit tests for the backend frame reader (resp/frame.h): every reply type, nested arrays with
// their elements readable, encoding back to the bytes read, the bulk hook, large values, and
// malformed input, each fed whole and byte by byte.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "resp/resp3_reader.h"

using rcp::resp::Frame;
using rcp::resp::Resp3Reader;
using rcp::resp::FrameType;
using rcp::resp::FrameView;

namespace {
// Feeds in in chunks of step bytes (0: whole); returns each frame's encoding; sets *failed on error.
std::vector<std::string> readFrames(const std::string& in, size_t step, bool* failed = nullptr,
                                    Resp3Reader::BulkHook hook = nullptr, void* ctx = nullptr) {
  Resp3Reader r(hook, ctx);
  std::vector<std::string> out;
  size_t pos = 0;
  do {
    size_t n = step == 0 ? in.size() : std::min(step, in.size() - pos);
    REQUIRE(r.feed(in.data() + pos, n));
    pos += n;
    for (;;) {
      auto st = r.next();
      if (st == Resp3Reader::Status::kNeedMore) break;
      if (st == Resp3Reader::Status::kError) {
        if (failed) *failed = true;
        return out;
      }
      std::string enc;
      if (r.frame().taken()) enc = "<taken>";
      else r.frame().root().encode(enc);
      out.push_back(enc);
    }
  } while (pos < in.size());
  return out;
}
}  // namespace

TEST_CASE("frames of every RESP2 type, whole and byte by byte, encode back to their bytes") {
  std::vector<std::string> replies = {
      "$5\r\nhello\r\n", "$-1\r\n", "-WRONGTYPE Operation against a key\r\n", "+OK\r\n", ":7\r\n", ":-12\r\n",
      "$0\r\n\r\n", "*-1\r\n", "*0\r\n", "*2\r\n$1\r\na\r\n:1\r\n",
      "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*2\r\n$2\r\nk1\r\n$2\r\nk2\r\n",
      "*2\r\n*2\r\n*1\r\n$-1\r\n+x\r\n*0\r\n", "$4\r\na\r\nb\r\n"};
  std::string in;
  for (const auto& r : replies) in += r;
  for (size_t step : {size_t{0}, size_t{1}, size_t{3}}) {
    CAPTURE(step);
    CHECK(readFrames(in, step) == replies);
  }
}

TEST_CASE("array elements are readable, nested arrays included") {
  Resp3Reader r;
  std::string in = "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*3\r\n$2\r\nk1\r\n$-1\r\n*1\r\n:5\r\n";
  for (char c : in) REQUIRE(r.feed(&c, 1));
  REQUIRE(r.next() == Resp3Reader::Status::kFrame);
  FrameView m = r.frame().root();
  REQUIRE(m.type() == FrameType::kArray);
  REQUIRE(m.size() == 3);
  CHECK(m[0].str() == "message");
  CHECK(m[1].str() == "__redis__:invalidate");
  FrameView keys = m[2];
  REQUIRE(keys.size() == 3);
  CHECK(keys[0].str() == "k1");
  CHECK(keys[1].isNil());
  REQUIRE(keys[2].type() == FrameType::kArray);
  CHECK(keys[2][0].integer() == 5);
  CHECK(r.next() == Resp3Reader::Status::kNeedMore);
  // A null array (an invalidation of everything) is not an empty one.
  REQUIRE(r.feed("*-1\r\n", 5));
  REQUIRE(r.next() == Resp3Reader::Status::kFrame);
  CHECK(r.frame().root().type() == FrameType::kNilArray);
  CHECK(r.frame().root().size() == 0);
}

TEST_CASE("the bulk hook takes a top-level bulk string, and only that") {
  struct Taker {
    std::vector<std::string> taken;
    static bool take(void* ctx, const char* d, size_t n) noexcept {
      static_cast<Taker*>(ctx)->taken.emplace_back(d, n);
      return true;
    }
  } t;
  std::string in = "$3\r\nabc\r\n*1\r\n$1\r\nx\r\n$-1\r\n+OK\r\n$0\r\n\r\n";
  for (size_t step : {size_t{0}, size_t{1}}) {
    t.taken.clear();
    auto frames = readFrames(in, step, nullptr, &Taker::take, &t);
    CHECK(frames == std::vector<std::string>{"<taken>", "*1\r\n$1\r\nx\r\n", "$-1\r\n", "+OK\r\n", "<taken>"});
    CHECK(t.taken == std::vector<std::string>{"abc", ""});
  }
}

TEST_CASE("a large value arrives intact in pieces") {
  std::string value(8 << 20, 'v');
  for (size_t i = 0; i < value.size(); i += 4096) value[i] = static_cast<char>('a' + (i / 4096) % 26);
  std::string in = "$" + std::to_string(value.size()) + "\r\n" + value + "\r\n";
  auto frames = readFrames(in, 65536);
  REQUIRE(frames.size() == 1);
  CHECK(frames[0] == in);
}

TEST_CASE("malformed replies fail the stream, whole and byte by byte") {
  const char* bad[] = {"?what\r\n", ":12x\r\n", "$abc\r\n", "*x\r\n", "$-2\r\n"};
  for (const char* b : bad) {
    for (size_t step : {size_t{0}, size_t{1}}) {
      CAPTURE(b);
      CAPTURE(step);
      bool failed = false;
      readFrames(b, step, &failed);
      CHECK(failed);
    }
  }
}

TEST_CASE("after a large reply the reader gives its buffer back") {
  Resp3Reader r;
  std::string value(8 << 20, 'v');
  std::string in = "$" + std::to_string(value.size()) + "\r\n" + value + "\r\n";
  for (size_t off = 0; off < in.size(); off += 65536) REQUIRE(r.feed(in.data() + off, std::min<size_t>(65536, in.size() - off)));
  REQUIRE(r.next() == Resp3Reader::Status::kFrame);
  CHECK(r.frame().root().str().size() == value.size());
  REQUIRE(r.next() == Resp3Reader::Status::kNeedMore);
  CHECK(r.bufferCapacity() >= value.size());  // hiredis keeps it...
  r.releaseIdle();
  CHECK(r.bufferCapacity() <= 64 << 10);      // ...until it is given back
}

TEST_CASE("a reply announced or grown past the limit fails the stream, a single string is skipped") {
  Resp3Reader announced(nullptr, nullptr, 1024);
  REQUIRE(announced.feed("$5000\r\n", 7));
  CHECK(announced.next() == Resp3Reader::Status::kOversized);
  Resp3Reader nested(nullptr, nullptr, 1024);
  REQUIRE(nested.feed("*1\r\n$5000\r\n", 11));
  CHECK(nested.next() == Resp3Reader::Status::kError);
  CHECK(nested.overLimit());
  Resp3Reader grown(nullptr, nullptr, 1024);
  std::string many = "*1000\r\n";
  for (int i = 0; i < 300; ++i) many += ":1\r\n";
  REQUIRE(grown.feed(many.data(), many.size()));
  CHECK(grown.next() == Resp3Reader::Status::kError);
  Resp3Reader fine(nullptr, nullptr, 1024);
  REQUIRE(fine.feed("$500\r\n", 6));
  CHECK(fine.next() == Resp3Reader::Status::kNeedMore);
}
