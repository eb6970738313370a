// The cluster's slot map read from real replies: CLUSTER SHARDS in RESP2 and RESP3 and CLUSTER SLOTS,
// as a three-node Redis 7.0 cluster (ports 7711-7713, slots split by redis-cli --cluster create)
// sent them, fed whole and byte by byte; refusals; MOVED.
#include <doctest/doctest.h>

#include <string>

#include "resp/resp3_reader.h"
#include "src/backend/slot_map.h"

namespace {
const std::string kShards2 =
    "*3\r\n*4\r\n$5\r\nslots\r\n*2\r\n:10923\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n*14\r\n$2\r\nid\r\n$40\r\n5b018151efd06e3c51c6583d8c0b"
    "e23635fb590d\r\n$4\r\nport\r\n:7713\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmas"
    "ter\r\n$18\r\nreplication-offset\r\n:0\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*2\r\n:5461\r\n:10922\r\n$5\r\nnode"
    "s\r\n*1\r\n*14\r\n$2\r\nid\r\n$40\r\n5406d42e924b222ec53fa5c78b9882553585d2ec\r\n$4\r\nport\r\n:7712\r\n$2\r\nip\r\n$9\r\n127."
    "0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:0\r\n$6\r\nhealth\r\n$"
    "6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:5460\r\n$5\r\nnodes\r\n*1\r\n*14\r\n$2\r\nid\r\n$40\r\n665feac88ad9124548cbd8907c"
    "c05cb60854c9ad\r\n$4\r\nport\r\n:7711\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nm"
    "aster\r\n$18\r\nreplication-offset\r\n:0\r\n$6\r\nhealth\r\n$6\r\nonline\r\n";
const std::string kShards3 =
    "*3\r\n%2\r\n$5\r\nslots\r\n*2\r\n:10923\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n%7\r\n$2\r\nid\r\n$40\r\n5b018151efd06e3c51c6583d8c0be"
    "23635fb590d\r\n$4\r\nport\r\n:7713\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmast"
    "er\r\n$18\r\nreplication-offset\r\n:0\r\n$6\r\nhealth\r\n$6\r\nonline\r\n%2\r\n$5\r\nslots\r\n*2\r\n:5461\r\n:10922\r\n$5\r\nnodes"
    "\r\n*1\r\n%7\r\n$2\r\nid\r\n$40\r\n5406d42e924b222ec53fa5c78b9882553585d2ec\r\n$4\r\nport\r\n:7712\r\n$2\r\nip\r\n$9\r\n127.0."
    "0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:0\r\n$6\r\nhealth\r\n$6\r"
    "\nonline\r\n%2\r\n$5\r\nslots\r\n*2\r\n:0\r\n:5460\r\n$5\r\nnodes\r\n*1\r\n%7\r\n$2\r\nid\r\n$40\r\n665feac88ad9124548cbd8907cc05"
    "cb60854c9ad\r\n$4\r\nport\r\n:7711\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmast"
    "er\r\n$18\r\nreplication-offset\r\n:0\r\n$6\r\nhealth\r\n$6\r\nonline\r\n";
const std::string kSlots2 =
    "*3\r\n*3\r\n:0\r\n:5460\r\n*4\r\n$9\r\n127.0.0.1\r\n:7711\r\n$40\r\n665feac88ad9124548cbd8907cc05cb60854c9ad\r\n*0\r\n*3\r\n"
    ":5461\r\n:10922\r\n*4\r\n$9\r\n127.0.0.1\r\n:7712\r\n$40\r\n5406d42e924b222ec53fa5c78b9882553585d2ec\r\n*0\r\n*3\r\n:109"
    "23\r\n:16383\r\n*4\r\n$9\r\n127.0.0.1\r\n:7713\r\n$40\r\n5b018151efd06e3c51c6583d8c0be23635fb590d\r\n*0\r\n";

// Reads bytes as one frame (whole, or one byte at a time) and hands its root to f.
template <typename F>
void withFrame(const std::string& bytes, bool byte_by_byte, F&& f) {
  rcp::resp::Resp3Reader reader;
  rcp::resp::Resp3Reader::Status st = rcp::resp::Resp3Reader::Status::kNeedMore;
  if (byte_by_byte) {
    for (size_t i = 0; i < bytes.size() && st != rcp::resp::Resp3Reader::Status::kFrame; ++i) {
      REQUIRE(reader.feed(bytes.data() + i, 1));
      st = reader.next();
    }
  } else {
    REQUIRE(reader.feed(bytes.data(), bytes.size()));
    st = reader.next();
  }
  REQUIRE(st == rcp::resp::Resp3Reader::Status::kFrame);
  f(reader.frame().root());
}

void checkThreeNodes(const rcp::backend::SlotMap& m) {
  CHECK(m.coveredSlots() == rcp::resp::kClusterSlots);
  REQUIRE(m.primaries().size() == 3);
  auto portOf = [&](uint16_t slot) { return m.primaries()[static_cast<size_t>(m.primaryFor(slot))].port; };
  CHECK(portOf(0) == 7711);
  CHECK(portOf(5460) == 7711);
  CHECK(portOf(5461) == 7712);
  CHECK(portOf(10922) == 7712);
  CHECK(portOf(10923) == 7713);
  CHECK(portOf(16383) == 7713);
  CHECK(m.primaries()[static_cast<size_t>(m.primaryForKey("foo"))].port == 7713);  // slot 12182
  CHECK(m.primaries()[static_cast<size_t>(m.primaryForKey("bar"))].port == 7711);  // slot 5061
  for (const auto& n : m.primaries()) {
    CHECK(n.host == "127.0.0.1");
    CHECK(n.id.size() == 40);
  }
}
}  // namespace

