// The cluster policy (TopologyUpstream) against two scripted fake nodes on loopback: what a real
// cluster cannot produce on demand (MOVED in the middle of a pipeline, an ASK, a TRYAGAIN, a
// redirect split at every byte, a multi-reply request redirected) and what the policy does then;
// commands split over the nodes and their replies recombined (a part's error, a part lost, SCAN).
#include <doctest/doctest.h>

#include <optional>

#include "cache/lru_cache.h"
#include "middle_harness.h"
#include "resp/key_slot.h"
#include "src/backend/topology_upstream.h"
#include "src/proxy/forwarder.h"
#include "src/proxy/read_through.h"

using namespace rcp;
using rcp::test::command;
using rcp::test::FakeRedis;
using rcp::test::Recorder;

namespace {

// Two fake nodes: a serves slots 0-8191, b 8192-16383 (as CLUSTER SLOTS says, once asked).
struct TwoNodes {
  test::UvLoop uv;
  Loop loop{&uv.uv};
  FakeRedis a{&uv.uv};
  FakeRedis b{&uv.uv};
  Config config;
  std::optional<backend::TopologyUpstream> up;

  TwoNodes() {
    config.redis.port = a.port();
    config.redis_seeds = {config.redis};
    config.backend_timeout_ms = 1000;
    config.tracking = Config::Tracking::kOff;
  }
  ~TwoNodes() {
    if (up) up->close();
    loop.close();
    test::runFor(&uv.uv, 20);
  }
  bool run(const std::function<bool()>& pred, uint64_t ms = 2000) { return test::runUntil(&uv.uv, pred, ms); }
  std::string slotsReply() const {
    auto range = [](int from, int to, uint16_t port) {
      return "*3\r\n:" + std::to_string(from) + "\r\n:" + std::to_string(to) + "\r\n*2\r\n$9\r\n127.0.0.1\r\n:" +
             std::to_string(port) + "\r\n";
    };
    return "*2\r\n" + range(0, 8191, a.port()) + range(8192, 16383, b.port());
  }
  // Starts the policy; node a answers the handshake and the map questions; b's link comes up.
  void start() {
    up.emplace(loop, config);
    loop.start([](void* ctx) noexcept { static_cast<TwoNodes*>(ctx)->up->flush(); }, this);
    up->start();
    REQUIRE(run([&] { return a.received().find("SHARDS") != std::string::npos; }));
    a.send("-ERR Unknown subcommand or wrong number of arguments for 'SHARDS'. Try CLUSTER HELP.\r\n");
    REQUIRE(run([&] { return a.received().find("SLOTS") != std::string::npos; }));
    a.send(slotsReply());
    REQUIRE(run([&] { return up->clustered() && b.connected() && up->up(); }));
  }
};

Recorder* get(TwoNodes& t, std::vector<Recorder>& keep, const std::string& key) {
  keep.emplace_back(std::vector<std::string>{"GET", key});
  Recorder* r = &keep.back();
  r->slot = resp::keySlot(key);
  t.up->submit(r);
  return r;
}

}  // namespace

TEST_CASE("cluster policy: keys go to their slot's owner, keyless commands to the owner of slot 0") {
  TwoNodes t;
  t.start();
  CHECK(t.up->map().coveredSlots() == resp::kClusterSlots);
  CHECK(t.up->nodeCount() == 2);
  CHECK(t.up->clusterStats().refreshes == 1);
  std::vector<Recorder> keep;
  keep.reserve(8);
  size_t a0 = t.a.received().size(), b0 = t.b.received().size();
  Recorder* foo = get(t, keep, "foo");  // 12182: b
  Recorder* bar = get(t, keep, "bar");  // 5061: a
  keep.emplace_back(std::vector<std::string>{"PING"});
  Recorder* ping = &keep.back();
  t.up->submit(ping);
  REQUIRE(t.run([&] { return t.b.received().size() > b0 && t.a.received().size() > a0 + 20; }));
  CHECK(t.b.received().substr(b0) == command({"GET", "foo"}));
  CHECK(t.a.received().substr(a0) == command({"GET", "bar"}) + command({"PING"}));
  t.b.send("$1\r\nF\r\n");
  t.a.send("$1\r\nB\r\n+PONG\r\n");
  REQUIRE(t.run([&] { return foo->calls + bar->calls + ping->calls == 3; }));
  CHECK(foo->reply == "$1\r\nF\r\n");
  CHECK(bar->reply == "$1\r\nB\r\n");
  CHECK(ping->reply == "+PONG\r\n");
}

