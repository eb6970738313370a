// Unit tests for the RESP3 frame reader: every type fed whole and byte by byte and encoded back to
// the bytes read, nesting, attributes and pushes, the bulk hook, pipelined frames, a table of
// malformed input, and the limits (frame size, aggregate length, nesting depth).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "resp/resp3_reader.h"

using rcp::resp::FrameType;
using rcp::resp::Resp3Reader;
using Status = Resp3Reader::Status;

namespace {
// Every frame of input, re-encoded, fed in chunks of `chunk` bytes; "!error" on an error.
std::vector<std::string> frames(const std::string& input, size_t chunk, size_t max_bytes = 1 << 20,
                                bool resp2_only = false) {
  Resp3Reader r(nullptr, nullptr, max_bytes);
  r.setResp2Only(resp2_only);
  std::vector<std::string> out;
  for (size_t off = 0; off < input.size(); off += chunk) {
    REQUIRE(r.feed(input.data() + off, std::min(chunk, input.size() - off)));
    for (;;) {
      Status st = r.next();
      if (st == Status::kNeedMore) break;
      if (st == Status::kError) {
        out.push_back(std::string(r.overLimit() ? "!limit " : "!") + std::string(r.error()));
        return out;
      }
      if (st == Status::kOversized) {
        out.push_back("<oversized:" + std::to_string(r.oversizedBytes()) + ">");
        continue;
      }
      std::string enc;
      r.frame().root().encode(enc);
      out.push_back(enc);
    }
  }
  return out;
}

const std::vector<std::string> kEveryType = {
    "+OK\r\n", "-ERR bad\r\n", ":42\r\n", ":-7\r\n", "$5\r\nhello\r\n", "$0\r\n\r\n", "$-1\r\n", "_\r\n",
    ",3.14\r\n", ",-inf\r\n", ",nan\r\n", "#t\r\n", "#f\r\n", "(3492890328409238509324850943850943825024385\r\n",
    "!21\r\nSYNTAX invalid syntax\r\n", "=15\r\ntxt:Some string\r\n", "*-1\r\n", "*0\r\n",
    "*3\r\n:1\r\n$1\r\na\r\n_\r\n", "%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n*2\r\n#t\r\n,1.5\r\n",
    "~3\r\n+a\r\n+b\r\n+c\r\n", "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.19\r\n$1\r\nb\r\n,0.05\r\n*2\r\n:2039123\r\n:9543892\r\n",
    ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n", ">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nkey\r\n",
    "%0\r\n", "~0\r\n"};
}  // namespace

TEST_CASE("resp3: every type, whole and byte by byte, encodes back to the bytes read") {
  std::string all;
  for (const std::string& f : kEveryType) all += f;
  for (size_t chunk : {all.size(), size_t{1}, size_t{7}}) {
    CAPTURE(chunk);
    CHECK(frames(all, chunk) == kEveryType);
  }
}

TEST_CASE("resp3: values are readable: maps count keys and values, an attribute's value comes last") {
  Resp3Reader r;
  std::string in = "%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n*2\r\n#t\r\n,1.5\r\n";
  REQUIRE(r.feed(in.data(), in.size()));
  REQUIRE(r.next() == Status::kFrame);
  auto root = r.frame().root();
  CHECK(root.type() == FrameType::kMap);
  REQUIRE(root.size() == 4);
  CHECK(root[0].str() == "first");
  CHECK(root[1].integer() == 1);
  CHECK(root[3].type() == FrameType::kArray);
  CHECK(root[3][0].type() == FrameType::kBoolean);
  CHECK(root[3][0].integer() == 1);
  CHECK(root[3][1].str() == "1.5");
  std::string attr = "|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n";
  REQUIRE(r.feed(attr.data(), attr.size()));
  REQUIRE(r.next() == Status::kFrame);
  auto a = r.frame().root();
  CHECK(a.type() == FrameType::kAttribute);
  REQUIRE(a.size() == 3);
  CHECK(a[2].str() == "v");  // the value the attribute describes
  CHECK(r.next() == Status::kNeedMore);
}

TEST_CASE("resp3: a top-level bulk string goes to the hook, a nested one does not") {
  struct Taken {
    std::vector<std::string> seen;
  } t;
  auto hook = [](void* ctx, const char* d, size_t n) noexcept {
    static_cast<Taken*>(ctx)->seen.emplace_back(d, n);
    return true;
  };
  Resp3Reader r(hook, &t);
  std::string in = "$5\r\nvalue\r\n*1\r\n$6\r\nnested\r\n";
  for (char c : in) REQUIRE(r.feed(&c, 1));
  REQUIRE(r.next() == Status::kFrame);
  CHECK(r.frame().taken());
  REQUIRE(r.next() == Status::kFrame);
  CHECK_FALSE(r.frame().taken());
  CHECK(r.frame().root()[0].str() == "nested");
  CHECK(t.seen == std::vector<std::string>{"value"});
}

