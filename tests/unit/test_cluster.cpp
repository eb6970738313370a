// The cluster policy (ClusterUpstream) against two scripted fake nodes on loopback: what a real
// cluster cannot produce on demand (MOVED in the middle of a pipeline, an ASK, a TRYAGAIN, a
// redirect split at every byte, a multi-reply request redirected) and what the policy does then.
#include <doctest/doctest.h>

#include <optional>

#include "middle_harness.h"
#include "resp/key_slot.h"
#include "src/backend/cluster_upstream.h"

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
  std::optional<backend::ClusterUpstream> up;

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
