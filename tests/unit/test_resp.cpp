// Unit tests for resp/: request parsing (fed whole and byte by byte), inline commands, limits,
// malformed input, reply encoding, the backend reply reader and the command table.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "resp/commands.h"
#include "resp/key_slot.h"
#include "resp/resp3_reader.h"
#include "resp/reply.h"
#include "resp/request_parser.h"

using rcp::resp::RequestParser;
using Args = std::vector<std::string>;

namespace {
struct Parsed {
  std::vector<Args> requests;
  std::string error;
};

// Feeds input in chunks of `step` bytes (0 = all at once) and collects every request.
Parsed parse(const std::string& in, size_t step, rcp::resp::RequestLimits limits = {}) {
  RequestParser p(limits);
  Parsed out;
  size_t pos = 0;
  do {
    size_t n = step == 0 ? in.size() : std::min(step, in.size() - pos);
    p.feed(in.data() + pos, n);
    pos += n;
    for (;;) {
      auto st = p.next();
      if (st == RequestParser::Status::kNeedMore) break;
      if (st == RequestParser::Status::kError) {
        out.error = p.error();
        return out;
      }
      Args a;
      for (auto v : p.args()) a.emplace_back(v);
      out.requests.push_back(a);
    }
  } while (pos < in.size());
  return out;
}

void checkBothWays(const std::string& in, const std::vector<Args>& expected) {
  for (size_t step : {size_t{0}, size_t{1}, size_t{3}}) {
    CAPTURE(step);
    Parsed p = parse(in, step);
    CHECK(p.error == "");
    CHECK(p.requests == expected);
  }
}
}  // namespace

TEST_CASE("multibulk requests, whole and byte by byte") {
  checkBothWays("*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n", {{"GET", "foo"}});
  checkBothWays("*1\r\n$4\r\nPING\r\n", {{"PING"}});
  // binary-safe arguments: CR, LF and NUL inside a bulk string
  checkBothWays(std::string("*2\r\n$3\r\nGET\r\n$5\r\na\r\n\0b\r\n", 25), {{"GET", std::string("a\r\n\0b", 5)}});
  checkBothWays("*2\r\n$3\r\nGET\r\n$0\r\n\r\n", {{"GET", ""}});
}

TEST_CASE("pipelined requests come out in order") {
  std::string in;
  std::vector<Args> expected;
  for (int i = 0; i < 50; ++i) {
    std::string k = "key" + std::to_string(i);
    in += "*2\r\n$3\r\nGET\r\n$" + std::to_string(k.size()) + "\r\n" + k + "\r\n";
    expected.push_back({"GET", k});
  }
  in += "PING\r\n";
  expected.push_back({"PING"});
  checkBothWays(in, expected);
}

TEST_CASE("arguments stay intact when the argument arena grows mid-request") {
  // The first arguments are copied into a small arena; the big ones that follow make it grow,
  // which must carry the earlier arguments along. A small request after a big one reuses it.
  std::string big1(5000, 'a'), big2(40000, 'b');
  big1[0] = 'A';
  big2[39999] = 'Z';
  std::string in = "*4\r\n$4\r\nECHO\r\n$2\r\nk1\r\n$5000\r\n" + big1 + "\r\n$40000\r\n" + big2 + "\r\n";
  in += "*2\r\n$3\r\nGET\r\n$2\r\nk2\r\n";
  checkBothWays(in, {{"ECHO", "k1", big1, big2}, {"GET", "k2"}});
  std::string many = "*300\r\n";
  Args expected;
  for (int i = 0; i < 300; ++i) {
    std::string a = std::string(static_cast<size_t>(i % 37), 'x') + std::to_string(i);
    many += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    expected.push_back(a);
  }
  checkBothWays(many, {expected});
}