TEST_CASE("resp3: malformed input is an error, whole and byte by byte") {
  struct Case {
    std::string in, error_part;
  };
  std::vector<Case> cases = {
      {"?what\r\n", "unknown type byte"},   {":12a\r\n", "bad integer"},
      {":\r\n", "bad integer"},             {"#x\r\n", "bad boolean"},
      {",1.2.3\r\n", "bad double"},         {"(12x\r\n", "bad big number"},
      {"_x\r\n", "bad null"},               {"$3\r\nabcd\r\n", "not ended by CRLF"},
      {"$-2\r\n", "bad string length"},     {"$?\r\n", "streamed strings"},
      {"*?\r\n", "streamed aggregates"},    {"%-1\r\n", "bad aggregate length"},
      {"=3\r\nabc\r\n", "bad verbatim"},    {"*1\r\n>1\r\n:1\r\n", "push inside"},
      {"+OK\rX", "not ended by CRLF"},
  };
  for (const Case& c : cases) {
    for (size_t chunk : {c.in.size(), size_t{1}}) {
      CAPTURE(c.in);
      CAPTURE(chunk);
      auto got = frames(c.in, chunk);
      REQUIRE(got.size() == 1);
      CHECK(got[0].front() == '!');
      CHECK(got[0].find(c.error_part) != std::string::npos);
    }
  }
}

TEST_CASE("resp3: limits: frame size, announced lengths, nesting depth, line length") {
  CHECK(frames("*100000\r\n", 3, 1024)[0].starts_with("!limit "));
  std::string many = "*200\r\n";
  for (int i = 0; i < 200; ++i) many += "$10\r\n0123456789\r\n";
  CHECK(frames(many, many.size(), 1024)[0].starts_with("!limit "));
  CHECK(frames(many, 1, 1024)[0].find("larger than the limit (1024 bytes)") != std::string::npos);
  std::string deep;
  for (size_t i = 0; i <= Resp3Reader::kMaxDepth; ++i) deep += "*1\r\n";
  deep += ":1\r\n";
  CHECK(frames(deep, deep.size())[0].find("nested deeper") != std::string::npos);
  std::string ok;
  for (size_t i = 0; i < Resp3Reader::kMaxDepth; ++i) ok += "*1\r\n";
  ok += ":1\r\n";
  CHECK(frames(ok, 5) == std::vector<std::string>{ok});
  std::string number = ":" + std::string(Resp3Reader::kMaxLineBytes + 10, '1');
  CHECK(frames(number, 4096)[0].find("longer than") != std::string::npos);
}

TEST_CASE("resp3: the limit counts what a reply carries: a string of exactly the limit is read") {
  for (size_t chunk : {size_t{1}, size_t{7}, size_t{100000}}) {
    CAPTURE(chunk);
    std::string value(1024, 'v');
    std::string exact = "$1024\r\n" + value + "\r\n";
    CHECK(frames(exact, chunk, 1024) == std::vector<std::string>{exact});
    std::string two = "*2\r\n$512\r\n" + value.substr(0, 512) + "\r\n$512\r\n" + value.substr(0, 512) + "\r\n";
    CHECK(frames(two, chunk, 1024) == std::vector<std::string>{two});
    std::string over = "*2\r\n$512\r\n" + value.substr(0, 512) + "\r\n$513\r\n" + value.substr(0, 513) + "\r\n";
    CHECK(frames(over, chunk, 1024).back().starts_with("!limit "));
  }
}

TEST_CASE("resp3: a top-level string over the limit is skipped as it arrives, and the next reply follows") {
  std::string big(5000, 'b');
  std::string in = "$5000\r\n" + big + "\r\n+OK\r\n!5000\r\n" + big + "\r\n:7\r\n";
  for (size_t chunk : {size_t{1}, size_t{3}, size_t{4096}, in.size()}) {
    CAPTURE(chunk);
    CHECK(frames(in, chunk, 1024) ==
          std::vector<std::string>{"<oversized:5000>", "+OK\r\n", "<oversized:5000>", ":7\r\n"});
  }
  // Skipped, not buffered: the reader holds no more than a chunk while the string goes by.
  Resp3Reader r(nullptr, nullptr, 1024);
  REQUIRE(r.feed("$100000000\r\n", 13));
  CHECK(r.next() == Status::kOversized);
  CHECK(r.oversizedBytes() == 100000000);
  CHECK(r.midReply());
  CHECK(r.announcedBytes() >= 100000000);
  std::string chunk(1 << 20, 'c');
  for (int i = 0; i < 95; ++i) REQUIRE(r.feed(chunk.data(), chunk.size()));
  CHECK(r.next() == Status::kNeedMore);
  CHECK(r.bufferCapacity() <= (1 << 20));
}