TEST_CASE("cluster policy: MOVED in the middle of a pipeline, whole and byte by byte") {
  for (bool bytewise : {false, true}) {
    CAPTURE(bytewise);
    TwoNodes t;
    t.start();
    std::vector<Recorder> keep;
    keep.reserve(8);
    size_t a0 = t.a.received().size(), b0 = t.b.received().size();
    Recorder* bar = get(t, keep, "bar");              // 5061, moved to b below
    Recorder* other = get(t, keep, "{user1000}.x");  // 3443: stays on a
    REQUIRE(t.run([&] { return t.a.received().size() >= a0 + 2 * command({"GET", "bar"}).size(); }));
    std::string replies = "-MOVED 5061 127.0.0.1:" + std::to_string(t.b.port()) + "\r\n$2\r\nok\r\n";
    if (bytewise) t.a.sendByteByByte(replies);
    else t.a.send(replies);
    REQUIRE(t.run([&] { return t.b.received().size() > b0; }));
    CHECK(t.b.received().substr(b0) == command({"GET", "bar"}));
    REQUIRE(t.run([&] { return other->calls == 1; }));
    CHECK(other->reply == "$2\r\nok\r\n");
    CHECK(bar->calls == 0);  // the MOVED never reached it
    t.b.send("$3\r\nnew\r\n");
    REQUIRE(t.run([&] { return bar->calls == 1; }));
    CHECK(bar->reply == "$3\r\nnew\r\n");
    CHECK(t.up->clusterStats().moved == 1);
    CHECK(t.up->clusterStats().owner_changes == 1);
    // the slot is b's now: the next read of it goes there at once
    size_t b1 = t.b.received().size();
    Recorder* again = get(t, keep, "bar");
    REQUIRE(t.run([&] { return t.b.received().size() > b1; }));
    t.b.send("$3\r\nnew\r\n");
    REQUIRE(t.run([&] { return again->calls == 1; }));
    // and the whole map is read again soon after (debounced): node a is asked CLUSTER SLOTS
    REQUIRE(t.run([&] { return t.a.received().rfind("SLOTS") > a0; }, 1000));
  }
}

TEST_CASE("cluster policy: ASK sends ASKING then the command to the node named, the map unchanged") {
  TwoNodes t;
  t.start();
  std::vector<Recorder> keep;
  keep.reserve(8);
  size_t b0 = t.b.received().size();
  Recorder* bar = get(t, keep, "bar");
  REQUIRE(t.run([&] { return t.a.received().ends_with(command({"GET", "bar"})); }));
  t.a.send("-ASK 5061 127.0.0.1:" + std::to_string(t.b.port()) + "\r\n");
  REQUIRE(t.run([&] { return t.b.received().size() >= b0 + command({"ASKING"}).size() + command({"GET", "bar"}).size(); }));
  CHECK(t.b.received().substr(b0) == command({"ASKING"}) + command({"GET", "bar"}));
  t.b.send("+OK\r\n$1\r\nv\r\n");
  REQUIRE(t.run([&] { return bar->calls == 1; }));
  CHECK(bar->reply == "$1\r\nv\r\n");
  CHECK(t.up->clusterStats().ask == 1);
  CHECK(t.up->clusterStats().owner_changes == 0);
  size_t a1 = t.a.received().size();
  get(t, keep, "bar");  // still a's slot
  REQUIRE(t.run([&] { return t.a.received().size() > a1; }));
  t.a.send("$1\r\nv\r\n");
  REQUIRE(t.run([&] { return keep.back().calls == 1; }));
}