TEST_CASE("a large request does not keep its argument memory after the next request") {
  RequestParser p;
  std::string big(100000, 'v');
  std::string in = "*3\r\n$4\r\nECHO\r\n$1\r\nk\r\n$100000\r\n" + big + "\r\n";
  // Arriving whole, it is parsed where it lies: no argument is copied.
  p.feed(in.data(), in.size());
  REQUIRE(p.next() == RequestParser::Status::kRequest);
  CHECK(p.args()[2] == big);
  CHECK(p.argumentBytesKept() <= 1024);
  // Arriving in pieces, its arguments are gathered in the parser's arena.
  p.feed(in.data(), 50000);
  REQUIRE(p.next() == RequestParser::Status::kNeedMore);
  p.feed(in.data() + 50000, in.size() - 50000);
  REQUIRE(p.next() == RequestParser::Status::kRequest);
  CHECK(p.args()[2] == big);
  CHECK(p.argumentBytesKept() >= big.size());
  std::string small = "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
  p.feed(small.data(), small.size());
  REQUIRE(p.next() == RequestParser::Status::kRequest);
  CHECK(p.args()[1] == "k");
  CHECK(p.argumentBytesKept() <= 1024);
  // the same for inline commands
  std::string line = "ECHO " + std::string(40000, 'w') + "\r\nPING\r\n";
  p.feed(line.data(), line.size());
  REQUIRE(p.next() == RequestParser::Status::kRequest);
  CHECK(p.argumentBytesKept() >= 40000);
  REQUIRE(p.next() == RequestParser::Status::kRequest);
  CHECK(p.args()[0] == "PING");
  CHECK(p.argumentBytesKept() <= 1024);
}

TEST_CASE("peekGet recognises whole GET requests only, and consumes nothing") {
  using rcp::resp::peekGet;
  std::string_view key;
  std::string two = "*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n*2\r\n$3\r\nget\r\n$12\r\nkey:00000042\r\n";
  size_t first = peekGet(two, &key);
  CHECK(first == 22);
  CHECK(key == "foo");
  CHECK(peekGet(std::string_view(two).substr(first), &key) == two.size() - first);
  CHECK(key == "key:00000042");
  CHECK(peekGet("*2\r\n$3\r\nGeT\r\n$0\r\n\r\n", &key) == 19);
  CHECK(key.empty());
  // every prefix of a request is "not yet": 0, never a wrong length
  for (size_t n = 0; n < first; ++n) CHECK(peekGet(std::string_view(two).substr(0, n), &key) == 0);
  for (const char* other : {"*2\r\n$3\r\nSET\r\n$3\r\nfoo\r\n", "*3\r\n$3\r\nGET\r\n$3\r\nfoo\r\n$1\r\nx\r\n",
                            "*2\r\n$3\r\nGET\r\n$3\r\nfoox\r\n", "*2\r\n$3\r\nGET\r\n$x\r\nfoo\r\n",
                            "*2\r\n$3\r\nGET\r\n$-1\r\n", "GET foo\r\n", "*2\r\n$4\r\nPING\r\n$3\r\nfoo\r\n",
                            "*2\r\n$3\r\nGET\r\n$99999999999\r\nfoo\r\n"})
    CHECK(peekGet(other, &key) == 0);
  // the parser shows what it has not parsed yet
  RequestParser p;
  p.feed(two.data(), two.size());
  REQUIRE(p.next() == RequestParser::Status::kRequest);
  CHECK(p.unparsed() == std::string_view(two).substr(first));
  p.feed("*2\r\n$3", 7);
  REQUIRE(p.next() == RequestParser::Status::kRequest);
  CHECK(p.next() == RequestParser::Status::kNeedMore);
  CHECK(p.unparsed().empty());  // half a request: nothing to peek at
}

TEST_CASE("inline commands split like redis-cli") {
  checkBothWays("PING\r\n", {{"PING"}});
  checkBothWays("get foo\n", {{"get", "foo"}});
  checkBothWays("  GET   foo  \r\n", {{"GET", "foo"}});
  checkBothWays("GET \"a b\\x41\\n\"\r\n", {{"GET", "a bA\n"}});
  checkBothWays("ECHO 'it\\'s'\r\n", {{"ECHO", "it's"}});
  checkBothWays("\r\n\r\nPING\r\n", {{"PING"}});  // blank lines are skipped
  checkBothWays("PING\r\n*1\r\n$4\r\nPING\r\nPING\r\n", {{"PING"}, {"PING"}, {"PING"}});
}

TEST_CASE("empty and negative multibulk counts are skipped like Redis does") {
  checkBothWays("*0\r\n*1\r\n$4\r\nPING\r\n", {{"PING"}});
  checkBothWays("*-1\r\n*1\r\n$4\r\nPING\r\n", {{"PING"}});
}