TEST_CASE("slot map: CLUSTER SHARDS (RESP2 and RESP3) and CLUSTER SLOTS, whole and byte by byte") {
  for (bool byte_by_byte : {false, true}) {
    rcp::backend::SlotMap a, b, c;
    std::string why;
    withFrame(kShards2, byte_by_byte, [&](const rcp::resp::FrameView& r) { CHECK(a.loadShards(r, &why)); });
    checkThreeNodes(a);
    withFrame(kShards3, byte_by_byte, [&](const rcp::resp::FrameView& r) { CHECK(b.loadShards(r, &why)); });
    checkThreeNodes(b);
    withFrame(kSlots2, byte_by_byte, [&](const rcp::resp::FrameView& r) { CHECK(c.loadSlots(r, &why)); });
    checkThreeNodes(c);
  }
}

TEST_CASE("slot map: a refusal or a malformed reply leaves the map as it was; MOVED moves one slot") {
  rcp::backend::SlotMap m;
  std::string why;
  withFrame(kShards2, false, [&](const rcp::resp::FrameView& r) { REQUIRE(m.loadShards(r, &why)); });
  withFrame("-ERR unknown subcommand 'SHARDS'\r\n", false, [&](const rcp::resp::FrameView& r) {
    CHECK_FALSE(m.loadShards(r, &why));
  });
  CHECK(why == "ERR unknown subcommand 'SHARDS'");
  for (const char* bad : {":5\r\n", "*1\r\n*3\r\n:0\r\n:99999\r\n*2\r\n$1\r\nh\r\n:1\r\n",
                          "*1\r\n*3\r\n:5\r\n:1\r\n*2\r\n$1\r\nh\r\n:1\r\n",
                          "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n:0\r\n", "*1\r\n*2\r\n:0\r\n:1\r\n"}) {
    withFrame(bad, false, [&](const rcp::resp::FrameView& r) { CHECK_FALSE(m.loadSlots(r, &why)); });
  }
  withFrame("*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:9\r\n:3\r\n$5\r\nnodes\r\n*0\r\n", false,
            [&](const rcp::resp::FrameView& r) { CHECK_FALSE(m.loadShards(r, &why)); });
  checkThreeNodes(m);  // unchanged by every refusal
  // MOVED 12182 to a fourth node: that slot only
  int four = m.moved(12182, "127.0.0.1", 7714);
  CHECK(m.primaries().size() == 4);
  CHECK(m.primaryForKey("foo") == four);
  CHECK(m.primaries()[static_cast<size_t>(m.primaryFor(12183))].port == 7713);
  CHECK(m.moved(12183, "127.0.0.1", 7714) == four);  // a known node is not added twice
}

TEST_CASE("slot map: a TLS-only node gives its tls-port; a node with both gives the port of the links' kind") {
  auto replaceAll = [](std::string s, const std::string& from, const std::string& to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
    return s;
  };
  std::string why;
  // tls-cluster yes, port 0: Redis names only the TLS port.
  std::string tls_only = replaceAll(kShards2, "$4\r\nport\r\n", "$8\r\ntls-port\r\n");
  for (bool tls : {false, true}) {
    rcp::backend::SlotMap m;
    withFrame(tls_only, true, [&](const rcp::resp::FrameView& r) { CHECK(m.loadShards(r, &why, tls)); });
    checkThreeNodes(m);
  }
  // Both ports: plaintext links use "port", TLS links "tls-port".
  std::string both = replaceAll(kShards2, "*14\r\n", "*16\r\n");
  for (const char* p : {"7711", "7712", "7713"})
    both = replaceAll(both, std::string("$4\r\nport\r\n:") + p + "\r\n",
                      std::string("$4\r\nport\r\n:") + p + "\r\n$8\r\ntls-port\r\n:8" + (p + 1) + "\r\n");
  rcp::backend::SlotMap plain, tls;
  withFrame(both, false, [&](const rcp::resp::FrameView& r) { REQUIRE(plain.loadShards(r, &why, false)); });
  withFrame(both, false, [&](const rcp::resp::FrameView& r) { REQUIRE(tls.loadShards(r, &why, true)); });
  checkThreeNodes(plain);
  REQUIRE(tls.primaries().size() == 3);
  for (const auto& n : tls.primaries()) CHECK((n.port >= 8711 && n.port <= 8713));
}