TEST_CASE("cluster policy: TRYAGAIN and LOADING are sent again after a backoff; past the deadline the request fails") {
  TwoNodes t;
  t.start();
  std::vector<Recorder> keep;
  keep.reserve(8);
  Recorder* bar = get(t, keep, "bar");
  REQUIRE(t.run([&] { return t.a.received().ends_with(command({"GET", "bar"})); }));
  size_t a1 = t.a.received().size();
  t.a.send("-TRYAGAIN Multiple keys request during rehashing of slot\r\n");
  REQUIRE(t.run([&] { return t.a.received().size() > a1; }));
  CHECK(t.a.received().substr(a1) == command({"GET", "bar"}));
  size_t a2 = t.a.received().size();
  t.a.send("-LOADING Redis is loading the dataset in memory\r\n");
  REQUIRE(t.run([&] { return t.a.received().size() > a2; }));
  t.a.send("$2\r\nok\r\n");
  REQUIRE(t.run([&] { return bar->calls == 1; }));
  CHECK(bar->reply == "$2\r\nok\r\n");
  CHECK(t.up->clusterStats().retried == 2);
  // A node that keeps answering TRYAGAIN: the request fails by its deadline with Redis's error.
  keep.emplace_back(std::vector<std::string>{"GET", "bar"}, 300);
  Recorder* stuck = &keep.back();
  stuck->slot = resp::keySlot("bar");
  t.up->submit(stuck);
  for (int i = 0; i < 40 && stuck->calls == 0; ++i) {
    size_t n = t.a.received().size();
    if (!t.run([&] { return t.a.received().size() > n || stuck->calls > 0; }, 500)) break;
    if (stuck->calls == 0) t.a.send("-TRYAGAIN again\r\n");
  }
  REQUIRE(t.run([&] { return stuck->calls == 1; }));
  REQUIRE(stuck->failure.has_value());
  CHECK(stuck->detail.find("TRYAGAIN") != std::string::npos);
}

TEST_CASE("cluster policy: a request of several replies redirected on its first: the rest are dropped") {
  struct TwoReplies final : backend::Request {
    TwoReplies() { timeout_ms = 1000; }
    void onFailure(backend::Failure, std::string_view) override { ++calls; }
    std::string reply;
    int calls = 0;
    void encode(std::string& out) const override {
      resp::appendCommand(out, {"GET", "bar"});
      resp::appendCommand(out, {"PTTL", "bar"});
    }
    unsigned replies() const noexcept override { return 2; }
    void onReply(const resp::Frame& f) override {
      f.root().encode(reply);
      ++calls;
    }
  };
  TwoNodes t;
  t.start();
  TwoReplies r;
  r.slot = resp::keySlot("bar");
  size_t b0 = t.b.received().size();
  t.up->submit(&r);
  REQUIRE(t.run([&] { return t.a.received().ends_with(command({"PTTL", "bar"})); }));
  std::string moved = "-MOVED 5061 127.0.0.1:" + std::to_string(t.b.port()) + "\r\n";
  t.a.send(moved + moved);  // both commands of the request are redirected
  REQUIRE(t.run([&] { return t.b.received().size() > b0; }));
  CHECK(t.b.received().substr(b0) == command({"GET", "bar"}) + command({"PTTL", "bar"}));
  t.b.send("$1\r\nv\r\n:-1\r\n");
  REQUIRE(t.run([&] { return r.calls == 2; }));
  CHECK(r.reply == "$1\r\nv\r\n:-1\r\n");
  // the link to a is still in step: a later request there gets its own reply
  std::vector<Recorder> keep;
  keep.reserve(2);
  Recorder* other = get(t, keep, "{user1000}.x");
  REQUIRE(t.run([&] { return t.a.received().ends_with(command({"GET", "{user1000}.x"})); }));
  t.a.send("$1\r\nx\r\n");
  REQUIRE(t.run([&] { return other->calls == 1; }));
  CHECK(other->reply == "$1\r\nx\r\n");
}