TEST_CASE("malformed requests give a protocol error") {
  struct Case {
    std::string in;
    std::string error_part;
  };
  std::vector<Case> cases = {
      {"*1\r\n:1\r\n", "expected '$'"},
      {"*1\r\n+OK\r\n", "expected '$'"},
      {"*1\r\n*1\r\n$1\r\na\r\n", "expected '$', got '*'"},
      {"*2\r\n$-1\r\n$1\r\na\r\n", "invalid bulk length"},
      {"*-5\r\n", "Multi-bulk length out of range"},
      {"*99999999999\r\n", "Multi-bulk length out of range"},
      {"*2000000\r\n", "invalid multibulk length"},
      {"*1\r\n$abc\r\n", "Bad bulk string length"},
      {"*1\r\n$999999999999\r\n", "invalid bulk length"},
      {"*1\r\n%1\r\n", "Protocol error"},
      {"GET \"unterminated\r\n", "unbalanced quotes"},
      {"*x\r\n", "Protocol error"},
  };
  for (const auto& c : cases) {
    for (size_t step : {size_t{0}, size_t{1}}) {
      CAPTURE(c.in);
      CAPTURE(step);
      Parsed p = parse(c.in, step);
      CHECK(p.error.find(c.error_part) != std::string::npos);
      CHECK(p.error.rfind("Protocol error", 0) == 0);
    }
  }
}

TEST_CASE("requests over the size limits are refused before they are buffered whole") {
  rcp::resp::RequestLimits l;
  l.max_request_bytes = 1024;
  l.max_inline_bytes = 100;
  CHECK(parse("*2\r\n$3\r\nGET\r\n$5000\r\n", 0, l).error == "Protocol error: invalid bulk length");
  // whole, a request just over the limit is parsed in one go and still refused
  CHECK(parse("*2\r\n$3\r\nGET\r\n$1010\r\n" + std::string(1010, 'a') + "\r\n", 0, l).error ==
        "Protocol error: request too large");
  CHECK(parse("*2\r\n$3\r\nGET\r\n$900\r\n" + std::string(900, 'a') + "\r\n", 0, l).error == "");
  // many small arguments that add up past the limit
  std::string many = "*1000\r\n";
  for (int i = 0; i < 300; ++i) many += "$3\r\nabc\r\n";
  CHECK(parse(many, 0, l).error == "Protocol error: request too large");
  CHECK(parse(std::string(200, 'a'), 0, l).error == "Protocol error: too big inline request");
  CHECK(parse(std::string(200, 'a'), 1, l).error == "Protocol error: too big inline request");
}

TEST_CASE("an inline-only client does not grow the parser's buffer") {
  RequestParser p;
  std::string line = "PING\r\n";
  for (int i = 0; i < 10000; ++i) {
    p.feed(line.data(), line.size());
    REQUIRE(p.next() == RequestParser::Status::kRequest);
    CHECK(p.next() == RequestParser::Status::kNeedMore);
  }
  CHECK(p.buffered() == 0);
}