TEST_CASE("resp3: simple strings and errors as long as the reply limit, found in linear time") {
  std::string line = "+" + std::string(70000, 'x') + "\r\n";
  std::string err = "-ERR " + std::string(100000, 'e') + "\r\n";
  for (size_t chunk : {size_t{1}, size_t{1000}, size_t{1 << 20}}) {
    CAPTURE(chunk);
    CHECK(frames(line + err + ":1\r\n", chunk) == std::vector<std::string>{line, err, ":1\r\n"});
  }
  std::string over = "+" + std::string(2000, 'x');
  CHECK(frames(over, 100, 1024).back().starts_with("!limit "));
}

TEST_CASE("resp3: a RESP2 connection refuses every RESP3 type: the stream is out of step") {
  for (std::string in : {">2\r\n$7\r\nmessage\r\n$1\r\nx\r\n", "|1\r\n+a\r\n:1\r\n+OK\r\n", "_\r\n", "#t\r\n",
                         "%1\r\n+a\r\n:1\r\n", "~0\r\n", ",1.5\r\n", "(12\r\n", "=5\r\ntxt:x\r\n", "!3\r\nERR\r\n",
                         "*2\r\n:1\r\n_\r\n"}) {
    for (size_t chunk : {size_t{1}, in.size()}) {
      CAPTURE(in);
      auto got = frames(in, chunk, 1 << 20, true);
      REQUIRE(!got.empty());
      CHECK(got.back().find("on a RESP2 connection") != std::string::npos);
    }
  }
  std::string resp2 = "+OK\r\n-ERR x\r\n:1\r\n$1\r\na\r\n$-1\r\n*-1\r\n*1\r\n$0\r\n\r\n";
  CHECK(frames(resp2, 1, 1 << 20, true).size() == 7);
}

TEST_CASE("resp3: an invalidation link reads RESP3's null on RESP2 (a RESP3 tracking client's FLUSHALL), nothing else") {
  // What Redis writes to a RESP2 subscriber that a RESP3 tracking client redirects to, after FLUSHALL.
  std::string msg = "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n_\r\n";
  for (size_t chunk : {size_t{1}, msg.size()}) {
    Resp3Reader r(nullptr, nullptr, 1 << 20);
    r.setResp2Only(true);
    r.setNull3OnResp2(true);
    REQUIRE(r.feed(msg.data(), chunk));
    for (size_t off = chunk; off < msg.size(); off += chunk) {
      CHECK(r.next() == Status::kNeedMore);
      REQUIRE(r.feed(msg.data() + off, std::min(chunk, msg.size() - off)));
    }
    REQUIRE(r.next() == Status::kFrame);
    CHECK(r.frame().root()[2].type() == FrameType::kNull);
    std::string other = "#t\r\n";
    REQUIRE(r.feed(other.data(), other.size()));
    CHECK(r.next() == Status::kError);  // any other RESP3 type: still out of step
  }
}

TEST_CASE("resp3: the announced size of a reply in progress") {
  Resp3Reader r(nullptr, nullptr, 1 << 20);
  CHECK_FALSE(r.midReply());
  std::string part = "*2\r\n$3\r\nabc\r\n$1000\r\nxy";
  REQUIRE(r.feed(part.data(), part.size()));
  CHECK(r.next() == Status::kNeedMore);
  CHECK(r.midReply());
  CHECK(r.announcedBytes() == 4 + 9 + 7 + 1000 + 2);
}

TEST_CASE("resp3: a large reply in pieces keeps the buffer bounded and gives it back") {
  Resp3Reader r;
  std::string value(4 << 20, 'v');
  std::string in = "*2\r\n$" + std::to_string(value.size()) + "\r\n" + value + "\r\n:1\r\n";
  for (size_t off = 0; off < in.size(); off += 65536) {
    REQUIRE(r.feed(in.data() + off, std::min<size_t>(65536, in.size() - off)));
    if (off + 65536 < in.size()) CHECK(r.next() == Status::kNeedMore);
  }
  REQUIRE(r.next() == Status::kFrame);
  CHECK(r.frame().root()[0].str().size() == value.size());
  r.releaseIdle();
  CHECK(r.bufferCapacity() <= (64 << 10));
}