TEST_CASE("cluster policy: a Redis without cluster support is one node, and a slot means nothing") {
  TwoNodes t;
  t.up.emplace(t.loop, t.config);
  t.loop.start([](void* ctx) noexcept { static_cast<TwoNodes*>(ctx)->up->flush(); }, &t);
  t.up->start();
  REQUIRE(t.run([&] { return t.a.received().find("SHARDS") != std::string::npos; }));
  t.a.send("-ERR This instance has cluster support disabled\r\n");
  REQUIRE(t.run([&] { return t.up->up(); }));
  CHECK_FALSE(t.up->clustered());
  std::vector<Recorder> keep;
  keep.reserve(2);
  size_t a0 = t.a.received().size();
  Recorder* foo = get(t, keep, "foo");  // slot 12182: still the one node
  REQUIRE(t.run([&] { return t.a.received().size() > a0; }));
  t.a.send("$1\r\nF\r\n");
  REQUIRE(t.run([&] { return foo->calls == 1; }));
  CHECK(foo->reply == "$1\r\nF\r\n");
  CHECK(t.b.connections() == 0);
}

// --- commands split over the nodes (proxy::Forwarder on the cluster policy)

namespace {
struct Got final : proxy::Waiter {
  void onResult(const proxy::Lookup& r) override {
    ++calls;
    kind = r.kind;
    text = std::string(r.message);
  }
  int calls = 0;
  proxy::Lookup::Kind kind = proxy::Lookup::Kind::kNil;
  std::string text;
};

struct SplitFixture : TwoNodes {
  LruCache cache{100, 60000};
  std::optional<proxy::ReadThrough> rt;
  std::optional<proxy::Forwarder> fw;
  SplitFixture() {
    start();
    rt.emplace(loop, cache, *up, config);
    fw.emplace(*rt);
  }
  ~SplitFixture() {
    up->close();
    fw.reset();
    rt.reset();
  }
};
using Combine = proxy::Forwarder::Combine;
}  // namespace

TEST_CASE("cluster split: one command per slot, counts summed, values in key order from replies split at every byte") {
  SplitFixture f;
  size_t a0 = f.a.received().size(), b0 = f.b.received().size();
  Got del;
  std::string_view args[] = {"DEL", "foo", "bar", "{user1000}.x"};  // slots 12182 (b), 5061 and 3443 (a)
  f.fw->forwardSplit(*f.up, args, 1, Combine::kSum, del, 1000);
  REQUIRE(f.run([&] { return f.b.received().size() > b0 && f.a.received().size() >= a0 + 2 * command({"DEL", "bar"}).size(); }));
  CHECK(f.b.received().substr(b0) == command({"DEL", "foo"}));
  CHECK(f.a.received().substr(a0) == command({"DEL", "bar"}) + command({"DEL", "{user1000}.x"}));
  f.a.send(":1\r\n:0\r\n");
  CHECK_FALSE(f.run([&] { return del.calls > 0; }, 50));  // waits for every part
  f.b.send(":1\r\n");
  REQUIRE(f.run([&] { return del.calls == 1; }));
  CHECK(del.kind == proxy::Lookup::Kind::kEncoded);
  CHECK(del.text == ":2\r\n");

  a0 = f.a.received().size();
  b0 = f.b.received().size();
  Got mget;
  std::string_view margs[] = {"MGET", "foo", "bar", "foo"};
  f.fw->forwardSplit(*f.up, margs, 1, Combine::kByKey, mget, 1000);
  REQUIRE(f.run([&] { return f.b.received().size() > b0 && f.a.received().size() > a0; }));
  CHECK(f.b.received().substr(b0) == command({"MGET", "foo", "foo"}));
  CHECK(f.a.received().substr(a0) == command({"MGET", "bar"}));
  f.b.sendByteByByte("*2\r\n$1\r\nF\r\n$1\r\nF\r\n");
  f.a.sendByteByByte("*1\r\n$-1\r\n");
  REQUIRE(f.run([&] { return mget.calls == 1; }));
  CHECK(mget.text == "*3\r\n$1\r\nF\r\n$-1\r\n$1\r\nF\r\n");
  CHECK(f.fw->stats().split == 2);
  CHECK(f.fw->stats().split_parts == 5);
}