TEST_CASE("reply encoding") {
  std::string o;
  rcp::resp::appendSimple(o, "OK");
  rcp::resp::appendError(o, "ERR bad");
  rcp::resp::appendInteger(o, -42);
  rcp::resp::appendBulk(o, std::string("a\0b", 3));
  rcp::resp::appendNil(o);
  rcp::resp::appendArrayHeader(o, 2);
  CHECK(o == std::string("+OK\r\n-ERR bad\r\n:-42\r\n$3\r\na\0b\r\n$-1\r\n*2\r\n", 39));
  std::string cmd;
  rcp::resp::appendCommand(cmd, {"GET", "k"});
  CHECK(cmd == "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  // appended after what is there; lengths of one to several digits; empty arguments
  std::string key(12345, 'q');
  rcp::resp::appendCommand(cmd, {"AUTH", "", key});
  CHECK(cmd == "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*3\r\n$4\r\nAUTH\r\n$0\r\n\r\n$12345\r\n" + key + "\r\n");
  std::string many;
  rcp::resp::appendCommand(many, {"a", "bb", "c", "d", "e", "f", "g", "h", "i", "j"});
  CHECK(many.starts_with("*10\r\n$1\r\na\r\n$2\r\nbb\r\n"));
  CHECK(many.ends_with("$1\r\nj\r\n"));
  CHECK(many.size() == 5 + 7 * 9 + 8);
  CHECK(rcp::resp::oneLine("a\r\nb") == "a  b");
}

TEST_CASE("reply encoding: RESP3 shapes, and their RESP2 forms") {
  for (int proto : {2, 3}) {
    std::string o;
    rcp::resp::appendNull(o, proto);
    rcp::resp::appendMapHeader(o, 3, proto);
    rcp::resp::appendSetHeader(o, 2, proto);
    rcp::resp::appendVerbatim(o, "# Server\r\nx:1", proto);
    if (proto == 3) {
      CHECK(o == "_\r\n%3\r\n~2\r\n=17\r\ntxt:# Server\r\nx:1\r\n");
    } else {
      CHECK(o == "$-1\r\n*6\r\n*2\r\n$13\r\n# Server\r\nx:1\r\n");
    }
    // what the proxy writes, its own reader reads back as the same values
    rcp::resp::Resp3Reader reader;
    REQUIRE(reader.feed(o.data(), o.size()));
    REQUIRE(reader.next() == rcp::resp::Resp3Reader::Status::kFrame);
    CHECK(reader.frame().root().type() == (proto == 3 ? rcp::resp::FrameType::kNull : rcp::resp::FrameType::kNil));
  }
}

TEST_CASE("command table: the built-in copy is Redis's, looked up in any case") {
  rcp::resp::CommandTable t;
  CHECK_FALSE(t.learned());
  CHECK(t.size() > 200);
  const auto* get = t.find("gEt");
  REQUIRE(get != nullptr);
  CHECK(get->cmd == rcp::resp::Cmd::kGet);
  CHECK(get->has(rcp::resp::kFlagReadonly));
  CHECK(rcp::resp::arityOk(*get, 2));
  CHECK_FALSE(rcp::resp::arityOk(*get, 3));
  const auto* set = t.find("SET");
  REQUIRE(set != nullptr);
  CHECK(set->has(rcp::resp::kFlagWrite));
  CHECK(set->cmd == rcp::resp::Cmd::kOther);
  CHECK(t.find("blpop")->has(rcp::resp::kFlagBlocking));
  CHECK(t.find("subscribe")->cmd == rcp::resp::Cmd::kSubscribe);
  CHECK(t.find("PUNSUBSCRIBE")->cmd == rcp::resp::Cmd::kUnsubscribe);
  CHECK(t.find("nosuchcommand") == nullptr);
  CHECK(t.find("") == nullptr);
  CHECK(t.find(std::string(100, 'x')) == nullptr);
}

TEST_CASE("command table: learned from a COMMAND reply, new and module commands included") {
  using namespace rcp::resp;
  // Two entries as Redis sends them (with the extra fields of Redis 7 after the sixth), one malformed.
  std::string reply =
      "*3\r\n"
      "*10\r\n$6\r\nmy.set\r\n:-3\r\n*2\r\n+write\r\n+denyoom\r\n:1\r\n:1\r\n:1\r\n*0\r\n*0\r\n*0\r\n*0\r\n"
      "*6\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n"
      "*2\r\n$3\r\nbad\r\n:1\r\n";
  Resp3Reader reader;
  REQUIRE(reader.feed(reply.data(), reply.size()));
  REQUIRE(reader.next() == Resp3Reader::Status::kFrame);
  CommandTable t;
  CHECK(t.learn(reader.frame().root()) == 2);
  CHECK(t.learned());
  CHECK(t.size() == 2);
  const CommandSpec* m = t.find("MY.SET");
  REQUIRE(m != nullptr);
  CHECK(m->has(kFlagWrite));
  CHECK(m->arity == -3);
  CHECK(t.find("set") == nullptr);  // the backend's table replaces the built-in one
  // A reply with no command in it leaves the table alone.
  std::string empty = "*1\r\n:1\r\n";
  Resp3Reader r2;
  REQUIRE(r2.feed(empty.data(), empty.size()));
  REQUIRE(r2.next() == Resp3Reader::Status::kFrame);
  CHECK(t.learn(r2.frame().root()) == 0);
  CHECK(t.size() == 2);
}

TEST_CASE("written keys: key positions, and the commands whose keys move") {
  using namespace rcp::resp;
  CommandTable t;
  auto keys = [&](std::vector<std::string_view> args) {
    std::vector<std::string_view> out;
    const CommandSpec* spec = t.find(args[0]);
    REQUIRE(spec != nullptr);
    bool known = writtenKeys(*spec, args, out);
    std::string s = known ? "" : "?";
    for (auto k : out) s += std::string(k) + ",";
    return s;
  };
  CHECK(keys({"SET", "k", "v"}) == "k,");
  CHECK(keys({"MSET", "a", "1", "b", "2"}) == "a,b,");
  CHECK(keys({"DEL", "a", "b", "c"}) == "a,b,c,");
  CHECK(keys({"RENAME", "a", "b"}) == "a,b,");
  CHECK(keys({"EVAL", "return 1", "2", "k1", "k2", "arg"}) == "k1,k2,");
  CHECK(keys({"EVALSHA", "abc", "0"}) == "");
  CHECK(keys({"EVAL", "s", "9", "k"}) == "?");  // numkeys past the arguments: unknown
  CHECK(keys({"FCALL", "f", "1", "k"}) == "k,");
  CHECK(keys({"SORT", "src", "BY", "w_*", "STORE", "dst"}) == "src,dst,");
  CHECK(keys({"LMPOP", "2", "l1", "l2", "LEFT"}) == "l1,l2,");
  CHECK(keys({"BLMPOP", "0", "1", "l1", "LEFT"}) == "l1,");
  CHECK(keys({"ZUNIONSTORE", "dst", "2", "a", "b"}) == "dst,");
  CHECK(keys({"MIGRATE", "h", "1", "", "0", "5000", "KEYS", "a", "b"}) == ",a,b,");  // the empty key slot too
  CHECK(keys({"GEORADIUS", "g", "0", "0", "1", "km", "STORE", "dst"}) == "g,dst,");
  CHECK(keys({"XREADGROUP", "GROUP", "g", "c", "STREAMS", "s1", "s2", ">", ">"}) == "s1,s2,");
  CHECK(mayWrite(*t.find("eval")));
  CHECK(mayWrite(*t.find("flushall")));
  CHECK_FALSE(mayWrite(*t.find("get")));
  // A module's write whose keys move: unknown.
  CommandSpec mod{"mod.write", -2, kFlagWrite | kFlagMovableKeys, 0, 0, 0};
  std::vector<std::string_view> out, args{"mod.write", "x"};
  CHECK_FALSE(writtenKeys(mod, args, out));
  // Key positions as Redis states them: MSET-like (1, -1, 2) and DEL-like (1, -1, 1) shapes.
  CommandSpec mset{"mset", -3, kFlagWrite, 1, -1, 2};
  CHECK(keyIndexes(mset, 5) == std::vector<size_t>{1, 3});
}

TEST_CASE("blocking: by flag, XREAD only with BLOCK, WAIT always") {
  using namespace rcp::resp;
  CommandTable t;
  auto blocks_ = [&](std::vector<std::string_view> args) { return blocks(*t.find(args[0]), args); };
  CHECK(blocks_({"BLPOP", "l", "0"}));
  CHECK(blocks_({"BZPOPMIN", "z", "1"}));
  CHECK(blocks_({"WAIT", "1", "0"}));
  CHECK(blocks_({"XREAD", "BLOCK", "0", "STREAMS", "s", "$"}));
  CHECK_FALSE(blocks_({"XREAD", "COUNT", "1", "STREAMS", "block", "0"}));
  CHECK_FALSE(blocks_({"LPOP", "l"}));
}

TEST_CASE("cluster key slot: CRC16-XMODEM of the key or its hash tag, as Redis computes it") {
  using rcp::resp::keySlot;
  CHECK(rcp::resp::crc16("123456789") == 0x31C3);  // the XMODEM check value Redis's crc16.c cites
  // CLUSTER KEYSLOT of a Redis 7.0 in cluster mode for the same keys
  CHECK(keySlot("foo") == 12182);
  CHECK(keySlot("bar") == 5061);
  CHECK(keySlot("123456789") == 12739);
  CHECK(keySlot("{user1000}.following") == 3443);
  CHECK(keySlot("{user1000}.followers") == 3443);  // one tag, one slot
  CHECK(keySlot("foo{}{bar}") == 8363);            // an empty first tag: the whole key
  CHECK(keySlot("foo{{bar}}zap") == 4015);         // the tag is "{bar"
  CHECK(keySlot("foo{bar}{zap}") == 5061);         // the first tag only: "bar", as the key bar
  CHECK(keySlot("") == 0);
  CHECK(keySlot("{}") == 15257);
  CHECK(keySlot("a{b") == 13340);                  // no closing brace: the whole key
  CHECK(rcp::resp::hashTag("x{tag}y") == "tag");
  CHECK(keySlot(std::string("\xff\x00\x80", 3)) < rcp::resp::kClusterSlots);
}