TEST_CASE("cluster split: the first part's error is the reply; a part that fails fails the command") {
  SplitFixture f;
  size_t b0 = f.b.received().size();
  Got mset;
  std::string_view args[] = {"MSET", "foo", "1", "bar", "2"};
  f.fw->forwardSplit(*f.up, args, 2, Combine::kAllOk, mset, 1000);
  REQUIRE(f.run([&] { return f.b.received().size() > b0 && f.a.received().ends_with(command({"MSET", "bar", "2"})); }));
  CHECK(f.b.received().substr(b0) == command({"MSET", "foo", "1"}));
  f.b.send("-OOM command not allowed when used memory > 'maxmemory'.\r\n");
  f.a.send("+OK\r\n");
  REQUIRE(f.run([&] { return mset.calls == 1; }));
  CHECK(mset.text == "-OOM command not allowed when used memory > 'maxmemory'.\r\n");

  Got del;
  std::string_view dargs[] = {"DEL", "foo", "bar"};
  b0 = f.b.received().size();
  f.fw->forwardSplit(*f.up, dargs, 1, Combine::kSum, del, 1000);
  REQUIRE(f.run([&] { return f.b.received().size() > b0 && f.a.received().ends_with(command({"DEL", "bar"})); }));
  f.a.send(":1\r\n");
  f.b.dropConnection();  // a write may have run: not sent again, the command fails
  REQUIRE(f.run([&] { return del.calls == 1; }));
  CHECK(del.kind == proxy::Lookup::Kind::kUnavailable);
}

TEST_CASE("cluster split: SCAN walks node after node, the node's index in the cursor's top bits") {
  SplitFixture f;
  auto scan = [&](std::string cursor, FakeRedis& node, std::string reply) {
    Got g;
    std::string_view args[] = {"SCAN", cursor, "COUNT", "10"};
    size_t before = node.received().size();
    REQUIRE(f.fw->forwardScan(*f.up, args, g, 1000));
    REQUIRE(f.run([&] { return node.received().size() > before; }));
    std::string sent = node.received().substr(before);
    node.send(reply);
    REQUIRE(f.run([&] { return g.calls == 1; }));
    return std::make_pair(sent, g.text);
  };
  auto [s1, r1] = scan("0", f.a, "*2\r\n$2\r\n17\r\n*1\r\n$2\r\nk1\r\n");
  CHECK(s1 == command({"SCAN", "0", "COUNT", "10"}));
  CHECK(r1 == "*2\r\n$2\r\n17\r\n*1\r\n$2\r\nk1\r\n");
  auto [s2, r2] = scan("17", f.a, "*2\r\n$1\r\n0\r\n*1\r\n$2\r\nk2\r\n");
  CHECK(s2 == command({"SCAN", "17", "COUNT", "10"}));
  std::string next = std::to_string(uint64_t{1} << proxy::Forwarder::kScanNodeShift);  // node 1, from its start
  CHECK(r2 == "*2\r\n$" + std::to_string(next.size()) + "\r\n" + next + "\r\n*1\r\n$2\r\nk2\r\n");
  std::string inside = std::to_string((uint64_t{1} << proxy::Forwarder::kScanNodeShift) | 5);
  auto [s3, r3] = scan(next, f.b, "*2\r\n$1\r\n5\r\n*0\r\n");
  CHECK(s3 == command({"SCAN", "0", "COUNT", "10"}));
  CHECK(r3 == "*2\r\n$" + std::to_string(inside.size()) + "\r\n" + inside + "\r\n*0\r\n");
  auto [s4, r4] = scan(inside, f.b, "*2\r\n$1\r\n0\r\n*1\r\n$2\r\nk3\r\n");
  CHECK(s4 == command({"SCAN", "5", "COUNT", "10"}));
  CHECK(r4 == "*2\r\n$1\r\n0\r\n*1\r\n$2\r\nk3\r\n");  // the last node's last page: done
  Got bad;
  std::string far = std::to_string(uint64_t{2} << proxy::Forwarder::kScanNodeShift);
  std::string_view args[] = {"SCAN", far};
  CHECK_FALSE(f.fw->forwardScan(*f.up, args, bad, 1000));
  std::string_view junk[] = {"SCAN", "x1"};
  CHECK_FALSE(f.fw->forwardScan(*f.up, junk, bad, 1000));
}
